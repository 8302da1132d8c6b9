// Command marketplace is the Marketplace of chapter 6: chapter 5's
// instrumented web app, reaching Recommendations over TLS or mutual TLS,
// with a graceful shutdown: the HTTP server first, so every page in flight
// gets its recommendations, then the connection to Recommendations.
//
//	go run ./ch06-best-practices/cmd/marketplace   # HTTP on :5000, metrics on :9091, plaintext gRPC
//	go run ./ch06-best-practices/cmd/marketplace \
//	    -tls-ca certs/ca.crt -tls-cert certs/marketplace.crt -tls-key certs/marketplace.key   # mTLS
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/balancing"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/healthz"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/instrument"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/shutdown"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
)

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	flags := marketplace.NewFlags(fs, os.Getenv)
	obs := instrument.NewFlags(fs, ":9091")
	tlsFlags := tlsconfig.NewClientFlags(fs)
	stopFlags := shutdown.NewFlags(fs)
	cmdline.Main(fs, os.Args[1:], flags.Check, tlsFlags.CheckClient, stopFlags.Check)

	signals, stop := shutdown.OnSignal(context.Background())
	defer stop()
	p, err := instrument.Start(signals, "marketplace", obs)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	creds, err := tlsFlags.ClientCredentials()
	if err != nil {
		p.Log.Error("tls", "err", err)
		os.Exit(1)
	}

	// Chapter 5's instrumented, balanced connection, with the transport
	// credentials last: they replace chapter 3's plaintext ones.
	conn, err := balancing.Connect(balancing.Target(flags.Target), append(p.DialOptions(), grpc.WithTransportCredentials(creds))...)
	if err != nil {
		p.Log.Error("connect", "err", err)
		os.Exit(1)
	}
	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		p.Log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}

	page := p.Page(marketplace.New(conn, homepage.Options{Logger: p.Log}))
	srv := httpserver.New(healthz.Mount(page))
	p.Log.Info("serving HTTP", "addr", lis.Addr().String(), "url", httpserver.URL(lis.Addr()),
		"recommendations", flags.Target, "transport", tlsFlags.Mode())
	p.LogServing()
	g, gctx := errgroup.WithContext(signals)
	g.Go(func() error {
		return httpserver.ServeWith(gctx, srv, lis, shutdown.HTTP(signals, srv, p.Log, stopFlags.Timeout))
	})
	g.Go(func() error { return p.ServeMetrics(gctx) })
	err = g.Wait()
	// Only now, with no page left to serve, the connection closes.
	closeErr := conn.Close()
	if closeErr == nil {
		p.Log.Info("closed the connection to recommendations")
	}
	err = errors.Join(err, closeErr, p.Close())
	os.Exit(shutdown.Finish(p.Log, err, stopFlags.Timeout))
}
