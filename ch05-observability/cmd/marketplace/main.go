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

	"golang.org/x/sync/errgroup"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/balancing"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/healthz"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/instrument"
)

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	flags := marketplace.NewFlags(fs, os.Getenv)
	obs := instrument.NewFlags(fs, ":9091")
	cmdline.Main(fs, os.Args[1:], flags.Check)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := instrument.Start(ctx, "marketplace", obs)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}

	// Chapter 4's balanced connection, with the client interceptors and
	// tracing added as dial options.
	conn, err := balancing.Connect(balancing.Target(flags.Target), p.DialOptions()...)
	if err != nil {
		p.Log.Error("connect", "err", err)
		os.Exit(1)
	}
	defer conn.Close()
	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		p.Log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}

	// The page with a request ID and a span for each request; /healthz
	// stays outside both, since probes are not traffic.
	page := p.Page(marketplace.New(conn, homepage.Options{Logger: p.Log}))
	p.Log.Info("serving HTTP", "addr", lis.Addr().String(), "url", httpserver.URL(lis.Addr()), "recommendations", flags.Target)
	p.LogServing()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserver.Serve(gctx, httpserver.New(healthz.Mount(page)), lis) })
	g.Go(func() error { return p.ServeMetrics(gctx) })
	err = errors.Join(g.Wait(), p.Close())
	if serve.OnlyTimeout(err) {
		p.Log.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		p.Log.Error("serve", "err", err)
		os.Exit(1)
	}
	p.Log.Info("stopped")
}
