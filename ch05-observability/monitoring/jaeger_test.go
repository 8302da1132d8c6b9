package monitoring_test

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

var jaegerReady = regexp.MustCompile(`Everything is ready`)

// freeAddr returns a loopback address no one listens on now, for a
// program that takes its ports from its configuration.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	return lis.Addr().String()
}

// trace is what Jaeger's query API (/api/traces) says of one trace.
type trace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// A page is one trace in a real Jaeger: both binaries export their spans
// over OTLP, as they would to the compose file's Jaeger, and Jaeger's
// query API finds the page's span in the Marketplace, its call inside it,
// and Recommendations' handling of the call inside that.
func TestJaegerShowsOnePageAcrossBothServices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	jaeger := proctest.Need(t, "jaeger", "go build -modfile=tools/jaeger/go.mod -o $(go env GOPATH)/bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger")
	otlp, query := freeAddr(t), freeAddr(t)
	j := proctest.Start(t, jaeger, []string{"--config=testdata/jaeger.yaml"},
		"JAEGER_OTLP_GRPC="+otlp, "JAEGER_QUERY_HTTP="+query, "JAEGER_QUERY_GRPC="+freeAddr(t))
	j.WaitFor(t, jaegerReady)

	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	env := "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlp
	rec := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, env)
	mkt := proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-recommendations", rec.WaitFor(t, servingGRPC)[1]}, env)
	status, body := proctest.Get(t, mkt.WaitFor(t, servingHTTP)[1])
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 3, strings.Count(body, "<li>"), body)
	// A stop exports the spans still queued: no wait for the next batch.
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))

	var found []trace
	testwait.Until(t, "Jaeger to find the page's trace with both services' spans", func() bool {
		status, body := proctest.Get(t, "http://"+query+"/api/traces?service=marketplace")
		var resp struct{ Data []trace }
		if status != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
			return false
		}
		found = resp.Data
		return len(found) == 1 && len(found[0].Spans) == 3
	})
	tr := found[0]
	// Each span as "service operation", with its parent's, in one trace.
	parents := map[string]string{}
	names := map[string]string{}
	for _, s := range tr.Spans {
		names[s.SpanID] = tr.Processes[s.ProcessID].ServiceName + " " + s.OperationName
	}
	for _, s := range tr.Spans {
		parent := "(root)"
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				parent = names[r.SpanID]
			}
		}
		parents[names[s.SpanID]] = parent
	}
	assert.Equal(t, map[string]string{
		"marketplace GET /{$}":                      "(root)",
		"marketplace Recommendations/Recommend":     "marketplace GET /{$}",
		"recommendations Recommendations/Recommend": "marketplace Recommendations/Recommend",
	}, parents)
	services := []string{}
	for _, p := range tr.Processes {
		services = append(services, p.ServiceName)
	}
	slices.Sort(services)
	assert.Equal(t, []string{"marketplace", "recommendations"}, slices.Compact(services))
}
