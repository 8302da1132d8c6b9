// Package cmd_test runs chapter 5's binaries as real processes and reads
// what they tell an operator: /metrics over HTTP on a port of its own,
// their log lines, and their traces, received by an OTLP collector the
// test serves.
package cmd_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/otlptest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch05-observability/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

var (
	servingGRPC    = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP    = regexp.MustCompile(`"msg":"serving HTTP",.*"url":"([^"]+)"`)
	servingMetrics = regexp.MustCompile(`"msg":"serving metrics","addr":"([^"]+)"`)
)

// scrape fetches url and parses it as Prometheus' text format, as
// Prometheus does.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	status, body := proctest.Get(t, url)
	require.Equal(t, http.StatusOK, status)
	parser := expfmt.NewTextParser(model.LegacyValidation) // the classic metric names
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "not Prometheus' text format:\n%s", body)
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(families))...)
	require.NoError(t, err)
	samples := map[string]float64{}
	for _, s := range vec {
		samples[s.Metric.String()] = float64(s.Value)
	}
	return samples
}

// Both binaries, as an operator sees them, after three pages: each counts
// the three calls at /metrics on its own port (not the public one);
// Recommendations logs each call (at debug level) with the trace it
// belongs to; both stop at SIGTERM with exit code 0, exporting their spans
// as they stop; and each page is one trace across both processes.
func TestFromOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	c := otlptest.NewCollector()
	env := "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) { coltracepb.RegisterTraceServiceServer(s, c) })
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	rec := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-level", "debug"}, env)
	grpcAddr := rec.WaitFor(t, servingGRPC)[1]
	recMetrics := "http://" + rec.WaitFor(t, servingMetrics)[1] + "/metrics"
	mkt := proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", grpcAddr}, env)
	page := mkt.WaitFor(t, servingHTTP)[1]
	mktMetrics := "http://" + mkt.WaitFor(t, servingMetrics)[1] + "/metrics"

	for range 3 {
		status, body := proctest.Get(t, page)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, 3, strings.Count(body, "<li>"), body)
	}
	server := scrape(t, recMetrics)
	assert.EqualValues(t, 3, server[`grpc_server_handled_total{grpc_code="OK", grpc_method="Recommend", grpc_service="Recommendations", grpc_type="unary"}`])
	assert.EqualValues(t, 3, server[`grpc_server_handling_seconds_count{grpc_method="Recommend", grpc_service="Recommendations", grpc_type="unary"}`])
	assert.Contains(t, server, `go_goroutines`, "the Go runtime's metrics too")
	marketplace := scrape(t, mktMetrics)
	assert.EqualValues(t, 3, marketplace[`grpc_client_handled_total{grpc_code="OK", grpc_method="Recommend", grpc_service="Recommendations", grpc_type="unary"}`])
	assert.EqualValues(t, 3, marketplace[`http_requests_total{code="200", method="get"}`], "and its pages")
	assert.EqualValues(t, 3, marketplace[`http_request_duration_seconds_count`])
	status, _ := proctest.Get(t, page+"metrics")
	assert.Equal(t, http.StatusNotFound, status, "metrics are not on the public port")

	require.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM), mkt.Output())
	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())

	spans := c.All()
	require.Len(t, spans["marketplace"], 7, "a page and a call, three times, and the 404 of /metrics")
	require.Len(t, spans["recommendations"], 3)
	byID := map[string]*tracepb.Span{}
	for _, s := range append(spans["marketplace"], spans["recommendations"]...) {
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	var logged int
	for line := range strings.Lines(rec.Output()) {
		var l struct {
			Msg     string
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "rpc" {
			continue
		}
		logged++
		// The log line leads to the trace: the server's span, its parent
		// the call in the Marketplace, its parent the page, all one trace.
		var handled *tracepb.Span
		for _, s := range spans["recommendations"] {
			if hex.EncodeToString(s.GetTraceId()) == l.TraceID {
				handled = s
			}
		}
		require.NotNil(t, handled, "a span for trace %s", l.TraceID)
		call := byID[hex.EncodeToString(handled.GetParentSpanId())]
		require.NotNil(t, call)
		assert.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, call.GetKind())
		pageSpan := byID[hex.EncodeToString(call.GetParentSpanId())]
		require.NotNil(t, pageSpan)
		assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, pageSpan.GetKind())
		assert.Empty(t, pageSpan.GetParentSpanId(), "the page starts the trace")
		assert.Equal(t, handled.GetTraceId(), pageSpan.GetTraceId())
	}
	assert.Equal(t, 3, logged, "one line a call")
}

// Chapter 4's HTTP bounds hold on every HTTP server: the Marketplace's
// page and metrics, and Recommendations' metrics. Headers beyond 16 KB get
// 431, and a client that never finishes its headers (ReadHeaderTimeout)
// or the body it announced (ReadTimeout) is cut off. On SIGTERM, /healthz
// says 503 while the process drains, then it exits 0.
func TestHTTPServersAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"marketplace", pkg+"recommendations")
	mkt := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", "127.0.0.1:1"})
	page := mkt.WaitFor(t, servingHTTP)[1]
	metricsAddr := mkt.WaitFor(t, servingMetrics)[1]
	rec := proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"})
	recMetricsAddr := rec.WaitFor(t, servingMetrics)[1]
	var wg sync.WaitGroup
	for _, url := range []string{page + "healthz", "http://" + metricsAddr + "/metrics", "http://" + recMetricsAddr + "/metrics"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("X-Large", strings.Repeat("a", 32<<10))
		resp, err := (&http.Client{Timeout: proctest.Timeout}).Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode, url)

		host := strings.TrimPrefix(url, "http://")
		for what, request := range map[string]string{
			"unfinished headers":      "GET /healthz HTTP/1.1\r\nHost: slow\r\n",                            // and never the blank line
			"a body that never comes": "GET /healthz HTTP/1.1\r\nHost: slow\r\nContent-Length: 10\r\n\r\nx", // and never the other 9 bytes
		} {
			c, err := net.Dial("tcp", host[:strings.Index(host, "/")])
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, request)
			require.NoError(t, err)
			// ReadHeaderTimeout cuts the first, ReadTimeout the second: net/http
			// reads what the handler left unread before it answers.
			wg.Go(func() {
				_ = c.SetReadDeadline(time.Now().Add(proctest.Timeout))
				_, err := io.Copy(io.Discard, c)
				assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "%s: %s still open after %v", url, what, proctest.Timeout)
			})
		}
	}
	wg.Wait()

	mkt.Send(t, syscall.SIGTERM)
	testwait.Until(t, "/healthz to say 503", func() bool {
		status, _ := proctest.Get(t, page+"healthz")
		return status == http.StatusServiceUnavailable
	})
	assert.Equal(t, 0, mkt.Wait(t), mkt.Output())
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())
}

// On SIGTERM, Recommendations tells a health watcher NOT_SERVING while it
// still takes calls, on new connections too (the drain: whoever watches
// health stops sending work before the listener closes); it then exits 0
// once the watcher has gone.
func TestSIGTERMSaysNotServingWhileItStillServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations")
	rec := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-seed", "1"})
	addr := rec.WaitFor(t, servingGRPC)[1]
	ctx, cancel := context.WithTimeout(t.Context(), proctest.Timeout)
	defer cancel()
	watch, err := healthpb.NewHealthClient(dial(t, addr)).Watch(ctx, &healthpb.HealthCheckRequest{Service: "Recommendations"})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	rec.Send(t, syscall.SIGTERM)
	next, err := watch.Recv()
	require.NoError(t, err, "the watcher hears before the server stops")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	// A new connection: the listener is still open for a moment.
	resp, err := pb.NewRecommendationsClient(dial(t, addr)).Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err, "NOT_SERVING comes a moment before the server stops taking calls")
	assert.Len(t, resp.GetRecommendations(), 3)
	cancel() // the watcher goes, as a prober's call would end
	assert.Equal(t, 0, rec.Wait(t), rec.Output())
	assert.Contains(t, rec.Output(), `"msg":"stopped"`, "a graceful stop: no call was cut")
}

// dial returns a client connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// A binary that cannot listen, on its public port or its metrics' (the
// address is taken), says so in one line and exits 1, so that its
// supervisor sees it failed and restarts it.
func TestAFailedListenExitsWith1(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	for _, run := range [][]string{
		{bins[0], "-addr", addr, "-metrics-addr", "127.0.0.1:0"},
		{bins[0], "-addr", "127.0.0.1:0", "-metrics-addr", addr},
		{bins[1], "-addr", addr, "-metrics-addr", "127.0.0.1:0", "-recommendations", "127.0.0.1:1"},
		{bins[1], "-addr", "127.0.0.1:0", "-metrics-addr", addr, "-recommendations", "127.0.0.1:1"},
	} {
		_, stderr, code := proctest.Run(t, run[0], run[1:])
		assert.Equal(t, 1, code, "%q: %s", run, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: one line, not %q", run, stderr)
		assert.Contains(t, stderr, "address already in use", run)
	}
}

// A mistake on the command line, an unknown flag or a stray argument
// (which would silently drop the flags after it), is one line on stderr
// and exit code 2, from both binaries.
func TestFlagMistakesAreOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	for _, bin := range proctest.Build(t, pkg+"recommendations", pkg+"marketplace") {
		for _, args := range [][]string{{"-nonesuch"}, {"stray", "-addr", "127.0.0.1:0"}} {
			_, stderr, code := proctest.Run(t, bin, args)
			assert.Equal(t, 2, code, "%q: %s", args, stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: one line, not %q", args, stderr)
		}
	}
}
