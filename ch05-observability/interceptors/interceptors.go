// Package interceptors holds chapter 5's interceptors, written by hand:
// logging, Prometheus metrics and panic recovery.
//
// An interceptor is a function that gRPC calls instead of the handler (on
// a client, instead of sending the call), with the handler as an argument:
// it can act before and after, change the context, or answer without
// calling the handler at all. It is the Go counterpart of the series'
// grpc-interceptor classes: a decorator for every method of every service
// at once.
package interceptors

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// UnaryServerLogging logs one line per RPC, once it is over: the method,
// the status code, how long it took, who called, and the trace it belongs
// to when it is traced, so that a log line leads to its trace.
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

// level picks a log level for an RPC's outcome: the server's failures are
// errors, a caller's mistakes warnings. A success is debug: a line per call
// costs a busy service about a tenth of its throughput, and what those
// lines would say, how many and how fast, the metrics say for far less.
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

// Metrics counts RPCs by method and code and times them: how many, how
// many failed and why, how slow. A client counts what the caller saw,
// including calls that never reached a server. The names and labels are
// go-grpc-middleware's (its providers/prometheus), which gRPC dashboards
// and alerts already read: swapping in the library later changes no query.
type Metrics struct {
	handled *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

// NewServerMetrics registers grpc_server_handled_total{grpc_type,
// grpc_service,grpc_method,grpc_code} and grpc_server_handling_seconds
// {grpc_type,grpc_service,grpc_method} with reg.
func NewServerMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, "server") }

// NewClientMetrics registers grpc_client_handled_total and
// grpc_client_handling_seconds, with the same labels, with reg.
func NewClientMetrics(reg prometheus.Registerer) *Metrics { return newMetrics(reg, "client") }

func newMetrics(reg prometheus.Registerer, side string) *Metrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "grpc", Subsystem: side, Name: "handled_total",
			Help: "RPCs completed, by method and status code."}, append(labels, "grpc_code")),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "grpc", Subsystem: side, Name: "handling_seconds",
			Help: "How long RPCs took, by method.",
			// From 100 µs (a call on one machine) to past the page's 1 s deadline.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, labels),
	}
	reg.MustRegister(m.handled, m.seconds)
	return m
}

// observe records one unary call to fullMethod, "/service/method".
func (m *Metrics) observe(fullMethod string, err error, start time.Time) {
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	m.handled.WithLabelValues("unary", service, method, status.Code(err).String()).Inc()
	m.seconds.WithLabelValues("unary", service, method).Observe(time.Since(start).Seconds())
}

// UnaryServer returns the server's interceptor.
func (m *Metrics) UnaryServer() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, err, start)
		return resp, err
	}
}

// UnaryClient returns the client's interceptor.
func (m *Metrics) UnaryClient() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		m.observe(method, err, start)
		return err
	}
}

// UnaryServerRecovery turns a panic in the handler into INTERNAL for the
// caller, and logs it with its stack (and its value, which the caller does
// not see). Without it, a panic crashes the server and every call on it.
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
