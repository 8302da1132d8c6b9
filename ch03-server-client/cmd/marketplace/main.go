// Command marketplace is the Marketplace web app of chapter 3. It serves the
// homepage and asks the Recommendations service for the books on it.
//
// The service is found at $RECOMMENDATIONS_HOST:50051 (RECOMMENDATIONS_HOST
// defaults to localhost); -recommendations host:port overrides that.
//
//	go run ./ch03-server-client/cmd/marketplace
//	RECOMMENDATIONS_HOST=recs.internal go run ./ch03-server-client/cmd/marketplace
//	go run ./ch03-server-client/cmd/marketplace -addr :8080 -recommendations localhost:6000
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
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	flags := marketplace.NewFlags(fs, os.Getenv)
	cmdline.Main(fs, os.Args[1:], flags.Check)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One connection for the life of the process, shared by every request.
	conn, err := marketplace.Connect(flags.Target)
	if err != nil {
		slog.Error("connect", "err", err)
		os.Exit(1)
	}
	defer conn.Close()

	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		slog.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}
	fmt.Println("marketplace: recommendations at", flags.Target)
	fmt.Println("marketplace: serving on", httpserver.URL(lis.Addr()))
	page := marketplace.New(conn, homepage.Options{})
	err = httpserver.Serve(ctx, httpserver.New(page), lis)
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeout", "timeout", httpserver.ShutdownTimeout, "err", err)
	} else if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("marketplace: stopped")
}
