package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// replica is one Recommendations replica on a loopback port: the chapter's
// service and a health server, with a hook the test sets before each call.
type replica struct {
	pb.UnimplementedRecommendationsServer
	addr   string
	grpc   *grpc.Server
	health *health.Server
	before func(ctx context.Context, r *replica) error // nil, or it may answer instead of the service
	next   pb.RecommendationsServer
	calls  atomic.Int64 // Recommend calls that reached it, each attempt counted
}

func startReplica(t *testing.T, before func(ctx context.Context, r *replica) error) *replica {
	t.Helper()
	return serveReplica(t, before, true)
}

// serveReplica starts a replica, with a health service or without one.
func serveReplica(t *testing.T, before func(ctx context.Context, r *replica) error, withHealth bool) *replica {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &replica{addr: lis.Addr().String(), grpc: grpc.NewServer(), health: health.NewServer(), before: before,
		next: recommendations.NewServer(catalog.NewRecommender(nil))}
	pb.RegisterRecommendationsServer(r.grpc, r)
	if withHealth {
		healthpb.RegisterHealthServer(r.grpc, r.health)
	}
	done := make(chan struct{})
	go func() { _ = r.grpc.Serve(lis); close(done) }()
	t.Cleanup(func() { r.grpc.Stop(); <-done })
	return r
}

func (r *replica) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	r.calls.Add(1)
	if r.before != nil {
		if err := r.before(ctx, r); err != nil {
			return nil, err
		}
	}
	return r.next.Recommend(ctx, req)
}

// pageOver returns the handler main serves, over the connection main makes,
// with DNS answering the replicas' addresses: a test's resolver named
// "dns" takes the place of the real one for this connection alone.
func pageOver(t *testing.T, replicas ...*replica) (page func() (code, books int), o options) {
	t.Helper()
	dns := manual.NewBuilderWithScheme("dns")
	var state resolver.State
	for _, r := range replicas {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: r.addr})
	}
	dns.InitialState(state)
	o = testOptions()
	conn, err := newConn("recommendations:50051", insecure.NewCredentials(), o, grpc.WithResolvers(dns))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	h := newHandler(conn, o)
	return func() (int, int) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Code, len(booksuite.Items(rec.Body.String()))
	}, o
}

// A replica that goes away in the middle of a call costs the page nothing:
// the call fails with UNAVAILABLE and is tried again on the other replica.
func TestACallSurvivesItsReplicaGoingAway(t *testing.T) {
	var first atomic.Bool
	entered := make(chan *replica, 1)
	hold := func(ctx context.Context, r *replica) error {
		if first.CompareAndSwap(false, true) { // the first call of the test, on whichever replica
			entered <- r
			<-ctx.Done() // until its replica goes away
		}
		return nil
	}
	a, b := startReplica(t, hold), startReplica(t, hold)
	page, _ := pageOver(t, a, b)
	type result struct{ code, books int }
	done := make(chan result, 1)
	go func() { code, books := page(); done <- result{code, books} }()
	gone := testwait.Recv(t, entered, "the first call to reach a replica")
	gone.grpc.Stop() // its connections close under the call
	got := testwait.Recv(t, done, "the page")
	assert.Equal(t, result{http.StatusOK, 3}, got, "a whole page")
	other := map[*replica]*replica{a: b, b: a}[gone]
	assert.Equal(t, int64(1), gone.calls.Load(), "the first attempt")
	assert.Equal(t, int64(1), other.calls.Load(), "the retry, on the other replica")
}

// When most calls fail, retries stop: the throttle's 10 tokens lose one
// per failed attempt, and at 5 or fewer no call is retried. Against a
// replica that only says UNAVAILABLE, the first page's call makes 3
// attempts (tokens 10 to 7), the second 2 (to 5), every later one 1.
func TestRetriesStopAtTheThrottle(t *testing.T) {
	down := startReplica(t, func(context.Context, *replica) error {
		return status.Error(codes.Unavailable, "overloaded, say")
	})
	page, _ := pageOver(t, down)
	for range 10 {
		code, books := page()
		require.Equal(t, http.StatusOK, code)
		require.Zero(t, books, "a degraded page")
	}
	assert.Equal(t, int64(3+2+8), down.calls.Load(), "attempts in all: without the throttle, 30")
}

// Two failures are not retried, on either replica. A call too slow for
// the page's second: the deadline covers every attempt, and the page
// degrades at it. A call shed for load (RESOURCE_EXHAUSTED, as
// -max-in-flight answers): the page degrades at once, without waiting out
// its deadline, and without a retry to add to the overload.
func TestSlowAndShedCallsAreNotRetried(t *testing.T) {
	for code, fail := range map[string]func(ctx context.Context, _ *replica) error{
		"DeadlineExceeded":  func(ctx context.Context, _ *replica) error { <-ctx.Done(); return ctx.Err() },
		"ResourceExhausted": func(context.Context, *replica) error { return status.Error(codes.ResourceExhausted, "over capacity") },
	} {
		t.Run(code, func(t *testing.T) {
			a, b := startReplica(t, fail), startReplica(t, fail)
			page, o := pageOver(t, a, b)
			httpCode, books := page()
			assert.Equal(t, http.StatusOK, httpCode)
			assert.Zero(t, books, "a degraded page")
			assert.Equal(t, int64(1), a.calls.Load()+b.calls.Load(), "one attempt")
			assert.Equal(t, map[string]float64{code: 1}, clientCalls(t, o))
		})
	}
}

// A replica that says NOT_SERVING, or drains for shutdown as the service's
// stop does (health.Shutdown, -drain before the listener closes), gets no
// new calls once the Marketplace has heard it on its health Watch; then it
// stops gracefully, since the Watch ends at its GOAWAY, and no page fails.
func TestAReplicaThatSaysNotServingGetsNoCalls(t *testing.T) {
	for name, say := range map[string]func(*health.Server){
		"NOT_SERVING": func(h *health.Server) { h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) },
		"draining":    (*health.Server).Shutdown,
	} {
		t.Run(name, func(t *testing.T) {
			a, b := startReplica(t, nil), startReplica(t, nil)
			page, _ := pageOver(t, a, b)
			degraded := 0
			load := func(n int) {
				for range n {
					if code, books := page(); code != http.StatusOK || books != 3 {
						degraded++
					}
				}
			}
			testwait.Until(t, "both replicas get calls", func() bool { load(1); return a.calls.Load() > 0 && b.calls.Load() > 0 })
			say(a.health)
			// The Watch's news reaches the connection a moment later: then
			// round robin skips a, which ten pages in a row would not do.
			testwait.Until(t, "ten pages in a row miss the replica", func() bool {
				before := a.calls.Load()
				load(10)
				return a.calls.Load() == before
			})
			calls := a.calls.Load()
			load(50)
			assert.Equal(t, calls, a.calls.Load(), "calls to the NOT_SERVING replica")
			stopped := make(chan struct{})
			go func() { a.grpc.GracefulStop(); close(stopped) }()
			testwait.Recv(t, stopped, "GracefulStop, which an open health Watch would hold")
			load(10)
			assert.Zero(t, degraded, "failed or degraded pages")
		})
	}
}

// grpc-go checks health on the client only in a program that links its
// health package, and otherwise ignores healthCheckConfig, saying so only in
// its own log. This test binary links it anyway (its replicas serve
// health), so the tests above cannot see a missing import: this reads the
// binary's own imports.
func TestTheBinaryLinksClientHealthChecking(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	assert.Contains(t, strings.Fields(string(out)), "google.golang.org/grpc/health")
}

// A replica with no health service, such as the series' Python server,
// answers the Watch with UNIMPLEMENTED, and grpc-go then counts it as
// SERVING: it gets calls like the others.
func TestAReplicaWithoutHealthGetsCalls(t *testing.T) {
	a, b := startReplica(t, nil), serveReplica(t, nil, false)
	page, _ := pageOver(t, a, b)
	testwait.Until(t, "both replicas get calls", func() bool {
		code, books := page()
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, 3, books)
		return a.calls.Load() > 0 && b.calls.Load() > 0
	})
}
