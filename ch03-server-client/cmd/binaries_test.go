// Package cmd_test runs chapter 3's binaries as real processes: the flags
// and environment of DESIGN's contract, the client's output and exit codes,
// and a clean exit on SIGTERM.
package cmd_test

import (
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch03-server-client/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// binaries builds the four binaries (once per test process).
func binaries(t *testing.T) (recommendations, marketplace, client, bookstore string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace", pkg+"client", pkg+"bookstore")
	return bins[0], bins[1], bins[2], bins[3]
}

var (
	servingGRPC = regexp.MustCompile(`serving gRPC on (\S+)`)
	servingHTTP = regexp.MustCompile(`serving on (http://\S+)`)
)

func TestServicesAndClientAsProcesses(t *testing.T) {
	recBin, mktBin, clientBin, _ := binaries(t)

	rec := proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0"})
	grpcAddr := rec.WaitFor(t, servingGRPC)[1]

	stdout, stderr, code := proctest.Run(t, clientBin, []string{"-addr", grpcAddr, "-category", "SCIENCE_FICTION", "-max", "10"})
	assert.Equal(t, 0, code, stderr)
	assert.ElementsMatch(t, []string{
		"4  The Hitchhiker's Guide to the Galaxy",
		"5  Ender's Game",
		"6  The Dune Chronicles",
	}, strings.Split(strings.TrimSpace(stdout), "\n"))

	stdout, stderr, code = proctest.Run(t, clientBin, []string{"-addr", grpcAddr, "-category", "99"})
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Equal(t, `Recommend failed: code = NotFound, message = "Category not found"`+"\n", stderr)

	_, stderr, code = proctest.Run(t, clientBin, []string{"-addr", grpcAddr, "-max", "-1"})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "code = InvalidArgument")

	_, stderr, code = proctest.Run(t, clientBin, []string{"-category", "poetry"})
	assert.Equal(t, 2, code, "bad usage")
	assert.Contains(t, stderr, `unknown category "poetry"`)

	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", grpcAddr})
	url := mkt.WaitFor(t, servingHTTP)[1]
	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM), mkt.Output())
	assert.Contains(t, mkt.Output(), "marketplace: stopped")
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())
	assert.Contains(t, rec.Output(), "recommendations: stopped")

	// With Recommendations gone, the client reports Unavailable.
	_, stderr, code = proctest.Run(t, clientBin, []string{"-addr", grpcAddr})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "code = Unavailable")
}

// The Marketplace finds Recommendations at $RECOMMENDATIONS_HOST:50051,
// ignores RECOMMENDATIONS_PORT, and lets -recommendations override both.
func TestMarketplaceTargetFromEnvironmentAndFlag(t *testing.T) {
	_, mktBin, _, _ := binaries(t)
	target := regexp.MustCompile(`recommendations at (\S+)`)
	env := []string{"RECOMMENDATIONS_HOST=127.0.0.2", "RECOMMENDATIONS_PORT=tcp://10.0.0.7:50051"}

	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0"}, env...)
	assert.Equal(t, "127.0.0.2:50051", mkt.WaitFor(t, target)[1])
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))

	mkt = proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", "127.0.0.3:6000"}, env...)
	assert.Equal(t, "127.0.0.3:6000", mkt.WaitFor(t, target)[1])
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
}

// With nothing listening where Recommendations should be, the Marketplace
// still serves its page, degraded, and logs why.
func TestMarketplaceDegradesWithoutRecommendations(t *testing.T) {
	_, mktBin, _, _ := binaries(t)
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", closedPort(t)})
	url := mkt.WaitFor(t, servingHTTP)[1]

	status, body := proctest.Get(t, url)
	homepagetest.AssertDegraded(t, status, body)
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	assert.Contains(t, mkt.Output(), "recommendations unavailable", "the error is logged")
}

// The Marketplace's one connection outlives a restart of Recommendations:
// while the service is down the page degrades, and once it listens again on
// the same address the books come back, with no restart of the Marketplace.
func TestMarketplaceRecoversWhenRecommendationsRestarts(t *testing.T) {
	recBin, mktBin, _, _ := binaries(t)
	rec := proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0"})
	grpcAddr := rec.WaitFor(t, servingGRPC)[1]
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", grpcAddr})
	url := mkt.WaitFor(t, servingHTTP)[1]

	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	status, body = proctest.Get(t, url)
	homepagetest.AssertDegraded(t, status, body)

	rec = proctest.Start(t, recBin, []string{"-addr", grpcAddr})
	rec.WaitFor(t, servingGRPC)
	// gRPC reconnects with a growing backoff, so the first page views may
	// still be degraded: wait, bounded, for the condition "books are back".
	deadline := time.After(proctest.Timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(homepagetest.Items(body)) == 0 {
		select {
		case <-tick.C:
			status, body = proctest.Get(t, url)
		case <-deadline:
			t.Fatalf("no books %v after Recommendations restarted; marketplace output:\n%s", proctest.Timeout, mkt.Output())
		}
	}
	homepagetest.AssertHome(t, status, body)
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
}

// closedPort returns a loopback address nothing listens on: one the kernel
// just handed out and that was closed again.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

func TestBookstoreAsOneProcess(t *testing.T) {
	_, _, clientBin, storeBin := binaries(t)
	store := proctest.Start(t, storeBin, []string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"})
	grpcAddr := store.WaitFor(t, servingGRPC)[1]
	url := store.WaitFor(t, regexp.MustCompile(`open (http://\S+)`))[1]

	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	stdout, _, code := proctest.Run(t, clientBin, []string{"-addr", grpcAddr, "-category", "SELF_HELP", "-max", "1"})
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^[789]  \S`, stdout)

	assert.Equal(t, 0, store.Signal(t, syscall.SIGINT), store.Output())
	assert.Contains(t, store.Output(), "bookstore: stopped")
}
