// Package monitoring_test runs chapter 5's monitoring files for real:
// promtool checks prometheus.yaml and rules.yaml and runs the rules' unit
// tests, and Debian's Prometheus, on prometheus.yaml, scrapes both
// binaries and evaluates the rules over what they export.
package monitoring_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/promtest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const pkg = "github.com/gobookstore/grpc-microservices-go/ch05-observability/cmd/"

var (
	servingGRPC    = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP    = regexp.MustCompile(`"msg":"serving HTTP",.*"url":"([^"]+)"`)
	servingMetrics = regexp.MustCompile(`"msg":"serving metrics","addr":"([^"]+)"`)
	prometheusAt   = regexp.MustCompile(`msg="Listening on" address=(\S+)`)
	prometheusUp   = regexp.MustCompile(`msg="Server is ready to receive web requests."`)
)

// The configuration and the rules are valid, and the rules do what
// rules_test.yaml says: which ratios they record, when each alert fires.
func TestRules(t *testing.T) {
	promtool := proctest.Need(t, "promtool", "Debian: apt-get install prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yaml"},
		{"check", "rules", "rules.yaml"},
		{"test", "rules", "rules_test.yaml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		assert.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// query asks Prometheus at addr for the instant value of a PromQL query,
// and returns the samples by their labels' values, joined by spaces.
func query(addr, q string) map[string]string {
	samples := map[string]string{}
	for _, m := range promtest.Query(addr, q) {
		samples[m["job"]+" "+m["grpc_code"]+m["code"]] = m["value"]
	}
	return samples
}

// Prometheus, on the chapter's prometheus.yaml with the targets moved to
// the binaries' loopback ports and the intervals to a second, scrapes both
// services, sees the pages' calls under the names the rules read, and
// records the rules over them.
func TestPrometheusScrapesTheBookstore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	prometheus := proctest.Need(t, "prometheus", "Debian: apt-get install prometheus")
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	rec := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"})
	grpcAddr, recMetrics := rec.WaitFor(t, servingGRPC)[1], rec.WaitFor(t, servingMetrics)[1]
	mkt := proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", grpcAddr})
	page, mktMetrics := mkt.WaitFor(t, servingHTTP)[1], mkt.WaitFor(t, servingMetrics)[1]

	config, err := os.ReadFile("prometheus.yaml")
	require.NoError(t, err)
	rules, err := filepath.Abs("rules.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	moved := strings.NewReplacer("recommendations:9090", recMetrics, "marketplace:9091", mktMetrics,
		"15s", "1s", "- rules.yaml", "- "+rules).Replace(string(config))
	require.NotEqual(t, string(config), moved)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yaml"), []byte(moved), 0o600))
	prom := proctest.Start(t, prometheus, []string{"--config.file=" + filepath.Join(dir, "prometheus.yaml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:0"})
	addr := prom.WaitFor(t, prometheusAt)[1]
	prom.WaitFor(t, prometheusUp)

	testwait.Until(t, "Prometheus to scrape both services", func() bool {
		up := query(addr, "up")
		return up["recommendations "] == "1" && up["marketplace "] == "1"
	})
	// Two rounds of three pages, each seen by a scrape: a rate needs the
	// counters to grow between two scrapes, and they start at the first call.
	for _, total := range []string{"3", "6"} {
		for range 3 {
			status, body := proctest.Get(t, page)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, 3, strings.Count(body, "<li>"), body)
		}
		testwait.Until(t, "a scrape after "+total+" pages", func() bool {
			return query(addr, `sum by (job, grpc_code) (grpc_server_handled_total)`)["recommendations OK"] == total &&
				query(addr, `sum by (job, grpc_code) (grpc_client_handled_total)`)["marketplace OK"] == total &&
				query(addr, `sum by (job, code) (http_requests_total)`)["marketplace 200"] == total
		})
	}
	testwait.Until(t, "the rules to record over them", func() bool {
		return query(addr, `job:grpc_client_failed:ratio_rate5m`)["marketplace "] == "0" &&
			query(addr, `grpc_service:grpc_server_failed:ratio_rate5m`)[" "] == "0"
	})
	status, body := proctest.Get(t, "http://"+addr+"/api/v1/alerts")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"status":"success","data":{"alerts":[]}}`, body, "no alert fires for a healthy bookstore")
}

// The compose file wires what the tests run: both services send their
// spans to the jaeger service's OTLP port and are scraped at the targets
// prometheus.yaml names (the binaries' default metrics ports), Prometheus
// reads this folder's two files, and Jaeger's image is the release of the
// version tools/jaeger/go.mod pins. docker-compose, if here, accepts it.
func TestComposeFile(t *testing.T) {
	type service struct {
		Image       string            `json:"image"`
		Environment map[string]string `json:"environment"`
		Volumes     []string          `json:"volumes"`
	}
	var compose struct{ Services map[string]service }
	data, err := os.ReadFile("../docker-compose.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &compose))
	for _, name := range []string{"recommendations", "marketplace"} {
		assert.Equal(t, "http://jaeger:4317", compose.Services[name].Environment["OTEL_EXPORTER_OTLP_ENDPOINT"], name)
	}
	config, err := os.ReadFile("prometheus.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(config), `targets: ["recommendations:9090"]`, "Recommendations' default -metrics-addr")
	assert.Contains(t, string(config), `targets: ["marketplace:9091"]`, "the Marketplace's default -metrics-addr")
	assert.ElementsMatch(t, []string{"./monitoring/prometheus.yaml:/etc/prometheus/prometheus.yml:ro",
		"./monitoring/rules.yaml:/etc/prometheus/rules.yaml:ro"}, compose.Services["prometheus"].Volumes)

	// Jaeger v2's releases are tagged 2.N alongside the Go module's v1.(N+63).
	mod, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), "tools", "jaeger", "go.mod"))
	require.NoError(t, err)
	pinned := regexp.MustCompile(`github.com/jaegertracing/jaeger v1\.(\d+)\.0`).FindSubmatch(mod)
	require.NotNil(t, pinned, "tools/jaeger/go.mod pins Jaeger")
	minor, err := strconv.Atoi(string(pinned[1]))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("${JAEGER_IMAGE:-jaegertracing/jaeger:2.%d.0}", minor-63), compose.Services["jaeger"].Image)

	if compose, err := exec.LookPath("docker-compose"); err == nil {
		out, err := exec.Command(compose, "-f", "../docker-compose.yaml", "config", "-q").CombinedOutput()
		assert.NoError(t, err, "docker-compose config:\n%s", out)
	}
}

// The Dockerfile downloads, in a layer of its own, the modules the two
// binaries import, no more and no fewer, and builds those binaries.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	var download, build []string
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN "); ok {
			var argv []string
			require.NoError(t, json.Unmarshal([]byte(rest), &argv), line)
			switch {
			case slices.Equal(argv[:3], []string{"go", "mod", "download"}):
				download = argv[3:]
			case slices.Equal(argv[:2], []string{"go", "build"}):
				build = argv[slices.Index(argv, "/out/")+1:]
			}
		}
	}
	assert.Equal(t, []string{"./ch05-observability/cmd/recommendations", "./ch05-observability/cmd/marketplace"}, build)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}",
		"../cmd/recommendations", "../cmd/marketplace").Output()
	require.NoError(t, err)
	var mods []string
	for _, m := range strings.Fields(string(out)) {
		if !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	assert.ElementsMatch(t, mods, download, "the modules the binaries import")
}
