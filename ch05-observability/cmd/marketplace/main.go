// Command marketplace is chapter 5's Marketplace: chapter 4's web app with each page traced
// through its gRPC call, the calls counted, and Prometheus metrics at /metrics on -metrics-addr,
// not the public port. Recommendations: $RECOMMENDATIONS_HOST:50051 or -recommendations.
//
//	go run ./ch05-observability/cmd/marketplace   # HTTP on :5000, metrics on :9091
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

// At a stop: /healthz says 503 for drain (probes stop sending visitors), then shutdownTimeout for pages.
const drain, shutdownTimeout = 2 * time.Second, 5 * time.Second

// options are what main makes for the connection and the pages.
type options struct {
	log     *slog.Logger          // where the page logs
	metrics prometheus.Registerer // where the client interceptor counts
	tracer  trace.TracerProvider  // from tracing.Start
}

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address")
	var target string
	fs.Func("recommendations", "`host:port` of the Recommendations service, instead of $"+marketplace.HostEnv+":"+marketplace.Port,
		func(s string) error { target = s; return marketplace.CheckTarget(s) })
	metricsAddr := fs.String("metrics-addr", ":9091", "HTTP listen address of the Prometheus metrics, at /metrics")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug, info, warn or error")
	parseFlags(fs, os.Args[1:], func() (err error) {
		if target == "" { // no -recommendations: the environment decides
			target, err = marketplace.Target(os.Getenv)
		}
		return err
	})
	log := newLogger(level) // JSON lines for a log collector, text at a terminal
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tp, flush, err := tracing.Start(ctx, "marketplace", os.Getenv)
	reg := prometheus.NewRegistry() // with the Go runtime's and the process's metrics
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o := options{log: log, metrics: reg, tracer: tp}
	conn, cerr := newConn("dns:///"+target, o) // one, shared by every page, to every address of the name
	lis, lerr := net.Listen("tcp", *addr)
	mlis, merr := net.Listen("tcp", *metricsAddr)
	if err = errors.Join(err, cerr, lerr, merr); err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	defer flush() // export the spans still queued, after conn.Close
	defer conn.Close()
	metricsSrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	go func() { _ = metricsSrv.Serve(mlis) }() // returns when Close closes it
	var draining atomic.Bool
	srv := &http.Server{ // no bounds by default: a client that trickles, or idles, holds on for ever
		Handler:           newHandler(conn, o, &draining),
		ReadHeaderTimeout: 5 * time.Second,  // Slowloris
		ReadTimeout:       10 * time.Second, // the pages take no body
		WriteTimeout:      10 * time.Second, // a page waits ~1 s for books
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10, // a visitor's headers are a few hundred bytes
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", marketplace.URL(lis.Addr()), "recommendations", target)
	log.Info("serving metrics", "addr", mlis.Addr().String(), "path", "/metrics")
	go func() {
		if err := srv.Serve(lis); err != http.ErrServerClosed { // Shutdown's: else the listener broke
			log.Error("serve", "err", err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()
	draining.Store(true) // probes read 503 a moment before the listener closes
	time.Sleep(drain)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil { // pages in flight finish; past the bound, Close cuts them
		log.Warn("stopped after the shutdown timeout", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	_ = metricsSrv.Close()
	log.Info("stopped")
}

// newConn creates the process's one connection to target, extra options last. It does
// no I/O: it connects at the first call and reconnects by itself, as Recommendations comes and goes.
func newConn(target string, o options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	// gRPC's backoff grows to 2 minutes; a refused attempt is cheap: retry each ~1 s.
	params := grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 5 * time.Second, // an attempt neither accepted nor refused: 5 s, not 20
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS: chapter 6
		grpc.WithConnectParams(params),
		// round_robin: a connection to each address, each call on the next one.
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		// Ping after 20 s of silence (the server allows 10): drops vanished replicas.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		// Settings from this code only, not from a DNS TXT record someone else could change.
		grpc.WithDisableServiceConfig(),
		// Metrics count each call as this side saw it; tracing, inside, gives it a span in the page's trace.
		grpc.WithChainUnaryInterceptor(interceptors.NewClientMetrics(o.metrics).UnaryClient(), tracing.UnaryClient(o.tracer)),
	}, extra...)
	return grpc.NewClient(target, opts...)
}

// newHandler returns the homepage, traced and fed by Recommendations over conn, and /healthz
// for probes, not traced: 503 once draining, else 200 without asking Recommendations (the page
// works without it; failing probes when it is down would take the site down).
func newHandler(conn *grpc.ClientConn, o options, draining *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", tracing.Handler(o.tracer, marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: o.log, Metrics: o.metrics})))
	return mux
}
