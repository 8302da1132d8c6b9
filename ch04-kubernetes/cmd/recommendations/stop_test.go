package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// stuck is a handler that ignores its context: it returns when the test
// releases it, not when its call is cancelled.
type stuck struct{ entered, release chan struct{} }

var stuckDesc = grpc.ServiceDesc{
	ServiceName: "test.Stuck",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Hang", Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		if err := dec(new(emptypb.Empty)); err != nil {
			return nil, err
		}
		close(srv.(*stuck).entered)
		<-srv.(*stuck).release
		return new(emptypb.Empty), nil
	}}},
}

// serveStoppable serves newServer(o) with the stuck service beside, on a
// loopback port, and returns the server and a connection to it. The test
// stops the server itself.
func serveStoppable(t *testing.T, h *stuck) (*server, *grpc.ClientConn, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := newServer(options{seed: 1})
	s.RegisterService(&stuckDesc, h)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop() // in case the test failed before its stop
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return s, dial(t, lis.Addr().String()), lis.Addr().String()
}

// A stop says NOT_SERVING first, while the server still takes calls (the
// drain, for whoever watches health to stop sending), and then stops
// gracefully: nothing is cut.
func TestStopSaysNotServingWhileItStillServes(t *testing.T) {
	s, conn, addr := serveStoppable(t, &stuck{})
	ctx, cancel := context.WithCancel(testwait.Context(t))
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "Recommendations"})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	drained := make(chan time.Time)
	graceful := make(chan bool, 1)
	go func() { graceful <- s.stop(drained, testwait.Bound) }()
	next, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	// On a new connection: the listener is still open for the drain.
	resp, err := pb.NewRecommendationsClient(dial(t, addr)).Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err, "during the drain, calls still succeed")
	assert.Len(t, resp.GetRecommendations(), 3)

	cancel() // the watcher goes, as a prober's call would end
	drained <- time.Now()
	assert.True(t, testwait.Recv(t, graceful, "the stop to return"), "no call was cut")
}

// A handler that ignores its cancelled context cannot hold the stop: past
// the timeout, stop cuts the calls left and returns without waiting for
// the handler (GracefulStop would wait for it, even after Stop).
func TestStopReturnsPastAHandlerThatIgnoresItsContext(t *testing.T) {
	h := &stuck{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(h.release) // the handler returns when the test ends
	s, conn, _ := serveStoppable(t, h)
	called := make(chan error, 1)
	go func() {
		called <- conn.Invoke(testwait.Context(t), "/test.Stuck/Hang", new(emptypb.Empty), new(emptypb.Empty))
	}()
	testwait.Recv(t, h.entered, "the call to reach the handler")

	drained := make(chan time.Time)
	close(drained)
	graceful := make(chan bool, 1)
	go func() { graceful <- s.stop(drained, time.Millisecond) }()
	assert.False(t, testwait.Recv(t, graceful, "the stop to return"), "the stuck call was cut")
	assert.Equal(t, codes.Unavailable, status.Code(testwait.Recv(t, called, "the cut call to fail")))
}
