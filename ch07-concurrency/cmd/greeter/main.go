// Command greeter serves helloworld.Greeter, the series' benchmark service,
// in one of three modes, to show and to measure what a blocking wait does
// to a server:
//
//	go run ./ch07-concurrency/cmd/greeter                    # -mode go: a goroutine per call, on :9999
//	go run ./ch07-concurrency/cmd/greeter -mode eventloop    # the asyncio pitfall: one loop that blocks
//	go run ./ch07-concurrency/cmd/greeter -mode eventloop -executor 4   # ...handing its waits to 4 workers
//	go run ./ch07-concurrency/cmd/greeter -mode onestream    # MaxConcurrentStreams(1) per connection
//
// Every answer logs "Handling request" and "Done" on standard output,
// unless -quiet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
)

func main() {
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	addr := fs.String("addr", ":9999", "gRPC listen address")
	opts := greeter.Options{Mode: greeter.Go}
	fs.Var(&opts.Mode, "mode", "how calls are handled: go, eventloop or onestream")
	fs.IntVar(&opts.Executor, "executor", 0, "in eventloop mode, hand each wait to a pool of this many workers (asyncio's run_in_executor); 0 blocks the loop")
	quiet := fs.Bool("quiet", false, "do not log each request (for load runs: two writes per call cost CPU the server could spend serving)")
	// The options' own check is the flags' check: one message, one place.
	cmdline.Main(fs, os.Args[1:], func() error { return opts.Check() })
	if !*quiet {
		opts.Log = log.New(os.Stdout, "", 0)
	}

	// SIGINT (Ctrl+C) and SIGTERM both stop the server gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	g, err := greeter.New(opts)
	if err != nil {
		slog.Error("greeter", "err", err)
		os.Exit(1)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	s := grpc.NewServer(g.ServerOptions()...)
	g.Register(s)
	fmt.Printf("greeter: serving gRPC on %s in %s mode\n", lis.Addr(), g.Mode())
	// Chapter 3's Serve: a graceful stop, capped at its ShutdownTimeout.
	err = recommendations.Serve(ctx, s, lis)
	closeCtx, cancel := context.WithTimeout(context.Background(), recommendations.ShutdownTimeout)
	defer cancel()
	err = errors.Join(err, g.Close(closeCtx))
	if serve.OnlyTimeout(err) {
		slog.Warn("stopped after the shutdown timeout", "timeout", recommendations.ShutdownTimeout, "err", err)
	} else if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	fmt.Println("greeter: stopped")
}
