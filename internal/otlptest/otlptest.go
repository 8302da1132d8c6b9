// Package otlptest is an OTLP trace collector for tests, as Jaeger or the
// OpenTelemetry Collector run one: register it on a gRPC server, point a
// service's OTLP exporter at that server, and read back the spans it sent.
package otlptest

import (
	"context"
	"maps"
	"slices"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Collector keeps every span it receives, by the name of the service that
// sent it (its resource's service.name). It is safe for concurrent use.
type Collector struct {
	coltracepb.UnimplementedTraceServiceServer

	mu    sync.Mutex
	spans map[string][]*tracepb.Span
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector { return &Collector{spans: map[string][]*tracepb.Span{}} }

// Export implements the OTLP trace service.
func (c *Collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		var service string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			c.spans[service] = append(c.spans[service], ss.GetSpans()...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// All returns the spans received so far, by service: a copy, which later
// exports do not change.
func (c *Collector) All() map[string][]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := maps.Clone(c.spans)
	for service, spans := range all {
		all[service] = slices.Clone(spans)
	}
	return all
}
