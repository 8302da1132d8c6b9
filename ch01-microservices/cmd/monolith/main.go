// Command monolith is the whole bookstore in one process: the catalog, the
// recommendation logic and the homepage, joined by plain function calls.
// Chapter 1 starts here before splitting it into services.
//
//	go run ./ch01-microservices/cmd/monolith
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
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
)

func main() {
	fs := flag.NewFlagSet("monolith", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address")
	seed := fs.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	cmdline.Main(fs, os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	// In the monolith the homepage calls the catalog directly: no network,
	// no serialisation, no partial failure.
	page := homepage.New(catalog.NewRecommender(catalog.Seeded(*seed)), homepage.Options{})
	fmt.Println("monolith: serving the bookstore on", httpserver.URL(lis.Addr()))
	err = httpserver.Serve(ctx, httpserver.New(page), lis)
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("monolith: stopped")
}
