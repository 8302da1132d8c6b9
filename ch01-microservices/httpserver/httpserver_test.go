package httpserver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// closeNotifyingListener closes closed when the server closes it, which
// Shutdown does first: a test can wait for shutdown to begin.
type closeNotifyingListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *closeNotifyingListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func TestServeFinishesRequestInFlight(t *testing.T) {
	entered := make(chan struct{}) // the handler has the request
	release := make(chan struct{}) // the test lets the handler finish
	var releaseOnce sync.Once
	releaseHandler := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseHandler() // even when the test fails early
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lis := &closeNotifyingListener{Listener: raw, closed: make(chan struct{})}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- httpserver.Serve(ctx, httpserver.New(handler), lis) }()

	// A client request that will be in flight when shutdown starts.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		reqCtx, reqCancel := context.WithTimeout(context.Background(), testwait.Bound)
		defer reqCancel()
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, httpserver.URL(lis.Addr()), nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b), err: err}
	}()

	testwait.Recv(t, entered, "the request to reach the handler")
	cancel()
	testwait.Recv(t, lis.closed, "shutdown to close the listener")

	// Shutdown has begun, but the handler is still blocked: Serve must
	// still be waiting for it.
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}

	releaseHandler()
	res := testwait.Recv(t, done, "the response")
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "finished", res.body)
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
}

// A request that outlasts the shutdown's time limit is cut, and Shutdown
// says so with serve.ErrShutdownTimeout.
func TestShutdownCutsRequestsAtTheTimeout(t *testing.T) {
	entered := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // ends only when the connection is closed
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpserver.New(handler)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	got := make(chan error, 1)
	go func() {
		resp, err := client.Get(httpserver.URL(lis.Addr()))
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	testwait.Recv(t, entered, "the request to reach the handler")

	assert.ErrorIs(t, httpserver.Shutdown(srv, 20*time.Millisecond), serve.ErrShutdownTimeout)
	assert.Error(t, testwait.Recv(t, got, "the request to be cut"))
	assert.ErrorIs(t, testwait.Recv(t, served, "Serve to return"), http.ErrServerClosed)
}

func TestServeReturnsNilWhenIdle(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpserver.Serve(ctx, httpserver.New(http.NotFoundHandler()), lis) }()

	cancel()
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
}

func TestServeReportsListenerFailure(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, lis.Close())

	err = httpserver.Serve(context.Background(), httpserver.New(http.NotFoundHandler()), lis)
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestNewSetsEveryTimeout(t *testing.T) {
	srv := httpserver.New(http.NotFoundHandler())
	assert.Equal(t, httpserver.ReadHeaderTimeout, srv.ReadHeaderTimeout)
	assert.Equal(t, httpserver.ReadTimeout, srv.ReadTimeout)
	assert.Equal(t, httpserver.WriteTimeout, srv.WriteTimeout)
	assert.Equal(t, httpserver.IdleTimeout, srv.IdleTimeout)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		assert.Positive(t, d, "%s: zero means no timeout at all", name)
	}
}

// serveShort serves h with srv's timeouts shortened by shorten, on a
// loopback port, until the test ends, and returns the address.
func serveShort(t *testing.T, h http.Handler, shorten func(*http.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpserver.New(h)
	shorten(srv)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpserver.Serve(ctx, srv, lis) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return lis.Addr().String()
}

// readUntilClosed reads from c until the server closes it, and returns what
// it read. The read deadline only stops a broken test from hanging.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(testwait.Bound)))
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the server should close the connection, not leave it open")
	return string(b)
}

// An idle keep-alive connection is closed by the server: without
// IdleTimeout, every client that stops after one request keeps its
// descriptor forever.
func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	addr := serveShort(t, http.NotFoundHandler(), func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	// One response, then nothing more from the client: the server ends it.
	got := readUntilClosed(t, c)
	assert.Contains(t, got, "HTTP/1.1 404 Not Found")
	assert.Equal(t, 1, strings.Count(got, "HTTP/1.1 "), got)
}

// A client that never finishes its headers is cut off.
func TestSlowHeadersAreCutOff(t *testing.T) {
	called := make(chan struct{}, 1)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} })
	addr := serveShort(t, h, func(s *http.Server) { s.ReadHeaderTimeout = 50 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // no blank line: headers never end
	require.NoError(t, err)
	readUntilClosed(t, c)
	assert.Empty(t, called, "the handler never ran")
}

func TestURL(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 5000}, "http://localhost:5000/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 5000}, "http://localhost:5000/"},
		{&net.TCPAddr{Port: 5000}, "http://localhost:5000/"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://[::1]:8080/"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, httpserver.URL(tt.addr), "addr %v", tt.addr)
	}
}

func TestURLOfResolvedAddresses(t *testing.T) {
	// The addresses as a reader types them in -addr.
	for addr, want := range map[string]string{
		"[::]:5000":      "http://localhost:5000/",
		"0.0.0.0:5000":   "http://localhost:5000/",
		":5000":          "http://localhost:5000/",
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, httpserver.URL(a), addr)
	}
}
