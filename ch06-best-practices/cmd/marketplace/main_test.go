package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
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
