package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves newServer(o) on a loopback port, as main does, until the
// test ends, and returns it with its address.
func start(t *testing.T, o options) (server, string) {
	t.Helper()
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.metrics == nil {
		o.metrics = prometheus.NewRegistry()
	}
	if o.creds == nil {
		o.creds = insecure.NewCredentials()
	}
	if o.tracer == nil {
		o.tracer = noop.NewTracerProvider()
	}
	s := newServer(o)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	t.Cleanup(func() {
		s.grpc.Stop()
		s.healthOnly.Stop()
		assert.NoError(t, <-served)
	})
	return s, lis.Addr().String()
}

// dial connects to addr in plaintext until the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// The series' Recommend semantics, on the server main builds.
func TestRecommend(t *testing.T) {
	booksuite.Recommend(t, func(t *testing.T) pb.RecommendationsClient {
		_, addr := start(t, options{})
		return pb.NewRecommendationsClient(dial(t, addr))
	})
}

// badRequest returns the field violations of err's BadRequest detail, as
// a client program reads them.
func badRequest(t *testing.T, err error) []*errdetails.BadRequest_FieldViolation {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br.GetFieldViolations()
		}
	}
	t.Fatalf("no BadRequest detail in %v", err)
	return nil
}

// Both APIs on one server, with the chapter's errors as a client reads
// them: code, message, and the BadRequest detail naming the field. The
// interceptors' chain sees the status ErrorsToStatus makes, not UNKNOWN.
func TestBothAPIsAndTheirErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, addr := start(t, options{metrics: reg})
	conn := dial(t, addr)
	legacy, next := pb.NewRecommendationsClient(conn), v1.NewRecommendationsServiceClient(conn)
	ctx := testwait.Context(t)

	resp, err := next.Recommend(ctx, &v1.RecommendRequest{Category: v1.BookCategory_BOOK_CATEGORY_SELF_HELP, MaxResults: 2})
	require.NoError(t, err)
	require.Len(t, resp.GetBooks(), 2)
	for _, b := range resp.GetBooks() {
		assert.Contains(t, []int32{7, 8, 9}, b.GetId(), "v1's SELF_HELP is the catalog's self-help")
	}

	_, err = next.Recommend(ctx, &v1.RecommendRequest{Category: v1.BookCategory_BOOK_CATEGORY_MYSTERY, MaxResults: -1})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.Equal(t, "max_results must not be negative, got -1", status.Convert(err).Message())
	want := &errdetails.BadRequest_FieldViolation{Field: "max_results", Description: "must not be negative"}
	require.Len(t, badRequest(t, err), 1)
	assert.True(t, proto.Equal(want, badRequest(t, err)[0]), "%v", badRequest(t, err))

	_, err = legacy.Recommend(ctx, &pb.RecommendationRequest{MaxResults: -1})
	require.Len(t, badRequest(t, err), 1, "the old API sends the detail too")
	assert.True(t, proto.Equal(want, badRequest(t, err)[0]))

	_, err = next.Recommend(ctx, &v1.RecommendRequest{MaxResults: 1})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "v1 has no default category")
	require.Len(t, badRequest(t, err), 1)
	assert.Equal(t, "category", badRequest(t, err)[0].GetField())

	_, err = legacy.Recommend(ctx, &pb.RecommendationRequest{Category: 42, MaxResults: 1})
	assert.Equal(t, codes.NotFound, status.Code(err))
	assert.Empty(t, status.Convert(err).Details(), "NOT_FOUND names no field: no BadRequest detail")
	assert.Equal(t, 2.0, count(t, reg, "/recommendations.v1.RecommendationsService/Recommend", "InvalidArgument"))
	assert.Equal(t, 1.0, count(t, reg, "/Recommendations/Recommend", "NotFound"))
	assert.Equal(t, 0.0, count(t, reg, "/Recommendations/Recommend", "Unknown"))
}

// count returns go-grpc-middleware's grpc_server_handled_total for the
// full method (/service/method) and code.
func count(t *testing.T, reg *prometheus.Registry, method, code string) float64 {
	t.Helper()
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if f.GetName() == "grpc_server_handled_total" && labels["grpc_service"] == service && labels["grpc_method"] == name &&
				labels["grpc_code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// panicky is a random source that panics, as a bug in the catalog would.
type panicky struct{}

func (panicky) Uint64() uint64 { panic("the dice are gone") }

// The chain around the handler, from the outside: a panic in the handler
// is INTERNAL for the caller, without the server's insides; it is logged
// with its stack and the call's fields, and counted; the server goes on
// serving. Each call is logged once it is over, and only then: a success
// at debug, a caller's mistake at info, the server's failure an error,
// with the trace ID of a traced call. Calls are timed from 100 µs.
func TestLogsMetricsAndPanics(t *testing.T) {
	var logs strings.Builder
	reg := prometheus.NewRegistry()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())) // records, exports nowhere
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	_, addr := start(t, options{random: panicky{}, metrics: reg, tracer: tp, log: slog.New(slog.NewTextHandler(&logs, nil))})
	client := pb.NewRecommendationsClient(dial(t, addr))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(testwait.Context(t), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")

	_, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, "internal error", status.Convert(err).Message())
	_, err = client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 0}) // no draw: no panic
	require.NoError(t, err)
	_, err = client.Recommend(ctx, &pb.RecommendationRequest{Category: 42, MaxResults: 1})
	assert.Equal(t, codes.NotFound, status.Code(err))

	out := logs.String()
	assert.Regexp(t, `level=ERROR msg=panic trace_id=`+traceID+` .*grpc.method=Recommend .*panic="the dice are gone" stack="goroutine `, out)
	assert.Regexp(t, `level=ERROR msg="finished call" trace_id=`+traceID+` .*grpc.code=Internal`, out)
	assert.Regexp(t, `level=INFO msg="finished call" .*grpc.code=NotFound`, out)
	assert.Equal(t, 2, strings.Count(out, `msg="finished call"`), "the success is not logged at info:\n%s", out)
	assert.NotContains(t, out, "started call")
	assert.Equal(t, 1.0, count(t, reg, "/Recommendations/Recommend", "Internal"))
	assert.Equal(t, 1.0, count(t, reg, "/Recommendations/Recommend", "OK"))
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "grpc_server_handling_seconds" {
			assert.InDelta(t, 100e-6, f.GetMetric()[0].GetHistogram().GetBucket()[0].GetUpperBound(), 1e-9)
		}
	}
}

// gate is a random source whose first draw waits until the test releases
// it: a Recommend call held inside the real handler, in flight for as long
// as the test wants.
type gate struct {
	entered, release chan struct{}
	first            chan struct{}
}

func newGate() *gate {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{}), first: make(chan struct{}, 1)}
	g.first <- struct{}{}
	return g
}

func (g *gate) Uint64() uint64 {
	select {
	case <-g.first:
		close(g.entered)
		<-g.release
	default:
	}
	return rand.Uint64()
}

// hold starts a call that the gate holds inside the handler, and returns
// where its result arrives.
func hold(t *testing.T, g *gate, conn *grpc.ClientConn) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		resp, err := pb.NewRecommendationsClient(conn).Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
		if err == nil && len(resp.GetRecommendations()) != 3 {
			err = status.Errorf(codes.Internal, "want 3 books, got %v", resp)
		}
		done <- err
	}()
	testwait.Recv(t, g.entered, "the held call to reach the handler")
	return done
}

// The shutdown's order: health says NOT_SERVING while the server still
// takes calls (the drain delay, for whoever watches health to stop sending
// work); then new connections are refused while the call in flight goes
// on; it finishes with its answer, and the stop was graceful.
func TestShutdownOrder(t *testing.T) {
	g := newGate()
	s, addr := start(t, options{random: g})
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	})
	inFlight := hold(t, g, dial(t, addr))

	watchCtx, stopWatching := context.WithCancel(testwait.Context(t))
	watch, err := healthpb.NewHealthClient(dial(t, addr)).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	drained := make(chan time.Time)
	graceful := make(chan bool, 1)
	go func() { graceful <- s.stop(drained, time.Hour) }()

	next, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus(), "the watcher hears it first")
	stopWatching() // the watcher stops sending work: its stream ends too
	// Still draining: a new client on a new connection is served.
	late := dial(t, addr)
	checked, err := healthpb.NewHealthClient(late).Check(testwait.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "the server still takes calls while health says NOT_SERVING")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, checked.GetStatus())
	_, err = pb.NewRecommendationsClient(late).Recommend(testwait.Context(t), &pb.RecommendationRequest{Category: 42})
	assert.Equal(t, codes.NotFound, status.Code(err), "Recommendations still answers")

	close(drained)
	testwait.Until(t, "new connections to be refused", func() bool {
		_, err := pb.NewRecommendationsClient(dial(t, addr)).Recommend(testwait.Context(t), &pb.RecommendationRequest{Category: 42})
		return status.Code(err) == codes.Unavailable
	})
	select {
	case err := <-inFlight:
		t.Fatalf("the held call ended before its release: %v", err)
	default:
	}
	close(g.release)
	assert.NoError(t, testwait.Recv(t, inFlight, "the call in flight"), "it finishes with its answer")
	assert.True(t, testwait.Recv(t, graceful, "the stop"), "graceful")
}

// A call that never finishes is cut at the cap, and the stop says so.
func TestShutdownCutsAtTheCap(t *testing.T) {
	g := newGate()
	s, addr := start(t, options{random: g})
	t.Cleanup(func() { close(g.release) })
	inFlight := hold(t, g, dial(t, addr))
	drained := make(chan time.Time)
	close(drained)
	assert.False(t, s.stop(drained, time.Millisecond), "the cap cut a call")
	assert.Equal(t, codes.Unavailable, status.Code(testwait.Recv(t, inFlight, "the cut call")))
}

// Chapter 4's bounds, on the server main builds: headers and messages past
// their limits are refused, and a connection that never speaks is closed
// once the handshake's time is up, so idle clients cannot hold the server's
// connections.
func TestBounds(t *testing.T) {
	_, addr := start(t, options{})
	conn := dial(t, addr)
	client := pb.NewRecommendationsClient(conn)

	ctx := metadata.AppendToOutgoingContext(testwait.Context(t), "padding", strings.Repeat("x", 16<<10))
	_, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 1})
	assert.Error(t, err, "16 KB of headers")
	big := &wrapperspb.BytesValue{Value: make([]byte, 32<<10)}
	err = conn.Invoke(testwait.Context(t), pb.Recommendations_Recommend_FullMethodName, big, new(pb.RecommendationResponse))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "a 32 KB request: %v", err)
	_, err = client.Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	assert.NoError(t, err, "the connection still serves calls within the bounds")

	assertSilentConnectionClosed(t, addr) // the handshake's 5 s, with room to spare: 30 s would fail
}

// The keepalive enforcement policy lets a client ping every 10 s with no
// call open, as the Marketplace's connection may; grpc-go's default (5 min,
// and no pings without a call) would close its connection at the third.
// Two quick pings after the first are strikes under either policy; one
// 10 s apart is a strike only under the default, and the third closes.
func TestPingsTenSecondsApartAreAllowedWithoutACall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the policy's 10 s")
	}
	t.Parallel()
	const minTime = 10 * time.Second // newServer's EnforcementPolicy.MinTime
	_, addr := start(t, options{})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(minTime+testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	for range 3 {
		seen, err := conn.Sync() // a PING, and its answer
		require.NoError(t, err)
		require.False(t, seen.GoAway, "two strikes are allowed")
	}
	_, err = conn.SyncAfter(minTime + time.Second) // past MinTime, a second to spare
	require.NoError(t, err)
	const closed = "the server closed the connection after a ping 10 s after the last one: its policy is not MinTime 10 s with PermitWithoutStream"
	id, err := conn.Begin("/grpc.health.v1.Health/Check")
	require.NoError(t, err, closed)
	require.NoError(t, conn.Send(id, nil), closed)
	reply, err := conn.Await(id)
	require.NoError(t, err, closed)
	assert.Equal(t, "0", reply.Status, "%+v", reply)
}
