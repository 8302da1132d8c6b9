package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cli"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newPage returns the handler main serves, reaching Recommendations at
// target over the connection main makes.
func newPage(t *testing.T, target string) http.Handler {
	t.Helper()
	conn, err := newConn(target, insecure.NewCredentials(), testOptions())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return newHandler(conn, testOptions())
}

// testOptions are main's options, logging nowhere, counting in a registry
// of their own, tracing off.
func testOptions() options {
	return options{log: slog.New(slog.DiscardHandler), metrics: prometheus.NewRegistry(), tracer: noop.NewTracerProvider(), draining: new(atomic.Bool)}
}

// The series' homepage behaviours, through the handler and connection main
// builds.
func TestHomepage(t *testing.T) {
	booksuite.Homepage(t, newPage)
}

// /healthz answers while the process serves pages, whatever the state of
// Recommendations (a missing list of books is not a missing website), and
// says 503 once the process drains, while pages are still served.
func TestHealthz(t *testing.T) {
	o := testOptions()
	conn, err := newConn("127.0.0.1:1", insecure.NewCredentials(), o)
	require.NoError(t, err)
	defer conn.Close()
	h := newHandler(conn, o)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	assert.Equal(t, http.StatusOK, get("/healthz"))
	o.draining.Store(true)
	assert.Equal(t, http.StatusServiceUnavailable, get("/healthz"))
	assert.Equal(t, http.StatusOK, get("/"), "pages are still served while draining")
}

// The page's and the metrics' HTTP server is bounded at every phase of a
// connection; net/http sets none of these by default.
func TestHTTPServerBoundsEveryPhase(t *testing.T) {
	srv := cli.NewHTTPServer(http.NotFoundHandler())
	assert.Equal(t, 5*time.Second, srv.ReadHeaderTimeout, "the headers (Slowloris): unset, ReadTimeout's 10 s")
	assert.Equal(t, 10*time.Second, srv.ReadTimeout, "the whole request: unset, a body trickled byte by byte holds the connection for ever")
	assert.Equal(t, 10*time.Second, srv.WriteTimeout, "the answer: unset, a client that never reads holds the connection for ever")
	assert.Greater(t, srv.WriteTimeout, time.Second, "a page waits up to a second for books, and is still written")
	assert.Equal(t, time.Minute, srv.IdleTimeout, "between a visitor's pages: unset, ReadTimeout's 10 s")
	assert.Equal(t, 16<<10, srv.MaxHeaderBytes)
}

// The client's metrics, go-grpc-middleware's: each call counted once by the
// code the page saw, including calls that never reached a server. With no
// replica to reach, the call waits for one (waitForReady) until the page's
// deadline: DeadlineExceeded, where without waitForReady it would fail at
// once with Unavailable.
func TestClientMetrics(t *testing.T) {
	target := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	})
	for _, tc := range []struct{ target, code string }{{target, "OK"}, {"127.0.0.1:1", "DeadlineExceeded"}} { // nothing listens on port 1
		o := testOptions()
		conn, err := newConn(tc.target, insecure.NewCredentials(), o)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		newHandler(conn, o).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		require.NoError(t, conn.Close())
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, map[string]float64{tc.code: 1}, clientCalls(t, o), tc.target)
		assert.Equal(t, map[string]float64{"200": 1}, pagesByCode(t, o), "the page too, as chapter 5 counts it")
	}
}

// clientCalls returns grpc_client_handled_total by code, from o's registry.
func clientCalls(t *testing.T, o options) map[string]float64 {
	return sumBy(t, o, "grpc_client_handled_total", "grpc_code")
}

// pagesByCode returns the page's http_requests_total by code, from o's registry.
func pagesByCode(t *testing.T, o options) map[string]float64 {
	return sumBy(t, o, "http_requests_total", "code")
}

// sumBy sums counter metric in o's registry by the values of label.
func sumBy(t *testing.T, o options, metric, label string) map[string]float64 {
	t.Helper()
	families, err := o.metrics.(*prometheus.Registry).Gather()
	require.NoError(t, err)
	sums := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == metric && l.GetName() == label {
					sums[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sums
}
