// Package containers_test runs chapter 6's bookstore in real containers
// over mutual TLS: chapter 4's Dockerfiles built with chapter 6's binaries,
// chapter 6's compose file brought up with certificates from cmd/gencerts
// mounted as secrets, and everything checked from outside. It needs a
// Docker engine and skips, saying so, without one (.ci/run prints whether
// the container tests run). Nothing it creates outlives it.
package containers_test

import (
	"context"
	"net"
	"os"
	"os/exec"
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/probe"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/shutdown"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const composeFile = "ch06-best-practices/docker-compose.yaml"

// gencerts writes the bookstore's certificates with cmd/gencerts, as a
// reader does, into a new folder, and makes the keys readable by the
// containers' user as the compose file's comment says. It returns the
// folder.
func gencerts(t *testing.T) string {
	t.Helper()
	bin := proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/gencerts")[0]
	dir := filepath.Join(t.TempDir(), "certs")
	stdout, stderr, code := proctest.Run(t, bin, []string{"-dir", dir})
	require.Equal(t, 0, code, "gencerts: %s%s", stdout, stderr)
	// What the doc tells a reader to do: only the two keys the containers
	// read become readable to their non-root user; the CA's stays 0600.
	for _, k := range []string{"recommendations.key", "marketplace.key"} {
		require.NoError(t, os.Chmod(filepath.Join(dir, k), 0o644))
	}
	return dir
}

// clientTLS returns credentials with the Marketplace's certificate,
// trusting the bookstore's CA.
func clientTLS(t *testing.T, dir string) credentials.TransportCredentials {
	t.Helper()
	creds, err := (&tlsconfig.Flags{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "marketplace.crt"), Key: filepath.Join(dir, "marketplace.key")}).ClientCredentials()
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
	dockertest.BaseImages(t)
	proxy := dockertest.ModuleProxy(t)
	certs := gencerts(t)
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, "ch04-kubernetes/"+svc+".Dockerfile", "bookstore/"+svc+":"+tag, proxy, "CHAPTER=ch06-best-practices")
	}
	port := dockertest.FreePort(t)
	s := dockertest.NewStack(t, compose, composeFile, "BOOKSTORE_TAG="+tag, "MARKETPLACE_PORT="+port, "BOOKSTORE_CERTS="+certs)
	url := "http://127.0.0.1:" + port + "/"

	s.Run("up", "--detach", "--no-build")
	dockertest.WaitUntil(t, "the Marketplace is healthy", func() bool {
		return probe.HTTP(grpctest.Context(t), url+"healthz") == nil
	})
	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)
	assert.Contains(t, s.Run("logs", "--no-color", "marketplace"), `"transport":"mtls"`)

	recs := s.Containers("recommendations")
	require.Len(t, recs, 1)
	ip := s.IP(recs[0])
	addr := net.JoinHostPort(ip, "50051")
	// Only a client with a certificate from the CA gets in, and it must
	// ask for a name the server's certificate holds.
	assert.NoError(t, recommend(t, addr, "recommendations", clientTLS(t, certs)))
	assertRefused(t, recommend(t, addr, "recommendations", insecure.NewCredentials()))
	assertRefused(t, recommend(t, addr, "recommendations.example.com", clientTLS(t, certs)))
	// The health port answers anyone, in plaintext.
	assert.NoError(t, probe.GRPC(grpctest.Context(t), net.JoinHostPort(ip, "50052"), ""))

	// The keys are in no image: mounted at run time, not built in.
	for _, key := range []string{"recommendations.key", "marketplace.key", "ca.key"} {
		body := keyBody(t, filepath.Join(certs, key))
		for _, svc := range []string{"recommendations", "marketplace"} {
			assert.False(t, imageHolds(t, "bookstore/"+svc+":"+tag, body), "%s is in the %s image", key, svc)
		}
	}

	// SIGTERM: a graceful stop, exit code 0, within the grace period.
	dockertest.Docker(t, "stop", "--time", "40", recs[0])
	assert.Equal(t, "0", strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.ExitCode}}", recs[0])))
	logs := s.Run("logs", "--no-color", "recommendations")
	assert.Contains(t, logs, `"msg":"Received shutdown signal","cause":"terminated signal received"`)
	assert.Contains(t, logs, `"msg":"Shut down gracefully"`)
	status, body = proctest.Get(t, url)
	homepagetest.AssertDegraded(t, status, body)
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

// imageHolds reports whether the saved image (its layers, uncompressed)
// contains s anywhere.
func imageHolds(t *testing.T, image, s string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockertest.Timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "save", image).Output()
	require.NoError(t, err, "docker save %s", image)
	return strings.Contains(string(out), s)
}

// The compose file's shape, which needs no engine: each service mounts its
// own certificate and key and the CA's certificate, and nothing else; no
// service mounts the CA's key; the grace period outlasts the shutdown's
// cap.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), composeFile))
	require.NoError(t, err)
	var c struct {
		Services map[string]struct {
			Secrets         []string `json:"secrets"`
			StopGracePeriod string   `json:"stop_grace_period"`
			Build           struct {
				Args map[string]string `json:"args"`
			} `json:"build"`
		} `json:"services"`
		Secrets map[string]struct {
			File string `json:"file"`
		} `json:"secrets"`
	}
	require.NoError(t, yaml.Unmarshal(data, &c))
	for name, svc := range c.Services {
		assert.ElementsMatch(t, []string{"ca.crt", name + ".crt", name + ".key"}, svc.Secrets, name)
		assert.Equal(t, "ch06-best-practices", svc.Build.Args["CHAPTER"], name)
		grace, err := time.ParseDuration(svc.StopGracePeriod)
		require.NoError(t, err, name)
		assert.Greater(t, grace, shutdown.DefaultTimeout, "%s: the grace period outlasts the shutdown", name)
	}
	assert.NotContains(t, c.Secrets, "ca.key")

	// The build context is the repository root, where gencerts writes
	// certs/: .dockerignore keeps certificates and keys out of it, so no
	// COPY can put a key into a layer.
	ignore, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), ".dockerignore"))
	require.NoError(t, err)
	lines := strings.Split(string(ignore), "\n")
	assert.Contains(t, lines, "certs")
	assert.Contains(t, lines, "**/*.key")
}
