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

	"golang.org/x/sync/errgroup"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/instrument"
)

func main() {
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	flags := recommendations.NewFlags(fs)
	obs := instrument.NewFlags(fs, ":9090")
	cmdline.Main(fs, os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := instrument.Start(ctx, "recommendations", obs)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		p.Log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}

	// Chapter 4's server, with the interceptors and tracing added as
	// server options.
	s := grpcserver.New(recommendations.NewServer(catalog.Seeded(flags.Seed)), grpcserver.DefaultLimits(), p.ServerOptions()...)
	p.Log.Info("serving gRPC", "addr", lis.Addr().String())
	p.LogServing()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx, lis) })
	g.Go(func() error { return p.ServeMetrics(gctx) })
	err = errors.Join(g.Wait(), p.Close())
	if serve.OnlyTimeout(err) {
		p.Log.Warn("stopped after the shutdown timeout", "timeout", recommendations.ShutdownTimeout, "err", err)
	} else if err != nil {
		p.Log.Error("serve", "err", err)
		os.Exit(1)
	}
	p.Log.Info("stopped")
}
