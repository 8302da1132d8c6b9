// Package httpserver runs an http.Handler until a context ends, then shuts
// it down gracefully. Every web binary in the workbook uses it, so each
// main.go stays a few lines of wiring.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout is how long Serve waits for requests in flight to finish
// once ctx is done, before it closes their connections.
const ShutdownTimeout = 5 * time.Second

// Serve serves h on lis until ctx is done, then stops accepting connections
// and waits up to ShutdownTimeout for requests in flight. It returns nil
// after a clean shutdown, or the error that stopped the server.
func Serve(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler: h,
		// Without a header timeout a client that never finishes its
		// request headers holds a connection forever.
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		// Shutdown gave up waiting but leaves the slow connections open;
		// Close ends them, so Serve keeps its promise to return.
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutdownErr
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
