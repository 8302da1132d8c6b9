// Package tracing follows one page request across both services with
// OpenTelemetry: a span for the Marketplace's HTTP request (otelhttp), one
// for its gRPC call (otelgrpc's client stats handler) and one for
// Recommendations' handling of it (otelgrpc's server stats handler), all
// in one trace, because the trace context travels in the call's metadata
// (W3C traceparent). A tracing backend (Jaeger, the OpenTelemetry
// Collector) then shows where a slow page spent its time.
//
// gRPC's stats handlers see every RPC without taking a place in the
// interceptor chain, so tracing composes with the chapter's interceptors
// whatever their order.
package tracing

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Tracing instruments gRPC servers, gRPC clients and HTTP handlers with one
// TracerProvider and the W3C trace-context propagator. The zero value
// instruments nothing.
type Tracing struct {
	tp   trace.TracerProvider // nil: tracing is off
	prop propagation.TextMapPropagator
}

// New returns Tracing that records spans with tp.
func New(tp trace.TracerProvider) Tracing {
	return Tracing{tp: tp, prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
}

// ServerOption traces every RPC a gRPC server handles, continuing the
// trace the caller's metadata names.
func (t Tracing) ServerOption() grpc.ServerOption {
	if t.tp == nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop)))
}

// DialOption traces every RPC a client makes, and sends the trace context
// in each call's metadata.
func (t Tracing) DialOption() grpc.DialOption {
	if t.tp == nil {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(t.tp), otelgrpc.WithPropagators(t.prop)))
}

// Handler traces every request h serves, continuing a trace the request's
// traceparent header names. The span is named after the route the request
// matched (GET /{$}), or operation where none did.
func (t Tracing) Handler(h http.Handler, operation string) http.Handler {
	if t.tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, operation, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop))
}

// endpointVars names the standard environment variables that name a collector
// for traces; the OTLP exporter reads them (and the other OTEL_EXPORTER_OTLP_*
// ones) itself.
var endpointVars = []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}

// FromEnvironment returns Tracing for the service named service. When one
// of the endpointVars variables is set, spans are exported over OTLP/gRPC to
// the collector it names, and shutdown flushes them. When none is, tracing
// is off: nothing is instrumented, so it costs nothing (with a no-op
// tracer the instruments still cost about a sixth of the page's
// throughput: see docs/05). OTEL_SERVICE_NAME overrides service.
func FromEnvironment(ctx context.Context, service string, getenv func(string) string) (t Tracing, shutdown func(context.Context) error, err error) {
	configured := false
	for _, v := range endpointVars {
		configured = configured || getenv(v) != ""
	}
	if !configured {
		return Tracing{}, func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return Tracing{}, nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return Tracing{}, nil, errors.Join(err, exporter.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return New(tp), tp.Shutdown, nil
}
