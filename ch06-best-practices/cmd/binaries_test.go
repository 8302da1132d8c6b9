// Package cmd_test runs chapter 6's binaries as real processes: SIGTERM
// with its drain, a call in flight and a call that never ends; and the
// bookstore over mutual TLS with certificates that cmd/gencerts writes and
// renews.
package cmd_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

var (
	servingGRPC   = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)".*"mtls":(true|false)`)
	servingHealth = regexp.MustCompile(`"msg":"serving health in plaintext","addr":"([^"]+)"`)
	servingHTTP   = regexp.MustCompile(`"msg":"serving HTTP","addr":"([^"]+)".*"mtls":(true|false)`)
	received      = regexp.MustCompile(`"msg":"Received shutdown signal","cause":"terminated signal received"`)
	graceful      = regexp.MustCompile(`"msg":"Shut down gracefully"`)
	cut           = regexp.MustCompile(`"level":"WARN","msg":"Shut down at the cap, cutting calls still in flight","timeout":"1s"`)
	renewed       = regexp.MustCompile(`"msg":"certificate renewed"`)
)

// binaries builds the chapter's binaries once per test that needs them
// (go build's cache makes the second time cheap).
func binaries(t *testing.T) (recommendations, marketplace, gencerts string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace", pkg+"gencerts")
	return bins[0], bins[1], bins[2]
}

// startRecommendations starts Recommendations on free loopback ports with
// args added, and returns it with its gRPC address.
func startRecommendations(t *testing.T, bin string, args ...string) (*proctest.Process, string) {
	t.Helper()
	p := proctest.Start(t, bin, append([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, args...))
	return p, p.WaitFor(t, servingGRPC)[1]
}

// rawCall opens a raw HTTP/2 connection to addr and starts a Recommend
// call whose request it holds back: a call in flight for as long as the
// test wants.
func rawCall(t *testing.T, addr string) (*rawh2.Conn, uint32) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(proctest.Timeout))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	id, err := conn.Begin("/Recommendations/Recommend")
	require.NoError(t, err)
	_, err = conn.Sync() // the server has opened the stream
	require.NoError(t, err)
	return conn, id
}

// The server closes every connection after MaxConnectionAge (30 s),
// politely: a GOAWAY, after which a client reconnects and looks the name up
// again, so new replicas get their share of calls.
func TestConnectionsAreClosedWhenOld(t *testing.T) {
	t.Parallel()
	recBin, _, _ := binaries(t)
	_, addr := startRecommendations(t, recBin)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(2*time.Minute))
	require.NoError(t, err)
	defer conn.Close()
	seen, err := conn.AwaitGoAway()
	require.NoError(t, err, "no GOAWAY on a connection older than MaxConnectionAge")
	assert.True(t, seen.GoAway)
}

// Recommendations' /metrics server is bounded as the Marketplace's
// servers are: headers beyond 16 KB get 431, and a scraper that never
// finishes its headers (ReadHeaderTimeout) or the body it announced
// (ReadTimeout: net/http reads what the handler left unread) is cut off.
func TestMetricsServerIsBounded(t *testing.T) {
	t.Parallel()
	recBin, _, _ := binaries(t)
	p := proctest.Start(t, recBin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"})
	addr := p.WaitFor(t, regexp.MustCompile(`"msg":"serving gRPC".*"metrics":"([^"]+)"`))[1]
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("X-Large", strings.Repeat("a", 32<<10))
	resp, err := (&http.Client{Timeout: proctest.Timeout}).Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	var wg sync.WaitGroup
	for what, request := range map[string]string{
		"unfinished headers":      "GET /metrics HTTP/1.1\r\nHost: slow\r\n",                            // and never the blank line
		"a body that never comes": "GET /metrics HTTP/1.1\r\nHost: slow\r\nContent-Length: 10\r\n\r\nx", // and never the other 9 bytes
	} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, request)
		require.NoError(t, err)
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(proctest.Timeout))
			_, err := io.Copy(io.Discard, c)
			assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "%s still open after %v", what, proctest.Timeout)
		})
	}
	wg.Wait()
}

// SIGTERM first turns health NOT_SERVING, and for -drain the server still
// takes calls, so that whoever watches health stops sending work before
// the listener closes. (A second signal then ends the process at once.)
func TestSIGTERMDrainsBeforeItStops(t *testing.T) {
	recBin, _, _ := binaries(t)
	rec, addr := startRecommendations(t, recBin, "-health-addr", "127.0.0.1:0", "-drain", "1h")
	healthAddr := rec.WaitFor(t, servingHealth)[1]
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, check(t, healthAddr))

	rec.Send(t, syscall.SIGTERM)
	rec.WaitFor(t, received)
	testwait.Until(t, "health to say NOT_SERVING", func() bool {
		return check(t, healthAddr) == healthpb.HealthCheckResponse_NOT_SERVING
	})
	// Meanwhile a new client, on a new connection, is still served.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := pb.NewRecommendationsClient(conn).Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err, "calls are still taken while draining")
	assert.Len(t, resp.GetRecommendations(), 3)

	testwait.Until(t, "a second SIGTERM to end the process", func() bool {
		rec.Send(t, syscall.SIGTERM)
		return rec.Exited()
	})
	rec.Wait(t)
	assert.True(t, rec.Signaled(), "killed by the second signal; output:\n%s", rec.Output())
}

// After the drain, a call in flight still gets its answer while new
// connections are refused, and the process exits 0 once it has.
func TestSIGTERMLetsTheCallInFlightFinish(t *testing.T) {
	recBin, _, _ := binaries(t)
	rec, addr := startRecommendations(t, recBin, "-drain", "0s")
	conn, id := rawCall(t, addr)
	rec.Send(t, syscall.SIGTERM)
	rec.WaitFor(t, received)
	_, err := conn.AwaitGoAway()
	require.NoError(t, err, "the server tells its clients it is going away")
	testwait.Until(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	})
	assert.False(t, rec.Exited(), "the process waits for the call in flight")

	req, err := proto.Marshal(&pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: 3})
	require.NoError(t, err)
	require.NoError(t, conn.Send(id, req))
	reply, err := conn.Await(id)
	require.NoError(t, err)
	require.Equal(t, "0", reply.Status, "grpc-status; message %q", reply.Message)
	var resp pb.RecommendationResponse
	require.Greater(t, len(reply.Data), 5)
	require.NoError(t, proto.Unmarshal(reply.Data[5:], &resp))
	assert.Len(t, resp.GetRecommendations(), 3)

	assert.Equal(t, 0, rec.Wait(t))
	rec.WaitFor(t, graceful)
}

// SIGTERM with a call that never finishes: it is cut at -shutdown-timeout
// and the process still exits 0, saying so.
func TestSIGTERMCutsAStuckCallAtTheCap(t *testing.T) {
	recBin, _, _ := binaries(t)
	rec, addr := startRecommendations(t, recBin, "-drain", "0s", "-shutdown-timeout", "1s")
	conn, id := rawCall(t, addr) // never sends its request
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
	rec.WaitFor(t, cut)
	assert.NotRegexp(t, graceful, rec.Output())
	reply, err := conn.Await(id)
	assert.True(t, err != nil || reply.Reset, "the stuck call ended without a reset or a closed connection: %+v", reply)
	assert.Empty(t, reply.Data)
}

// -max-in-flight 1: with one call held open, the next is refused with
// RESOURCE_EXHAUSTED, and once it is answered, calls get through again.
func TestMaxInFlightShedsTheCallOverIt(t *testing.T) {
	t.Parallel()
	recBin, _, _ := binaries(t)
	_, addr := startRecommendations(t, recBin, "-max-in-flight", "1")
	conn, id := rawCall(t, addr)
	plain, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	client := pb.NewRecommendationsClient(plain)
	_, err = client.Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	req, err := proto.Marshal(&pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err)
	require.NoError(t, conn.Send(id, req))
	reply, err := conn.Await(id)
	require.NoError(t, err)
	require.Equal(t, "0", reply.Status, "grpc-status; message %q", reply.Message)
	testwait.Until(t, "its place to free up", func() bool {
		_, err := client.Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
		return err == nil
	})
}

// gencerts writes a CA and both services' certificates into a new
// directory, and returns it.
func gencerts(t *testing.T, bin, dir string) {
	t.Helper()
	stdout, stderr, code := proctest.Run(t, bin, []string{"-dir", dir})
	require.Equal(t, 0, code, "gencerts: %s%s", stdout, stderr)
}

// The bookstore over mutual TLS, as real processes with certificates from
// cmd/gencerts: the page has its books; a Marketplace without a client
// certificate, and a plaintext client, are refused; and certificates
// renewed on disk are served without a restart.
func TestBookstoreOverMutualTLS(t *testing.T) {
	recBin, mktBin, genBin := binaries(t)
	dir := filepath.Join(t.TempDir(), "certs")
	gencerts(t, genBin, dir)
	f := func(name string) string { return filepath.Join(dir, name) }

	rec, addr := startRecommendations(t, recBin,
		"-tls-cert", f("recommendations.crt"), "-tls-key", f("recommendations.key"), "-tls-ca", f("ca.crt"))
	assert.Equal(t, "true", rec.WaitFor(t, servingGRPC)[2])
	// The Marketplace dials localhost, a name in the server's certificate.
	target := "localhost:" + port(t, addr)
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", target,
		"-tls-ca", f("ca.crt"), "-tls-cert", f("marketplace.crt"), "-tls-key", f("marketplace.key")})
	m := mkt.WaitFor(t, servingHTTP)
	assert.Equal(t, "true", m[2])
	code, body := proctest.Get(t, page(m[1]))
	assertHome(t, code, body)

	// Trusting the CA but with no certificate of its own: refused, so the
	// page renders without books. (In TLS 1.3 the client's side of the
	// handshake ends before the server checks its certificate, so what
	// the client reads of the refusal varies: tlsconfig's tests read the
	// reason on the server's side.)
	anon := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", target,
		"-tls-ca", f("ca.crt")})
	a := anon.WaitFor(t, servingHTTP)
	assert.Equal(t, "false", a[2])
	code, body = proctest.Get(t, page(a[1]))
	assertDegraded(t, code, body)

	// A plaintext client is refused too.
	plain, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	_, err = pb.NewRecommendationsClient(plain).Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	// Renewal: gencerts again reuses the CA and writes new certificates;
	// the next connection gets the new server certificate, from the same
	// process.
	before := serverSerial(t, target, dir)
	gencerts(t, genBin, dir)
	after := serverSerial(t, target, dir)
	assert.NotEqual(t, before, after)
	assert.Equal(t, certSerial(t, f("recommendations.crt")), after)
	rec.WaitFor(t, renewed)
	code, body = proctest.Get(t, page(m[1]))
	assertHome(t, code, body)

	assert.Equal(t, 0, mkt.Signal(t, syscall.SIGTERM))
	assert.Equal(t, 0, anon.Signal(t, syscall.SIGTERM))
	assert.Equal(t, 0, rec.Signal(t, syscall.SIGTERM))
}

// serverSerial calls Recommendations at target over a new mTLS connection
// with the Marketplace's certificate, and returns the serial number of
// the certificate the server presented.
func serverSerial(t *testing.T, target, dir string) string {
	t.Helper()
	creds, err := tlsconfig.Client(tlsconfig.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "marketplace.crt"), Key: filepath.Join(dir, "marketplace.key")}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds), grpc.WithDisableServiceConfig())
	require.NoError(t, err)
	defer conn.Close()
	var p peer.Peer
	_, err = pb.NewRecommendationsClient(conn).Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1}, grpc.Peer(&p))
	require.NoError(t, err)
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "a TLS connection")
	return info.State.PeerCertificates[0].SerialNumber.String()
}

// certSerial returns the serial number of the certificate in file.
func certSerial(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert.SerialNumber.String()
}

// port returns the port of a host:port address.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}

// heldRecommendations is a Recommendations service in the test process
// whose calls wait until the test releases them.
type heldRecommendations struct {
	pb.UnimplementedRecommendationsServer
	entered chan struct{}
	release chan struct{}
}

func (h *heldRecommendations) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	select { // a second call (the page reloaded) must not block here
	case h.entered <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	resp := &pb.RecommendationResponse{}
	for i := range req.GetMaxResults() {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: i + 1, Title: "Held book"})
	}
	return resp, nil
}

// SIGTERM while a page waits for its recommendations: the Marketplace
// stops taking connections, the page still gets its books (the connection
// to Recommendations closes only after the HTTP server), and the process
// exits 0.
func TestMarketplaceSIGTERMLetsThePageInFlightFinish(t *testing.T) {
	_, mktBin, _ := binaries(t)
	held := &heldRecommendations{entered: make(chan struct{}, 1), release: make(chan struct{})}
	addr := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) { pb.RegisterRecommendationsServer(s, held) })
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", addr, "-drain", "0s"})
	url := page(mkt.WaitFor(t, servingHTTP)[1])

	type page struct {
		status int
		body   string
	}
	pages := make(chan page, 1)
	go func() {
		status, body := get(url)
		pages <- page{status, body}
	}()
	testwait.Recv(t, held.entered, "the page's call to reach Recommendations")
	mkt.Send(t, syscall.SIGTERM)
	mkt.WaitFor(t, received)
	testwait.Until(t, "the Marketplace refuses new connections", func() bool {
		c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	})
	assert.False(t, mkt.Exited())

	close(held.release)
	p := testwait.Recv(t, pages, "the page in flight")
	assert.Equal(t, http.StatusOK, p.status)
	assert.Equal(t, 3, strings.Count(p.body, "<li>"), "the page has its books:\n%s", p.body)
	assert.Equal(t, 0, mkt.Wait(t))
	out := mkt.Output()
	assert.Less(t, strings.Index(out, "closed the connection to recommendations"), strings.Index(out, "Shut down gracefully"))
}

// The Marketplace drains too: after SIGTERM /healthz says 503 while pages
// are still served, so a load balancer stops sending visitors first.
func TestMarketplaceSIGTERMDrainsBeforeItStops(t *testing.T) {
	_, mktBin, _ := binaries(t)
	mkt := proctest.Start(t, mktBin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", "127.0.0.1:1", "-drain", "1h"})
	url := page(mkt.WaitFor(t, servingHTTP)[1])
	code, _ := proctest.Get(t, url+"healthz")
	require.Equal(t, http.StatusOK, code)
	mkt.Send(t, syscall.SIGTERM)
	mkt.WaitFor(t, received)
	testwait.Until(t, "/healthz to say 503", func() bool {
		code, _ := proctest.Get(t, url+"healthz")
		return code == http.StatusServiceUnavailable
	})
	code, body := proctest.Get(t, url)
	assertDegraded(t, code, body) // a page, without books: Recommendations is not there
	testwait.Until(t, "a second SIGTERM to end the process", func() bool {
		mkt.Send(t, syscall.SIGTERM)
		return mkt.Exited()
	})
	mkt.Wait(t)
}

// get fetches url without failing the test (it runs in a goroutine), and
// returns the status and body, or 0 and the error.
func get(url string) (int, string) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: testwait.Bound}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// What the TLS check refuses stops the process at start-up, with one line
// that says why, before it listens.
func TestStartUpRefusesWhatRenewalWouldRefuse(t *testing.T) {
	recBin, mktBin, genBin := binaries(t)
	dir := filepath.Join(t.TempDir(), "certs")
	gencerts(t, genBin, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		bin  string
		args []string
		want string
	}{
		{recBin, []string{"-tls-cert", f("marketplace.crt"), "-tls-key", f("marketplace.key")}, "incompatible key usage"},
		{mktBin, []string{"-tls-ca", f("ca.crt"), "-tls-cert", f("recommendations.crt"), "-tls-key", f("recommendations.key")}, "incompatible key usage"},
		{recBin, []string{"-tls-cert", f("recommendations.crt")}, "needs a certificate and its key"},
		{mktBin, []string{"-tls-ca", "missing.crt"}, "missing.crt"},
	} {
		stdout, stderr, code := proctest.Run(t, tc.bin, append(tc.args, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"))
		assert.Equal(t, 1, code, "%v", tc.args)
		assert.Empty(t, stdout)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}

// check asks the health service at addr, in plaintext, how the server is.
func check(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	return resp.GetStatus()
}

// page is the homepage's URL for the address the Marketplace logged.
func page(addr string) string { return "http://" + addr + "/" }

func assertHome(t *testing.T, code int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, booksuite.Items(body), 3, body)
}

func assertDegraded(t *testing.T, code int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, code)
	assert.Empty(t, booksuite.Items(body), body)
	assert.Contains(t, body, "unavailable")
}
