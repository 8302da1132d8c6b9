// Package cmd_test runs chapter 4's binaries as real processes: the
// compose stack's behaviour without Docker (health, the page, a graceful
// stop on SIGTERM, JSON logs), the server's bounds against misbehaving
// clients, and the page in a real headless browser.
package cmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// binaries builds the three binaries (once per test process).
func binaries(t *testing.T) (recommendations, marketplace, healthcheck string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace", pkg+"healthcheck")
	return bins[0], bins[1], bins[2]
}

// The binaries log JSON; these find the address each one listens on.
var (
	servingGRPC = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP = regexp.MustCompile(`"msg":"serving HTTP","addr":"([^"]+)"`)
)

// startRecommendations starts Recommendations on a loopback port the
// kernel picks and returns it with its address.
func startRecommendations(t *testing.T, bin string) (*proctest.Process, string) {
	t.Helper()
	p := proctest.Start(t, bin, []string{"-addr", "127.0.0.1:0", "-seed", "1"})
	return p, p.WaitFor(t, servingGRPC)[1]
}

// startMarketplace starts a Marketplace using Recommendations at target,
// and returns it with its page's URL.
func startMarketplace(t *testing.T, bin, target string) (*proctest.Process, string) {
	t.Helper()
	p := proctest.Start(t, bin, []string{"-addr", "127.0.0.1:0", "-recommendations", target})
	return p, "http://" + p.WaitFor(t, servingHTTP)[1] + "/"
}

// get gets url and returns the status and the body.
func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: proctest.Timeout}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// mysteryTitles are the three books the whole page shows.
func mysteryTitles() []string {
	var titles []string
	for _, b := range booksuite.Catalog()[pb.BookCategory_MYSTERY] {
		titles = append(titles, b.GetTitle())
	}
	return titles
}

func assertWhole(t *testing.T, url string) {
	t.Helper()
	status, body := get(t, url)
	assert.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, mysteryTitles(), booksuite.Items(body), body)
}

func assertDegraded(t *testing.T, url string) {
	t.Helper()
	status, body := get(t, url)
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, booksuite.Items(body))
	assert.Contains(t, body, "Recommendations are unavailable")
}

// What the compose stack does, with real processes and no Docker: both
// pass their healthchecks, the page is whole. On SIGTERM Recommendations
// tells a health watcher NOT_SERVING while it still takes calls, then exits
// 0 once the watcher has gone; its health check fails and the page
// degrades, while the Marketplace stays healthy (it can still serve). On
// SIGTERM the Marketplace's /healthz says 503 while it still serves the
// page, then it exits 0. Every log line is JSON.
func TestBookstoreAsProcesses(t *testing.T) {
	recBin, mktBin, hcBin := binaries(t)
	rec, grpcAddr := startRecommendations(t, recBin)
	mkt, url := startMarketplace(t, mktBin, grpcAddr)
	healthcheck := func(args ...string) int {
		_, _, code := proctest.Run(t, hcBin, append(args, "-timeout", "30s"))
		return code
	}

	assert.Equal(t, 0, healthcheck("-grpc", grpcAddr), "Recommendations is SERVING")
	assert.Equal(t, 0, healthcheck("-http", url+"healthz"), "the Marketplace answers /healthz")
	assertWhole(t, url)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), proctest.Timeout)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "Recommendations"})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())
	rec.Send(t, syscall.SIGTERM)
	next, err := watch.Recv()
	require.NoError(t, err, "the watcher hears before the server stops")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	// A new connection: the listener is still open for a moment.
	fresh, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer fresh.Close()
	resp, err := pb.NewRecommendationsClient(fresh).Recommend(t.Context(), &pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err, "NOT_SERVING comes a moment before the server stops taking calls")
	assert.Len(t, resp.GetRecommendations(), 3)
	cancel()
	assert.Equal(t, 0, rec.Wait(t), rec.Output())

	assert.Equal(t, 1, healthcheck("-grpc", grpcAddr), "Recommendations is gone")
	assertDegraded(t, url)
	assert.Equal(t, 0, healthcheck("-http", url+"healthz"), "the Marketplace still serves pages, so it stays healthy")
	// On SIGTERM the Marketplace's /healthz says 503 while it still serves pages.
	mkt.Send(t, syscall.SIGTERM)
	testwait.Until(t, "/healthz to say 503", func() bool { status, _ := get(t, url+"healthz"); return status == http.StatusServiceUnavailable })
	assertDegraded(t, url)
	assert.Equal(t, 0, mkt.Wait(t), mkt.Output())

	for _, p := range []*proctest.Process{rec, mkt} {
		lines := strings.Split(strings.TrimSpace(p.Output()), "\n")
		assert.GreaterOrEqual(t, len(lines), 2)
		for _, line := range lines {
			assert.True(t, json.Valid([]byte(line)), "not JSON: %q", line)
		}
	}
	assert.Equal(t, 2, healthcheck(), "bad usage: neither -grpc nor -http")
}

// 128 clients that connect to Recommendations and never speak: the pages
// served meanwhile are all whole, and the server closes each of those
// connections once its handshake time (ConnectionTimeout) is up. The read
// below ends when the server closes; its deadline is only a bound.
func TestIdleClientsLockNobodyOut(t *testing.T) {
	t.Parallel()
	recBin, mktBin, _ := binaries(t)
	_, grpcAddr := startRecommendations(t, recBin)
	_, url := startMarketplace(t, mktBin, grpcAddr)

	var idle []net.Conn
	for range 128 {
		c, err := net.Dial("tcp", grpcAddr)
		require.NoError(t, err)
		defer c.Close()
		idle = append(idle, c)
	}
	for range 20 {
		assertWhole(t, url)
	}
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Go(func() {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(proctest.Timeout)))
			_, err := io.Copy(io.Discard, c) // the server's SETTINGS, then EOF
			if err != nil {
				assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a silent connection still open after %v", proctest.Timeout)
			}
		})
	}
	wg.Wait()
}

// The server closes every connection after MaxConnectionAge (30 s),
// politely: a GOAWAY, which makes the client reconnect and look the name
// up again. A call open before the GOAWAY has MaxConnectionAgeGrace (10 s)
// to finish: its request, sent 2 s after the GOAWAY, is still answered.
func TestConnectionsAreClosedWhenOld(t *testing.T) {
	t.Parallel()
	recBin, _, _ := binaries(t)
	_, grpcAddr := startRecommendations(t, recBin)
	c, err := net.Dial("tcp", grpcAddr)
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(2*time.Minute))
	require.NoError(t, err)
	defer conn.Close()
	id, err := conn.Begin("/Recommendations/Recommend") // its request comes after the GOAWAY
	require.NoError(t, err)
	seen, err := conn.AwaitGoAway()
	require.NoError(t, err, "no GOAWAY on a connection older than MaxConnectionAge")
	assert.True(t, seen.GoAway)
	<-time.After(2 * time.Second) // a call still running 2 s into the grace; real time, as the server's clock is
	req, err := proto.Marshal(&pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err)
	const cut = "a call open before the GOAWAY was cut 2 s after it: the grace is not 10 s"
	require.NoError(t, conn.Send(id, req), cut)
	reply, err := conn.Await(id)
	require.NoError(t, err, cut)
	assert.Equal(t, "0", reply.Status, "%+v", reply)
}

// The Marketplace's HTTP server is bounded too: a client that never
// finishes its headers is cut off (ReadHeaderTimeout), and so is one that
// never finishes the body it announced (ReadTimeout: net/http reads what
// the page left unread before it answers); headers beyond 16 KB get 431.
func TestHTTPServerIsBounded(t *testing.T) {
	t.Parallel()
	_, mktBin, _ := binaries(t)
	_, url := startMarketplace(t, mktBin, "127.0.0.1:1")

	status, _ := get(t, url+"healthz", "X-Large", strings.Repeat("a", 32<<10))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, status)

	var wg sync.WaitGroup
	for what, request := range map[string]string{
		"unfinished headers":      "GET /healthz HTTP/1.1\r\nHost: slow\r\n",                            // and never the blank line
		"a body that never comes": "GET /healthz HTTP/1.1\r\nHost: slow\r\nContent-Length: 10\r\n\r\nx", // and never the other 9 bytes
	} {
		c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, request)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(proctest.Timeout)))
		wg.Go(func() {
			_, err := io.Copy(io.Discard, c)
			if err != nil {
				assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a request with %s still open after %v", what, proctest.Timeout)
			}
		})
	}
	wg.Wait()
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

// The flood that took chapter 3's server to 1.2 GB: 100,000 calls that
// send their headers and never their request, over 40 connections. The
// server holds 100 a connection, refuses the rest at once, and stays
// within 100 MB; it still answers health checks, and on SIGTERM it stops
// within its shutdown timeout, cancelling the stuck calls.
func TestStreamFloodIsBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's memory from /proc")
	}
	recBin, _, hcBin := binaries(t)
	rec, addr := startRecommendations(t, recBin)
	before := rss(t, rec.Pid())

	const conns, perConn, maxStreams = 40, 2500, 100
	refused := 0
	for range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conn, err := rawh2.Open(c, time.Now().Add(proctest.Timeout))
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Sync() // the server's SETTINGS, with its limit
		require.NoError(t, err)
		for range perConn {
			require.NoError(t, conn.Start("/Recommendations/Recommend"))
		}
		seen, err := conn.Sync()
		require.NoError(t, err)
		refused += seen.Refused
	}
	assert.Equal(t, conns*(perConn-maxStreams), refused, "all but 100 a connection refused")
	after := rss(t, rec.Pid())
	t.Logf("%d calls flooded, %d held open: server memory %d MB before, %d MB after", conns*perConn, conns*maxStreams, before>>20, after>>20)
	assert.Less(t, after, int64(100<<20), "the flood is held within 100 MB")

	_, stderr, code := proctest.Run(t, hcBin, []string{"-grpc", addr, "-timeout", "30s"})
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM), rec.Output())
	assert.Contains(t, rec.Output(), "shutdown timeout", "the stuck calls were cancelled, and the log says so")
}

// chromium finds Debian's chromium, or another Chrome, on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	why := "none of " + strings.Join(names, ", ") + " on PATH (Debian: apt-get install chromium)"
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
	rec, grpcAddr := startRecommendations(t, recBin)
	mkt, url := startMarketplace(t, mktBin, grpcAddr)

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
	assert.ElementsMatch(t, mysteryTitles(), books)

	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	require.NoError(t, chromedp.Do(browser, chromedp.Reload()))
	notice, err := chromedp.Run(browser, chromedp.Text(".notice"))
	require.NoError(t, err)
	assert.Contains(t, notice, "Recommendations are unavailable")
	books, err = chromedp.Run(browser, chromedp.Evaluate[[]string](items))
	require.NoError(t, err)
	assert.Empty(t, books)

	require.NoError(t, chromedp.Cancel(browser))
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
}

// A mistake on the command line, an unknown flag or a stray argument
// (which would silently drop the flags after it), is one line on stderr
// and exit code 2, from both binaries.
func TestFlagMistakesAreOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	for _, bin := range proctest.Build(t, pkg+"recommendations", pkg+"marketplace") {
		for _, args := range [][]string{{"-nonesuch"}, {"stray", "-addr", "127.0.0.1:0"}} {
			_, stderr, code := proctest.Run(t, bin, args)
			assert.Equal(t, 2, code, "%q: %s", args, stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: one line, not %q", args, stderr)
		}
	}
}

// A binary that cannot listen (the address is taken) says so in one line
// and exits 1, so that its supervisor sees it failed and restarts it.
func TestAFailedListenExitsWith1(t *testing.T) {
	recBin, mktBin, _ := binaries(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	for _, run := range [][]string{
		{recBin, "-addr", addr},
		{mktBin, "-addr", addr, "-recommendations", "127.0.0.1:1"},
	} {
		_, stderr, code := proctest.Run(t, run[0], run[1:])
		assert.Equal(t, 1, code, "%q: %s", run, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: one line, not %q", run, stderr)
		assert.Contains(t, stderr, "address already in use", run)
	}
}
