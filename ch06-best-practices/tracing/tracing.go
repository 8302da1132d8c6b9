// Package tracing follows a page across both services with OpenTelemetry:
// the Marketplace's HTTP request, its gRPC call and Recommendations'
// handling of it are one trace, since the trace context travels in the
// call's metadata (W3C traceparent). A span not recorded costs almost nothing.
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

const scope = "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tracing"

// Start returns a TracerProvider for service, configured from the standard
// OpenTelemetry variables read with getenv: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/gRPC; with neither, a no-op provider
// that still passes on an incoming trace context), OTEL_TRACES_SAMPLER_ARG
// (the fraction of new traces recorded, default 1; a call with a trace
// context follows its caller) and OTEL_SERVICE_NAME. shutdown exports the
// spans still queued, for five seconds at most.
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
		// Spans leave in batches, off the request's path; a full queue drops
		// a span rather than slow a page.
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cmp.Or(getenv("OTEL_SERVICE_NAME"), service)))),
	)
	return sdk, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sdk.Shutdown(ctx)
	}, nil
}

// Handler traces every request h serves, continuing the traceparent's
// trace, in a span named after the route matched. (otelhttp computes a
// dozen attributes and its metrics per request, recorded or not.)
func Handler(tp trace.TracerProvider, h http.Handler) http.Handler {
	tracer := tp.Tracer(scope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		h.ServeHTTP(w, r)
		if r.Pattern != "" && span.IsRecording() {
			span.SetName(r.Pattern)
		}
	})
}

// UnaryServer traces every unary RPC a server handles, continuing the
// caller's trace. An interceptor, not otelgrpc's stats handler, which costs
// 79 allocations a page recorded or not. It goes first in the chain.
func UnaryServer(tp trace.TracerProvider) grpc.UnaryServerInterceptor {
	tracer := tp.Tracer(scope)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx = Propagator.Extract(ctx, incoming{ctx})
		ctx, span := tracer.Start(ctx, strings.TrimPrefix(info.FullMethod, "/"), trace.WithSpanKind(trace.SpanKindServer))
		resp, err := handler(ctx, req)
		end(span, err)
		return resp, err
	}
}

// UnaryClient traces every unary RPC a client makes, inside the page's
// span, and sends the trace context, recorded or not.
func UnaryClient(tp trace.TracerProvider) grpc.UnaryClientInterceptor {
	tracer := tp.Tracer(scope)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, span := tracer.Start(ctx, strings.TrimPrefix(method, "/"), trace.WithSpanKind(trace.SpanKindClient))
		var kv outgoing
		if Propagator.Inject(ctx, &kv); len(kv) > 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, kv...)
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		end(span, err)
		return err
	}
}

// end ends a recorded span with the call's status code, and no more
// attributes: each is copied three times on its way out.
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

// incoming and outgoing carry a trace context in gRPC metadata.
type incoming struct{ ctx context.Context }

func (c incoming) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (incoming) Set(string, string) {}
func (incoming) Keys() []string     { return nil }

type outgoing []string

func (o *outgoing) Get(string) string     { return "" }
func (o *outgoing) Set(key, value string) { *o = append(*o, key, value) }
func (o *outgoing) Keys() []string        { return nil }
