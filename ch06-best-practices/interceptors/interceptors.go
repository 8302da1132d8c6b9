// Package interceptors holds chapter 5's interceptors, written by hand:
// logging, Prometheus metrics and panic recovery. An interceptor is called
// instead of the handler, with the handler as an argument: the Go
// counterpart of the series' grpc-interceptor classes.
package interceptors

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// UnaryServerLogging logs one line per RPC once it is over: method, code,
// duration, peer, and the trace it belongs to when traced.
func UnaryServerLogging(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		code := status.Code(err)
		if !log.Enabled(ctx, level(code)) {
			return resp, err // nothing to format
		}
		attrs := []slog.Attr{slog.String("method", info.FullMethod), slog.String("code", code.String()),
			slog.Duration("duration", time.Since(start))}
		if p, ok := peer.FromContext(ctx); ok {
			attrs = append(attrs, slog.String("peer", p.Addr.String()))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
		}
		log.LogAttrs(ctx, level(code), "rpc", attrs...)
		return resp, err
	}
}

// level: the server's failures are errors, a caller's mistakes warnings, a
// success debug (a line per call costs a tenth of the throughput).
func level(code codes.Code) slog.Level {
	switch code {
	case codes.OK:
		return slog.LevelDebug
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.OutOfRange:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Metrics counts RPCs by method and code and times them; a client counts
// what the caller saw, including calls that never reached a server.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewServerMetrics registers grpc_server_requests_total{method,code} and
// grpc_server_request_duration_seconds{method} with reg.
func NewServerMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, "server") }

// NewClientMetrics registers the grpc_client_ pair with reg.
func NewClientMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, "client") }

func newMetrics(reg prometheus.Registerer, side string) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "grpc", Subsystem: side, Name: "requests_total",
			Help: "RPCs, by method and status code."}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "grpc", Subsystem: side, Name: "request_duration_seconds",
			Help: "How long RPCs took, by method.",
			// From 100 µs (a call on one machine) to past the page's 1 s deadline.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// UnaryServer returns the server's interceptor.
func (m *Metrics) UnaryServer() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		m.duration.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
		return resp, err
	}
}

// UnaryClient returns the client's interceptor.
func (m *Metrics) UnaryClient() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
		m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
		return err
	}
}

// UnaryServerRecovery turns a panic in the handler into INTERNAL, logged
// with its stack: without it, a panic crashes the server.
func UnaryServerRecovery(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
