package tlsconfig_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/tools/certs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pki is a CA and the certificate files it issued, in a temporary folder.
type pki struct {
	t   *testing.T
	ca  *certs.Authority
	dir string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	ca, err := certs.NewAuthority(name, time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	p := &pki{t: t, ca: ca, dir: t.TempDir()}
	require.NoError(t, ca.WriteFiles(p.dir, "ca"))
	return p
}

// write issues leaf as file.crt and file.key, valid for the next hour
// unless leaf says otherwise, and returns its serial number.
func (p *pki) write(file string, leaf certs.Leaf) string {
	p.t.Helper()
	if leaf.NotAfter.IsZero() {
		leaf.NotBefore, leaf.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	if leaf.Server {
		leaf.DNSNames = []string{"localhost"}
	}
	pair, err := p.ca.Issue(leaf)
	require.NoError(p.t, err)
	require.NoError(p.t, pair.WriteFiles(p.dir, file))
	return pair.Certificate.SerialNumber.String()
}

// files names file.crt and file.key of dir (none for an empty file), and
// ca, which may be empty.
func files(dir, file, ca string) tlsconfig.Files {
	f := tlsconfig.Files{CA: ca}
	if file != "" {
		f.Cert, f.Key = filepath.Join(dir, file+".crt"), filepath.Join(dir, file+".key")
	}
	return f
}

var (
	server  = certs.Leaf{CommonName: "localhost", Server: true}
	client  = certs.Leaf{CommonName: "marketplace", Client: true}
	expired = func(l certs.Leaf) certs.Leaf {
		l.NotBefore, l.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		return l
	}
)

// logs is a logger whose JSON lines a test reads.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), `"msg":"`+msg+`"`)
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// seen records the client certificate of each call the server takes.
type seen struct {
	mu    sync.Mutex
	certs []*x509.Certificate
}

func (s *seen) interceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			s.mu.Lock()
			s.certs = append(s.certs, info.State.PeerCertificates[0])
			s.mu.Unlock()
		}
	}
	return h(ctx, req)
}

func (s *seen) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.certs[len(s.certs)-1].SerialNumber.String()
}

// serve serves health with creds in memory.
func serve(t *testing.T, creds credentials.TransportCredentials) (*grpctest.Server, *seen) {
	t.Helper()
	s := &seen{}
	return grpctest.NewServer(t, func(r grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(r, health.NewServer()) },
		grpc.Creds(creds), grpc.UnaryInterceptor(s.interceptor)), s
}

// call makes one health check over a new connection with creds, dialing
// the name localhost, and returns the serial number of the server's
// certificate.
func call(t *testing.T, s *grpctest.Server, creds credentials.TransportCredentials) (string, error) {
	t.Helper()
	conn := s.NewClient(t, grpc.WithTransportCredentials(creds), grpc.WithAuthority("localhost"))
	defer conn.Close()
	var p peer.Peer
	_, err := healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return "", err
	}
	return p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].SerialNumber.String(), nil
}

func mustServer(t *testing.T, f tlsconfig.Files, log *slog.Logger) credentials.TransportCredentials {
	t.Helper()
	creds, err := tlsconfig.Server(f, log)
	require.NoError(t, err)
	return creds
}

func mustClient(t *testing.T, f tlsconfig.Files, log *slog.Logger) credentials.TransportCredentials {
	t.Helper()
	creds, err := tlsconfig.Client(f, log)
	require.NoError(t, err)
	return creds
}

// refused checks that a call failed to connect.
func refused(t *testing.T, err error, why string) {
	t.Helper()
	assert.Equal(t, codes.Unavailable, status.Code(err), "%s: %v", why, err)
}

// TLS: the client that trusts the CA gets in and sees the server's
// certificate; a plaintext client, one trusting another CA, and one
// expecting another name are refused.
func TestTLS(t *testing.T) {
	p := newPKI(t, "Bookstore CA")
	serial := p.write("server", server)
	s, _ := serve(t, mustServer(t, files(p.dir, "server", ""), slog.New(slog.DiscardHandler)))
	trusting := mustClient(t, files(p.dir, "", p.dir+"/ca.crt"), nil)

	got, err := call(t, s, trusting)
	require.NoError(t, err)
	assert.Equal(t, serial, got)

	plain, err := tlsconfig.Client(tlsconfig.Files{}, nil)
	require.NoError(t, err)
	_, err = call(t, s, plain)
	refused(t, err, "plaintext")
	other := newPKI(t, "Other CA")
	_, err = call(t, s, mustClient(t, files("", "", other.dir+"/ca.crt"), nil))
	refused(t, err, "another CA")
	conn := s.NewClient(t, grpc.WithTransportCredentials(trusting), grpc.WithAuthority("recommendations.example.com"))
	_, err = healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
	refused(t, err, "a name the certificate does not list")
}

// mTLS: only a client certificate the CA signed, made for clients, gets in.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t, "Bookstore CA")
	p.write("server", server)
	clientSerial := p.write("client", client)
	s, seen := serve(t, mustServer(t, files(p.dir, "server", p.dir+"/ca.crt"), slog.New(slog.DiscardHandler)))

	_, err := call(t, s, mustClient(t, files(p.dir, "client", p.dir+"/ca.crt"), slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	assert.Equal(t, clientSerial, seen.last(), "the server sees who called")

	_, err = call(t, s, mustClient(t, files("", "", p.dir+"/ca.crt"), nil))
	refused(t, err, "no client certificate")
	// Clients that skip Check: what the server itself refuses.
	other := newPKI(t, "Other CA")
	other.write("client", client)
	p.write("server-as-client", certs.Leaf{CommonName: "localhost", Server: true})
	for file, dir := range map[string]string{"client": other.dir, "server-as-client": p.dir} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, file+".crt"), filepath.Join(dir, file+".key"))
		require.NoError(t, err)
		roots := x509.NewCertPool()
		roots.AddCert(p.ca.Certificate)
		_, err = call(t, s, credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}))
		refused(t, err, file+" of "+dir)
	}
}

// What Check refuses at start-up: each side's credentials fail to build.
func TestStartUpRefuses(t *testing.T) {
	p, other := newPKI(t, "Bookstore CA"), newPKI(t, "Other CA")
	p.write("expired-server", expired(server))
	p.write("expired-client", expired(client))
	p.write("client", client)
	p.write("server", server)
	other.write("server", server)
	other.write("client", client)
	ca := p.dir + "/ca.crt"
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"expired server", second(tlsconfig.Server(files(p.dir, "expired-server", ""), nil))},
		{"client certificate as the server's", second(tlsconfig.Server(files(p.dir, "client", ca), nil))},
		{"server certificate from another CA", second(tlsconfig.Server(files(other.dir, "server", ca), nil))},
		{"expired client", second(tlsconfig.Client(files(p.dir, "expired-client", ca), nil))},
		{"server certificate as the client's", second(tlsconfig.Client(files(p.dir, "server", ca), nil))},
		{"client certificate from another CA", second(tlsconfig.Client(files(other.dir, "client", ca), nil))},
		{"server without a key", second(tlsconfig.Server(tlsconfig.Files{Cert: "x.crt"}, nil))},
		{"client certificate without a CA", second(tlsconfig.Client(tlsconfig.Files{Cert: "x.crt", Key: "x.key"}, nil))},
	} {
		assert.Error(t, tc.err, tc.name)
	}
}

func second[T any](_ T, err error) error { return err }

// A renewal on disk is served from the next connection on, and logged. A
// renewal that start-up would refuse (expired, made for clients, from
// another CA) is refused and logged, and the previous certificate stays in
// use; so does a half-written one.
func TestServerRenewal(t *testing.T) {
	p, other := newPKI(t, "Bookstore CA"), newPKI(t, "Other CA")
	first := p.write("server", server)
	p.write("client", client)
	var log logs
	s, _ := serve(t, mustServer(t, files(p.dir, "server", p.dir+"/ca.crt"), log.logger()))
	creds := mustClient(t, files(p.dir, "client", p.dir+"/ca.crt"), slog.New(slog.DiscardHandler))
	serving := func() string {
		t.Helper()
		serial, err := call(t, s, creds)
		require.NoError(t, err)
		return serial
	}
	assert.Equal(t, first, serving())

	renewed := p.write("server", server)
	assert.Equal(t, renewed, serving(), "the renewed certificate, without a restart")
	assert.Equal(t, 1, log.count("certificate renewed"))

	refusals := 0
	for _, tc := range []struct {
		name  string
		write func()
	}{
		{"expired", func() { p.write("server", expired(server)) }},
		{"made for clients", func() { p.write("server", certs.Leaf{CommonName: "localhost", Client: true}) }},
		{"another CA's", func() { other.write("server", server); copyPair(t, other.dir, p.dir, "server") }},
		{"half written", func() {
			require.NoError(t, os.WriteFile(filepath.Join(p.dir, "server.key"), []byte("not a key"), 0o600))
		}},
	} {
		name := tc.name
		tc.write()
		assert.Equal(t, renewed, serving(), "%s: the previous certificate stays in use", name)
		refusals++
		assert.Equal(t, refusals, log.count("certificate renewal refused; still using the previous certificate"), name)
	}
	assert.Equal(t, 1, log.count("certificate renewed"), "no refused certificate is logged as renewed")

	again := p.write("server", server)
	assert.Equal(t, again, serving())
	assert.Equal(t, 2, log.count("certificate renewed"))
}

// The Marketplace's side: its client certificate is renewed live, checked
// the same way, and logged.
func TestClientRenewal(t *testing.T) {
	p := newPKI(t, "Bookstore CA")
	p.write("server", server)
	p.write("client", client)
	s, seen := serve(t, mustServer(t, files(p.dir, "server", p.dir+"/ca.crt"), slog.New(slog.DiscardHandler)))
	var log logs
	creds := mustClient(t, files(p.dir, "client", p.dir+"/ca.crt"), log.logger())
	_, err := call(t, s, creds)
	require.NoError(t, err)

	renewed := p.write("client", client)
	_, err = call(t, s, creds)
	require.NoError(t, err)
	assert.Equal(t, renewed, seen.last())
	assert.Equal(t, 1, log.count("certificate renewed"))

	p.write("client", expired(client))
	_, err = call(t, s, creds)
	require.NoError(t, err, "the previous certificate still gets in")
	assert.Equal(t, renewed, seen.last())
	assert.Equal(t, 1, log.count("certificate renewal refused; still using the previous certificate"))
}

// copyPair copies name.crt and name.key from one folder to another.
func copyPair(t *testing.T, from, to, name string) {
	t.Helper()
	for _, ext := range []string{".key", ".crt"} {
		data, err := os.ReadFile(filepath.Join(from, name+ext))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, name+ext), data, 0o600))
	}
}
