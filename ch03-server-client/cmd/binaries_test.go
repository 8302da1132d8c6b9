// Package cmd_test runs chapter 3's binaries as real processes: the flags
// and environment of DESIGN's contract, the client's output and exit codes,
// and a clean exit on SIGTERM.
package cmd_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch03-server-client/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// items returns the text of every <li> on the page, in order.
func items(body string) []string {
	var items []string
	for _, part := range strings.Split(body, "<li>")[1:] {
		text, _, _ := strings.Cut(part, "</li>")
		items = append(items, text)
	}
	return items
}

// assertHome checks a healthy homepage: three distinct mystery books.
func assertHome(t *testing.T, status int, body string) {
	t.Helper()
	assert.Equal(t, 200, status)
	assert.Contains(t, body, "<title>Online Books For You</title>")
	assert.ElementsMatch(t, []string{"The Maltese Falcon", "Murder on the Orient Express", "The Hound of the Baskervilles"}, items(body), body)
}

// assertDegraded checks the page without books: still a 200, and a notice.
func assertDegraded(t *testing.T, status int, body string) {
	t.Helper()
	assert.Equal(t, 200, status)
	assert.Empty(t, items(body), body)
	assert.Contains(t, body, "Recommendations are unavailable right now")
}

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
	assertHome(t, status, body)

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
	assertDegraded(t, status, body)
	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	assert.Contains(t, mkt.Output(), "recommendations unavailable", "the error is logged")
}

// The Marketplace's one connection outlives a restart of Recommendations,
// however long the outage: the page is degraded meanwhile (and the log says
// so once, not once per page), and within about a second of the restart the
// books are back, with no restart of the Marketplace.
//
// gRPC's default reconnect backoff grows to 1.6 times the last wait after
// each failed attempt (1 s, 1.6 s, 2.6 s, 4.1 s, 6.6 s, 10.5 s...), so after
// a long outage a restarted service would wait many seconds for the next
// attempt; the Marketplace's waits stop growing at 1 s. To make that
// visible without timing anything, the test holds Recommendations' port
// during the outage with a listener that refuses the gRPC handshake and
// counts the attempts, and beside it a client with gRPC's default backoff
// tries a second such listener: over the same outage, the Marketplace
// must try far more often. Then it restarts Recommendations right after an
// attempt, the worst moment, and the books come back.
func TestMarketplaceRecoversQuicklyAfterALongOutage(t *testing.T) {
	recBin, mktBin, _, _ := binaries(t)
	rec := proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0"})
	grpcAddr := rec.WaitFor(t, servingGRPC)[1]
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-recommendations", grpcAddr})
	url := mkt.WaitFor(t, servingHTTP)[1]
	status, body := proctest.Get(t, url)
	assertHome(t, status, body)

	require.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	attempts := refuseHandshakes(t, grpcAddr)
	reference := refuseHandshakes(t, closedPort(t))
	ref, err := grpc.NewClient(reference.addr, grpc.WithTransportCredentials(insecure.NewCredentials())) // gRPC's defaults
	require.NoError(t, err)
	defer ref.Close()
	call := func(c *grpc.ClientConn) { // fails at once; starts connecting if the connection idles
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_ = c.Invoke(ctx, "/Recommendations/Recommend", new(emptypb.Empty), new(emptypb.Empty))
	}
	call(ref)

	// Visitors keep coming during the outage: every page is degraded.
	const minOutage, minAttempts = 10 * time.Second, 5
	outage := time.Now()
	pages := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for seen := 0; time.Since(outage) < minOutage || seen < minAttempts; {
		select {
		case <-attempts.accepted:
			seen++
		case <-tick.C:
			status, body = proctest.Get(t, url)
			assertDegraded(t, status, body)
			pages++
			call(ref) // the reference gets a call too, as the Marketplace gets pages
		case <-time.After(proctest.Timeout):
			t.Fatalf("no reconnection attempt for %v", proctest.Timeout)
		}
	}
	reference.stop()
	// Expected over 10 s: about 12 attempts against 5; jitter moves each by one or two.
	assert.GreaterOrEqual(t, attempts.count.Load(), reference.count.Load()+4,
		"the Marketplace retries far more often than gRPC's default backoff would")
	// Restart right after an attempt: the longest wait for the next one.
	select {
	case <-attempts.accepted: // an older attempt, still in the buffer
	default:
	}
	select {
	case <-attempts.accepted:
	case <-time.After(proctest.Timeout):
		t.Fatalf("no reconnection attempt for %v", proctest.Timeout)
	}
	attempts.stop()
	rec = proctest.Start(t, recBin, []string{"-addr", grpcAddr})
	rec.WaitFor(t, servingGRPC)
	for len(items(body)) == 0 {
		select {
		case <-tick.C:
			status, body = proctest.Get(t, url)
			if len(items(body)) == 0 {
				pages++
			}
		case <-time.After(proctest.Timeout):
			t.Fatalf("no books %v after Recommendations restarted; marketplace output:\n%s", proctest.Timeout, mkt.Output())
		}
	}
	assertHome(t, status, body)
	t.Logf("outage with %d attempts (%d with gRPC's defaults) and %d degraded pages",
		attempts.count.Load(), reference.count.Load(), pages)

	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	out := mkt.Output()
	assert.Equal(t, 1, strings.Count(out, "recommendations unavailable"), "the outage is logged once:\n%s", out)
	assert.Equal(t, 1, strings.Count(out, "recommendations available again"), "and its end once:\n%s", out)
	assert.Contains(t, out, fmt.Sprintf("pages_without_books=%d", pages))
}

// handshakeRefuser holds a TCP address, accepts every connection and closes
// it at once: to a gRPC client, a failed attempt to connect.
type handshakeRefuser struct {
	addr     string        // where it listens
	accepted chan struct{} // one value per attempt, dropped if nobody waits
	count    atomic.Int64
	stop     func()
}

func refuseHandshakes(t *testing.T, addr string) *handshakeRefuser {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	r := &handshakeRefuser{addr: lis.Addr().String(), accepted: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
			r.count.Add(1)
			select {
			case r.accepted <- struct{}{}:
			default:
			}
		}
	}()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			_ = lis.Close()
			<-done
		})
	}
	t.Cleanup(r.stop)
	return r
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
	assertHome(t, status, body)

	stdout, _, code := proctest.Run(t, clientBin, []string{"-addr", grpcAddr, "-category", "SELF_HELP", "-max", "1"})
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^[789]  \S`, stdout)

	assert.Equal(t, 0, store.Signal(t, syscall.SIGINT), store.Output())
	assert.Contains(t, store.Output(), "bookstore: stopped")
}

// Bad usage gets one line that names the mistake, and exit code 2, from
// every binary; none starts with a flag silently ignored, and none starts
// with a target it can never reach.
func TestBadUsageIsOneClearLine(t *testing.T) {
	recBin, mktBin, clientBin, storeBin := binaries(t)
	for _, tc := range []struct {
		bin  string
		args []string
		env  []string
		want string
	}{
		// The flag after a stray argument would be ignored: :5000, not 15000.
		{mktBin, []string{"extra-arg", "-addr", "127.0.0.1:15000"}, nil, `marketplace: unexpected argument "extra-arg"`},
		{recBin, []string{"extra-arg"}, nil, `recommendations: unexpected argument "extra-arg"`},
		{storeBin, []string{"-addr", ":0", "extra-arg"}, nil, `bookstore: unexpected argument "extra-arg"`},
		// A port in RECOMMENDATIONS_HOST would give [127.0.0.1:15051]:50051.
		{mktBin, nil, []string{"RECOMMENDATIONS_HOST=127.0.0.1:15051"},
			`marketplace: $RECOMMENDATIONS_HOST="127.0.0.1:15051" has a port: set it to the host alone (the port is always 50051) (marketplace -h lists the flags)`},
		{mktBin, []string{"-recommendations", ""}, nil, `marketplace: invalid value "" for flag -recommendations: want host:port`},
		{mktBin, []string{"-recommendations", "localhost"}, nil, `marketplace: invalid value "localhost" for flag -recommendations: want host:port`},
		// Without a port, gRPC would dial 443.
		{clientBin, []string{"-addr", "127.0.0.1"}, nil, `client: -addr "127.0.0.1": want host:port`},
		{clientBin, []string{"-timeout", "0"}, nil, "client: -timeout 0s: a call needs a positive deadline"},
		{clientBin, []string{"-timeout", "-1s"}, nil, "client: -timeout -1s: a call needs a positive deadline"},
		{clientBin, []string{"-max", "many"}, nil, `client: invalid value "many" for flag -max: parse error`},
		{recBin, []string{"-seed", "x"}, nil, `recommendations: invalid value "x" for flag -seed`},
	} {
		stdout, stderr, code := proctest.Run(t, tc.bin, tc.args, tc.env...)
		name := fmt.Sprintf("%s %q %q", filepath.Base(tc.bin), tc.env, tc.args)
		assert.Equal(t, 2, code, name)
		assert.Empty(t, stdout, name)
		assert.True(t, strings.HasPrefix(stderr, tc.want), "%s:\n got %q\nwant %q...", name, stderr, tc.want)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%s: one line: %q", name, stderr)
	}
}

// -h lists the flags once, each default once, and exits 0.
func TestHelp(t *testing.T) {
	recBin, mktBin, clientBin, storeBin := binaries(t)
	for _, bin := range []string{recBin, mktBin, clientBin, storeBin} {
		stdout, stderr, code := proctest.Run(t, bin, []string{"-h"})
		assert.Equal(t, 0, code, bin)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "Usage of ")
		for _, line := range strings.Split(stderr, "\n") {
			assert.LessOrEqual(t, strings.Count(line, "default"), 1, "%s: %q", filepath.Base(bin), line)
		}
	}
	_, stderr, _ := proctest.Run(t, mktBin, []string{"-h"})
	assert.Contains(t, stderr, "instead of $RECOMMENDATIONS_HOST:50051")
}

// openStuckRPC opens a Recommend RPC on addr whose request never arrives:
// the HTTP/2 headers of a gRPC call, and then nothing. A graceful stop
// would wait for it forever. It returns once the server has the stream.
func openStuckRPC(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	conn, err := rawh2.Open(c, time.Now().Add(proctest.Timeout))
	require.NoError(t, err)
	require.NoError(t, conn.Start("/Recommendations/Recommend"))
	seen, err := conn.Sync()
	require.NoError(t, err)
	require.Zero(t, seen.Refused)
}

// A client decides how long its RPC stays open. SIGTERM with an RPC that
// never finishes still ends the process, the shutdown timeout later, with
// exit code 0: the stop was asked for, and it happened.
func TestStopIsBoundedWithAnRPCLeftOpen(t *testing.T) {
	recBin, _, _, storeBin := binaries(t)
	for _, tc := range []struct {
		name string
		bin  string
		args []string
	}{
		{"recommendations", recBin, []string{"-addr", "127.0.0.1:0"}},
		{"bookstore", storeBin, []string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := proctest.Start(t, tc.bin, tc.args)
			openStuckRPC(t, p.WaitFor(t, servingGRPC)[1])
			assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
			assert.Contains(t, p.Output(), "stopped")
		})
	}
}
