// Command marketplace is the production Marketplace of chapter 4: chapter
// 3's web app with /healthz, structured logs, and round-robin balancing
// across every Recommendations replica its DNS name resolves to.
//
// The service is found at $RECOMMENDATIONS_HOST:50051 (RECOMMENDATIONS_HOST
// defaults to localhost); -recommendations host:port overrides that.
//
//	go run ./ch04-kubernetes/cmd/marketplace                # listens on :5000
package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/balancing"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/healthz"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
)

func main() {
	// Chapter 3's flags. -addr listens on all interfaces by default: in a
	// container, 127.0.0.1 is the container's own loopback, which nothing
	// outside it can reach.
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	flags := marketplace.NewFlags(fs, os.Getenv)
	cmdline.Main(fs, os.Args[1:], flags.Check)

	log := logging.New(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One connection for the life of the process, to every replica.
	conn, err := balancing.Connect(balancing.Target(flags.Target))
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
	page := marketplace.New(conn, homepage.Options{Logger: log})
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", httpserver.URL(lis.Addr()), "recommendations", flags.Target)
	err = httpserver.Serve(ctx, httpserver.New(healthz.Mount(page)), lis)
	if serve.OnlyTimeout(err) {
		log.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
