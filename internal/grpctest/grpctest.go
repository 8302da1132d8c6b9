// Package grpctest runs gRPC servers in memory for tests, over bufconn.
//
// Every chapter's tests use it the same way: register services on a server,
// dial it through the generated client, and let t.Cleanup stop the server,
// close the listener and close the connection. No port is opened, so tests
// run in parallel without colliding and never touch the network.
package grpctest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// bufSize is the in-memory pipe's buffer: ample for the workbook's messages.
const bufSize = 1 << 20

// Server is a gRPC server listening on an in-memory bufconn listener.
type Server struct {
	// Server is the running grpc.Server; tests may call GracefulStop or
	// Stop on it to simulate a server going away.
	*grpc.Server

	lis      *bufconn.Listener
	accepted atomic.Int64
}

// NewServer starts a gRPC server with opts, lets register add services to
// it, and serves it in a goroutine until the test ends. Cleanup stops the
// server, closes the listener and waits for Serve to return, so nothing
// leaks into the next test.
func NewServer(t testing.TB, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) *Server {
	t.Helper()
	s := &Server{Server: grpc.NewServer(opts...), lis: bufconn.Listen(bufSize)}
	register(s.Server)

	done := make(chan error, 1)
	go func() { done <- s.Server.Serve(countingListener{Listener: s.lis, n: &s.accepted}) }()
	t.Cleanup(func() {
		s.Server.Stop()
		_ = s.lis.Close()
		if err := <-done; err != nil {
			t.Errorf("grpctest: Serve: %v", err)
		}
	})
	return s
}

// Dial returns a client connection to s, closed when the test ends. Like a
// real client, it connects lazily, on the first RPC.
func (s *Server) Dial(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	return DialListener(t, s.lis, opts...)
}

// Accepted reports how many connections the server has accepted so far.
// Tests use it to prove that a client reuses one connection.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// Start is NewServer followed by Dial: the usual one-liner for a test that
// needs a client of a freshly registered service.
func Start(t testing.TB, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	return NewServer(t, register, opts...).Dial(t)
}

// Unreachable returns a client connection whose server is gone: every RPC
// on it fails with codes.Unavailable, as when Recommendations is down.
func Unreachable(t testing.TB) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(bufSize)
	_ = lis.Close()
	return DialListener(t, lis)
}

// DialListener returns a client connection that reaches lis, closed when
// the test ends. "passthrough:///bufnet" makes gRPC hand the name straight
// to the context dialer instead of resolving it in DNS.
func DialListener(t testing.TB, lis *bufconn.Listener, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("grpctest: NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// countingListener counts the connections it hands to the server.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Open starts a server like NewServer and returns a connection to it, for
// Example functions, which have no testing.T to clean up after them. Call
// stop when done: it closes the connection and stops the server.
func Open(register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) (conn *grpc.ClientConn, stop func()) {
	s := grpc.NewServer(opts...)
	register(s)
	lis := bufconn.Listen(bufSize)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		// NewClient fails only on a malformed target or options, and both
		// are fixed here.
		panic(err)
	}
	return conn, func() {
		_ = conn.Close()
		s.Stop()
		_ = lis.Close()
		<-done
	}
}
