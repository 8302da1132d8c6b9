// Command recommendations is chapter 4's Recommendations service: chapter 3's, ready for a
// cluster, with health (for probes) and reflection (for grpcurl), bounds on what any client
// can make it hold, JSON logs, and NOT_SERVING a moment before it stops.
//
//	go run ./ch04-kubernetes/cmd/recommendations            # listens on :50051
package main

import (
	"context"
	"flag"
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

// At a stop: NOT_SERVING for drain (watchers stop sending), then shutdownTimeout for calls in flight.
const drain, shutdownTimeout = 2 * time.Second, 5 * time.Second

func main() {
	var o options
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", ":50051", "gRPC listen address")
	fs.Uint64Var(&o.seed, "seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	parseFlags(fs, os.Args[1:])
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)) // JSON lines, for a log collector
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
	go func() {
		if err := s.Serve(lis); err != nil { // nil once stopped: else the listener broke
			log.Error("serve", "err", err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()
	if s.stop(time.After(drain), shutdownTimeout) { // asked for: exit code 0 either way
		log.Info("stopped")
	} else {
		log.Warn("shutdown timeout: cut the calls still in flight", "timeout", shutdownTimeout)
	}
}

// server is the gRPC server and its health service, NOT_SERVING at a stop.
type server struct {
	*grpc.Server
	health *health.Server
}

// stop says NOT_SERVING, waits for drained, then stops gracefully (new calls refused, those in
// flight finish). GracefulStop waits for every handler, even after Stop, so it runs aside: past
// timeout, Stop cuts the connections and stop returns without it. It reports if none was cut.
func (s *server) stop(drained <-chan time.Time, timeout time.Duration) (graceful bool) {
	s.health.Shutdown()
	<-drained
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		return true
	case <-time.After(timeout):
		s.Stop()
		return false
	}
}

// newServer returns the server main serves (tests too), bounded so that a few idle or hostile
// clients cannot lock others out: each connection, call and message, not their number.
func newServer(o options) *server {
	s := grpc.NewServer(
		grpc.ConnectionTimeout(5*time.Second), // a connection that never speaks: closed after 5 s
		// No call for 5 min: closed. After 30 s, a GOAWAY: the client reconnects and looks the name
		// up again, so new replicas get calls; calls get 10 s more. Silent a minute: pinged, and
		// closed if no answer in 20 s.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, MaxConnectionAge: 30 * time.Second,
			MaxConnectionAgeGrace: 10 * time.Second, Time: time.Minute, Timeout: 20 * time.Second}),
		// Pings every 10 s at most, even with no call open (the Marketplace's connection idles).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// At most 100 calls at once per connection; more are refused.
		grpc.MaxConcurrentStreams(100),
		// A request is a few bytes, its headers a few hundred (defaults: 4 and 16 MB).
		grpc.MaxRecvMsgSize(16<<10), grpc.MaxHeaderListSize(8<<10),
		// Fixed 64 KB flow-control windows: what a client may send ahead stays small.
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10),
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
