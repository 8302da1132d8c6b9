// Command healthcheck is the compose file's healthcheck, for images with no
// shell or curl: it exits 0 if the local service is healthy, 1 if not.
//
//	healthcheck -grpc localhost:50052                # grpc.health.v1 says SERVING (plaintext)
//	healthcheck -http http://localhost:5000/healthz  # HTTP 200
package main

import (
	"context"
	"errors"
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
	addr := flag.String("grpc", "", "`host:port` of a gRPC health service")
	url := flag.String("http", "", "`URL` that answers 200 when healthy")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := errors.New("give -grpc or -http")
	if *addr != "" {
		var conn *grpc.ClientConn
		if conn, err = grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
			defer conn.Close()
			var resp *healthpb.HealthCheckResponse
			if resp, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = fmt.Errorf("%s is %v", *addr, resp.GetStatus())
			}
		}
	} else if *url != "" {
		var resp *http.Response
		if resp, err = (&http.Client{Timeout: 3 * time.Second}).Get(*url); err == nil && resp.Body.Close() == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", *url, resp.Status)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}
