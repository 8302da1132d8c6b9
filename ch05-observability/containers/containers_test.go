// Package containers_test brings up chapter 5's compose file whole: both
// services built from the chapter's Dockerfile, Prometheus and Jaeger. This
// machine cannot pull their official images, so they are stand-ins, the
// same programs from this machine (Debian's Prometheus, the Jaeger that
// tools/jaeger/go.mod builds) in images of their own, run with the compose
// file's own mounts, ports and network. It needs a Docker engine with
// Compose, Prometheus and Jaeger, and skips, saying which is missing,
// without them (CI has them all). Nothing it creates outlives it.
package containers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/promtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url, reporting a connection refused as status 0.
func get(url string) (status int, body string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The stack as a reader brings it up: pages with their books; Prometheus
// scraping both services by their names on the compose network, with the
// chapter's rules loaded; Jaeger holding each page's trace across both
// services, sent to it by name as well.
func TestComposeStackWithPrometheusAndJaeger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs containers")
	}
	compose := dockertest.Engine(t)
	prometheus := proctest.Need(t, "prometheus", "Debian: apt-get install prometheus")
	jaeger := proctest.Need(t, "jaeger", "go build -modfile=tools/jaeger/go.mod -o $(go env GOPATH)/bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger")
	args := dockertest.BaseImages(t, "ch05-observability/Dockerfile")
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, "ch05-observability/Dockerfile", svc, "bookstore/"+svc+":"+tag, args...)
	}
	// As the official images run them: Prometheus on the mounted
	// /etc/prometheus/prometheus.yml, Jaeger with its built-in all-in-one
	// configuration (OTLP on 4317, the query API and UI on 16686).
	dockertest.StandIn(t, "bookstore-standin/prometheus:"+tag, prometheus,
		[]string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"}, nil, "/prometheus")
	// Jaeger's own image sets JAEGER_LISTEN_HOST: without it, Jaeger
	// listens on loopback only, out of the other containers' reach.
	dockertest.StandIn(t, "bookstore-standin/jaeger:"+tag, jaeger, nil, []string{"JAEGER_LISTEN_HOST=0.0.0.0"})

	page, prom, ui := dockertest.FreePort(t), dockertest.FreePort(t), dockertest.FreePort(t)
	s := dockertest.NewStack(t, compose, "ch05-observability/docker-compose.yaml", "BOOKSTORE_TAG="+tag,
		"MARKETPLACE_PORT="+page, "PROMETHEUS_PORT="+prom, "JAEGER_UI_PORT="+ui,
		"PROMETHEUS_IMAGE=bookstore-standin/prometheus:"+tag, "JAEGER_IMAGE=bookstore-standin/jaeger:"+tag)
	s.Run("up", "--detach", "--no-build")

	// No healthchecks in chapter 5's images: the page degrades until
	// Recommendations answers.
	dockertest.WaitUntil(t, "a page with its three books", func() bool {
		status, body := get("http://127.0.0.1:" + page + "/")
		return status == http.StatusOK && strings.Count(body, "<li>") == 3
	})
	for range 4 {
		status, body := get("http://127.0.0.1:" + page + "/")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, 3, strings.Count(body, "<li>"))
	}

	query := func(q string) []map[string]string { return promtest.Query("127.0.0.1:"+prom, q) }
	dockertest.WaitUntil(t, "Prometheus to scrape both services by name, and count the pages", func() bool {
		up := query(`sum by (job, instance) (up)`)
		served := query(`sum by (job) (grpc_server_handled_total{grpc_code="OK"}) > 0`)
		pages := query(`sum by (job) (http_requests_total{code="200"}) > 0`)
		return len(up) == 2 && up[0]["value"] == "1" && up[1]["value"] == "1" && len(served) == 1 && len(pages) == 1
	})
	instances := []string{}
	for _, m := range query(`up`) {
		instances = append(instances, m["job"]+" "+m["instance"])
	}
	assert.ElementsMatch(t, []string{"recommendations recommendations:9090", "marketplace marketplace:9091"}, instances)
	// Rules by group, and their health: "unknown" until the group's first
	// evaluation (every 15 s), "ok" once it has run without error.
	rules := func() (groups map[string]int, health map[string]bool) {
		status, body := get("http://127.0.0.1:" + prom + "/api/v1/rules")
		var resp struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Health string `json:"health"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		require.Equal(t, http.StatusOK, status)
		require.NoError(t, json.Unmarshal([]byte(body), &resp))
		groups, health = map[string]int{}, map[string]bool{}
		for _, g := range resp.Data.Groups {
			for _, r := range g.Rules {
				health[r.Health] = true
			}
			groups[g.Name] = len(g.Rules)
		}
		return groups, health
	}
	dockertest.WaitUntil(t, "every rule evaluated", func() bool { _, health := rules(); return !health["unknown"] })
	groups, health := rules()
	assert.Equal(t, map[string]bool{"ok": true}, health, "every rule evaluated without error")
	assert.Equal(t, map[string]int{"bookstore.recording": 5, "bookstore.alerts": 4}, groups, "rules.yaml, mounted")

	dockertest.WaitUntil(t, "Jaeger to hold a page's trace across both services", func() bool {
		status, body := get("http://127.0.0.1:" + ui + "/api/traces?service=marketplace&limit=20")
		var resp struct {
			Data []struct {
				Processes map[string]struct {
					ServiceName string `json:"serviceName"`
				} `json:"processes"`
				Spans []json.RawMessage `json:"spans"`
			} `json:"data"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
			return false
		}
		for _, tr := range resp.Data {
			services := map[string]bool{}
			for _, p := range tr.Processes {
				services[p.ServiceName] = true
			}
			if len(tr.Spans) == 3 && services["marketplace"] && services["recommendations"] {
				return true
			}
		}
		return false
	})
}
