package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/echopb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/tracing"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// defaults fills what o leaves out as main would, logging nowhere.
func defaults(t *testing.T, o options) options {
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.metrics == nil {
		o.metrics = prometheus.NewRegistry()
	}
	if o.tracer == nil {
		o.tracer = tracingOff(t)
	}
	return o
}

// start serves newServer(o) over bufconn, with the echo service added to
// the same server (so its chain is the one main builds), and returns a
// connection to it.
func start(t *testing.T, o options) *grpc.ClientConn {
	t.Helper()
	s := newServer(defaults(t, o))
	echopb.RegisterEchoServer(s, echoServer{})
	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return grpctest.NewClient(t, lis)
}

// tracingOff returns the provider main gets when no collector is set.
func tracingOff(t *testing.T) trace.TracerProvider {
	tp, _, err := tracing.Start(t.Context(), "recommendations", func(string) string { return "" })
	require.NoError(t, err)
	return tp
}

// The series' Recommend semantics, through the server main serves.
func TestRecommend(t *testing.T) {
	booksuite.Recommend(t, func(t *testing.T) pb.RecommendationsClient {
		return pb.NewRecommendationsClient(start(t, options{}))
	})
}

// echoServer echoes, and panics on "panic": a handler that panics, on the
// server main builds. (Recommendations itself never panics.)
type echoServer struct {
	echopb.UnimplementedEchoServer
}

func (echoServer) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error) {
	if req.GetMessage() == "panic" {
		panic("the echo service panics")
	}
	return &echopb.EchoReply{Message: req.GetMessage()}, nil
}

// recorder is a slog.Handler that keeps every record's attributes.
type recorder struct {
	mu      sync.Mutex
	records []map[string]any
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, m)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// rpcs returns the "rpc" lines logged, as method and code.
func (r *recorder) rpcs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.records {
		if m["msg"] == "rpc" {
			out = append(out, m["method"].(string)+" "+m["code"].(string))
		}
	}
	return out
}

// count returns grpc_server_handled_total for the full method
// (/service/method) and code.
func count(t *testing.T, reg *prometheus.Registry, method, code string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if "/"+label(m, "grpc_service")+"/"+label(m, "grpc_method") == method && label(m, "grpc_code") == code &&
				label(m, "grpc_type") == "unary" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The chain main builds, after a known mix of calls: each call logged once
// with its code, counted by method and code, timed; the panic recovered
// into INTERNAL, and counted and logged as the INTERNAL the caller got
// (recovery sits inside metrics and logging); and the server still serving.
func TestChain(t *testing.T) {
	reg, logs := prometheus.NewRegistry(), &recorder{}
	conn := start(t, options{log: slog.New(logs), metrics: reg})
	client, echo := pb.NewRecommendationsClient(conn), echopb.NewEchoClient(conn)
	ctx := grpctest.Context(t)

	_, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err)
	_, err = client.Recommend(ctx, &pb.RecommendationRequest{Category: 99})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: -1})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = echo.Echo(ctx, &echopb.EchoRequest{Message: "panic"})
	require.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, "internal error", status.Convert(err).Message(), "the panic's value stays in the log")
	_, err = echo.Echo(ctx, &echopb.EchoRequest{Message: "still here"})
	require.NoError(t, err, "the server survives the panic")

	const rec, ech = "/Recommendations/Recommend", "/echo.Echo/Echo"
	assert.Equal(t, []float64{1, 1, 1, 1, 1}, []float64{
		count(t, reg, rec, "OK"), count(t, reg, rec, "NotFound"), count(t, reg, rec, "InvalidArgument"),
		count(t, reg, ech, "Internal"), count(t, reg, ech, "OK"),
	})
	assert.Equal(t, []string{rec + " OK", rec + " NotFound", rec + " InvalidArgument", ech + " Internal", ech + " OK"}, logs.rpcs())
	families, err := reg.Gather()
	require.NoError(t, err)
	var timed uint64
	for _, f := range families {
		if f.GetName() == "grpc_server_handling_seconds" {
			for _, m := range f.GetMetric() {
				timed += m.GetHistogram().GetSampleCount()
			}
		}
	}
	assert.EqualValues(t, 5, timed, "every call timed")
}

// With tracing on, each call is a server span, and its log line names the
// span's trace: tracing comes first in the chain, so logging sees the span.
func TestTracedCallsNameTheirTrace(t *testing.T) {
	spans, logs := tracetest.NewSpanRecorder(), &recorder{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	client := pb.NewRecommendationsClient(start(t, options{log: slog.New(logs), tracer: tp}))

	_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	require.NoError(t, err)
	ended := spans.Ended()
	require.Len(t, ended, 1)
	assert.Equal(t, "Recommendations/Recommend", ended[0].Name())
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.Len(t, logs.records, 1)
	assert.Equal(t, ended[0].SpanContext().TraceID().String(), logs.records[0]["trace_id"])
}
