// Command recommendations is the production Recommendations service of
// chapter 4: chapter 3's service with bounded resources, health checking,
// reflection and channelz, structured logs, and a bounded stop on SIGTERM.
//
//	go run ./ch04-kubernetes/cmd/recommendations      # listens on :50051
package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
)

func main() {
	// Chapter 3's flags. -addr listens on all interfaces by default: in a
	// container, 127.0.0.1 is the container's own loopback, which nothing
	// outside it can reach.
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	flags := recommendations.NewFlags(fs)
	cmdline.Main(fs, os.Args[1:])

	log := logging.New(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}
	s := grpcserver.New(recommendations.NewServer(catalog.Seeded(flags.Seed)), grpcserver.DefaultLimits())
	log.Info("serving gRPC", "addr", lis.Addr().String())
	err = s.Serve(ctx, lis)
	if serve.OnlyTimeout(err) {
		log.Warn("stopped after the shutdown timeout", "timeout", recommendations.ShutdownTimeout, "err", err)
	} else if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
