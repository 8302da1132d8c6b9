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

	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

func main() {
	addr := flag.String("addr", ":50051", "gRPC listen address")
	flag.Parse()

	// SIGINT (Ctrl+C) and SIGTERM (docker stop, kubectl delete) both stop
	// the server gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	recommendations.Register(s, recommendations.NewServer(nil))
	fmt.Println("recommendations: serving gRPC on", lis.Addr())
	if err := recommendations.Serve(ctx, s, lis); err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("recommendations: stopped")
}
