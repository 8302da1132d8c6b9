// Command marketplace is the Marketplace of chapter 5: chapter 4's
// production web app with request IDs carried into the gRPC calls,
// client-side metrics, OpenTelemetry tracing from the HTTP request through
// the gRPC call, and Prometheus metrics at /metrics on -metrics-addr.
//
//	go run ./ch05-observability/cmd/marketplace   # HTTP on :5000, metrics on :9091
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/balancing"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/healthz"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/metrics"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
)

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	flags := marketplace.NewFlags(fs, os.Getenv)
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log at this level and above: debug (every RPC), info, warn or error")
	metricsAddr := fs.String("metrics-addr", ":9091", "HTTP listen address of the Prometheus metrics, at /metrics")
	cmdline.Main(fs, os.Args[1:], flags.Check)

	log := logging.NewTo(os.Stderr, logging.IsTerminal(os.Stderr), level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, stopTracing, err := tracing.FromEnvironment(ctx, "marketplace", os.Getenv)
	if err != nil {
		log.Error("tracing", "err", err)
		os.Exit(1)
	}

	// Chapter 4's balanced connection, with the client interceptors and
	// tracing added as dial options.
	reg := metrics.NewRegistry()
	opts := append(interceptors.DialOptions(interceptors.NewClientMetrics(reg)), tr.DialOption())
	conn, err := balancing.Connect(balancing.Target(flags.Target), opts...)
	if err != nil {
		log.Error("connect", "err", err)
		os.Exit(1)
	}
	defer conn.Close()

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
	// The page, wrapped: a request ID for each request, inside a span for
	// each; /healthz stays outside both, since probes are not traffic.
	page := tr.Handler(requestid.Middleware(marketplace.New(conn, homepage.Options{Logger: log})), "homepage")
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", httpserver.URL(lis.Addr()), "recommendations", flags.Target)
	log.Info("serving metrics", "addr", metricsLis.Addr().String(), "path", metrics.Path)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserver.Serve(gctx, httpserver.New(healthz.Mount(page)), lis) })
	g.Go(func() error { return metrics.Serve(gctx, metricsLis, reg) })
	err = g.Wait()
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, stopTracing(flushCtx))
	if errors.Is(err, serve.ErrShutdownTimeout) {
		log.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
