package tracing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One page request makes three spans in one trace: the Marketplace's HTTP
// request, its gRPC call inside it, and Recommendations' handling of that
// call, whose parent is the call, across the wire.
func TestOnePageIsOneTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	ended := make(chan struct{}, 10)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder), sdktrace.WithSpanProcessor(notify(ended)))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	tr := tracing.New(tp)

	conn := grpctest.NewServer(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	}, tr.ServerOption()).NewClient(t, tr.DialOption())
	page := tr.Handler(marketplace.New(conn, homepage.Options{Timeout: 10 * time.Second}), "homepage")

	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	homepagetest.AssertHome(t, rec.Code, rec.Body.String())

	// The server's span ends just after the client has its answer.
	for range 3 {
		testwait.Recv(t, ended, "three spans to end")
	}
	// Each span by the library that made it and its kind.
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range recorder.Ended() {
		lib := s.InstrumentationScope().Name
		lib = lib[strings.LastIndex(lib, "/")+1:]
		spans[lib+" "+s.SpanKind().String()] = s
	}
	require.Len(t, recorder.Ended(), 3)
	httpSpan, client, server := spans["otelhttp server"], spans["otelgrpc client"], spans["otelgrpc server"]
	require.NotNil(t, httpSpan)
	require.NotNil(t, client)
	require.NotNil(t, server)
	assert.Equal(t, "GET /{$}", httpSpan.Name(), "otelhttp names the span after the route")
	assert.Equal(t, "Recommendations/Recommend", client.Name())
	assert.Equal(t, "Recommendations/Recommend", server.Name())

	traceID := httpSpan.SpanContext().TraceID()
	assert.True(t, traceID.IsValid())
	assert.Equal(t, traceID, client.SpanContext().TraceID(), "the call is in the page's trace")
	assert.Equal(t, traceID, server.SpanContext().TraceID(), "and so is the server's side, across the wire")
	assert.False(t, httpSpan.Parent().IsValid(), "the page's request starts the trace")
	assert.Equal(t, httpSpan.SpanContext().SpanID(), client.Parent().SpanID(), "the call happens inside the page's request")
	assert.Equal(t, client.SpanContext().SpanID(), server.Parent().SpanID(), "the server's span hangs off the call")
	assert.True(t, server.Parent().IsRemote(), "its parent came in the metadata")
}

// notify is a span processor that signals on ended each time a span ends.
type notify chan<- struct{}

func (n notify) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (n notify) OnEnd(sdktrace.ReadOnlySpan)                     { n <- struct{}{} }
func (n notify) Shutdown(context.Context) error                  { return nil }
func (n notify) ForceFlush(context.Context) error                { return nil }

// With no collector configured, tracing is off, and costs nothing: no
// instrument is installed.
func TestNoCollectorNoInstruments(t *testing.T) {
	tr, shutdown, err := tracing.FromEnvironment(context.Background(), "test", func(string) string { return "" })
	require.NoError(t, err)
	defer func() { require.NoError(t, shutdown(context.Background())) }()

	page := http.NotFoundHandler()
	assert.Equal(t, fmt.Sprintf("%p", page), fmt.Sprintf("%p", tr.Handler(page, "page")), "the page, unwrapped")
	assert.Equal(t, grpc.EmptyServerOption{}, tr.ServerOption())
	assert.Equal(t, grpc.EmptyDialOption{}, tr.DialOption())
}
