// Package healthport serves gRPC health checking alone, in plaintext, on a
// port of its own. Once the service's port requires TLS, and mutual TLS
// above all, the probes that ask it are locked out: Kubernetes' gRPC
// probes cannot present a certificate, nor can compose's healthcheck
// without a client key copied into the server's container. Health says
// nothing secret, so it gets a port the probes can reach, as /metrics got
// one in chapter 5, and the service's port stays closed to anyone without
// a certificate.
package healthport

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
)

// Serve serves h, the main server's health service (so both ports always
// tell the same status), on lis until ctx ends, then stops like chapter 3's
// recommendations.Serve. Give it a ctx that ends after the main server has
// stopped: while that one drains, the probes read NOT_SERVING here.
func Serve(ctx context.Context, lis net.Listener, h *health.Server) error {
	// Chapter 4's limits: a port anyone can reach is bounded like the
	// main one.
	s := grpc.NewServer(grpcserver.DefaultLimits().ServerOptions()...)
	healthpb.RegisterHealthServer(s, h)
	return recommendations.Serve(ctx, s, lis)
}
