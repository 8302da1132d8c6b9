// Command recommendations is the Recommendations service of chapter 5:
// chapter 4's production service with the chapter's interceptors (logging,
// metrics, recovery), OpenTelemetry tracing, and Prometheus metrics at
// /metrics on -metrics-addr.
//
//	go run ./ch05-observability/cmd/recommendations   # gRPC on :50051, metrics on :9090
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/metrics"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

func main() {
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	flags := recommendations.NewFlags(fs)
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug (every RPC), info, warn or error")
	metricsAddr := fs.String("metrics-addr", ":9090", "HTTP listen address of the Prometheus metrics, at /metrics")
	cmdline.Main(fs, os.Args[1:])

	log := logging.NewTo(os.Stderr, logging.IsTerminal(os.Stderr), level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, stopTracing, err := tracing.FromEnvironment(ctx, "recommendations", os.Getenv)
	if err != nil {
		log.Error("tracing", "err", err)
		os.Exit(1)
	}

	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}
	metricsLis, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		log.Error("listen", "addr", *metricsAddr, "err", err)
		os.Exit(1)
	}

	// Chapter 4's server, with the interceptors and tracing added as
	// server options.
	reg := metrics.NewRegistry()
	opts := append(interceptors.ServerOptions(log, interceptors.NewServerMetrics(reg)), tr.ServerOption())
	s := grpcserver.New(recommendations.NewServer(catalog.Seeded(flags.Seed)), grpcserver.DefaultLimits(), opts...)
	log.Info("serving gRPC", "addr", lis.Addr().String())
	log.Info("serving metrics", "addr", metricsLis.Addr().String(), "path", metrics.Path)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx, lis) })
	g.Go(func() error { return metrics.Serve(gctx, metricsLis, reg) })
	err = g.Wait()
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, stopTracing(flushCtx))
	if errors.Is(err, serve.ErrShutdownTimeout) {
		log.Warn("stopped after the shutdown timeout", "timeout", recommendations.ShutdownTimeout, "err", err)
	} else if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
