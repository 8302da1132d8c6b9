// Package cost_test measures what chapter 5's instruments cost a
// Recommend call and a whole homepage, both services in one process over
// bufconn: bare, as in chapter 3; with the hand-written chain; with the
// chain and tracing off, as the binaries run without a collector; and with
// tracing that records no trace, one in ten, or every one. Besides time and
// memory, each reports cpu-ns/op, the CPU the whole process spent an
// operation, both sides and the span processor included.
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
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/recommendations"
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

// discard drops every span at the end of the pipeline: a benchmark pays
// for recording and batching spans, as a service does, not for a collector.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

func layers(b *testing.B) []layer {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil)) // formatted, as in production
	handwritten := func() []grpc.ServerOption {
		m := interceptors.NewServerMetrics(prometheus.NewRegistry())
		return []grpc.ServerOption{grpc.ChainUnaryInterceptor(interceptors.UnaryServerLogging(log), m.UnaryServer(), interceptors.UnaryServerRecovery(log))}
	}
	clientChain := func() []grpc.DialOption {
		return []grpc.DialOption{grpc.WithChainUnaryInterceptor(interceptors.NewClientMetrics(prometheus.NewRegistry()).UnaryClient())}
	}
	none := func(h http.Handler) http.Handler { return h }
	traced := func(name string, fraction float64) layer {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(fraction))),
			sdktrace.WithBatcher(discard{}, sdktrace.WithMaxQueueSize(16384), sdktrace.WithMaxExportBatchSize(2048)))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		var t trace.TracerProvider = tp
		return layer{name,
			func() []grpc.ServerOption {
				return append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(tracing.UnaryServer(t))}, handwritten()...)
			},
			func() []grpc.DialOption {
				return append(clientChain(), grpc.WithChainUnaryInterceptor(tracing.UnaryClient(t)))
			},
			func(h http.Handler) http.Handler { return tracing.Handler(t, h) }}
	}
	off, _, err := tracing.Start(context.Background(), "cost", func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	return []layer{
		{"bare", func() []grpc.ServerOption { return nil }, func() []grpc.DialOption { return nil }, none},
		{"handwritten", handwritten, clientChain, none},
		{"handwritten+tracing-off", func() []grpc.ServerOption {
			return append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(tracing.UnaryServer(off))}, handwritten()...)
		}, func() []grpc.DialOption {
			return append(clientChain(), grpc.WithChainUnaryInterceptor(tracing.UnaryClient(off)))
		}, func(h http.Handler) http.Handler { return tracing.Handler(off, h) }},
		traced("handwritten+traced-none", 0),
		traced("handwritten+traced-1in10", 0.1),
		traced("handwritten+traced-all", 1),
	}
}

func start(b *testing.B, l layer) *grpc.ClientConn {
	return grpctest.NewServer(b, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	}, l.server()...).NewClient(b, l.client()...)
}

// BenchmarkRecommend is one Recommend call, through each layer.
func BenchmarkRecommend(b *testing.B) {
	for _, l := range layers(b) {
		b.Run(l.name, func(b *testing.B) {
			client := pb.NewRecommendationsClient(start(b, l))
			req := &pb.RecommendationRequest{MaxResults: 3}
			b.ReportAllocs()
			before := cpu(b)
			for b.Loop() {
				if _, err := client.Recommend(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpu(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkHomepage is one homepage, served in memory, with its call to
// Recommendations over bufconn, through each layer.
func BenchmarkHomepage(b *testing.B) {
	for _, l := range layers(b) {
		b.Run(l.name, func(b *testing.B) {
			page := l.page(newPage(b, l))
			b.ReportAllocs()
			before := cpu(b)
			for b.Loop() {
				serve(b, page)
			}
			b.ReportMetric(float64(cpu(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

func newPage(b *testing.B, l layer) http.Handler {
	return marketplace.New(pb.NewRecommendationsClient(start(b, l)), marketplace.Options{Logger: slog.New(slog.DiscardHandler)})
}

func serve(b *testing.B, page http.Handler) {
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
}

// cpu returns the CPU time the process has used, user and system, in
// nanoseconds, all goroutines included (the batch span processor's too):
// on a machine shared with other work, a steadier measure than the time
// a loop takes.
func cpu(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkTracingAlone is what tracing adds to the Marketplace's half of
// a page, and nothing else: the page's handler and the call's interceptor,
// around a page that only makes the call and a call that does nothing.
// "bare" is that page and call without them.
func BenchmarkTracingAlone(b *testing.B) {
	off, _, err := tracing.Start(context.Background(), "cost", func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	sdk := func(fraction float64) trace.TracerProvider {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(fraction))),
			sdktrace.WithBatcher(discard{}, sdktrace.WithMaxQueueSize(16384), sdktrace.WithMaxExportBatchSize(2048)))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tp
	}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider // nil: bare
	}{{"bare", nil}, {"off", off}, {"not-sampled", sdk(0)}, {"sampled", sdk(1)}} {
		b.Run(tc.name, func(b *testing.B) {
			call, wrap := grpc.UnaryClientInterceptor(nil), func(h http.Handler) http.Handler { return h }
			if tc.tp != nil {
				call, wrap = tracing.UnaryClient(tc.tp), func(h http.Handler) http.Handler { return tracing.Handler(tc.tp, h) }
			}
			mux := http.NewServeMux() // as marketplace.New's: the span is named after the route
			mux.HandleFunc("GET /{$}", func(_ http.ResponseWriter, r *http.Request) {
				err := invoker(r.Context(), "/Recommendations/Recommend", nil, nil, nil)
				if call != nil {
					err = call(r.Context(), "/Recommendations/Recommend", nil, nil, nil, invoker)
				}
				if err != nil {
					b.Fatal(err)
				}
			})
			page, req, rec := wrap(mux), httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder()
			b.ReportAllocs()
			before := cpu(b)
			for b.Loop() {
				page.ServeHTTP(rec, req)
			}
			b.ReportMetric(float64(cpu(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
