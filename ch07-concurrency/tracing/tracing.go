// Package tracing follows a page across both services with OpenTelemetry:
// a span for the Marketplace's HTTP request, one for its gRPC call, one for
// Recommendations' handling of it, all one trace, since the trace context
// travels in the call's metadata (W3C traceparent). It is built for a busy
// service: a page whose trace is not sampled starts one span, not three.
package tracing

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Propagator reads and writes the W3C traceparent header.
var Propagator = propagation.TraceContext{}

const scope = "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/tracing"

// Start returns a TracerProvider for the service named service, configured
// from the standard OpenTelemetry variables read with getenv:
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
//     names the collector spans are exported to, over OTLP/gRPC (http://
//     for no TLS); with neither set, tracing is off: the provider is a
//     no-op one, which records nothing, yet still passes on a trace context
//     that comes with a request, so a trace through this service stays
//     whole;
//   - OTEL_TRACES_SAMPLER_ARG is the fraction of traces recorded (default
//     1), with the parentbased_traceidratio sampler: a trace that starts
//     here is recorded with that probability, and a call that comes with a
//     trace context follows its caller's decision, so that a trace is
//     recorded whole or not at all;
//   - OTEL_SERVICE_NAME overrides service.
//
// shutdown exports the spans still queued, for five seconds at most.
func Start(ctx context.Context, service string, getenv func(string) string) (tp trace.TracerProvider, shutdown func(), err error) {
	endpoint := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	if endpoint == "" {
		return noop.NewTracerProvider(), func() {}, nil
	}
	fraction := 1.0
	if arg := getenv("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
		if fraction, err = strconv.ParseFloat(arg, 64); err != nil || fraction < 0 || fraction > 1 {
			return nil, nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a fraction from 0 to 1", arg)
		}
	}
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, err
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(fraction))),
		// Spans wait in a queue (2,048) and leave in batches as soon as a
		// batch is full, off the request's path; a span that finds the queue
		// full is dropped rather than slowing a page. 200 spans are about
		// 25 KB of OTLP: gRPC marshals a message over 32 KB into a 1 MB
		// buffer, which the default batch (512) paid for at every export.
		sdktrace.WithBatcher(exporter, sdktrace.WithMaxExportBatchSize(200)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cmp.Or(getenv("OTEL_SERVICE_NAME"), service)))),
	)
	return sdk, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sdk.Shutdown(ctx)
	}, nil
}

// Handler traces every request h serves, continuing a trace the request's
// traceparent header names, in a span named after the route the request
// matched ("GET /{$}"). It is otelhttp.NewHandler cut down to what a trace
// shows: otelhttp computes a dozen attributes and its metrics for every
// request, recorded or not.
func Handler(tp trace.TracerProvider, h http.Handler) http.Handler {
	tracer, kind := tp.Tracer(scope), []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := start(ctx, tracer, r.Method, kind)
		defer span.End()
		r = r.WithContext(ctx)
		h.ServeHTTP(w, r)
		if r.Pattern != "" && span.IsRecording() {
			span.SetName(r.Pattern)
		}
	})
}

// UnaryServer (and UnaryClient) are interceptors rather than otelgrpc's
// stats handlers: with any stats handler gRPC builds an event for each
// stage of every RPC, and otelgrpc builds attributes and metric labels
// before it knows whether the span is recorded: 79 allocations a page.
//
// UnaryServer traces every unary RPC a server handles, continuing the
// trace the caller's metadata names. It goes first in the chain, so that
// the interceptors after it (logging) see the span.
func UnaryServer(tp trace.TracerProvider) grpc.UnaryServerInterceptor {
	tracer, kind := tp.Tracer(scope), []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx = Propagator.Extract(ctx, &carrier{ctx})
		ctx, span := start(ctx, tracer, strings.TrimPrefix(info.FullMethod, "/"), kind)
		resp, err := handler(ctx, req)
		end(span, err)
		return resp, err
	}
}

// UnaryClient traces every unary RPC a client makes, inside the span of
// its context (the page's), and sends the trace context in the call's
// metadata, recorded or not: the server follows the caller's decision.
func UnaryClient(tp trace.TracerProvider) grpc.UnaryClientInterceptor {
	tracer, kind := tp.Tracer(scope), []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, span := start(ctx, tracer, strings.TrimPrefix(method, "/"), kind)
		md := carrier{ctx}
		Propagator.Inject(ctx, &md)
		err := invoker(md.ctx, method, req, reply, cc, opts...)
		end(span, err)
		return err
	}
}

// start starts a span of kind (options made once: made at each call, they
// would cost an allocation a span), unless ctx's trace is not sampled: the
// sampler follows the parent, so that span would record nothing, and ctx
// passes the trace context on as it is. A page not sampled starts one span.
func start(ctx context.Context, tracer trace.Tracer, name string, kind []trace.SpanStartOption) (context.Context, trace.Span) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsSampled() {
		return ctx, noop.Span{}
	}
	return tracer.Start(ctx, name, kind...)
}

// end ends a recorded span with the call's status code. Every attribute is
// copied three times on its way out (span, snapshot, OTLP message), so a
// span carries only what its name and timing do not say.
func end(span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("rpc.response.status_code", status.Code(err).String()))
	if err != nil {
		span.SetStatus(codes.Error, status.Convert(err).Message())
	}
	span.End()
}

// carrier carries a trace context in gRPC metadata: Get reads the call's
// incoming metadata, Set adds to its outgoing metadata.
type carrier struct{ ctx context.Context }

func (c *carrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c *carrier) Set(key, value string) { c.ctx = metadata.AppendToOutgoingContext(c.ctx, key, value) }
func (*carrier) Keys() []string          { return nil }
