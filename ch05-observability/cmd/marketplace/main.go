// Command marketplace is the Marketplace of chapter 5: chapter 4's web app
// with each page traced through its gRPC call, the calls counted, and
// Prometheus metrics at /metrics on -metrics-addr, not the public port.
// Recommendations is at $RECOMMENDATIONS_HOST:50051 (default localhost),
// or -recommendations.
//
//	go run ./ch05-observability/cmd/marketplace   # HTTP on :5000, metrics on :9091
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

// options are what newConn and newHandler take from main.
type options struct {
	log     *slog.Logger          // where the page logs
	metrics prometheus.Registerer // where the client interceptor counts
	tracer  trace.TracerProvider  // from tracing.Start
}

// newConn returns the process's one connection to Recommendations at
// target (host:port): to every address the name resolves to, in turn.
func newConn(target string, o options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS: chapter 6
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		grpc.WithDisableServiceConfig(), // not DNS's: the settings are all here
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second, Backoff: backoff.Config{
			BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
		// Metrics count each call as the Marketplace saw it, including
		// those that never reached a server; tracing, inside, gives each
		// call a span in the page's trace and sends the trace context.
		grpc.WithChainUnaryInterceptor(interceptors.NewClientMetrics(o.metrics).UnaryClient(), tracing.UnaryClient(o.tracer)),
	}
	return grpc.NewClient("dns:///"+target, append(opts, extra...)...)
}

// newHandler returns the Marketplace's routes: the homepage, traced, and
// /healthz, which is not: probes are not traffic.
func newHandler(conn *grpc.ClientConn, o options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("/", tracing.Handler(o.tracer, marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: o.log})))
	return mux
}

func main() {
	addr := flag.String("addr", ":5000", "HTTP listen address")
	var target string
	flag.Func("recommendations", "`host:port` of Recommendations, instead of $"+marketplace.HostEnv+":"+marketplace.Port,
		func(s string) error { target = s; return marketplace.CheckTarget(s) })
	metricsAddr := flag.String("metrics-addr", ":9091", "HTTP listen address of the Prometheus metrics, at /metrics")
	var level slog.Level
	flag.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug, info, warn or error")
	flag.Parse()

	log := newLogger(level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if target == "" { // no -recommendations: the environment decides
		target, err = marketplace.Target(os.Getenv)
	}
	tp, flush, terr := tracing.Start(ctx, "marketplace", os.Getenv)
	lis, lerr := net.Listen("tcp", *addr)
	mlis, merr := net.Listen("tcp", *metricsAddr)
	if err = errors.Join(err, terr, lerr, merr); err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	defer flush() // export the spans still queued
	reg := prometheus.NewRegistry()
	o := options{log: log, metrics: reg, tracer: tp}
	conn, err := newConn(target, o) // connects at the first call, and again after failures
	if err != nil {
		log.Error("connect", "err", err)
		os.Exit(1)
	}
	defer conn.Close() // after the pages in flight

	// The metrics, with the Go runtime's and the process's, on their port.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	metricsSrv := newHTTPServer(mux)
	go func() { _ = metricsSrv.Serve(mlis) }() // returns when Close closes it

	srv := newHTTPServer(newHandler(conn, o))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", marketplace.URL(lis.Addr()), "recommendations", target)
	log.Info("serving metrics", "addr", mlis.Addr().String(), "path", "/metrics")
	select {
	case err := <-served: // the listener broke
		log.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// The pages in flight may finish, for five seconds at most.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("stopped the pages still running after 5s", "err", err)
	}
	_ = metricsSrv.Close()
	log.Info("stopped")
}

// newHTTPServer bounds how long a client may take over a request and keep a
// connection, and how large its headers may be.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}

// newLogger logs key=value text to a terminal, JSON lines otherwise (in a
// container, for a log collector).
func newLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
