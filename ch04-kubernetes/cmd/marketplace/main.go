// Command marketplace is chapter 4's Marketplace: chapter 3's web app with
// /healthz for probes, JSON logs, and its calls spread round robin over
// every Recommendations replica the service's DNS name resolves to.
//
// The service is found at $RECOMMENDATIONS_HOST:50051 (RECOMMENDATIONS_HOST
// defaults to localhost); -recommendations host:port overrides that.
//
//	go run ./ch04-kubernetes/cmd/marketplace      # listens on :5000
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
	"google.golang.org/grpc/keepalive"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/marketplace"
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One connection, shared by every page, to every address of the name.
	conn, err := newConn("dns:///" + target)
	if err != nil {
		log.Error("connect", "target", target, "err", err)
		os.Exit(1)
	}
	defer conn.Close()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	// No timeouts by default: a client that trickles, or idles, holds on for ever.
	srv := &http.Server{
		Handler:           newHandler(conn, log),
		ReadHeaderTimeout: 5 * time.Second,  // Slowloris
		ReadTimeout:       10 * time.Second, // the pages take no body
		WriteTimeout:      10 * time.Second, // a page waits ~1 s for books
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10, // a visitor's headers are a few hundred bytes
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", marketplace.URL(lis.Addr()), "recommendations", target)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served: // the listener broke
		log.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// Shutdown waits for pages in flight, Close cuts the rest; then conn.Close.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("stopped after the shutdown timeout", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	log.Info("stopped")
}

// newConn creates the process's one connection to target, extra options
// last. grpc.NewClient does no I/O: it connects on the first call and
// reconnects by itself, so the Marketplace starts while Recommendations is down.
func newConn(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	// gRPC's backoff grows to two minutes: after a long outage, the books
	// would come back that late. A refused attempt is cheap: retry each ~1 s.
	params := grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 5 * time.Second, // an attempt neither accepted nor refused: 5 s, not 20
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS: chapter 6
		grpc.WithConnectParams(params),
		// round_robin: a connection to each address, each call on the next one.
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		// Ping after 20 s of silence (the server allows 10): drops vanished replicas.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		// The client's settings are all here, in code, not in a TXT record,
		// _grpc_config.<host>, that whoever runs the zone could change.
		grpc.WithDisableServiceConfig(),
	}, extra...)
	return grpc.NewClient(target, opts...)
}

// newHandler returns the homepage, fed by Recommendations over conn, and
// /healthz for probes, which does not ask Recommendations: the page works
// without it, and failing probes when it is down would take the site down.
func newHandler(conn *grpc.ClientConn, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: logger}))
	return mux
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
