// Package grpcserver is the production Recommendations server: chapter 3's
// service behind the limits a server in a cluster needs, with gRPC health
// checking, server reflection and channelz registered beside it.
package grpcserver

import (
	"context"
	"net"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	channelzservice "google.golang.org/grpc/channelz/service"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// Limits bound what clients can make the server hold. grpc-go's defaults
// trust the client: unlimited streams per connection, connections kept
// forever, 4 MB messages, 16 MB of headers. In chapter 3, one client that
// opened 100,000 RPCs and never sent their requests took the server from
// 11 MB to 1.2 GB, about 12 KB per stuck RPC.
//
// With these limits at most MaxConnections × MaxConcurrentStreams RPCs are
// open at once (32 × 100 = 3,200), and none for longer than
// MaxConnectionAge + MaxConnectionAgeGrace. Measured: 100,000 such RPCs
// over 40 connections leave the server at 76 MB, from 12 MB idle.
type Limits struct {
	// MaxConnections caps the connections served at once; more wait to be
	// accepted. The clients are a few Marketplace replicas with one
	// connection each, the kubelet's probes, and an operator's grpcurl.
	MaxConnections int
	// MaxConcurrentStreams caps the RPCs open at once on one connection;
	// a client that opens more has them refused. 100 is the minimum HTTP/2
	// asks servers to allow, and more than a Marketplace ever needs.
	MaxConcurrentStreams uint32
	// MaxRecvMsgSize caps a request message. A RecommendationRequest is at
	// most 17 bytes; health, reflection and channelz requests are small.
	MaxRecvMsgSize int
	// MaxHeaderListSize caps a request's headers (gRPC's default: 16 MB).
	MaxHeaderListSize uint32
	// ConnectionTimeout bounds the HTTP/2 handshake of a new connection.
	ConnectionTimeout time.Duration
	// MaxConnectionIdle closes a connection with no RPC for this long.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge closes every connection after this long, politely
	// (an HTTP/2 GOAWAY): a client then reconnects, and re-resolves the
	// service's name, so replicas that came up since get their share of
	// calls, and an RPC that never ends cannot hold a connection forever.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long RPCs in flight on a connection
	// closed for its age may take to finish.
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime and KeepaliveTimeout: the server pings a connection
	// idle for KeepaliveTime and closes it if no answer comes within
	// KeepaliveTimeout, so a client that vanished does not hold a slot.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// MinPingInterval is how often a client may ping; a client that pings
	// more often is disconnected (gRPC's default, five minutes, would
	// disconnect clients that use common keepalive settings).
	MinPingInterval time.Duration
}

// DefaultLimits returns the limits the cmd/recommendations binary uses.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:        32,
		MaxConcurrentStreams:  100,
		MaxRecvMsgSize:        16 << 10,
		MaxHeaderListSize:     8 << 10,
		ConnectionTimeout:     10 * time.Second,
		MaxConnectionIdle:     5 * time.Minute,
		MaxConnectionAge:      30 * time.Second,
		MaxConnectionAgeGrace: 10 * time.Second,
		KeepaliveTime:         time.Minute,
		KeepaliveTimeout:      20 * time.Second,
		MinPingInterval:       10 * time.Second,
	}
}

// ServerOptions turns l into gRPC server options. MaxConnections is
// enforced by Serve, on the listener.
func (l Limits) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.MaxHeaderListSize(l.MaxHeaderListSize),
		grpc.ConnectionTimeout(l.ConnectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.MaxConnectionIdle,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
			Time:                  l.KeepaliveTime,
			Timeout:               l.KeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             l.MinPingInterval,
			PermitWithoutStream: true, // the Marketplace's connection is often idle
		}),
	}
}

// Server is a gRPC server with the Recommendations service, health
// checking, reflection and channelz.
type Server struct {
	// Server is the gRPC server; a later chapter may register more on it.
	*grpc.Server
	// Health is the health service: NOT_SERVING until Serve starts.
	Health *health.Server

	maxConns int
	names    []string // services registered with Register
}

// New returns a Server for recs within l; opts are added after l's
// options (a later chapter adds interceptors and credentials here).
//
// Health checking (grpc.health.v1) is what Kubernetes' gRPC probes and
// grpc-health-probe ask. Reflection lets grpcurl list and call the
// services without the .proto files. Channelz lets an operator ask a
// running server for its connections and how many calls each carried.
func New(recs pb.RecommendationsServer, l Limits, opts ...grpc.ServerOption) *Server {
	s := &Server{
		Server:   grpc.NewServer(append(l.ServerOptions(), opts...)...),
		Health:   health.NewServer(),
		maxConns: l.MaxConnections,
	}
	pb.RegisterRecommendationsServer(s.Server, recs)
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	channelzservice.RegisterChannelzServiceToServer(s.Server)
	s.setStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Register registers a further service on the server, as a generated
// RegisterXServer function does, and has health report its status by
// name along with the others. Call it before Serve.
func (s *Server) Register(desc *grpc.ServiceDesc, impl any) {
	s.Server.RegisterService(desc, impl)
	s.names = append(s.names, desc.ServiceName)
	s.Health.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
}

// setStatus sets the status of the whole server (""), of the
// Recommendations service and of those added with Register, by name: what
// a client may ask about.
func (s *Server) setStatus(st healthpb.HealthCheckResponse_ServingStatus) {
	s.Health.SetServingStatus("", st)
	s.Health.SetServingStatus(pb.Recommendations_ServiceDesc.ServiceName, st)
	for _, name := range s.names {
		s.Health.SetServingStatus(name, st)
	}
}

// Serve serves on lis, at most MaxConnections connections at once, until
// ctx ends, and stops as chapter 3's recommendations.Serve does:
// recommendations.Stop with its ShutdownTimeout. It is ServeWith with that
// stop, so health reports SERVING from the moment it serves.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	return s.ServeWith(ctx, lis, func() error {
		return recommendations.Stop(s.Server, recommendations.ShutdownTimeout)
	})
}

// ServeWith is Serve with a stop of the caller's: when ctx ends it calls
// stop, which must stop s.Server (chapter 6 reports NOT_SERVING first, and
// waits longer).
func (s *Server) ServeWith(ctx context.Context, lis net.Listener, stop func() error) error {
	s.setStatus(healthpb.HealthCheckResponse_SERVING)
	return recommendations.ServeWith(ctx, s.Server, netutil.LimitListener(lis, s.maxConns), stop)
}
