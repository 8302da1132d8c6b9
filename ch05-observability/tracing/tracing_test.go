package tracing_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bookstore is both services in one test, each with the tracing that
// tracing.Start configures from env (plus OTEL_EXPORTER_OTLP_ENDPOINT
// naming a collector the test serves), as the two binaries would be.
type bookstore struct {
	col    *otlptest.Collector
	page   http.Handler
	flush  func()       // exports every span, as both binaries do when they stop
	seen   chan string  // the traceparent each call brought to Recommendations
	starts atomic.Int64 // spans started, recorded or not, in both services

	mu      sync.Mutex
	exports [][2]int // each export's spans and bytes, as the collector received it
}

func newBookstore(t *testing.T, env map[string]string) *bookstore {
	b := &bookstore{col: otlptest.NewCollector(), seen: make(chan string, 100)}
	export := grpc.UnaryServerInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		r, spans := req.(*coltracepb.ExportTraceServiceRequest), 0
		for _, rs := range r.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				spans += len(ss.GetSpans())
			}
		}
		b.mu.Lock()
		b.exports = append(b.exports, [2]int{spans, proto.Size(r)})
		b.mu.Unlock()
		return h(ctx, req)
	})
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://" + grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) {
		coltracepb.RegisterTraceServiceServer(s, b.col)
	}, grpc.UnaryInterceptor(export))
	recTP, recFlush, err := tracing.Start(t.Context(), "recommendations", func(k string) string { return env[k] })
	require.NoError(t, err)
	mktTP, mktFlush, err := tracing.Start(t.Context(), "marketplace", func(k string) string { return env[k] })
	require.NoError(t, err)
	b.flush = func() { mktFlush(); recFlush() }
	t.Cleanup(b.flush)

	seen := grpc.UnaryServerInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.seen <- strings.Join(metadataValues(ctx, "traceparent"), ",")
		return h(ctx, req)
	})
	recTP, mktTP = counting{recTP, &b.starts}, counting{mktTP, &b.starts}
	conn := grpctest.NewServer(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	}, grpc.ChainUnaryInterceptor(seen, tracing.UnaryServer(recTP))).NewClient(t, grpc.WithChainUnaryInterceptor(tracing.UnaryClient(mktTP)))
	b.page = tracing.Handler(mktTP, marketplace.New(pb.NewRecommendationsClient(conn), marketplace.Options{Logger: slog.New(slog.DiscardHandler)}))
	return b
}

// counting counts the spans its tracers start.
type counting struct {
	trace.TracerProvider
	n *atomic.Int64
}

func (c counting) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return countingTracer{c.TracerProvider.Tracer(name, opts...), c.n}
}

type countingTracer struct {
	trace.Tracer
	n *atomic.Int64
}

func (c countingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	c.n.Add(1)
	return c.Tracer.Start(ctx, name, opts...)
}

// get loads the homepage, with header (name, value) pairs, and returns the
// traceparent Recommendations received.
func (b *bookstore) get(t *testing.T, header ...string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	b.page.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, 3, strings.Count(rec.Body.String(), "<li>"), "a whole page")
	return <-b.seen
}

// spans returns what the collector received, once both services flushed.
func (b *bookstore) spans() map[string][]*tracepb.Span {
	b.flush()
	return b.col.All()
}

// One page is one trace across both services, through an OTLP collector:
// the Marketplace's request, its call inside it, and Recommendations'
// handling of the call, whose parent is the call, across the wire.
func TestOnePageIsOneTrace(t *testing.T) {
	b := newBookstore(t, map[string]string{})
	b.get(t)

	spans := b.spans()
	require.Len(t, spans["marketplace"], 2)
	require.Len(t, spans["recommendations"], 1)
	var page, call *tracepb.Span
	for _, s := range spans["marketplace"] {
		switch s.GetKind() {
		case tracepb.Span_SPAN_KIND_SERVER:
			page = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			call = s
		}
	}
	server := spans["recommendations"][0]
	require.NotNil(t, page)
	require.NotNil(t, call)
	assert.Equal(t, "GET /{$}", page.GetName(), "named after the route")
	assert.Equal(t, "Recommendations/Recommend", call.GetName())
	assert.Equal(t, "Recommendations/Recommend", server.GetName())
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, server.GetKind())
	assert.Empty(t, page.GetParentSpanId(), "the page starts the trace")
	assert.Equal(t, page.GetTraceId(), call.GetTraceId())
	assert.Equal(t, page.GetTraceId(), server.GetTraceId(), "across the wire")
	assert.Equal(t, page.GetSpanId(), call.GetParentSpanId(), "the call is inside the page")
	assert.Equal(t, call.GetSpanId(), server.GetParentSpanId(), "the server's span hangs off the call")
}

// With OTEL_TRACES_SAMPLER_ARG=0 no trace that starts at the Marketplace is
// recorded, yet the trace context still goes to Recommendations, marked
// not sampled, so Recommendations records nothing either: the page starts
// its span, whose trace the sampler drops, and no other. A page whose
// caller sampled its trace is recorded in both services all the same: the
// sampler follows the parent.
func TestSamplerFollowsTheParent(t *testing.T) {
	b := newBookstore(t, map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0"})
	sent := b.get(t)
	assert.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-00$`, sent, "passed on, not sampled")
	assert.Equal(t, int64(1), b.starts.Swap(0), "one span started, the page's")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	sent = b.get(t, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	assert.Regexp(t, `^00-`+traceID+`-[0-9a-f]{16}-01$`, sent, "the caller's trace, sampled")
	assert.Equal(t, int64(3), b.starts.Swap(0), "the page, its call, the server")
	b.get(t, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-00")
	assert.Zero(t, b.starts.Load(), "the caller's trace, not sampled: not one span")

	spans := b.spans()
	require.Len(t, spans["marketplace"], 2, "only the sampled page's")
	require.Len(t, spans["recommendations"], 1)
	for _, s := range append(spans["marketplace"], spans["recommendations"]...) {
		assert.Equal(t, traceID, hex.EncodeToString(s.GetTraceId()))
	}
}

// Spans leave in batches of 200 at most, each under 32 KB of OTLP: gRPC
// marshals a bigger message into a 1 MB buffer, a cost to every export.
func TestBatchesStayUnder32KB(t *testing.T) {
	b := newBookstore(t, map[string]string{})
	for range 400 { // 800 spans in the Marketplace, 400 in Recommendations
		b.get(t)
	}
	b.spans()
	b.mu.Lock()
	defer b.mu.Unlock()
	largest := 0
	for _, e := range b.exports {
		largest = max(largest, e[0])
		assert.LessOrEqual(t, e[1], 32<<10, "bytes in a batch of %d spans", e[0])
	}
	assert.Equal(t, 200, largest, "spans in the largest batch")
}

// Without a collector, tracing is off: Start returns a provider that
// records nothing. A sampler fraction outside [0, 1] is refused.
func TestStart(t *testing.T) {
	tp, flush, err := tracing.Start(t.Context(), "x", func(string) string { return "" })
	require.NoError(t, err)
	_, span := tp.Tracer("x").Start(t.Context(), "x")
	assert.False(t, span.IsRecording())
	flush()

	_, _, err = tracing.Start(t.Context(), "x", func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER_ARG": "10"}[k]
	})
	assert.ErrorContains(t, err, "OTEL_TRACES_SAMPLER_ARG")
}

func metadataValues(ctx context.Context, key string) []string {
	return metadata.ValueFromIncomingContext(ctx, key)
}
