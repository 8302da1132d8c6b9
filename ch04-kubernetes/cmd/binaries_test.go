// Package cmd_test runs chapter 4's binaries as real processes: the
// compose stack's behaviour without Docker, the stream flood's memory
// bound, and the page in a real headless browser.
package cmd_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// binaries builds the three binaries (once per test process).
func binaries(t *testing.T) (recommendations, marketplace, healthcheck string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace", pkg+"healthcheck")
	return bins[0], bins[1], bins[2]
}

// The binaries log JSON when their output is not a terminal, as here.
var (
	servingGRPC = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP = regexp.MustCompile(`"msg":"serving HTTP",.*"url":"([^"]+)"`)
)

// start starts Recommendations and a Marketplace using it, on loopback
// ports the kernel picks, and returns them with the gRPC address and the
// page's URL.
func start(t *testing.T, recBin, mktBin string) (rec, mkt *proctest.Process, grpcAddr, url string) {
	t.Helper()
	rec = proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0"})
	grpcAddr = rec.WaitFor(t, servingGRPC)[1]
	mkt = proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", grpcAddr})
	url = mkt.WaitFor(t, servingHTTP)[1]
	return rec, mkt, grpcAddr, url
}

// What the compose stack does, with real processes and no Docker: both
// healthy by their healthchecks, the page whole; Recommendations stops and
// its health check fails while the page degrades (and the Marketplace
// stays healthy: it can still serve); SIGTERM ends both with exit code 0;
// and every log line is JSON.
func TestBookstoreAsProcesses(t *testing.T) {
	recBin, mktBin, hcBin := binaries(t)
	rec, mkt, grpcAddr, url := start(t, recBin, mktBin)
	healthcheck := func(args ...string) (string, int) {
		_, stderr, code := proctest.Run(t, hcBin, append(args, "-timeout", "30s"))
		return stderr, code
	}

	_, code := healthcheck("-grpc", grpcAddr)
	assert.Equal(t, 0, code, "Recommendations is SERVING")
	_, code = healthcheck("-http", url+"healthz")
	assert.Equal(t, 0, code, "the Marketplace answers /healthz")
	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())
	stderr, code := healthcheck("-grpc", grpcAddr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Unavailable")
	status, body = proctest.Get(t, url)
	homepagetest.AssertDegraded(t, status, body)
	_, code = healthcheck("-http", url+"healthz")
	assert.Equal(t, 0, code, "the Marketplace still serves pages, so it stays healthy")

	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM), mkt.Output())
	for _, p := range []*proctest.Process{rec, mkt} {
		lines := strings.Split(p.Output(), "\n")
		assert.GreaterOrEqual(t, len(lines), 2)
		for _, line := range lines {
			assert.True(t, json.Valid([]byte(line)), "not JSON: %q", line)
		}
		assert.Contains(t, p.Output(), `"msg":"stopped"`)
	}
	assert.Contains(t, mkt.Output(), `"msg":"recommendations unavailable"`)

	_, code = healthcheck()
	assert.Equal(t, 2, code, "bad usage: neither -grpc nor -http")
}

// rss returns the resident memory of process pid, in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	require.NotNil(t, m)
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return kb << 10
}

// The flood that took chapter 3's server to 1.2 GB: 100,000 RPCs that send
// their headers and never their request, over as many connections as the
// server accepts. The limits hold it to MaxConcurrentStreams a connection,
// refuse the rest at once, and keep the server's memory bounded; it still
// answers health checks, and stops within its shutdown timeout.
func TestStreamFloodIsBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's memory from /proc")
	}
	recBin, _, hcBin := binaries(t)
	rec := proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0"})
	addr := rec.WaitFor(t, servingGRPC)[1]
	before := rss(t, rec.Pid())

	limits := grpcserver.DefaultLimits()
	const flood = 100_000
	perConn := flood / limits.MaxConnections
	var conns []*rawh2.Conn
	refused := 0
	for range limits.MaxConnections {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conn, err := rawh2.Open(c, time.Now().Add(proctest.Timeout))
		require.NoError(t, err)
		conns = append(conns, conn)
		for range perConn {
			require.NoError(t, conn.Start("/Recommendations/Recommend"))
		}
		seen, err := conn.Sync()
		require.NoError(t, err)
		refused += seen.Refused
	}
	open := limits.MaxConnections * int(limits.MaxConcurrentStreams)
	assert.Equal(t, limits.MaxConnections*perConn-open, refused, "all but MaxConcurrentStreams a connection refused")

	after := rss(t, rec.Pid())
	t.Logf("%d RPCs flooded, %d held open: server memory %d MB before, %d MB after", flood, open, before>>20, after>>20)
	const bound = 100 << 20
	assert.Less(t, after, int64(bound), "the flood is held within 100 MB")

	// Every slot is taken; one flood connection goes away, and a health
	// check gets in.
	require.NoError(t, conns[0].Close())
	_, stderr, code := proctest.Run(t, hcBin, []string{"-grpc", addr, "-timeout", "30s"})
	assert.Equal(t, 0, code, stderr)

	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())
	assert.Contains(t, rec.Output(), "stopped after the shutdown timeout")
	for _, c := range conns[1:] {
		_ = c.Close()
	}
}

// chromium finds Debian's chromium, or another Chrome, on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const why = "no chromium on PATH (Debian: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(why + "; CI installs it")
	}
	t.Skip(why)
	return ""
}

// The page as a reader sees it, in a real headless Chromium: the title,
// the heading and three books; with Recommendations down, after a reload,
// the notice and no books.
func TestPageInAHeadlessBrowser(t *testing.T) {
	recBin, mktBin, _ := binaries(t)
	path := chromium(t)
	rec, mkt, _, url := start(t, recBin, mktBin)

	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox)...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	items := `[...document.querySelectorAll("li")].map(li => li.textContent)`

	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(url)))
	title, err := chromedp.Run(browser, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "Online Books For You", title)
	heading, err := chromedp.Run(browser, chromedp.Text("h1"))
	require.NoError(t, err)
	assert.Equal(t, "Mystery books you may like", heading)
	books, err := chromedp.Run(browser, chromedp.Evaluate[[]string](items))
	require.NoError(t, err)
	assert.ElementsMatch(t, homepagetest.MysteryTitles(), books)

	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	require.NoError(t, chromedp.Do(browser, chromedp.Reload()))
	notice, err := chromedp.Run(browser, chromedp.Text(".notice"))
	require.NoError(t, err)
	assert.Contains(t, notice, homepagetest.Notice)
	books, err = chromedp.Run(browser, chromedp.Evaluate[[]string](items))
	require.NoError(t, err)
	assert.Empty(t, books)

	require.NoError(t, chromedp.Cancel(browser))
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
}
