package main

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// turnstile is a random source that holds every draw until the test opens
// it: calls held in the real handler (the first in its draw, the others
// at the catalog's lock), as many as the test sends.
type turnstile chan struct{}

func newTurnstile(t *testing.T) turnstile {
	g := make(turnstile)
	t.Cleanup(g.open)
	return g
}

func (g turnstile) Uint64() uint64 { <-g; return rand.Uint64() }

func (g turnstile) open() {
	select {
	case <-g:
	default:
		close(g)
	}
}

// holdCalls sends n calls and waits until the server has started them all
// (go-grpc-middleware's grpc_server_started_total), held by the turnstile.
func holdCalls(t *testing.T, reg *prometheus.Registry, client pb.RecommendationsClient, n int) <-chan error {
	t.Helper()
	done := make(chan error, n)
	for range n {
		go func() {
			_, err := client.Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
			done <- err
		}()
	}
	testwait.Until(t, "the calls to reach the handler", func() bool { return total(t, reg, "grpc_server_started_total") == float64(n) })
	return done
}

// With -max-in-flight 2, two calls in the handler fill the server: the
// next call, on either API, is refused at once with RESOURCE_EXHAUSTED and
// counted, while health and reflection still answer. The held calls finish with their
// books, and their places are free again.
func TestCallsOverTheLimitAreShed(t *testing.T) {
	g, reg := newTurnstile(t), prometheus.NewRegistry()
	_, addr := start(t, options{random: g, metrics: reg, shedAt: 2})
	conn := dial(t, addr)
	held := holdCalls(t, reg, pb.NewRecommendationsClient(conn), 2)

	_, err := pb.NewRecommendationsClient(conn).Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.Equal(t, "over capacity: 2 calls in flight", status.Convert(err).Message())
	_, err = v1.NewRecommendationsServiceClient(conn).Recommend(testwait.Context(t), &v1.RecommendRequest{MaxResults: 3})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "v1 counts too: %v", err)
	checked, err := healthpb.NewHealthClient(conn).Check(testwait.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "health is not shed")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, checked.GetStatus())
	_, err = listServices(t, conn)
	assert.NoError(t, err, "nor is reflection")
	assert.Equal(t, 2.0, total(t, reg, "grpc_server_shed_total"), "both refusals counted")
	assert.Zero(t, count(t, reg, "/Recommendations/Recommend", "ResourceExhausted"), "refused before the chain, which never sees them")

	g.open()
	for range 2 {
		assert.NoError(t, testwait.Recv(t, held, "a held call"), "the held calls get their books")
	}
	testwait.Until(t, "a place to free up", func() bool { // freed as each stream ends, just after its answer
		_, err := pb.NewRecommendationsClient(conn).Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
		return err == nil
	})
}

// Without -max-in-flight, nothing is shed: three calls in the handler at
// once, and a fourth as well.
func TestNoLimitByDefault(t *testing.T) {
	g, reg := newTurnstile(t), prometheus.NewRegistry()
	_, addr := start(t, options{random: g, metrics: reg})
	held := holdCalls(t, reg, pb.NewRecommendationsClient(dial(t, addr)), 4)
	g.open()
	for range 4 {
		assert.NoError(t, testwait.Recv(t, held, "a held call"))
	}
	assert.Zero(t, total(t, reg, "grpc_server_shed_total"))
}

// total sums the series of the metric name in reg.
func total(t *testing.T, reg *prometheus.Registry, name string) (sum float64) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
