// Package containers_test runs the bookstore in real containers: both
// images built from the real Dockerfile, the real compose file brought up
// with three Recommendations replicas, and everything checked from
// outside, as the series' integration test does and further. It needs a
// Docker engine and Compose, and skips, saying which is missing, without
// them. Nothing it creates outlives it (internal/dockertest).
package containers_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// page gets url and returns the status, the number of <li> items, and
// whether the page says recommendations are unavailable.
func page(t *testing.T, url string) (status, items int, degraded bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.Count(string(body), "<li>"), strings.Contains(string(body), "Recommendations are unavailable")
}

// assertWhole checks that url serves the homepage with its three books.
func assertWhole(t *testing.T, url string) {
	t.Helper()
	status, items, degraded := page(t, url)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 3, items, "three books")
	assert.False(t, degraded)
}

// serving asks the health service at addr about the whole server.
func serving(t *testing.T, addr string) bool {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

func TestComposeStack(t *testing.T) {
	compose := dockertest.Engine(t)
	args := dockertest.BaseImages(t, "ch04-kubernetes/Dockerfile")
	// Both images from the one Dockerfile: the second build reuses the
	// first one's build stage. A tag of the test's own, which the compose
	// file takes from BOOKSTORE_TAG, and a free port for the page.
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, "ch04-kubernetes/Dockerfile", svc, "bookstore/"+svc+":"+tag, args...)
	}
	port := dockertest.FreePort(t)
	s := dockertest.NewStack(t, compose, "ch04-kubernetes/docker-compose.yaml", "BOOKSTORE_TAG="+tag, "MARKETPLACE_PORT="+port)
	url := "http://127.0.0.1:" + port + "/"

	// Three replicas from the start; compose starts the Marketplace once
	// they are healthy.
	s.Run("up", "--detach", "--no-build", "--scale", "recommendations=3")
	dockertest.WaitUntil(t, "the Marketplace answers /healthz", func() bool {
		resp, err := http.Get(url + "healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	assertWhole(t, url)

	replicas := s.Containers("recommendations")
	require.Len(t, replicas, 3)
	t.Run("every replica is healthy and SERVING", func(t *testing.T) {
		for _, id := range replicas {
			dockertest.WaitUntil(t, "replica "+id+" is healthy", func() bool {
				return strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.Health.Status}}", id)) == "healthy"
			})
			assert.True(t, serving(t, net.JoinHostPort(s.IP(id), "50051")), "replica %s is SERVING", id)
		}
	})

	t.Run("the Marketplace logs JSON and found Recommendations by name", func(t *testing.T) {
		mkt := s.Containers("marketplace")
		require.Len(t, mkt, 1)
		var found bool
		for _, line := range strings.Split(strings.TrimSpace(dockertest.Docker(t, "logs", mkt[0])), "\n") {
			var fields map[string]any
			if !assert.NoError(t, json.Unmarshal([]byte(line), &fields), "not JSON: %q", line) {
				continue
			}
			found = found || fields["recommendations"] == "recommendations:50051"
		}
		assert.True(t, found, "a log line says the Marketplace uses recommendations:50051")
	})

	// Round robin through Docker's DNS: every replica carries a share of
	// the calls. Pausing one replica freezes it without closing its
	// connection, so the Marketplace's calls that go to it time out, and
	// their pages are degraded: some of six pages, if it gets a share.
	t.Run("every replica gets calls", func(t *testing.T) {
		for _, id := range replicas {
			dockertest.Docker(t, "pause", id)
			degradedPages := 0
			for range 6 {
				status, _, degraded := page(t, url)
				assert.Equal(t, http.StatusOK, status)
				if degraded {
					degradedPages++
				}
			}
			dockertest.Docker(t, "unpause", id)
			assert.Positive(t, degradedPages, "replica %s got none of six calls", id)
		}
	})

	// One replica stops (SIGTERM, as in a rolling update): the others carry
	// the page, whole.
	t.Run("a stopped replica leaves the page whole", func(t *testing.T) {
		dockertest.Docker(t, "stop", "--time", "10", replicas[0])
		for range 12 {
			assertWhole(t, url)
		}
	})

	// All of Recommendations stops: the page degrades, and stays up.
	t.Run("no replica left: the page degrades", func(t *testing.T) {
		s.Run("stop", "recommendations")
		status, items, degraded := page(t, url)
		assert.Equal(t, http.StatusOK, status)
		assert.Zero(t, items)
		assert.True(t, degraded)
	})
}
