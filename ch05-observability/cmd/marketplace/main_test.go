package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newPage returns the handler main serves, with o, reaching
// Recommendations at target.
func newPage(t *testing.T, target string, o options) http.Handler {
	t.Helper()
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.metrics == nil {
		o.metrics = prometheus.NewRegistry()
	}
	if o.tracer == nil { // what main gets when no collector is set
		tp, _, err := tracing.Start(t.Context(), "marketplace", func(string) string { return "" })
		require.NoError(t, err)
		o.tracer = tp
	}
	conn, err := newConn("dns:///"+target, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return newHandler(conn, o, new(atomic.Bool))
}

// The series' homepage behaviours, through the handler and connection main
// builds.
func TestHomepage(t *testing.T) {
	booksuite.Homepage(t, func(t *testing.T, target string) http.Handler { return newPage(t, target, options{}) })
}

// recommendationsAt serves Recommendations on loopback and returns its
// address and the traceparent metadata each call brought.
func recommendationsAt(t *testing.T) (target string, traceparents chan []string) {
	traceparents = make(chan []string, 10)
	target = grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	}, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		traceparents <- metadata.ValueFromIncomingContext(ctx, "traceparent")
		return h(ctx, req)
	}))
	return target, traceparents
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The client interceptor counts each call by code as the Marketplace saw
// it, including calls that never reached a server.
func TestClientMetrics(t *testing.T) {
	target, _ := recommendationsAt(t)
	up, down := prometheus.NewRegistry(), prometheus.NewRegistry()
	assert.Equal(t, 3, strings.Count(get(t, newPage(t, target, options{metrics: up}), "/").Body.String(), "<li>"))
	// Nothing listens on port 1.
	assert.Contains(t, get(t, newPage(t, "127.0.0.1:1", options{metrics: down}), "/").Body.String(), "Recommendations are unavailable")
	assert.Equal(t, map[string]float64{"OK": 1}, callsByCode(t, up))
	assert.Equal(t, map[string]float64{"Unavailable": 1}, callsByCode(t, down))
}

// The page counts its requests by method and status code and times them,
// under promhttp's names, in the registry main serves: a degraded page is
// a 200 too (the metric of outages is the client's, above), a path that is
// no page a 404. /healthz, which probes ask every few seconds, is not counted.
func TestPageMetrics(t *testing.T) {
	target, _ := recommendationsAt(t)
	reg := prometheus.NewRegistry()
	page := newPage(t, target, options{metrics: reg})
	for _, path := range []string{"/", "/", "/nope", "/healthz"} {
		get(t, page, path)
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "http_requests_total":
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got[labels["method"]+" "+labels["code"]] = m.GetCounter().GetValue()
			case "http_request_duration_seconds":
				got["timed"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	assert.Equal(t, map[string]float64{"get 200": 2, "get 404": 1, "timed": 3}, got)
}

// callsByCode returns grpc_client_handled_total by code.
func callsByCode(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	families, err := reg.Gather()
	require.NoError(t, err)
	codes := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "grpc_client_handled_total" {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "grpc_code" {
						codes[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return codes
}

// With tracing on, a page is a span, its call a span inside it, and the
// call carries the trace context to Recommendations. /healthz is not
// traced, and the metrics are not on the public port.
func TestTracing(t *testing.T) {
	target, traceparents := recommendationsAt(t)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	page := newPage(t, target, options{tracer: tp})

	assert.Equal(t, http.StatusOK, get(t, page, "/").Code)
	ended := spans.Ended()
	require.Len(t, ended, 2)
	call, req := ended[0], ended[1] // the call ends first, inside the page
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.Equal(t, "GET /{$}", req.Name())
	assert.Equal(t, req.SpanContext().SpanID(), call.Parent().SpanID())
	sent := <-traceparents
	require.Len(t, sent, 1)
	assert.Equal(t, "00-"+call.SpanContext().TraceID().String()+"-"+call.SpanContext().SpanID().String()+"-01", sent[0])

	assert.Equal(t, http.StatusOK, get(t, page, "/healthz").Code)
	assert.Len(t, spans.Ended(), 2, "no span for /healthz")
	assert.Equal(t, http.StatusNotFound, get(t, page, "/metrics").Code, "metrics have a port of their own")
}

// With tracing off nothing is recorded, but a trace context that comes
// with a page request still goes on to Recommendations, so that a trace
// through a Marketplace that does not export stays whole.
func TestTracingOffPassesTheContextOn(t *testing.T) {
	target, traceparents := recommendationsAt(t)
	page := newPage(t, target, options{})
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	get(t, page, "/", "traceparent", incoming)
	assert.Equal(t, []string{incoming}, <-traceparents)
	get(t, page, "/")
	assert.Empty(t, <-traceparents, "and none when none came")
}
