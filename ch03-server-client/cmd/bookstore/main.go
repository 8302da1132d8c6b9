// Command bookstore starts the whole chapter 3 bookstore in one process:
// the Recommendations gRPC service and the Marketplace web app, which calls
// it over a real gRPC connection on loopback. Ctrl+C stops both cleanly.
//
//	go run ./ch03-server-client/cmd/bookstore
//	open http://localhost:5000/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// shutdownTimeout bounds each server's wait for work in flight at a stop.
const shutdownTimeout = 5 * time.Second

func main() {
	fs := flag.NewFlagSet("bookstore", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address of the Marketplace")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:50051", "gRPC listen address of Recommendations")
	seed := fs.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	parseFlags(fs, os.Args[1:])

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
	// Recommendations, as cmd/recommendations builds it.
	s := grpc.NewServer()
	books := catalog.NewRecommender(catalog.Seeded(*seed))
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(books))
	// The Marketplace, as cmd/marketplace builds it, but for its
	// connection: the server is in this process, up before the first page
	// and stopped after the last, so gRPC's defaults do.
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail("connect", err)
	}
	srv := &http.Server{
		Handler:           marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    1 << 20,
	}

	fmt.Println("bookstore: recommendations serving gRPC on", grpcLis.Addr())
	fmt.Println("bookstore: open", marketplace.URL(httpLis.Addr()), "in a browser; Ctrl+C stops both services")
	served := make(chan error, 2)
	go func() { served <- s.Serve(grpcLis) }()
	go func() { served <- srv.Serve(httpLis) }()
	select {
	case err := <-served: // a listener broke
		fail("serve", err)
	case <-ctx.Done():
	}

	// Stop in dependency order: the web server first, so that no page is
	// left asking a stopped service; then the connection; then gRPC.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		slog.Warn("stopped after the shutdown timeout", "server", "http", "err", err)
		_ = srv.Close()
	}
	_ = conn.Close()
	// GracefulStop waits for every handler, even after Stop: past the bound,
	// Stop cuts the connections and main returns without it.
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownTimeout):
		s.Stop()
		slog.Warn("shutdown timeout: cut the calls still in flight", "server", "grpc", "timeout", shutdownTimeout)
	}
	fmt.Println("bookstore: stopped")
}

func fail(what string, err error) {
	slog.Error(what, "err", err)
	os.Exit(1)
}

// parseFlags parses args into fs. A stray argument is refused: the flags
// after it would be ignored. A mistake is one line and exit code 2; -h
// lists the flags and exits 0.
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
