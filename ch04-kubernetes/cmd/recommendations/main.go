// Command recommendations is chapter 4's Recommendations service: chapter
// 3's, ready for a cluster. Beside Recommendations it serves health
// checking (what Kubernetes' probes ask) and reflection (what grpcurl asks);
// it bounds what any client can make it hold, logs JSON, and on SIGTERM
// reports NOT_SERVING before it stops.
//
//	go run ./ch04-kubernetes/cmd/recommendations            # listens on :50051
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
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/recommendations"
)

// options are what the flags set.
type options struct {
	addr string // the gRPC listen address
	seed uint64 // makes the picks repeatable; 0 picks a random seed
}

// shutdownTimeout is how long RPCs in flight may take to finish at a stop.
const shutdownTimeout = 5 * time.Second

func main() {
	var o options
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", ":50051", "gRPC listen address")
	fs.Uint64Var(&o.seed, "seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	parseFlags(fs, os.Args[1:])
	// JSON lines, which a container's log collector parses.
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	// SIGINT (Ctrl+C) and SIGTERM (docker stop, kubectl delete) start a stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("listen", "addr", o.addr, "err", err)
		os.Exit(1)
	}
	s := newServer(o)
	log.Info("serving gRPC", "addr", lis.Addr().String())
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case err := <-served: // the listener broke
		log.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}

	// NOT_SERVING first, to whoever watches health. GracefulStop refuses
	// new RPCs and waits for those in flight, with no bound: a client
	// decides how long its call stays open. So after shutdownTimeout, Stop
	// cancels whatever is left. The stop was asked for: exit code 0.
	s.health.Shutdown()
	timer := time.AfterFunc(shutdownTimeout, func() {
		log.Warn("shutdown timeout: cancelling the calls left", "timeout", shutdownTimeout)
		s.Stop() // closes every connection, which also ends GracefulStop
	})
	s.GracefulStop()
	timer.Stop()
	log.Info("stopped")
}

// server is the gRPC server and its health service, NOT_SERVING at a stop.
type server struct {
	*grpc.Server
	health *health.Server
}

// newServer returns the server main serves (tests serve it too):
// Recommendations, health and reflection, bounded so that a few idle or
// hostile clients cannot lock others out. No cap on connections, which idle
// clients would fill: each connection, call and message is bounded.
func newServer(o options) *server {
	s := grpc.NewServer(
		// 5 s for a new connection's handshake: one that never speaks is closed.
		grpc.ConnectionTimeout(5*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 5 * time.Minute, // no call for this long: closed
			// Closed after 30 s with a GOAWAY: the client reconnects and looks
			// the name up again, so new replicas get calls. Calls get 10 s more.
			MaxConnectionAge:      30 * time.Second,
			MaxConnectionAgeGrace: 10 * time.Second,
			// Silent for a minute: pinged, and closed if no answer in 20 s.
			Time:    time.Minute,
			Timeout: 20 * time.Second,
		}),
		// Clients may ping every 10 s, even with no call open (the
		// Marketplace's connection is often idle); faster is a flood, cut off.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// At most 100 calls at once per connection; more are refused.
		grpc.MaxConcurrentStreams(100),
		// A request is a few bytes, its headers a few hundred (defaults: 4 and 16 MB).
		grpc.MaxRecvMsgSize(16<<10),
		grpc.MaxHeaderListSize(8<<10),
		// Fixed 64 KB flow-control windows: what a client may send ahead stays small.
		grpc.InitialWindowSize(64<<10),
		grpc.InitialConnWindowSize(64<<10),
	)
	books := catalog.NewRecommender(catalog.Seeded(o.seed))
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(books))
	// Health: SERVING for the whole server ("") and for Recommendations.
	h := health.NewServer()
	h.SetServingStatus(pb.Recommendations_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s) // grpcurl lists and calls the services; no channelz here
	return &server{Server: s, health: h}
}

// parseFlags parses args into fs, refusing a stray argument (the flags
// after it would be ignored). A mistake is one line and exit code 2; -h
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
