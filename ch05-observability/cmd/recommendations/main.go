// Command recommendations is the Recommendations service of chapter 5:
// chapter 4's bounded service with interceptors that trace, log, count and
// survive every call, and Prometheus metrics at /metrics on -metrics-addr,
// never on the public port.
//
//	go run ./ch05-observability/cmd/recommendations   # gRPC on :50051, metrics on :9090
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
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

// options are what newServer takes from main.
type options struct {
	seed    uint64                // 0 picks books at random, any other value repeatably
	log     *slog.Logger          // where the chain logs
	metrics prometheus.Registerer // where the chain counts
	tracer  trace.TracerProvider  // from tracing.Start
}

type server struct {
	grpc   *grpc.Server
	health *health.Server
}

// newServer builds the server main serves, and the tests too.
func newServer(o options) server {
	metrics := interceptors.NewServerMetrics(o.metrics)
	s := server{grpc.NewServer(
		// Chapter 4's bounds: no client holds the server's memory or its
		// connections for long (see chapter 4 for each one's reason).
		grpc.ConnectionTimeout(5*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, MaxConnectionAge: 30 * time.Second,
			MaxConnectionAgeGrace: 10 * time.Second, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(100),
		grpc.MaxRecvMsgSize(16<<10),
		grpc.MaxHeaderListSize(8<<10),
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10),
		// The chain, outermost first:
		//  1. tracing puts the call's span in the context, so that what
		//     follows can name the trace;
		//  2. logging sees every call from first to last, with its final
		//     code and its whole duration;
		//  3. metrics count that same outcome;
		//  4. recovery, innermost, turns a panic into INTERNAL before
		//     metrics and logging see it, so a panic is counted and logged
		//     as the error the caller got, and the server keeps serving.
		grpc.ChainUnaryInterceptor(tracing.UnaryServer(o.tracer), interceptors.UnaryServerLogging(o.log),
			metrics.UnaryServer(), interceptors.UnaryServerRecovery(o.log)),
	), health.NewServer()}
	pb.RegisterRecommendationsServer(s.grpc, recommendations.NewServer(catalog.NewRecommender(catalog.Seeded(o.seed))))
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s
}

func main() {
	addr := flag.String("addr", ":50051", "gRPC listen address")
	seed := flag.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	metricsAddr := flag.String("metrics-addr", ":9090", "HTTP listen address of the Prometheus metrics, at /metrics")
	var level slog.Level
	flag.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug (every call), info, warn or error")
	flag.Parse()

	log := newLogger(level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tp, flush, err := tracing.Start(ctx, "recommendations", os.Getenv)
	lis, lerr := net.Listen("tcp", *addr)
	mlis, merr := net.Listen("tcp", *metricsAddr)
	if err = errors.Join(err, lerr, merr); err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	defer flush() // export the spans still queued

	reg := prometheus.NewRegistry() // with the Go runtime's and the process's metrics
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	go func() { _ = metricsSrv.Serve(mlis) }() // returns when Close closes it

	s := newServer(options{seed: *seed, log: log, metrics: reg, tracer: tp})
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	log.Info("serving gRPC", "addr", lis.Addr().String())
	log.Info("serving metrics", "addr", mlis.Addr().String(), "path", "/metrics")
	select {
	case err := <-served: // the listener broke
		log.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// NOT_SERVING, then the calls in flight may finish for 5s at most.
	s.health.Shutdown()
	timer := time.AfterFunc(5*time.Second, s.grpc.Stop)
	s.grpc.GracefulStop()
	if !timer.Stop() {
		log.Warn("stopped the calls still running after 5s")
	}
	_ = metricsSrv.Close()
	log.Info("stopped")
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
