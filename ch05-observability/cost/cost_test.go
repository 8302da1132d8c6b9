// Package cost_test measures what chapter 5's instrumentation costs: a
// Recommend call and a whole homepage over bufconn, bare (as in chapter
// 3), with the hand-written interceptors, with go-grpc-middleware's, and
// with tracing on top: its instruments with a no-op tracer, then recording
// one trace in ten, then every trace.
//
//	go test -run '^$' -bench . -benchmem -count 10 ./ch05-observability/cost/ > /tmp/cost.txt
//	go tool benchstat /tmp/cost.txt
package cost_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/metrics"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/middleware"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// layer is one way to instrument both sides.
type layer struct {
	name   string
	server func() []grpc.ServerOption
	client func() []grpc.DialOption
	page   func(http.Handler) http.Handler
}

// discard drops every span at the end of the pipeline, so a benchmark
// pays for recording and batching spans, as a real service does, but not
// for a collector.
type discard struct{}

func (discard) ExportSpans(context.Context, []trace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                          { return nil }

func layers(b *testing.B) []layer {
	// Logs go nowhere, but are formatted, as in production.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	handwritten := func() []grpc.ServerOption {
		return interceptors.ServerOptions(log, interceptors.NewServerMetrics(metrics.NewRegistry()))
	}
	clientChain := func() []grpc.DialOption {
		return interceptors.DialOptions(interceptors.NewClientMetrics(metrics.NewRegistry()))
	}
	traced := func(name string, tr tracing.Tracing) layer {
		return layer{name, func() []grpc.ServerOption {
			return append(handwritten(), tr.ServerOption())
		}, func() []grpc.DialOption {
			return append(clientChain(), tr.DialOption())
		}, func(h http.Handler) http.Handler { return tr.Handler(requestid.Middleware(h), "homepage") }}
	}
	sampled := func(fraction float64) tracing.Tracing {
		tp := trace.NewTracerProvider(trace.WithBatcher(discard{}),
			trace.WithSampler(trace.ParentBased(trace.TraceIDRatioBased(fraction))))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tracing.New(tp)
	}
	return []layer{
		{"bare", func() []grpc.ServerOption { return nil }, func() []grpc.DialOption { return nil }, func(h http.Handler) http.Handler { return h }},
		{"handwritten", handwritten, clientChain, requestid.Middleware},
		{"middleware", func() []grpc.ServerOption { return middleware.ServerOptions(log, metrics.NewRegistry()) }, clientChain, requestid.Middleware},
		// The tracing instruments with a tracer that records nothing: their
		// own cost, which the binaries do not pay when tracing is off.
		traced("handwritten+tracing-noop", tracing.New(noop.NewTracerProvider())),
		traced("handwritten+tracing-10%", sampled(0.1)),
		traced("handwritten+tracing-all", sampled(1)),
	}
}

func start(b *testing.B, l layer) *grpc.ClientConn {
	return grpctest.NewServer(b, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	}, l.server()...).NewClient(b, l.client()...)
}

// BenchmarkRecommend is one Recommend call, through each layer.
func BenchmarkRecommend(b *testing.B) {
	for _, l := range layers(b) {
		b.Run(l.name, func(b *testing.B) {
			client := pb.NewRecommendationsClient(start(b, l))
			ctx := context.Background()
			req := &pb.RecommendationRequest{MaxResults: 3}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Recommend(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHomepage is one homepage, served in memory, with its call to
// Recommendations over bufconn, through each layer.
func BenchmarkHomepage(b *testing.B) {
	for _, l := range layers(b) {
		b.Run(l.name, func(b *testing.B) {
			page := l.page(marketplace.New(start(b, l), homepage.Options{}))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
