// Package grpctest runs gRPC servers in memory for tests, over bufconn.
//
// Every chapter's tests use it the same way: register services on a server,
// connect to it through the generated client, and let t.Cleanup stop the
// server, close the listener and close the connection. No port is opened,
// so tests run in parallel without colliding and never touch the network.
package grpctest

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
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
	stop := serve(s.Server, s.lis, &s.accepted)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("grpctest: Serve: %v", err)
		}
	})
	return s
}

// NewClient returns a client connection to s, closed when the test ends.
// Like every connection from grpc.NewClient, it connects lazily, on the
// first RPC.
func (s *Server) NewClient(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	return NewClient(t, s.lis, opts...)
}

// DialOption returns the option that makes a client connection reach s's
// in-memory listener, for code that creates its own connection (such as
// a Marketplace main's newConn) with the target "passthrough:///bufnet".
func (s *Server) DialOption() grpc.DialOption { return dialer(s.lis) }

// Accepted reports how many connections the server has accepted so far.
// Tests use it to prove that a client reuses one connection.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// Start is NewServer followed by NewClient: the usual one-liner for a test
// that needs a client of a freshly registered service.
func Start(t testing.TB, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	return NewServer(t, register, opts...).NewClient(t)
}

// Unreachable returns a client connection whose server is gone: every RPC
// on it fails with codes.Unavailable, as when Recommendations is down.
func Unreachable(t testing.TB) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(bufSize)
	_ = lis.Close()
	return NewClient(t, lis)
}

// NewClient returns a client connection that reaches lis, closed when the
// test ends.
func NewClient(t testing.TB, lis *bufconn.Listener, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := newClient(lis, opts...)
	if err != nil {
		t.Fatalf("grpctest: NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Open starts a server like NewServer and returns a connection to it, for
// Example functions, which have no testing.T to clean up after them. Call
// stop when done: it closes the connection and stops the server.
func Open(register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) (conn *grpc.ClientConn, stop func()) {
	s, lis := grpc.NewServer(opts...), bufconn.Listen(bufSize)
	register(s)
	stopServer := serve(s, lis, new(atomic.Int64))
	conn, err := newClient(lis)
	if err != nil {
		// newClient fails only on a malformed target or options, and both
		// are fixed here.
		panic(err)
	}
	return conn, func() {
		_ = conn.Close()
		_ = stopServer()
	}
}

// ServeLoopback serves a gRPC server on a free loopback TCP port, for the
// few tests that need a real socket (a benchmark of TCP's cost, a client in
// another process), and returns its address. Cleanup stops the server and
// waits for Serve to return.
func ServeLoopback(t testing.TB, register func(grpc.ServiceRegistrar), opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("grpctest: %v", err)
	}
	s := grpc.NewServer(opts...)
	register(s)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		// ErrServerStopped: Stop came before Serve began (a test that
		// skipped right after starting the server), which is no failure.
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("grpctest: Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// Context returns a context for one test's RPCs, cancelled when the test
// ends: it is testwait.Context, named here so that a gRPC test finds it
// next to the server and client it uses. Its deadline (testwait.Bound) is
// generous: it only stops a broken test from hanging, it never decides
// whether a working one passes.
func Context(t testing.TB) context.Context {
	return testwait.Context(t)
}

// serve serves s on lis in a goroutine, counting accepted connections in
// accepted. The returned stop stops the server, closes the listener and
// returns Serve's error.
func serve(s *grpc.Server, lis *bufconn.Listener, accepted *atomic.Int64) (stop func() error) {
	done := make(chan error, 1)
	go func() { done <- s.Serve(countingListener{Listener: lis, n: accepted}) }()
	return func() error {
		s.Stop()
		_ = lis.Close()
		// ErrServerStopped: Stop came before Serve began (a test that
		// ended right after starting the server), which is no failure.
		if err := <-done; !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
}

// newClient connects to lis: the client half of bufconn. gRPC normally
// resolves a target's name and dials TCP; here the "passthrough" scheme
// hands the name ("bufnet", which means nothing) to the dialer untouched,
// and the dialer ignores it and opens an in-memory pipe to lis instead.
func newClient(lis *bufconn.Listener, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		dialer(lis),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)
	return grpc.NewClient("passthrough:///bufnet", opts...)
}

// dialer returns the dial option that connects to lis in memory.
func dialer(lis *bufconn.Listener) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	})
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
