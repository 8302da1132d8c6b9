// Command recommendations is the Recommendations gRPC service of chapter 3.
//
//	go run ./ch03-server-client/cmd/recommendations            # listens on :50051
//	go run ./ch03-server-client/cmd/recommendations -addr :6000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

func main() {
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	flags := recommendations.NewFlags(fs)
	cmdline.Main(fs, os.Args[1:])

	// SIGINT (Ctrl+C) and SIGTERM (docker stop, kubectl delete) both stop
	// the server gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		slog.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.Seeded(flags.Seed)))
	fmt.Println("recommendations: serving gRPC on", lis.Addr())
	err = recommendations.Serve(ctx, s, lis)
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeout", "timeout", recommendations.ShutdownTimeout, "err", err)
	} else if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("recommendations: stopped")
}
