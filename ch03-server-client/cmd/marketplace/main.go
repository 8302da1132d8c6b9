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
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

// shutdownTimeout bounds the wait for pages in flight at a stop.
const shutdownTimeout = 5 * time.Second

func main() {
	fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address")
	var target string
	fs.Func("recommendations", "`host:port` of the Recommendations service, instead of $"+marketplace.HostEnv+":"+marketplace.Port,
		func(s string) error { target = s; return marketplace.CheckTarget(s) })
	parseFlags(fs, os.Args[1:], func() (err error) {
		if target == "" { // no -recommendations: the environment decides
			target, err = marketplace.Target(os.Getenv)
		}
		return err
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One connection for the life of the process, shared by every page.
	conn, err := newConn(target)
	if err != nil {
		slog.Error("connect", "target", target, "err", err)
		os.Exit(1)
	}
	defer conn.Close()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	// An http.Server has no timeouts by default: a client that trickles
	// its headers, never reads or idles would hold a connection for ever.
	srv := &http.Server{
		Handler:           newHandler(conn, slog.Default()),
		ReadHeaderTimeout: 5 * time.Second,  // Slowloris
		ReadTimeout:       10 * time.Second, // the pages take no body
		WriteTimeout:      10 * time.Second, // a page waits ~1 s for books
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
	fmt.Println("marketplace: recommendations at", target)
	fmt.Println("marketplace: serving on", marketplace.URL(lis.Addr()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served: // the listener broke
		slog.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// Shutdown waits for pages in flight, Close cuts what is left after
	// shutdownTimeout; then the deferred conn.Close, once no page needs it.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		slog.Warn("stopped after the shutdown timeout", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	fmt.Println("marketplace: stopped")
}

// newConn creates the process's one connection to target, extra options
// last. grpc.NewClient does no I/O: it connects on the first call and
// reconnects by itself, so the Marketplace starts while Recommendations is down.
func newConn(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	// gRPC waits 1 s after a failed attempt, 1.6 times more after each
	// next one, up to two minutes: the books would come back that late
	// after a long outage. A refused attempt costs nothing: retry each ~1 s.
	params := grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  250 * time.Millisecond,
			Multiplier: backoff.DefaultConfig.Multiplier,
			Jitter:     backoff.DefaultConfig.Jitter,
			MaxDelay:   time.Second,
		},
		// An attempt neither accepted nor refused ends after 5 s, not 20.
		MinConnectTimeout: 5 * time.Second,
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS: chapter 6
		grpc.WithConnectParams(params),
		// The client's settings are all here, in code. Without this, the
		// dns resolver would also look up a TXT record, _grpc_config.<host>,
		// for settings whoever runs the zone could change.
		grpc.WithDisableServiceConfig(),
	}, extra...)
	return grpc.NewClient(target, opts...)
}

// newHandler returns the homepage, fed by Recommendations over conn.
func newHandler(conn *grpc.ClientConn, logger *slog.Logger) http.Handler {
	return marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: logger})
}

// parseFlags parses args into fs, then runs check. A stray argument is
// refused: the flags after it would be ignored. A mistake is one line and
// exit code 2; -h lists the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string, check func() error) {
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
	if err == nil {
		err = check()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (%[1]s -h lists the flags)\n", fs.Name(), err)
		os.Exit(2)
	}
}
