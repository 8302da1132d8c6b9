// Package httpserver runs an http.Handler the way a public Go web server
// should: with timeouts on every phase of a connection, until a context
// ends, and then with a graceful shutdown. Every web binary in the
// workbook uses it, so each main.go stays a few lines of wiring.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
)

// ShutdownTimeout is how long Serve waits for requests in flight to finish
// once ctx is done, before it closes their connections.
const ShutdownTimeout = 5 * time.Second

// The timeouts New sets. An http.Server's zero value has none at all: a
// client may then take forever to send its headers, read its response or
// come back on a keep-alive connection, and each such client holds a
// goroutine and a file descriptor. Enough of them (slow, stalled or simply
// idle) and the process runs out of descriptors while new visitors wait.
const (
	// ReadHeaderTimeout bounds the wait for a request's headers, which
	// stops clients that open a connection and trickle bytes (Slowloris).
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading the whole request; the bookstore's pages
	// take no body, so this is ample.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response: a page waits at most about a second for
	// recommendations, so a response still being written after ten is
	// going to a client that stopped reading.
	WriteTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection on which no new request
	// arrives. Browsers reuse a connection within seconds; one idle for a
	// minute is only holding a descriptor.
	IdleTimeout = 60 * time.Second
)

// New returns an http.Server for h with the timeouts above. Serve it with
// Serve; a test may shorten a timeout on the result before serving it.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// Serve serves srv on lis until ctx is done, then stops it with Shutdown
// and ShutdownTimeout, with serve.Until. It returns nil after a graceful
// stop, serve.ErrShutdownTimeout (wrapped) after a forced one, or the
// error that stopped the server.
func Serve(ctx context.Context, srv *http.Server, lis net.Listener) error {
	return ServeWith(ctx, srv, lis, func() error { return Shutdown(srv, ShutdownTimeout) })
}

// ServeWith serves srv on lis until ctx is done, then calls stop, which
// must stop srv; with serve.Until. Later chapters stop differently.
func ServeWith(ctx context.Context, srv *http.Server, lis net.Listener, stop func() error) error {
	run := func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return serve.Until(ctx, run, stop)
}

// Shutdown stops srv: it stops accepting connections and lets requests in
// flight finish, for up to timeout. A client decides how long its request
// lasts, so after timeout Shutdown closes whatever is left (http.Server's
// Shutdown alone leaves those connections open) and returns
// serve.ErrShutdownTimeout.
func Shutdown(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("http: %w", serve.ErrShutdownTimeout), srv.Close())
	}
	return nil
}

// URL returns the address a browser should open for a server listening on
// a: a wildcard listen address such as [::]:5000 (or :5000, whose IP is
// nil) becomes http://localhost:5000/.
func URL(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && (len(tcp.IP) == 0 || tcp.IP.IsUnspecified()) {
		return fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	return "http://" + a.String() + "/"
}
