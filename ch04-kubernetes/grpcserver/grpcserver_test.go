package grpcserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs s.Serve on an in-memory listener until the test ends, and
// returns the listener.
func serve(t *testing.T, s *grpcserver.Server) *bufconn.Listener {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return lis
}

func newServer(l grpcserver.Limits) *grpcserver.Server {
	return grpcserver.New(recommendations.NewServer(nil), l)
}

// Health reports NOT_SERVING until the server serves, then SERVING, for
// the whole server and for each service by name, Recommendations and one
// added with Register.
func TestHealthIsServingOnceServing(t *testing.T) {
	s := newServer(grpcserver.DefaultLimits())
	another := pb.Recommendations_ServiceDesc
	another.ServiceName = "test.Another"
	s.Register(&another, recommendations.NewServer(nil))
	for _, service := range []string{"", "Recommendations", "test.Another"} {
		resp, err := s.Health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.GetStatus(), "before Serve, %q", service)
	}

	health := healthpb.NewHealthClient(grpctest.NewClient(t, serve(t, s)))
	for _, service := range []string{"", "Recommendations", "test.Another"} {
		resp, err := health.Check(grpctest.Context(t), &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus(), "serving, %q", service)
	}
	_, err := health.Check(grpctest.Context(t), &healthpb.HealthCheckRequest{Service: "Nope"})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

// Reflection lists the services, and describes Recommendations from the
// contract's own file: what grpcurl needs instead of -proto.
func TestReflectionListsAndDescribesTheServices(t *testing.T) {
	conn := grpctest.NewClient(t, serve(t, newServer(grpcserver.DefaultLimits())))
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(grpctest.Context(t))
	require.NoError(t, err)

	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	slices.Sort(names)
	assert.Equal(t, []string{
		"Recommendations", "grpc.channelz.v1.Channelz", "grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
	}, names)

	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "Recommendations"},
	}))
	resp, err = stream.Recv()
	require.NoError(t, err)
	files := resp.GetFileDescriptorResponse().GetFileDescriptorProto()
	require.NotEmpty(t, files)
	assert.Contains(t, string(files[0]), "recommendations.proto")
	require.NoError(t, stream.CloseSend())
}

// One connection may hold MaxConcurrentStreams RPCs; the server refuses
// the rest at once, so a flood on one connection costs it nothing more.
func TestStreamsBeyondTheLimitAreRefused(t *testing.T) {
	l := grpcserver.DefaultLimits()
	lis := serve(t, newServer(l))
	c, err := lis.DialContext(grpctest.Context(t))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	const flood = 1000
	for range flood {
		require.NoError(t, conn.Start("/Recommendations/Recommend"))
	}
	seen, err := conn.Sync()
	require.NoError(t, err)
	assert.Equal(t, flood-int(l.MaxConcurrentStreams), seen.Refused)
}

// A request larger than MaxRecvMsgSize is refused before the handler runs.
// (The bytes ride in an unknown field: any message can carry them.)
func TestLargeRequestsAreRefused(t *testing.T) {
	client := pb.NewRecommendationsClient(grpctest.NewClient(t, serve(t, newServer(grpcserver.DefaultLimits()))))
	req := &pb.RecommendationRequest{MaxResults: 1}
	req.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, 32<<10)))
	_, err := client.Recommend(grpctest.Context(t), req)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "err: %v", err)

	resp, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	require.NoError(t, err, "an ordinary request still works")
	assert.Len(t, resp.GetRecommendations(), 1)
}

// Every connection is closed after MaxConnectionAge, with a GOAWAY, so
// clients reconnect and look the service's name up again.
func TestConnectionsAreClosedAfterMaxConnectionAge(t *testing.T) {
	l := grpcserver.DefaultLimits()
	l.MaxConnectionAge, l.MaxConnectionAgeGrace = 50*time.Millisecond, 50*time.Millisecond
	lis := serve(t, newServer(l))
	c, err := lis.DialContext(grpctest.Context(t))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	seen, err := conn.AwaitGoAway()
	require.NoError(t, err)
	assert.True(t, seen.GoAway)
}

// Channelz counts the calls a server has carried: how an operator asks a
// replica what share of the traffic it gets.
func TestChannelzCountsCalls(t *testing.T) {
	conn := grpctest.NewClient(t, serve(t, newServer(grpcserver.DefaultLimits())))
	client := pb.NewRecommendationsClient(conn)
	for range 3 {
		_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
		require.NoError(t, err)
	}
	servers, err := channelzpb.NewChannelzClient(conn).GetServers(grpctest.Context(t), &channelzpb.GetServersRequest{})
	require.NoError(t, err)
	var succeeded int64
	for _, s := range servers.GetServer() {
		succeeded += s.GetData().GetCallsSucceeded()
	}
	// Other tests' servers live in the same process, so at least three.
	assert.GreaterOrEqual(t, succeeded, int64(3))
}

// New takes extra server options after the limits: the extension point
// for chapter 5's interceptors and chapter 6's credentials.
func TestNewAppliesExtraOptions(t *testing.T) {
	var methods []string
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		methods = append(methods, info.FullMethod)
		return h(ctx, req)
	}
	s := grpcserver.New(recommendations.NewServer(nil), grpcserver.DefaultLimits(), grpc.UnaryInterceptor(record))
	client := pb.NewRecommendationsClient(grpctest.NewClient(t, serve(t, s)))
	_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{})
	require.NoError(t, err)
	assert.Equal(t, []string{"/Recommendations/Recommend"}, methods)
}
