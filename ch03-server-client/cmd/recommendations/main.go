// Command recommendations is the Recommendations gRPC service of chapter 3:
// the catalog's picks, served with the chapter 2 contract.
//
//	go run ./ch03-server-client/cmd/recommendations            # listens on :50051
//	go run ./ch03-server-client/cmd/recommendations -addr :6000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// options are what the flags set.
type options struct {
	// addr is the gRPC listen address.
	addr string
	// seed makes the picks repeatable; 0 picks a random seed.
	seed uint64
}

// shutdownTimeout is how long RPCs in flight may take to finish once a stop
// is asked for.
const shutdownTimeout = 5 * time.Second

func main() {
	var o options
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", ":50051", "gRPC listen address")
	fs.Uint64Var(&o.seed, "seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	parseFlags(fs, os.Args[1:])

	// SIGINT (Ctrl+C) and SIGTERM (docker stop, kubectl delete) both end
	// ctx, which starts a graceful stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		slog.Error("listen", "addr", o.addr, "err", err)
		os.Exit(1)
	}
	s := newServer(o)
	fmt.Println("recommendations: serving gRPC on", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case err := <-served: // the listener broke
		slog.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}

	// GracefulStop refuses new RPCs and waits for those in flight, with no
	// bound: a client decides how long its call stays open. It even waits
	// for handlers that ignore their cancelled context, after Stop too. So
	// it runs aside, and after shutdownTimeout Stop cuts the connections and
	// main returns without it. The stop was asked for: exit code 0 either way.
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownTimeout):
		s.Stop()
		slog.Warn("shutdown timeout: cut the calls still in flight", "timeout", shutdownTimeout)
	}
	fmt.Println("recommendations: stopped")
}

// newServer returns the gRPC server main serves: Recommendations over the
// catalog, picking with o.seed. Tests serve it too.
func newServer(o options) *grpc.Server {
	// Every RPC runs on a goroutine of its own: there is no pool to size.
	s := grpc.NewServer()
	books := catalog.NewRecommender(catalog.Seeded(o.seed))
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(books))
	return s
}

// parseFlags parses args into fs. Go's flag package stops at the first
// argument that is not a flag, so "recommendations extra -addr :6000" would
// serve on :50051 with -addr ignored: a stray argument is refused. A mistake
// is one line and exit code 2; -h lists the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string) {
	fs.SetOutput(io.Discard) // Parse's error is printed below, in one line
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fs.Usage()
		os.Exit(0)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: flags only, and they come first", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (%[1]s -h lists the flags)\n", fs.Name(), err)
		os.Exit(2)
	}
}
