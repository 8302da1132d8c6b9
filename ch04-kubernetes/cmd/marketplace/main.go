// Command marketplace is chapter 4's Marketplace: chapter 3's web app with
// /healthz for probes, JSON logs, and its calls spread round robin over
// every Recommendations replica the service's DNS name resolves to, at
// $RECOMMENDATIONS_HOST:50051 (default localhost) or -recommendations.
//
//	go run ./ch04-kubernetes/cmd/marketplace      # listens on :5000
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/marketplace"
)

// At a stop: /healthz says 503 for drain (probes stop sending visitors), then shutdownTimeout for pages.
const drain, shutdownTimeout = 2 * time.Second, 5 * time.Second

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
	conn, err := newConn("dns:///" + target) // one, shared by every page, to every address of the name
	lis, lerr := net.Listen("tcp", *addr)
	if err = errors.Join(err, lerr); err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	defer conn.Close()
	var draining atomic.Bool
	srv := newHTTPServer(newHandler(conn, log, &draining), log)
	log.Info("serving HTTP", "addr", lis.Addr().String(), "url", marketplace.URL(lis.Addr()), "recommendations", target)
	go func() {
		if err := srv.Serve(lis); err != http.ErrServerClosed { // Shutdown's: else the listener broke
			log.Error("serve", "err", err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()
	draining.Store(true) // probes read 503 a moment before the listener closes
	time.Sleep(drain)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil { // pages in flight finish; past the bound, Close cuts them
		log.Warn("stopped after the shutdown timeout", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	log.Info("stopped")
}

// newHTTPServer returns the HTTP server main runs, serving h and logging
// its errors to log, bounded at every phase of a connection.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{ // no bounds by default: a client that trickles, or idles, holds on for ever
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,  // Slowloris
		ReadTimeout:       10 * time.Second, // the pages take no body
		WriteTimeout:      10 * time.Second, // a page waits ~1 s for books
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10, // a visitor's headers are a few hundred bytes
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newConn creates the process's one connection to target, extra options last. It does
// no I/O: it connects at the first call and reconnects by itself, as Recommendations comes and goes.
func newConn(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	// gRPC's backoff grows to 2 minutes; a refused attempt is cheap: retry each ~1 s.
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
		// Settings from this code only, not from a DNS TXT record someone else could change.
		grpc.WithDisableServiceConfig(),
	}, extra...)
	return grpc.NewClient(target, opts...)
}

// newHandler returns the homepage, fed by Recommendations over conn, and /healthz
// for probes: 503 once draining, else 200 without asking Recommendations (the
// page works without it; failing probes when it is down would take the site down).
func newHandler(conn *grpc.ClientConn, logger *slog.Logger, draining *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: logger}))
	return mux
}
