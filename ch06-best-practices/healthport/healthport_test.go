package healthport_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/healthport"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The health port tells what the main server's health service says, as it
// changes, and serves nothing else.
func TestServeTellsTheMainServersHealth(t *testing.T) {
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() { done <- healthport.Serve(ctx, lis, h); close(stopped) }()
	// Stops the server however the test ends, so a failed require leaves no
	// goroutine behind; the end of the test also checks how it stopped.
	t.Cleanup(func() {
		cancel()
		testwait.Recv(t, stopped, "the health port to stop")
	})
	conn := grpctest.NewClient(t, lis)
	client := healthpb.NewHealthClient(conn)

	resp, err := client.Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	h.Shutdown() // what chapter 6's stop does first
	resp, err = client.Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.GetStatus())

	err = conn.Invoke(grpctest.Context(t), "/Recommendations/Recommend", &pb.RecommendationRequest{}, &pb.RecommendationResponse{})
	assert.Equal(t, codes.Unimplemented, status.Code(err), "only health is served here: %v", err)

	cancel()
	assert.NoError(t, testwait.Recv(t, done, "the health port to stop"))
}
