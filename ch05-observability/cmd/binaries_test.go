// Package cmd_test runs chapter 5's binaries as real processes and reads
// what they tell an operator: /metrics over HTTP, their log lines, and
// their traces, received by an OTLP collector the test serves.
package cmd_test

import (
	"context"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch05-observability/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

var (
	servingGRPC    = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP    = regexp.MustCompile(`"msg":"serving HTTP",.*"url":"([^"]+)"`)
	servingMetrics = regexp.MustCompile(`"msg":"serving metrics","addr":"([^"]+)"`)
)

// bookstore starts both binaries on loopback ports the kernel picks (and
// Recommendations logging every call), with env added to their environment, and returns them with the page's URL
// and each one's /metrics URL.
func bookstore(t *testing.T, env ...string) (rec, mkt *proctest.Process, page, recMetrics, mktMetrics string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	rec = proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-level", "debug"}, env...)
	grpcAddr := rec.WaitFor(t, servingGRPC)[1]
	recMetrics = "http://" + rec.WaitFor(t, servingMetrics)[1] + "/metrics"
	mkt = proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", grpcAddr}, env...)
	page = mkt.WaitFor(t, servingHTTP)[1]
	mktMetrics = "http://" + mkt.WaitFor(t, servingMetrics)[1] + "/metrics"
	return rec, mkt, page, recMetrics, mktMetrics
}

// getPage fetches the page with a request ID.
func getPage(t *testing.T, url, id string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set(requestid.Header, id)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	homepagetest.AssertHome(t, resp.StatusCode, string(body))
	assert.Equal(t, id, resp.Header.Get(requestid.Header))
}

// scrape fetches url and parses it as Prometheus' text format, as
// Prometheus does.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	status, body := proctest.Get(t, url)
	require.Equal(t, http.StatusOK, status)
	parser := expfmt.NewTextParser(model.LegacyValidation) // the classic metric names
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "not Prometheus' text format:\n%s", body)
	samples := map[string]float64{}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(families))...)
	require.NoError(t, err)
	for _, s := range vec {
		samples[s.Metric.String()] = float64(s.Value)
	}
	return samples
}

// After a known sequence (three pages, each with a request ID), /metrics
// on each process counts three Recommend calls, on its own port and in
// Prometheus' format; and Recommendations' log has one line per call,
// with the page's request ID.
func TestMetricsAndLogsFromOutside(t *testing.T) {
	rec, mkt, page, recMetrics, mktMetrics := bookstore(t)
	ids := []string{"page-1", "page-2", "page-3"}
	for _, id := range ids {
		getPage(t, page, id)
	}

	server := scrape(t, recMetrics)
	assert.EqualValues(t, 3, server[`grpc_server_requests_total{code="OK", method="/Recommendations/Recommend"}`], "server counts")
	assert.EqualValues(t, 3, server[`grpc_server_request_duration_seconds_count{method="/Recommendations/Recommend"}`])
	assert.Contains(t, server, `go_goroutines`, "the Go runtime's metrics too")
	assert.Contains(t, server, `process_cpu_seconds_total`)
	client := scrape(t, mktMetrics)
	assert.EqualValues(t, 3, client[`grpc_client_requests_total{code="OK", method="/Recommendations/Recommend"}`], "client counts")

	status, _ := proctest.Get(t, strings.TrimSuffix(page, "/")+"/metrics")
	assert.Equal(t, http.StatusNotFound, status, "metrics are not on the public port")

	require.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	for _, id := range ids {
		assert.Regexp(t, `"msg":"rpc","method":"/Recommendations/Recommend","code":"OK","duration":\d+,"peer":"127.0.0.1:\d+","request_id":"`+id+`"`, rec.Output())
	}
}

// collector is an OTLP trace collector, as Jaeger or the OpenTelemetry
// Collector run one: it keeps every span it is sent, with the name of the
// service that sent it.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string][]*tracepb.Span // by service.name
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
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

// span returns the one span of service of the given kind.
func (c *collector) span(t *testing.T, service string, kind tracepb.Span_SpanKind) *tracepb.Span {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var found []*tracepb.Span
	for _, s := range c.spans[service] {
		if s.GetKind() == kind {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "%s spans of kind %v among %v", service, kind, c.spans)
	return found[0]
}

// Over the wire: both binaries export their spans over OTLP to the
// collector the standard environment variables name, and the three spans
// of one page are one trace: the Marketplace's HTTP request, its gRPC call
// inside it, and Recommendations' handling of that call.
func TestTraceAcrossBothProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	c := &collector{spans: map[string][]*tracepb.Span{}}
	addr := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) { coltracepb.RegisterTraceServiceServer(s, c) })
	rec, mkt, page, _, _ := bookstore(t, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+addr)
	getPage(t, page, "traced-page")
	// A stop flushes what the processes have not exported yet.
	require.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM), mkt.Output())
	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())

	httpSpan := c.span(t, "marketplace", tracepb.Span_SPAN_KIND_SERVER)
	call := c.span(t, "marketplace", tracepb.Span_SPAN_KIND_CLIENT)
	handled := c.span(t, "recommendations", tracepb.Span_SPAN_KIND_SERVER)
	traceID := hex.EncodeToString(httpSpan.GetTraceId())
	assert.Equal(t, traceID, hex.EncodeToString(call.GetTraceId()))
	assert.Equal(t, traceID, hex.EncodeToString(handled.GetTraceId()), "one trace across both processes")
	assert.Empty(t, httpSpan.GetParentSpanId(), "the page's request starts the trace")
	assert.Equal(t, httpSpan.GetSpanId(), call.GetParentSpanId())
	assert.Equal(t, call.GetSpanId(), handled.GetParentSpanId())
	assert.Equal(t, "Recommendations/Recommend", handled.GetName())
}
