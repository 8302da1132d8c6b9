// Command recommendations is chapter 5's service plus chapter 6: v1 beside the series' API,
// errors made status by one interceptor, TLS or mTLS renewed live, a graceful shutdown.
package main

import (
	"context"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cli"
	v1 "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/shed"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/tracing"
)

type options struct { // what newServer takes from main (and tests)
	random  rand.Source                      // catalog.Seeded(-seed), or a test's
	creds   credentials.TransportCredentials // from tlsconfig.Server: plaintext, TLS or mTLS
	log     *slog.Logger                     // where the chain logs
	metrics prometheus.Registerer            // where the chain counts
	tracer  trace.TracerProvider             // from tracing.Start
	shedAt  uint                             // calls in flight beyond which calls are refused (0: none)
}

type server struct {
	grpc, healthOnly *grpc.Server   // the service; health alone, for -health-addr
	health           *health.Server // SERVING until stop
}

// newServer builds the server main serves, and the tests too.
func newServer(o options) server {
	bounds := []grpc.ServerOption{grpc.ConnectionTimeout(5 * time.Second), // chapter 4's bounds; this one covers TLS's handshake
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, MaxConnectionAge: 30 * time.Second,
			MaxConnectionAgeGrace: 10 * time.Second, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(100), grpc.MaxRecvMsgSize(16 << 10), grpc.MaxHeaderListSize(8 << 10),
		grpc.InitialWindowSize(64 << 10), grpc.InitialConnWindowSize(64 << 10)}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram( // grpc_server_handled_total{grpc_code,...}, timed
		grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(100e-6, 2.5, 12)))) // 100 µs (a call on one machine) to 2.4 s
	o.metrics.MustRegister(metrics)
	s := server{grpc.NewServer(append(bounds, grpc.Creds(o.creds), grpc.InTapHandle(shed.Limit(o.shedAt, o.metrics)),
		// Outermost first: tracing (the span for all that follows), then go-grpc-middleware's logging
		// and metrics (each call's final code) and recovery (a panic is INTERNAL), and chapter 6's
		// ErrorsToStatus innermost, so all see the status it makes.
		grpc.ChainUnaryInterceptor(tracing.UnaryServer(o.tracer), logCalls(o.log), metrics.UnaryServerInterceptor(),
			recoverPanics(o.log), recommendations.ErrorsToStatus()))...), grpc.NewServer(bounds...), health.NewServer()}
	books := catalog.NewRecommender(o.random)
	pb.RegisterRecommendationsServer(s.grpc, recommendations.NewServer(books))
	v1.RegisterRecommendationsServiceServer(s.grpc, recommendations.NewV1Server(books))
	healthpb.RegisterHealthServer(s.grpc, s.health)
	healthpb.RegisterHealthServer(s.healthOnly, s.health)
	reflection.Register(s.grpc)
	return s
}

// stop says NOT_SERVING until drained (watchers stop sending calls), then stops
// gracefully (GOAWAY; calls in flight finish), past timeout cutting the rest.
func (s server) stop(drained <-chan time.Time, timeout time.Duration) (graceful bool) {
	defer s.healthOnly.Stop() // last: probes read NOT_SERVING until the end
	s.health.Shutdown()
	<-drained
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout): // Stop cancels every call; GracefulStop would wait for handlers that ignore it
		s.grpc.Stop()
		return false
	}
}

func main() {
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	var files tlsconfig.Files
	addr := fs.String("addr", ":50051", "gRPC listen address")
	seed := fs.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	metricsAddr := fs.String("metrics-addr", ":9090", "HTTP listen address of the Prometheus metrics, at /metrics")
	healthAddr := fs.String("health-addr", "", "plaintext listen address of gRPC health alone, for probes without a certificate")
	drain := fs.Duration("drain", 3*time.Second, "after SIGTERM, how long health says NOT_SERVING before the server stops taking calls")
	maxInFlight := fs.Uint("max-in-flight", 0, "calls at once beyond which calls are refused with RESOURCE_EXHAUSTED (0: no limit)")
	timeout := fs.Duration("shutdown-timeout", 30*time.Second, "then how long calls in flight may take to finish")
	fs.StringVar(&files.Cert, "tls-cert", "", "server certificate `FILE` (PEM); with -tls-key, turns TLS on")
	fs.StringVar(&files.Key, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	fs.StringVar(&files.CA, "tls-ca", "", "CA certificate `FILE` (PEM) that signs client certificates; requires them (mTLS)")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug (every call), info, warn or error")
	cli.Parse(fs, os.Args[1:], nil)

	log := cli.NewLogger(level) // JSON lines for a log collector, text at a terminal
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	reg := prometheus.NewRegistry() // with the Go runtime's and the process's metrics
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tp, flush, err := tracing.Start(ctx, "recommendations", os.Getenv)
	cli.ExitIf(log, "start", err)
	defer flush() // export the spans still queued
	creds, err := tlsconfig.Server(files, log)
	cli.ExitIf(log, "start", err) // the certificate failed the check each (logged) renewal passes too
	s := newServer(options{random: catalog.Seeded(*seed), creds: creds, log: log, metrics: reg, tracer: tp, shedAt: *maxInFlight})
	lis, err := net.Listen("tcp", *addr)
	cli.ExitIf(log, "start", err)
	mlis, err := net.Listen("tcp", *metricsAddr)
	cli.ExitIf(log, "start", err)
	metricsSrv := cli.NewHTTPServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go func() { _ = metricsSrv.Serve(mlis) }() // returns when Close closes it
	if *healthAddr != "" {
		hlis, err := net.Listen("tcp", *healthAddr)
		cli.ExitIf(log, "start", err)
		go func() { _ = s.healthOnly.Serve(hlis) }() // returns when stop stops it
		log.Info("serving health in plaintext", "addr", hlis.Addr().String())
	}
	go func() { cli.ExitIf(log, "serve", s.grpc.Serve(lis)) }() // nil once stopped: else the listener broke
	log.Info("serving gRPC", "addr", lis.Addr().String(), "tls", files.Cert != "", "mtls", files.CA != "", "metrics", mlis.Addr().String())
	<-ctx.Done()
	stop() // from now on a second Ctrl+C or SIGTERM ends the process at once
	log.Info("Received shutdown signal", "cause", context.Cause(ctx).Error())
	if s.stop(time.After(*drain), *timeout) {
		log.Info("Shut down gracefully")
	} else {
		log.Warn("Shut down at the cap, cutting calls still in flight", "timeout", timeout.String())
	}
	_ = metricsSrv.Close()
}
