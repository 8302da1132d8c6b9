// Package shutdown is chapter 6's graceful shutdown: what a server does
// between the signal that asks it to stop and its exit, so that no request
// in flight is lost and no process hangs.
//
// The order matters. First the server says it is going away: gRPC health
// reports NOT_SERVING, so whoever watches it (a load balancer, a
// Kubernetes probe, a client with health checking) stops sending work.
// Then it refuses new work and lets the work in flight finish: gRPC's
// GracefulStop sends every client an HTTP/2 GOAWAY, and http.Server's
// Shutdown closes idle connections. Last, since a client decides how long
// its call lasts, a cap: whatever is still running then is cut, and the
// process exits anyway, before the orchestrator's own deadline (30 s by
// default in Kubernetes) kills it mid-write.
//
// The series did the same in Python with server.stop(grace) in a SIGTERM
// handler. In Go the signal arrives as a context (signal.NotifyContext),
// and the stop is a function that chapter 1's serve.Until calls when that
// context ends.
package shutdown

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
)

// DefaultTimeout is the cap on a graceful shutdown: long enough for any
// call the bookstore makes (a page waits a second for recommendations),
// and it must stay below the orchestrator's grace period (Kubernetes'
// terminationGracePeriodSeconds, compose's stop_grace_period), or the
// process is killed before it can cut what is left and exit cleanly.
const DefaultTimeout = 30 * time.Second

// Flags is the shutdown's flag.
type Flags struct {
	// Timeout caps the graceful shutdown (-shutdown-timeout).
	Timeout time.Duration
}

// NewFlags defines -shutdown-timeout on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.DurationVar(&f.Timeout, "shutdown-timeout", DefaultTimeout, "how long calls in flight may take to finish after SIGTERM or Ctrl+C, before they are cut")
	return f
}

// Check refuses a timeout that is not positive; a check for cmdline.Main.
func (f *Flags) Check() error {
	if f.Timeout <= 0 {
		return fmt.Errorf("-shutdown-timeout must be positive, got %v", f.Timeout)
	}
	return nil
}

// OnSignal returns a context that ends at the first SIGTERM or interrupt
// (Ctrl+C). After that first signal the default handling comes back, so a
// second one ends the process at once: an operator who does not want to
// wait for the calls in flight presses Ctrl+C again. Call stop when done.
func OnSignal(parent context.Context) (ctx context.Context, stop func()) {
	ctx, stop = signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// Begin logs that the shutdown begins, and why: the signal that ended
// signals (context.Cause says which), or, when no signal came, the server
// that stopped on its own. Both stops below call it first.
func Begin(signals context.Context, log *slog.Logger) {
	if signals.Err() != nil {
		log.Info("Received shutdown signal", "cause", context.Cause(signals).Error())
		return
	}
	log.Warn("shutting down: a server stopped without a signal")
}

// GRPC returns the stop for s's ServeWith: it logs why, sets every health
// status to NOT_SERVING for good, then stops s gracefully for up to
// timeout, and after that cuts the calls left, returning
// serve.ErrShutdownTimeout (wrapped).
func GRPC(signals context.Context, s *grpcserver.Server, log *slog.Logger, timeout time.Duration) func() error {
	return func() error {
		Begin(signals, log)
		// Shutdown, not SetServingStatus: no later call can flip a status
		// back to SERVING while the server drains.
		s.Health.Shutdown()
		log.Info("draining gRPC calls in flight", "timeout", timeout.String())
		return recommendations.Stop(s.Server, timeout)
	}
}

// HTTP returns the stop for httpserver.ServeWith: it logs why, then shuts
// srv down for up to timeout with httpserver.Shutdown, which stops
// accepting, lets requests in flight finish, and then closes what is left,
// returning serve.ErrShutdownTimeout (wrapped).
func HTTP(signals context.Context, srv *http.Server, log *slog.Logger, timeout time.Duration) func() error {
	return func() error {
		Begin(signals, log)
		log.Info("draining HTTP requests in flight", "timeout", timeout.String())
		return httpserver.Shutdown(srv, timeout)
	}
}

// Finish logs how the shutdown ended, from the error the servers returned
// (joined with anything else that failed on the way out), and returns the
// process's exit code: 0 after a graceful stop and after a stop that had to
// cut calls at the cap (the stop was asked for, and it happened), 1 when
// something failed.
func Finish(log *slog.Logger, err error, timeout time.Duration) int {
	switch {
	case err == nil:
		log.Info("Shut down gracefully")
		return 0
	case serve.OnlyTimeout(err):
		log.Warn("Shut down at the cap, cutting calls still in flight", "timeout", timeout.String(), "err", err)
		return 0
	default:
		log.Error("Shut down after a failure", "err", err)
		return 1
	}
}
