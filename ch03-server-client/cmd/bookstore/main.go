// Command bookstore starts the whole chapter 3 bookstore in one process:
// the Recommendations gRPC service and the Marketplace web app, which calls
// it over gRPC on loopback. Ctrl+C stops both cleanly.
//
//	go run ./ch03-server-client/cmd/bookstore
//	open http://localhost:5000/
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/bookstore"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

func main() {
	fs := flag.NewFlagSet("bookstore", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address of the Marketplace")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:50051", "gRPC listen address of Recommendations")
	seed := fs.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	cmdline.Main(fs, os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	grpcLis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		fail("listen for gRPC", err)
	}
	httpLis, err := net.Listen("tcp", *addr)
	if err != nil {
		fail("listen for HTTP", err)
	}
	fmt.Println("bookstore: recommendations serving gRPC on", grpcLis.Addr())
	fmt.Println("bookstore: open", httpserver.URL(httpLis.Addr()), "in a browser; Ctrl+C stops both services")
	recs := recommendations.NewServer(catalog.Seeded(*seed))
	err = bookstore.Run(ctx, httpLis, grpcLis, recs, bookstore.Options{})
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeouts", "err", err)
	} else if err != nil {
		fail("run", err)
	}
	fmt.Println("bookstore: stopped")
}

func fail(what string, err error) {
	slog.Error(what, "err", err)
	os.Exit(1)
}
