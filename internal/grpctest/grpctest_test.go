package grpctest_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The health service stands in for any service: the helper is generic.
func registerHealth(s grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(s, health.NewServer()) }

func TestStartServesOverBufconn(t *testing.T) {
	conn := grpctest.Start(t, registerHealth)
	ctx := grpctest.Context(t)

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}

func TestAcceptedCountsConnectionsNotCalls(t *testing.T) {
	srv := grpctest.NewServer(t, registerHealth)
	ctx := grpctest.Context(t)
	assert.Zero(t, srv.Accepted(), "NewClient connects lazily")

	first := healthpb.NewHealthClient(srv.NewClient(t))
	for range 5 {
		_, err := first.Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, srv.Accepted(), "five calls on one connection")

	_, err := healthpb.NewHealthClient(srv.NewClient(t)).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.Accepted(), "a second connection is accepted separately")
}

func TestUnreachableFailsWithUnavailable(t *testing.T) {
	ctx := grpctest.Context(t)
	_, err := healthpb.NewHealthClient(grpctest.Unreachable(t)).Check(ctx, &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err), "err: %v", err)
}

func TestServeLoopbackServesOverTCP(t *testing.T) {
	addr := grpctest.ServeLoopback(t, registerHealth)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}
