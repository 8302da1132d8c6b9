// Package instrument bundles chapter 5's instruments for one process: the
// logger, a Prometheus registry served at /metrics on an address of its
// own, tracing, and the interceptor chains that feed them. Chapter 5's
// binaries wire them in a few lines, and so do later chapters' binaries,
// which build on chapter 5's.
package instrument

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/metrics"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

// Flags are chapter 5's flags.
type Flags struct {
	// MetricsAddr is where /metrics is served (-metrics-addr).
	MetricsAddr string
	// Level is the lowest level logged (-log-level); debug logs every RPC.
	Level slog.Level
}

// NewFlags defines -metrics-addr, with metricsAddr as its default, and
// -log-level on fs.
func NewFlags(fs *flag.FlagSet, metricsAddr string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.MetricsAddr, "metrics-addr", metricsAddr, "HTTP listen address of the Prometheus metrics, at /metrics")
	fs.TextVar(&f.Level, "log-level", slog.LevelInfo, "log at this level and above: debug (every RPC), info, warn or error")
	return f
}

// Process is one process's instruments.
type Process struct {
	// Log is the structured logger: JSON unless standard error is a
	// terminal.
	Log *slog.Logger
	// Registry holds the process's metrics: the Go runtime's and the
	// process's, and the interceptors'.
	Registry *prometheus.Registry
	// Tracing traces what it instruments when a collector is configured.
	Tracing tracing.Tracing

	metricsLis  net.Listener
	stopTracing func(context.Context) error
}

// Start sets up the instruments of the service named service: logging to
// standard error at f.Level, tracing from the standard OTEL_* environment,
// and a listener for /metrics on f.MetricsAddr. Close releases them.
func Start(ctx context.Context, service string, f *Flags) (*Process, error) {
	log := logging.NewTo(os.Stderr, logging.IsTerminal(os.Stderr), f.Level)
	tr, stopTracing, err := tracing.FromEnvironment(ctx, service, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	lis, err := net.Listen("tcp", f.MetricsAddr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("metrics: %w", err), stopTracing(ctx))
	}
	return &Process{Log: log, Registry: metrics.NewRegistry(), Tracing: tr, metricsLis: lis, stopTracing: stopTracing}, nil
}

// ServerOptions instruments a gRPC server: the chain of interceptors
// (logging, metrics into Registry, recovery) and tracing.
func (p *Process) ServerOptions() []grpc.ServerOption {
	return append(interceptors.ServerOptions(p.Log, interceptors.NewServerMetrics(p.Registry)), p.Tracing.ServerOption())
}

// DialOptions instruments a gRPC client: request IDs, metrics into
// Registry, and tracing.
func (p *Process) DialOptions() []grpc.DialOption {
	return append(interceptors.DialOptions(interceptors.NewClientMetrics(p.Registry)), p.Tracing.DialOption())
}

// Page instruments a web page: a request ID for each request, inside a span
// for each.
func (p *Process) Page(h http.Handler) http.Handler {
	return p.Tracing.Handler(requestid.Middleware(h), "homepage")
}

// LogServing logs where the metrics are served. A binary calls it once all
// its listeners are up: its first line of output then means it is ready,
// which scripts and the docs' sessions rely on.
func (p *Process) LogServing() {
	p.Log.Info("serving metrics", "addr", p.metricsLis.Addr().String(), "path", metrics.Path)
}

// ServeMetrics serves Registry at /metrics until ctx ends.
func (p *Process) ServeMetrics(ctx context.Context) error {
	return metrics.Serve(ctx, p.metricsLis, p.Registry)
}

// Close flushes the spans not yet exported, waiting five seconds at most,
// and closes the metrics listener if ServeMetrics never ran.
func (p *Process) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.stopTracing(ctx)
	if cerr := p.metricsLis.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = errors.Join(err, cerr)
	}
	return err
}
