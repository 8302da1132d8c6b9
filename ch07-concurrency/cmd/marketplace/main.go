// Command marketplace is chapter 5's web app with chapter 6's lesson: TLS or
// mutual TLS to Recommendations, and on SIGTERM a drain (/healthz says 503),
// then the pages in flight finish, and only then the connection closes.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/health" // client-side health checking: without it, healthCheckConfig does nothing
	"google.golang.org/grpc/keepalive"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cli"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/tracing"
)

type options struct { // what newConn and newHandler take from main (and tests)
	log      *slog.Logger          // where the page logs
	metrics  prometheus.Registerer // where the client interceptor counts
	tracer   trace.TracerProvider  // from tracing.Start
	draining *atomic.Bool          // set on SIGTERM: /healthz says 503
}

// newConn returns the one connection to Recommendations at target (host:port); tests add a resolver in extra.
func newConn(target string, creds credentials.TransportCredentials, o options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	metrics := grpcprom.NewClientMetrics() // grpc_client_handled_total{grpc_code,...}: Recommendations times the calls
	o.metrics.MustRegister(metrics)
	return grpc.NewClient("dns:///"+target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),                     // chapter 6: plaintext, TLS or mTLS, from tlsconfig.Client
		grpc.WithDefaultServiceConfig(marketplace.ServiceConfig), // round robin over healthy replicas, retries
		grpc.WithDisableServiceConfig(),                          // not DNS's: the settings are all here
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second, Backoff: backoff.Config{
			BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
		// Ping after 20 s of silence (the server allows 10): drops vanished replicas.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		// Metrics see the call as the page did, once, however many attempts it takes.
		grpc.WithChainUnaryInterceptor(metrics.UnaryClientInterceptor(), tracing.UnaryClient(o.tracer)),
	}, extra...)...)
}

// newHandler returns the homepage, traced, and /healthz, not traced: 200 while
// the process serves pages (with or without books), 503 once it drains.
func newHandler(conn *grpc.ClientConn, o options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		code := http.StatusOK
		if o.draining.Load() {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(code), code)
	})
	mux.Handle("/", tracing.Handler(o.tracer, marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: o.log, Metrics: o.metrics})))
	return mux
}

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	var files tlsconfig.Files
	addr := fs.String("addr", ":5000", "HTTP listen address")
	var target string
	fs.Func("recommendations", "`host:port` of Recommendations, instead of $"+marketplace.HostEnv+":"+marketplace.Port,
		func(s string) error { target = s; return marketplace.CheckTarget(s) })
	metricsAddr := fs.String("metrics-addr", ":9091", "HTTP listen address of the Prometheus metrics, at /metrics")
	drain := fs.Duration("drain", 3*time.Second, "after SIGTERM, how long /healthz says 503 before the server stops taking pages")
	timeout := fs.Duration("shutdown-timeout", 30*time.Second, "then how long pages in flight may take to finish")
	fs.StringVar(&files.CA, "tls-ca", "", "CA certificate `FILE` (PEM) that signs the server's certificate; turns TLS on")
	fs.StringVar(&files.Cert, "tls-cert", "", "client certificate `FILE` (PEM) to present for mTLS; needs -tls-ca")
	fs.StringVar(&files.Key, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug, info, warn or error")
	cli.Parse(fs, os.Args[1:], func() (err error) {
		if target == "" { // no -recommendations: the environment decides
			target, err = marketplace.Target(os.Getenv)
		}
		return err
	})

	log := cli.NewLogger(level) // JSON lines for a log collector, text at a terminal
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	reg := prometheus.NewRegistry() // with the Go runtime's and the process's metrics
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tp, flush, err := tracing.Start(ctx, "marketplace", os.Getenv)
	cli.ExitIf(log, "start", err)
	defer flush() // export the spans still queued
	o := options{log: log, metrics: reg, tracer: tp, draining: new(atomic.Bool)}
	creds, err := tlsconfig.Client(files, log) // its renewals are logged too
	cli.ExitIf(log, "start", err)
	conn, err := newConn(target, creds, o) // connects at the first call, and again after failures
	cli.ExitIf(log, "start", err)
	lis, err := net.Listen("tcp", *addr)
	cli.ExitIf(log, "start", err)
	mlis, err := net.Listen("tcp", *metricsAddr)
	cli.ExitIf(log, "start", err)
	metricsSrv := cli.NewHTTPServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go func() { _ = metricsSrv.Serve(mlis) }() // returns when Close closes it
	srv := cli.NewHTTPServer(newHandler(conn, o))
	go func() { cli.ExitIf(log, "serve", srv.Serve(lis)) }() // ErrServerClosed once stopped: else the listener broke
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", marketplace.URL(lis.Addr()), "recommendations", target,
		"tls", files.CA != "", "mtls", files.Cert != "", "metrics", mlis.Addr().String())
	<-ctx.Done()
	stop() // from now on a second Ctrl+C or SIGTERM ends the process at once
	log.Info("Received shutdown signal", "cause", context.Cause(ctx).Error())
	o.draining.Store(true) // probes read 503 and stop sending visitors, a moment before the listener closes
	time.Sleep(*drain)
	// Shutdown closes the listener, waits for the pages in flight (Close cuts them at the cap), then the connection closes.
	stopCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	err = srv.Shutdown(stopCtx)
	_, _, _ = srv.Close(), metricsSrv.Close(), conn.Close()
	log.Info("closed the connection to recommendations")
	if err != nil {
		log.Warn("Shut down at the cap, cutting pages still in flight", "timeout", timeout.String())
		return
	}
	log.Info("Shut down gracefully")
}
