// Package containers_test runs chapter 6's bookstore in real containers
// over mutual TLS: the chapter's Dockerfile and compose file, brought up
// with certificates from cmd/gencerts mounted as secrets, and everything
// checked from outside. It needs a
// Docker engine and skips, saying so, without one (.ci/run prints whether
// the container tests run). Nothing it creates outlives it.
package containers_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/yaml"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const (
	composeFile = "ch06-best-practices/docker-compose.yaml"
	dockerfile  = "ch06-best-practices/Dockerfile"
	gencertsPkg = "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/gencerts"
)

// clientTLS returns credentials with the Marketplace's certificate,
// trusting the bookstore's CA.
func clientTLS(t *testing.T, dir string) credentials.TransportCredentials {
	t.Helper()
	creds, err := tlsconfig.Client(tlsconfig.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "marketplace.crt"), Key: filepath.Join(dir, "marketplace.key")}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return creds
}

// recommend makes one call to the Recommendations container at addr with
// creds, with authority as the name the client expects the server's
// certificate to hold.
func recommend(t *testing.T, addr, authority string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithAuthority(authority))
	require.NoError(t, err)
	defer conn.Close()
	_, err = pb.NewRecommendationsClient(conn).Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	return err
}

func TestComposeOverMutualTLS(t *testing.T) {
	compose := dockertest.Engine(t)
	args := dockertest.BaseImages(t, dockerfile)
	certs := dockertest.Certs(t, gencertsPkg, "recommendations.key", "marketplace.key")
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, dockerfile, svc, "bookstore/"+svc+":"+tag, args...)
	}
	port := dockertest.FreePort(t)
	s := dockertest.NewStack(t, compose, composeFile, "BOOKSTORE_TAG="+tag, "MARKETPLACE_PORT="+port, "BOOKSTORE_CERTS="+certs)
	url := "http://127.0.0.1:" + port + "/"

	s.Run("up", "--detach", "--no-build")
	// Compose starts the Marketplace after Recommendations, not once it
	// is healthy (Swarm rejects that condition): until it answers, pages
	// have no books.
	dockertest.WaitUntil(t, "the page has its three books", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK && len(booksuite.Items(string(body))) == 3
	})
	code, body := proctest.Get(t, url)
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, booksuite.Items(body), 3, body)
	assert.Contains(t, s.Run("logs", "--no-color", "marketplace"), `"mtls":true`)

	// deploy.replicas: Compose starts three.
	recs := s.Containers("recommendations")
	require.Len(t, recs, 3)
	ip := s.IP(recs[0])
	addr := net.JoinHostPort(ip, "50051")
	// Only a client with a certificate from the CA gets in, and it must
	// ask for a name the server's certificate holds.
	assert.NoError(t, recommend(t, addr, "recommendations", clientTLS(t, certs)))
	assertRefused(t, recommend(t, addr, "recommendations", insecure.NewCredentials()))
	assertRefused(t, recommend(t, addr, "recommendations.example.com", clientTLS(t, certs)))
	// The health port answers anyone, in plaintext.
	health, err := grpc.NewClient(net.JoinHostPort(ip, "50052"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer health.Close()
	resp, err := healthpb.NewHealthClient(health).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	// The keys are in no image: mounted at run time, not built in.
	for _, svc := range []string{"recommendations", "marketplace"} {
		image := dockertest.Docker(t, "save", "bookstore/"+svc+":"+tag) // its layers, uncompressed
		for _, key := range []string{"recommendations.key", "marketplace.key", "ca.key"} {
			// Not assert.NotContains: a failure would print the whole image.
			assert.False(t, strings.Contains(image, keyBody(t, filepath.Join(certs, key))), "%s is in the %s image", key, svc)
		}
	}

	// SIGTERM: a graceful stop, exit code 0, within the grace period. The
	// two replicas left serve the page: it keeps its books.
	dockertest.Docker(t, "stop", "--time", "40", recs[0])
	assert.Equal(t, "0", strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.ExitCode}}", recs[0])))
	logs := s.Run("logs", "--no-color", "recommendations")
	assert.Contains(t, logs, `"msg":"Received shutdown signal","cause":"terminated signal received"`)
	assert.Contains(t, logs, `"msg":"Shut down gracefully"`)
	code, body = proctest.Get(t, url)
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, booksuite.Items(body), 3, "two replicas left:\n%s", body)
	// With none left, the page is degraded: 200, without books.
	dockertest.Docker(t, append([]string{"stop", "--time", "40"}, recs[1:]...)...)
	for _, id := range recs[1:] {
		assert.Equal(t, "0", strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.ExitCode}}", id)), id)
	}
	require.Empty(t, s.Containers("recommendations"))
	code, body = proctest.Get(t, url)
	assert.Equal(t, http.StatusOK, code)
	assert.Empty(t, booksuite.Items(body), "a degraded page:\n%s", body)
}

// assertRefused checks that a call failed to connect.
func assertRefused(t *testing.T, err error) {
	t.Helper()
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

// keyBody returns the first line of base64 of a PEM key file: bytes that
// appear nowhere but in that key.
func keyBody(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	require.Greater(t, len(lines), 2, "%s", file)
	return lines[1]
}

// The compose file's shape, which needs no engine: each service mounts its
// own certificate and key and the CA's certificate, and nothing else; no
// service mounts the CA's key; the grace period outlasts the shutdown's
// cap. And what Swarm reads: three replicas of Recommendations, replaced
// one at a time, new before old, slowly enough for the Marketplace's DNS
// re-resolution; no virtual IPs and a port published on the host (no IPVS
// here); depends_on in the form docker stack deploy accepts.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), composeFile))
	require.NoError(t, err)
	type rollout struct {
		Parallelism   int    `json:"parallelism"`
		Delay         string `json:"delay"`
		Order         string `json:"order"`
		FailureAction string `json:"failure_action"`
	}
	var c struct {
		Services map[string]struct {
			Secrets         []string `json:"secrets"`
			StopGracePeriod string   `json:"stop_grace_period"`
			Build           struct {
				Dockerfile string `json:"dockerfile"`
				Target     string `json:"target"`
			} `json:"build"`
			Deploy struct {
				Replicas       *int     `json:"replicas"`
				EndpointMode   string   `json:"endpoint_mode"`
				UpdateConfig   *rollout `json:"update_config"`
				RollbackConfig *rollout `json:"rollback_config"`
			} `json:"deploy"`
			Ports []struct {
				Target    int    `json:"target"`
				Published string `json:"published"`
				Mode      string `json:"mode"`
			} `json:"ports"`
			DependsOn []string `json:"depends_on"` // a list: Swarm's schema has no conditions
		} `json:"services"`
		Secrets map[string]struct {
			File string `json:"file"`
		} `json:"secrets"`
	}
	require.NoError(t, yaml.Unmarshal(data, &c))
	for name, svc := range c.Services {
		assert.ElementsMatch(t, []string{"ca.crt", name + ".crt", name + ".key"}, svc.Secrets, name)
		assert.Equal(t, dockerfile, svc.Build.Dockerfile, name)
		assert.Equal(t, name, svc.Build.Target, name)
		grace, err := time.ParseDuration(svc.StopGracePeriod)
		require.NoError(t, err, name)
		// The binaries' defaults: -drain 3s, then -shutdown-timeout 30s.
		assert.Greater(t, grace, 33*time.Second, "%s: the grace period outlasts the shutdown", name)
		assert.Equal(t, "dnsrr", svc.Deploy.EndpointMode, "%s: no virtual IP, which needs IPVS", name)
	}
	assert.NotContains(t, c.Secrets, "ca.key")

	rec := c.Services["recommendations"]
	require.NotNil(t, rec.Deploy.Replicas)
	assert.Equal(t, 3, *rec.Deploy.Replicas)
	assert.Empty(t, rec.Ports, "replicas publish no port")
	for which, r := range map[string]*rollout{"update_config": rec.Deploy.UpdateConfig, "rollback_config": rec.Deploy.RollbackConfig} {
		require.NotNil(t, r, which)
		assert.Equal(t, 1, r.Parallelism, which)
		assert.Equal(t, "start-first", r.Order, "%s: the new replica runs before the old one stops", which)
		delay, err := time.ParseDuration(r.Delay)
		require.NoError(t, err, which)
		// The first new replica starts before the first old one stops, the
		// last old one stops replicas-1 delays later: by then the
		// Marketplace has re-resolved (at most every 30 s) and knows a new
		// one.
		assert.GreaterOrEqual(t, time.Duration(*rec.Deploy.Replicas-1)*delay, 35*time.Second, which)
	}
	assert.Equal(t, "rollback", rec.Deploy.UpdateConfig.FailureAction)

	mkt := c.Services["marketplace"]
	require.Len(t, mkt.Ports, 1)
	assert.Equal(t, 5000, mkt.Ports[0].Target)
	assert.Equal(t, "${MARKETPLACE_PORT:-5000}", mkt.Ports[0].Published)
	assert.Equal(t, "host", mkt.Ports[0].Mode, "published on the host, not the ingress mesh, which needs IPVS")
	assert.Equal(t, []string{"recommendations"}, mkt.DependsOn)

	// The build context is the repository root, where gencerts writes
	// certs/: .dockerignore keeps certificates and keys out of it, so no
	// COPY can put a key into a layer.
	ignore, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), ".dockerignore"))
	require.NoError(t, err)
	lines := strings.Split(string(ignore), "\n")
	assert.Contains(t, lines, "certs")
	assert.Contains(t, lines, "**/*.key")
}
