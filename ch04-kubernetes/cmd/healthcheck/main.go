// Command healthcheck asks a local service whether it is healthy and exits
// 0 if it is, 1 if not, 2 on bad usage: the healthcheck of the compose
// file, copied into both images, which have no shell or curl to run one
// with. (Kubernetes asks both services itself.)
//
//	healthcheck -grpc localhost:50051                # gRPC health checking
//	healthcheck -http http://localhost:5000/healthz  # HTTP 200
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	addr := flag.String("grpc", "", "`host:port` of a gRPC server to ask with grpc.health.v1")
	url := flag.String("http", "", "`URL` to GET; healthy if the answer is 200")
	timeout := flag.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	flag.Parse()
	if (*addr == "") == (*url == "") {
		fmt.Fprintln(os.Stderr, "healthcheck: give one of -grpc and -http")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	check := checkHTTP
	if *addr != "" {
		check = checkGRPC
	}
	if err := check(ctx, *addr+*url); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// checkGRPC asks the health service at addr about the whole server and
// returns nil if it is SERVING.
func checkGRPC(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s is %v", addr, st)
	}
	return nil
}

// checkHTTP gets url and returns nil if the answer is 200 OK.
func checkHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
