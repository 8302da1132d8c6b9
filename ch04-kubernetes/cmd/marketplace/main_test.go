package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver/dns"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) {
	// gRPC looks a name up again at most every 30 s; the round-robin test
	// has no time to spare. (Set before any resolver is built.)
	dns.SetMinResolutionInterval(time.Millisecond)
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// page returns the handler main builds, on the connection main makes.
func page(t *testing.T, target string) http.Handler {
	t.Helper()
	conn, err := newConn(target)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return newHandler(conn, discard, new(atomic.Bool))
}

// The series' homepage, through the dns resolver as main dials.
func TestHomepage(t *testing.T) {
	booksuite.Homepage(t, func(t *testing.T, target string) http.Handler { return page(t, "dns:///"+target) })
}

// /healthz says 503 once the process drains, so that probes stop sending
// visitors while the page still serves those already on their way.
func TestHealthzSays503WhileDraining(t *testing.T) {
	conn, err := newConn("dns:///127.0.0.1:1")
	require.NoError(t, err)
	defer conn.Close()
	var draining atomic.Bool
	h := newHandler(conn, discard, &draining)
	draining.Store(true)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the page still serves")
}

// /healthz answers without asking Recommendations: here there is none.
func TestHealthzDoesNotAskRecommendations(t *testing.T) {
	h := page(t, "dns:///127.0.0.1:1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
}

// The zero http.Server waits for ever at every phase of a connection,
// and net/http falls back on ReadTimeout for the headers and for the wait
// between requests when they have no bound of their own. newHTTPServer,
// the server main runs, gives each phase its own. They take seconds to a
// minute to elapse, so this test reads them; the binaries' tests check
// from outside that unfinished headers and a body that never comes are cut.
func TestHTTPServerBoundsEveryPhase(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), discard)
	assert.Equal(t, 5*time.Second, srv.ReadHeaderTimeout, "the headers (Slowloris): unset, ReadTimeout's 10 s")
	assert.Equal(t, 10*time.Second, srv.ReadTimeout, "the whole request: unset, a body trickled byte by byte holds the connection for ever")
	assert.Equal(t, 10*time.Second, srv.WriteTimeout, "the answer: unset, a client that never reads holds the connection for ever")
	assert.Greater(t, srv.WriteTimeout, time.Second, "a page waits up to a second for books, and is still written")
	assert.Equal(t, time.Minute, srv.IdleTimeout, "between a visitor's pages: unset, ReadTimeout's 10 s")
	assert.Equal(t, 16<<10, srv.MaxHeaderBytes)
}

// Round robin the way Kubernetes does it, without a cluster: replicas on
// 127.0.0.2, .3 and .4, one DNS name for them (a headless Service), and
// newConn through gRPC's real dns resolver. Every replica gets calls; a
// replica added to the name gets calls once connections have aged
// and the name was looked up again; a replica removed stops getting them.
func TestRoundRobinFollowsTheDNSName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2-127.0.0.5, which only Linux routes to loopback by default")
	}
	port, backends := startBackends(t, "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
	zone := newZone("recommendations.test.", "127.0.0.2", "127.0.0.3", "127.0.0.4")
	authority := zone.serve(t)

	conn, err := newConn(fmt.Sprintf("dns://%s/recommendations.test:%d", authority, port))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewRecommendationsClient(conn)
	ctx := testwait.Context(t)
	call := func() {
		_, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 1})
		require.NoError(t, err)
	}
	callUntil := func(what string, done func() bool) {
		for !done() {
			if ctx.Err() != nil {
				t.Fatalf("still not %s after %v; calls per replica: %v", what, testwait.Bound, counts(backends))
			}
			call()
		}
	}
	// Calls until every replica in the name has had some; bounded. (With
	// pick_first, every call would go to .2.)
	callUntil("spread over .2, .3 and .4", func() bool {
		return backends["127.0.0.2"].Load() > 0 && backends["127.0.0.3"].Load() > 0 && backends["127.0.0.4"].Load() > 0
	})
	assert.Zero(t, backends["127.0.0.5"].Load(), "not in the name, so no calls")

	zone.set("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
	callUntil("sending calls to the new .5", func() bool { return backends["127.0.0.5"].Load() > 0 })

	// Removed from the name, .2 stops getting calls: wait until a run of
	// 40 calls (10 each, were .2 still one of four) gives it none.
	zone.set("127.0.0.3", "127.0.0.4", "127.0.0.5")
	callUntil("done with the removed .2", func() bool {
		before := backends["127.0.0.2"].Load()
		for range 40 {
			call()
		}
		return backends["127.0.0.2"].Load() == before
	})
	assert.Zero(t, zone.txt.Load(), "the client's service config is its own: DNS is never asked for one")
}

// startBackends starts a Recommendations server on each address, on one
// port, closing connections after 100 ms so that clients look the name up
// again often; it returns the port and a call counter per address.
func startBackends(t *testing.T, addrs ...string) (int, map[string]*atomic.Int64) {
	t.Helper()
	var port int
	var lis []net.Listener
	for attempt := 0; len(lis) < len(addrs); attempt++ {
		require.Less(t, attempt, 20, "no port free on all of %v", addrs)
		for _, l := range lis {
			_ = l.Close()
		}
		lis = nil
		first, err := net.Listen("tcp", addrs[0]+":0")
		require.NoError(t, err)
		port = first.Addr().(*net.TCPAddr).Port
		lis = append(lis, first)
		for _, a := range addrs[1:] {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", a, port))
			if err != nil {
				break // taken on this address: try another port
			}
			lis = append(lis, l)
		}
	}
	counters := map[string]*atomic.Int64{}
	for i, a := range addrs {
		n := new(atomic.Int64)
		counters[a] = n
		count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			n.Add(1)
			return h(ctx, req)
		}
		s := grpc.NewServer(grpc.UnaryInterceptor(count),
			grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 100 * time.Millisecond, MaxConnectionAgeGrace: time.Second}))
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
		served := make(chan error, 1)
		go func() { served <- s.Serve(lis[i]) }()
		t.Cleanup(func() {
			s.Stop()
			assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
		})
	}
	return port, counters
}

func counts(backends map[string]*atomic.Int64) map[string]int64 {
	out := map[string]int64{}
	for a, n := range backends {
		out[a] = n.Load()
	}
	return out
}

// zone is a DNS server with one name, whose A records the test changes.
type zone struct {
	name dnsmessage.Name
	mu   sync.Mutex
	ips  []net.IP
	txt  atomic.Int64 // TXT queries: where gRPC would look for a service config
}

func newZone(name string, ips ...string) *zone {
	z := &zone{name: dnsmessage.MustNewName(name)}
	z.set(ips...)
	return z
}

func (z *zone) set(ips ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.ips = nil
	for _, ip := range ips {
		z.ips = append(z.ips, net.ParseIP(ip).To4())
	}
}

// serve answers DNS queries over UDP on a loopback port until the test
// ends, and returns the address.
func (z *zone) serve(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed at the end of the test
			}
			if answer, err := z.answer(buf[:n]); err == nil {
				_, _ = pc.WriteTo(answer, from)
			}
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// answer builds the reply to a query: the A records of the zone's name,
// and an empty answer to anything else (AAAA, TXT).
func (z *zone) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeTXT {
		z.txt.Add(1)
	}
	rcode := dnsmessage.RCodeSuccess
	if q.Name != z.name {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Name == z.name && q.Type == dnsmessage.TypeA {
		z.mu.Lock()
		ips := z.ips
		z.mu.Unlock()
		for _, ip := range ips {
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0}
			if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte(ip)}); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}
