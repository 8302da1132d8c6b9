package main

import (
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The series' Recommend semantics, on the server main builds. Chapter 6's
// tests cover the rest of this copy of its server.
func TestRecommend(t *testing.T) {
	booksuite.Recommend(t, func(t *testing.T) pb.RecommendationsClient {
		s := newServer(options{log: slog.New(slog.DiscardHandler), metrics: prometheus.NewRegistry(),
			creds: insecure.NewCredentials(), tracer: noop.NewTracerProvider()})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- s.grpc.Serve(lis) }()
		t.Cleanup(func() {
			s.grpc.Stop()
			s.healthOnly.Stop()
			assert.NoError(t, <-served)
		})
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return pb.NewRecommendationsClient(conn)
	})
}
