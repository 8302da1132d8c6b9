// Command frontend is a small web front end to the Greeter: every request
// shares the one gRPC connection the process opens at start-up and closes
// at shutdown.
//
//	go run ./ch07-concurrency/cmd/greeter &
//	go run ./ch07-concurrency/cmd/frontend            # serves on :8080, greeter at localhost:9999
//	curl 'localhost:8080/hello?name=Ann'
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/frontend"
)

func main() {
	fs := flag.NewFlagSet("frontend", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "HTTP listen address")
	target := fs.String("greeter", "localhost:9999", "host:port of the Greeter")
	cmdline.Main(fs, os.Args[1:], func() error {
		// Chapter 3's check: without a port, gRPC would quietly try 443.
		if err := marketplace.CheckTarget(*target); err != nil {
			return fmt.Errorf("-greeter %q: %w", *target, err)
		}
		return nil
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	err = frontend.Run(ctx, lis, *target, func() {
		fmt.Println("frontend: serving on", httpserver.URL(lis.Addr())+"hello?name=Ann")
		fmt.Println("frontend: greeter at", *target)
	})
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("frontend: stopped")
}
