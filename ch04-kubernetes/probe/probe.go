// Package probe asks a running service whether it is healthy, the way an
// orchestrator does: gRPC health checking for Recommendations, an HTTP GET
// of /healthz for the Marketplace. cmd/healthcheck wraps it for compose's
// healthcheck, since the distroless images have no shell, curl or
// grpc-health-probe.
package probe

import (
	"context"
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// GRPC asks the health service at addr (host:port) for service's status
// ("" for the whole server) and returns nil if it is SERVING.
func GRPC(ctx context.Context, addr, service string) error {
	// No service config from DNS: a probe needs none, and asking costs a
	// DNS query at every probe.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDisableServiceConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s is %v", addr, st)
	}
	return nil
}

// HTTP gets url and returns nil if the answer is 200 OK.
func HTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
