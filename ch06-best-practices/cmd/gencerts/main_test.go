package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// gencerts builds the binary (once per test process).
func gencerts(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	return proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/gencerts")[0]
}

// dates matches the dates gencerts prints, which change every day.
var dates = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)

// The reader's session: make the certificates, then renew them.
func TestGencerts(t *testing.T) {
	bin := gencerts(t)
	dir := filepath.Join(t.TempDir(), "certs")

	stdout, stderr, code := proctest.Run(t, bin, []string{"-dir", dir})
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	assert.Equal(t, fmt.Sprintf(`wrote %[1]s/ca.crt and ca.key (Bookstore CA, expires DATE)
wrote %[1]s/recommendations.crt and recommendations.key (recommendations, expires DATE)
wrote %[1]s/marketplace.crt and marketplace.key (marketplace, expires DATE)
`, dir), dates.ReplaceAllString(stdout, "DATE"))
	assertMode(t, dir, os.ModeDir|0o700)
	for _, name := range []string{"ca", "recommendations", "marketplace"} {
		assertMode(t, filepath.Join(dir, name+".crt"), 0o644)
		assertMode(t, filepath.Join(dir, name+".key"), 0o600)
	}
	ca := read(t, filepath.Join(dir, "ca.crt"))
	server := read(t, filepath.Join(dir, "recommendations.crt"))
	assertMTLS(t, dir, "localhost")

	stdout, stderr, code = proctest.Run(t, bin, []string{"-dir", dir, "-days", "1", "-server-names", "recommendations"})
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, fmt.Sprintf(`reused %[1]s/ca.crt and ca.key (Bookstore CA, expires DATE)
wrote %[1]s/recommendations.crt and recommendations.key (recommendations, expires DATE)
wrote %[1]s/marketplace.crt and marketplace.key (marketplace, expires DATE)
`, dir), dates.ReplaceAllString(stdout, "DATE"))
	assert.Equal(t, ca, read(t, filepath.Join(dir, "ca.crt")), "the CA is kept")
	assert.NotEqual(t, server, read(t, filepath.Join(dir, "recommendations.crt")), "the server certificate is new")
	assertMTLS(t, dir, "recommendations")
}

// assertMTLS checks that the files in dir work together: a server with
// recommendations.crt accepts a client with marketplace.crt, both trusting
// ca.crt, when the client dials authority.
func assertMTLS(t *testing.T, dir, authority string) {
	t.Helper()
	file := func(name string) string { return filepath.Join(dir, name) }
	serverCreds, err := tlsconfig.Server(tlsconfig.Files{Cert: file("recommendations.crt"), Key: file("recommendations.key"), CA: file("ca.crt")}, nil)
	require.NoError(t, err)
	clientCreds, err := tlsconfig.Client(tlsconfig.Files{Cert: file("marketplace.crt"), Key: file("marketplace.key"), CA: file("ca.crt")}, nil)
	require.NoError(t, err)
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) {
		healthpb.RegisterHealthServer(r, health.NewServer())
	}, grpc.Creds(serverCreds))
	conn := s.NewClient(t, grpc.WithTransportCredentials(clientCreds), grpc.WithAuthority(authority))
	_, err = healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	assert.NoError(t, err, "mTLS with the generated files, dialing %s", authority)
}

func TestGencertsBadInput(t *testing.T) {
	bin := gencerts(t)
	for _, args := range [][]string{{"-days", "0"}, {"-days", "many"}, {"certs"}} {
		dir := filepath.Join(t.TempDir(), "certs")
		stdout, stderr, code := proctest.Run(t, bin, append([]string{"-dir", dir}, args...))
		assert.Equal(t, 2, code, "%v", args)
		assert.Empty(t, stdout)
		assert.NoDirExists(t, dir, "nothing written")
		assert.NotEmpty(t, stderr)
	}
}

// Half a CA is never overwritten: its other half may be the one services
// trust.
func TestGencertsHalfACA(t *testing.T) {
	bin := gencerts(t)
	for _, half := range []string{"ca.crt", "ca.key"} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, half), []byte("kept"), 0o600))
		stdout, stderr, code := proctest.Run(t, bin, []string{"-dir", dir})
		assert.Equal(t, 1, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "no such file")
		assert.Equal(t, []byte("kept"), read(t, filepath.Join(dir, half)))
	}
}

// read returns the contents of file.
func read(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return data
}

// assertMode asserts the mode of the file at path.
func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, info.Mode(), "mode of %s", path)
}
