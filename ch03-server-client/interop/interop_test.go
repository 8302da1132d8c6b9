// Package interop_test proves the Go services and the Python series' own
// services are interchangeable: the Go Marketplace against a Python
// Recommendations server, and a Python client against the Go server.
//
// The Python side needs python3 with grpcio and grpc_tools (on Debian:
// apt-get install python3-grpcio python3-grpc-tools python3-protobuf).
// Without them the tests skip, except in CI (CI set), where they fail: CI
// installs them.
package interop_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const protoDir = "../../ch02-grpc-basics/protobufs"

// python finds a Python 3 with grpcio, and sets up a temporary directory
// the way the recipe of docs/03 does in the repository: the series'
// scripts, and the Python code for the contract generated next to them by
// grpc_tools. It returns the interpreter and that directory. (A copy,
// because Python imports from a script's own directory first, where a
// reader's leftover generated files must not stand in for the test's.)
func python(t *testing.T) (interpreter, dir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Python processes")
	}
	proctest.TrackSources(t) // the scripts are inputs too
	unavailable := func(why string) {
		t.Helper()
		const hint = "apt-get install python3-grpcio python3-grpc-tools python3-protobuf"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI must install it: %s", why, hint)
		}
		t.Skipf("%s; to run the interop tests: %s", why, hint)
	}
	// Debian's packages install for /usr/bin/python3, which may not be the
	// first python3 on PATH.
	var tried []string
	for _, candidate := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(candidate)
		if err != nil {
			tried = append(tried, candidate+" (not found)")
			continue
		}
		out, err := exec.Command(path, "-c", "import grpc, grpc_tools, google.protobuf").CombinedOutput()
		if err == nil {
			interpreter = path
			break
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		tried = append(tried, fmt.Sprintf("%s (%s)", path, lines[len(lines)-1]))
	}
	if interpreter == "" {
		unavailable("no python3 with grpcio, grpc_tools and protobuf: tried " + strings.Join(tried, ", "))
	}

	dir = t.TempDir()
	for _, script := range []string{"recommendations_server.py", "recommendations_client.py"} {
		data, err := os.ReadFile(filepath.Join("python", script))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, script), data, 0o644))
	}
	gen := exec.Command(interpreter, "-m", "grpc_tools.protoc", "-I", protoDir,
		"--python_out="+dir, "--grpc_python_out="+dir, "recommendations.proto")
	out, err := gen.CombinedOutput()
	require.NoError(t, err, "%v: %s", gen.Args, out)
	return interpreter, dir
}

// The Go Marketplace and the Go client against the Python server.
func TestGoClientsWithPythonServer(t *testing.T) {
	py, dir := python(t)
	server := proctest.Start(t, py, []string{filepath.Join(dir, "recommendations_server.py"), "127.0.0.1:0"})
	addr := server.WaitFor(t, regexp.MustCompile(`serving gRPC on (\S+)`))[1]

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewRecommendationsClient(conn)

	t.Run("homepage", func(t *testing.T) {
		rec := httptest.NewRecorder()
		page := marketplace.New(client, marketplace.Options{Timeout: 10 * time.Second})
		page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, 3, strings.Count(rec.Body.String(), "<li>"), rec.Body.String())
		for _, title := range []string{"The Maltese Falcon", "Murder on the Orient Express", "The Hound of the Baskervilles"} {
			assert.Contains(t, rec.Body.String(), "<li>"+title+"</li>")
		}
	})

	t.Run("same semantics", func(t *testing.T) {
		resp, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: pb.BookCategory_SELF_HELP, MaxResults: 10})
		require.NoError(t, err)
		ids := map[int32]bool{}
		for _, b := range resp.GetRecommendations() {
			ids[b.GetId()] = true
		}
		assert.Equal(t, map[int32]bool{7: true, 8: true, 9: true}, ids)

		resp, err = client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY})
		require.NoError(t, err)
		assert.Empty(t, resp.GetRecommendations())

		_, err = client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: 99, MaxResults: 3})
		assert.Equal(t, codes.NotFound, status.Code(err))
		assert.Equal(t, "Category not found", status.Convert(err).Message())
	})

	// The one place the Go port differs on purpose: Python lets
	// random.sample raise on a negative count, which reaches the caller as
	// UNKNOWN; the Go server answers INVALID_ARGUMENT.
	t.Run("negative max_results", func(t *testing.T) {
		_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: -1})
		assert.Equal(t, codes.Unknown, status.Code(err), "err: %v", err)
	})
}

// The Python client against the Go server.
func TestPythonClientWithGoServer(t *testing.T) {
	py, dir := python(t)
	addr := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	})

	run := func(category, maxResults string) (string, int) {
		stdout, stderr, code := proctest.Run(t, py,
			[]string{filepath.Join(dir, "recommendations_client.py"), addr, category, maxResults})
		t.Logf("python client %s %s: exit %d, stderr: %q", category, maxResults, code, stderr)
		return stdout, code
	}

	out, code := run("SCIENCE_FICTION", "3")
	assert.Equal(t, 0, code)
	assert.ElementsMatch(t, []string{
		"4  The Hitchhiker's Guide to the Galaxy",
		"5  Ender's Game",
		"6  The Dune Chronicles",
	}, strings.Split(strings.TrimSpace(out), "\n"))

	out, code = run("MYSTERY", "1")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^[123]  \S`, out)

	out, code = run("99", "3")
	assert.Equal(t, 1, code)
	assert.Equal(t, "NOT_FOUND: Category not found\n", out)

	out, code = run("MYSTERY", "-1")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "INVALID_ARGUMENT: ")
}
