package interceptors

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics counts RPCs by method and status code and records how long they
// take, with Prometheus: the answers to "how many requests, how many
// failures and why, how slow". On the server it counts what a service
// handled; on the client, what a caller saw, which includes what never
// reached a server.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewServerMetrics registers the server's metrics with reg:
// grpc_server_requests_total{method,code} and
// grpc_server_request_duration_seconds{method}.
func NewServerMetrics(reg prometheus.Registerer) *Metrics {
	return newMetrics(reg, "server", "RPCs handled")
}

// NewClientMetrics registers the client's metrics with reg:
// grpc_client_requests_total{method,code} and
// grpc_client_request_duration_seconds{method}.
func NewClientMetrics(reg prometheus.Registerer) *Metrics {
	return newMetrics(reg, "client", "RPCs made")
}

func newMetrics(reg prometheus.Registerer, side, what string) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "grpc", Subsystem: side, Name: "requests_total",
			Help: what + ", by method and status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "grpc", Subsystem: side, Name: "request_duration_seconds",
			Help: "How long " + what + " took, by method.",
			// From 100 µs (a call on one machine) to 2.5 s (past the
			// Marketplace's one-second deadline).
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *Metrics) observe(method string, start time.Time, err error) {
	m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// UnaryServer returns the server's unary interceptor.
func (m *Metrics) UnaryServer() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, start, err)
		return resp, err
	}
}

// StreamServer returns the server's stream interceptor.
func (m *Metrics) StreamServer() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		m.observe(info.FullMethod, start, err)
		return err
	}
}

// UnaryClient returns the client's unary interceptor.
func (m *Metrics) UnaryClient() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		m.observe(method, start, err)
		return err
	}
}
