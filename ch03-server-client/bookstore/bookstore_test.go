package bookstore_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/bookstore"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return lis
}

// Both services in one process, talking gRPC over real loopback TCP: the
// page shows three books, and cancelling the context stops everything
// cleanly (goleak checks nothing is left running).
func TestRunServesTheBookstoreAndStopsCleanly(t *testing.T) {
	httpLis, grpcLis := listen(t), listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bookstore.Run(ctx, httpLis, grpcLis, recommendations.NewServer(nil),
			bookstore.Options{Homepage: homepage.Options{Timeout: 10 * time.Second}})
	}()

	status, body := proctest.Get(t, "http://"+httpLis.Addr().String()+"/")
	homepagetest.AssertHome(t, status, body)

	cancel()
	assert.NoError(t, testwait.Recv(t, done, "Run to return"))
}

// If the gRPC listener is broken, Run does not keep half a bookstore
// running: it returns the error.
func TestRunFailsWhenGRPCCannotServe(t *testing.T) {
	httpLis, grpcLis := listen(t), listen(t)
	require.NoError(t, grpcLis.Close())
	done := make(chan error, 1)
	go func() {
		done <- bookstore.Run(context.Background(), httpLis, grpcLis, recommendations.NewServer(nil),
			bookstore.Options{Homepage: homepage.Options{Logger: slog.New(slog.DiscardHandler)}})
	}()
	assert.ErrorIs(t, testwait.Recv(t, done, "Run to return"), net.ErrClosed)
}

// Options reach both servers: here an interceptor on each side sees the
// page's one call.
func TestRunAppliesOptions(t *testing.T) {
	var server, client atomic.Int64
	opts := bookstore.Options{
		Homepage: homepage.Options{Timeout: 10 * time.Second},
		Server: []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			server.Add(1)
			return h(ctx, req)
		})},
		Dial: []grpc.DialOption{grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			client.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		})},
	}
	httpLis, grpcLis := listen(t), listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bookstore.Run(ctx, httpLis, grpcLis, recommendations.NewServer(nil), opts) }()
	status, body := proctest.Get(t, "http://"+httpLis.Addr().String()+"/")
	homepagetest.AssertHome(t, status, body)
	cancel()
	assert.NoError(t, testwait.Recv(t, done, "Run to return"))
	assert.EqualValues(t, 1, server.Load())
	assert.EqualValues(t, 1, client.Load())
}

// Likewise when the web server cannot serve.
func TestRunFailsWhenHTTPCannotServe(t *testing.T) {
	httpLis, grpcLis := listen(t), listen(t)
	require.NoError(t, httpLis.Close())
	done := make(chan error, 1)
	go func() {
		done <- bookstore.Run(context.Background(), httpLis, grpcLis, recommendations.NewServer(nil), bookstore.Options{})
	}()
	assert.ErrorIs(t, testwait.Recv(t, done, "Run to return"), net.ErrClosed)
}
