package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"math/big"
	"net"
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/certs"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pki is a CA and the files of the certificates it issued, in a test's
// temporary directory.
type pki struct {
	t   *testing.T
	ca  *certs.Authority
	dir string
}

// newPKI makes a CA valid from a day ago to a day from now, and writes its
// certificate to ca.crt in a new temporary directory.
func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	now := time.Now()
	ca, err := certs.NewAuthority(name, now.Add(-24*time.Hour), now.Add(24*time.Hour))
	require.NoError(t, err)
	p := &pki{t: t, ca: ca, dir: t.TempDir()}
	require.NoError(t, ca.WriteFiles(p.dir, "ca"))
	return p
}

// caFile is the CA's certificate file: what -tls-ca names.
func (p *pki) caFile() string { return filepath.Join(p.dir, "ca.crt") }

// issue issues leaf, valid for the next hour unless leaf says otherwise,
// writes it to name.crt and name.key, and returns it.
func (p *pki) issue(name string, leaf certs.Leaf) *certs.KeyPair {
	p.t.Helper()
	if leaf.NotAfter.IsZero() {
		leaf.NotBefore, leaf.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	pair, err := p.ca.Issue(leaf)
	require.NoError(p.t, err)
	require.NoError(p.t, pair.WriteFiles(p.dir, name))
	return pair
}

// server issues a server certificate for names (DNS names or IPs) as
// name.crt and name.key.
func (p *pki) server(name string, names ...string) *certs.KeyPair {
	p.t.Helper()
	leaf := certs.Leaf{CommonName: names[0], Server: true}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPs = append(leaf.IPs, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	return p.issue(name, leaf)
}

// client issues a client certificate for cn as name.crt and name.key.
func (p *pki) client(name, cn string) *certs.KeyPair {
	p.t.Helper()
	return p.issue(name, certs.Leaf{CommonName: cn, Client: true})
}

// flags returns Flags naming name.crt and name.key (if name is not empty)
// and ca (if not empty).
func (p *pki) flags(name, ca string) *tlsconfig.Flags {
	f := &tlsconfig.Flags{CA: ca}
	if name != "" {
		f.Cert, f.Key = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	}
	return f
}

// callers records who called the server: the serial number and common
// name of each client certificate it saw, in order.
type callers struct {
	mu   sync.Mutex
	seen []*x509.Certificate
}

// interceptor records the client certificate of each call, if any.
func (c *callers) interceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			c.mu.Lock()
			c.seen = append(c.seen, info.State.PeerCertificates[0])
			c.mu.Unlock()
		}
	}
	return handler(ctx, req)
}

// last returns the last client certificate the server saw.
func (c *callers) last(t *testing.T) *x509.Certificate {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.NotEmpty(t, c.seen, "the server saw no client certificate")
	return c.seen[len(c.seen)-1]
}

// serve starts a gRPC health server with f's server credentials on an
// in-memory listener.
func serve(t *testing.T, f *tlsconfig.Flags) (*grpctest.Server, *callers) {
	t.Helper()
	creds, err := f.ServerCredentials()
	require.NoError(t, err)
	c := &callers{}
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) {
		healthpb.RegisterHealthServer(r, health.NewServer())
	}, grpc.Creds(creds), grpc.UnaryInterceptor(c.interceptor))
	return s, c
}

// connect opens a new client connection to s with f's client credentials,
// dialing the name authority: the name the server's certificate must list.
func connect(t *testing.T, s *grpctest.Server, f *tlsconfig.Flags, authority string) *grpc.ClientConn {
	t.Helper()
	creds, err := f.ClientCredentials()
	require.NoError(t, err)
	return s.NewClient(t, grpc.WithTransportCredentials(creds), grpc.WithAuthority(authority))
}

// check makes one call on conn and returns its error and the certificate
// the server presented (nil if none, or if the call failed).
func check(t *testing.T, conn *grpc.ClientConn) (*x509.Certificate, error) {
	t.Helper()
	var p peer.Peer
	_, err := healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return nil, err
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		require.Equal(t, uint16(tls.VersionTLS13), info.State.Version, "TLS 1.3")
		return info.State.PeerCertificates[0], nil
	}
	return nil, nil
}

// serverCert calls the server on conn and returns the certificate it
// presented, failing the test if the call fails.
func serverCert(t *testing.T, conn *grpc.ClientConn) *x509.Certificate {
	t.Helper()
	cert, err := check(t, conn)
	require.NoError(t, err)
	require.NotNil(t, cert, "the connection is not TLS")
	return cert
}

// assertRefused asserts that err is a failed connection: codes.Unavailable,
// with reason in the message if reason is not empty.
func assertRefused(t *testing.T, err error, reason string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	if reason != "" {
		assert.Contains(t, status.Convert(err).Message(), reason)
	}
}

func TestPlaintextByDefault(t *testing.T) {
	p := newPKI(t, "Test CA")
	assert.Equal(t, "plaintext", (&tlsconfig.Flags{}).Mode())
	s, _ := serve(t, &tlsconfig.Flags{})
	conn := connect(t, s, &tlsconfig.Flags{}, "recommendations")
	cert, err := check(t, conn)
	require.NoError(t, err)
	assert.Nil(t, cert, "no certificate without TLS")

	// A TLS client refuses a plaintext server, rather than fall back.
	_, err = check(t, connect(t, s, p.flags("", p.caFile()), "recommendations"))
	assertRefused(t, err, "")
}

func TestTLS(t *testing.T) {
	p := newPKI(t, "Test CA")
	pair := p.server("recommendations", "recommendations")
	serverFlags, clientFlags := p.flags("recommendations", ""), p.flags("", p.caFile())
	require.NoError(t, serverFlags.CheckServer())
	require.NoError(t, clientFlags.CheckClient())
	assert.Equal(t, "tls", serverFlags.Mode())
	assert.Equal(t, "tls", clientFlags.Mode())

	s, clients := serve(t, serverFlags)
	cert := serverCert(t, connect(t, s, clientFlags, "recommendations"))
	assert.Equal(t, pair.Certificate.SerialNumber, cert.SerialNumber, "the client sees the server's certificate")
	clients.mu.Lock()
	assert.Empty(t, clients.seen, "plain TLS asks the client for no certificate")
	clients.mu.Unlock()

	// A plaintext client gets no answer from a TLS server.
	_, err := check(t, connect(t, s, &tlsconfig.Flags{}, "recommendations"))
	assertRefused(t, err, "")

	// Nor does a client limited to TLS 1.2: the server requires 1.3.
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Certificate)
	tls12 := credentials.NewTLS(&tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12})
	_, err = check(t, s.NewClient(t, grpc.WithTransportCredentials(tls12), grpc.WithAuthority("recommendations")))
	assertRefused(t, err, "protocol version")
}

func TestTLSRefusesAServer(t *testing.T) {
	p := newPKI(t, "Test CA")
	p.server("recommendations", "recommendations")
	other := newPKI(t, "Other CA")
	other.server("recommendations", "recommendations")
	expired := p.issue("expired", certs.Leaf{
		CommonName: "recommendations", DNSNames: []string{"recommendations"}, Server: true,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	})
	require.True(t, expired.Certificate.NotAfter.Before(time.Now()))
	p.issue("client-only", certs.Leaf{CommonName: "recommendations", DNSNames: []string{"recommendations"}, Client: true})
	// certs.Issue refuses a server certificate without SANs, but one for
	// clients gets none, like those of the series' openssl commands.
	p.client("no-sans", "recommendations")

	for _, tc := range []struct {
		name        string
		server      *tlsconfig.Flags
		trust       string // the client's -tls-ca
		authority   string // the name the client dials
		wantMessage string
	}{
		{"signed by a CA the client does not trust", other.flags("recommendations", ""), p.caFile(), "recommendations", "certificate signed by unknown authority"},
		{"for another name", p.flags("recommendations", ""), p.caFile(), "localhost", "certificate is valid for recommendations, not localhost"},
		{"expired", p.flags("expired", ""), p.caFile(), "recommendations", "certificate has expired"},
		{"not for servers", p.flags("client-only", ""), p.caFile(), "recommendations", "certificate specifies an incompatible key usage"},
		{"with the name only in the common name", p.flags("no-sans", ""), p.caFile(), "recommendations", "certificate relies on legacy Common Name field"},
		// The control: the same client accepts the right server.
		{"", p.flags("recommendations", ""), p.caFile(), "recommendations", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serve(t, tc.server)
			cert, err := check(t, connect(t, s, p.flags("", tc.trust), tc.authority))
			if tc.wantMessage == "" {
				require.NoError(t, err)
				assert.NotNil(t, cert)
				return
			}
			assertRefused(t, err, tc.wantMessage)
		})
	}
}

// Over TCP, gRPC checks the host of the target the client dials, with no
// WithAuthority: 127.0.0.1 against the certificate's IP SANs, localhost
// against its DNS names.
func TestTLSChecksTheDialedName(t *testing.T) {
	p := newPKI(t, "Test CA")
	p.server("recommendations", "recommendations", "127.0.0.1")
	creds, err := p.flags("recommendations", "").ServerCredentials()
	require.NoError(t, err)
	addr := grpctest.ServeLoopback(t, func(r grpc.ServiceRegistrar) {
		healthpb.RegisterHealthServer(r, health.NewServer())
	}, grpc.Creds(creds))
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	call := func(target string) error {
		creds, err := p.flags("", p.caFile()).ClientCredentials()
		require.NoError(t, err)
		// (No service config from DNS: no TXT query leaves the machine.)
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds), grpc.WithDisableServiceConfig())
		require.NoError(t, err)
		defer conn.Close()
		_, err = healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{})
		return err
	}
	require.NoError(t, call("127.0.0.1:"+port), "127.0.0.1 is among the IP SANs")
	assertRefused(t, call("localhost:"+port), "certificate is valid for recommendations, not localhost")
}

func TestMTLS(t *testing.T) {
	p := newPKI(t, "Test CA")
	p.server("recommendations", "recommendations")
	marketplace := p.client("marketplace", "marketplace")
	p.server("server-only", "marketplace") // a certificate without clientAuth
	other := newPKI(t, "Other CA")
	other.client("marketplace", "marketplace")

	serverFlags := p.flags("recommendations", p.caFile())
	require.NoError(t, serverFlags.CheckServer())
	assert.Equal(t, "mtls", serverFlags.Mode())
	creds, err := serverFlags.ServerCredentials()
	require.NoError(t, err)
	handshakes := &failedHandshakes{TransportCredentials: creds, errs: make(chan error, 100)}
	c := &callers{}
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) {
		healthpb.RegisterHealthServer(r, health.NewServer())
	}, grpc.Creds(handshakes), grpc.UnaryInterceptor(c.interceptor))

	for _, tc := range []struct {
		name   string
		client *tlsconfig.Flags
		// The server's reason. In TLS 1.3 the client's handshake is over
		// before the server checks the client's certificate, so the
		// client learns only that the connection closed; whether from
		// the server's alert or from a failed write races.
		reason string
	}{
		{"no client certificate", p.flags("", p.caFile()), "client didn't provide a certificate"},
		{"from a CA the server does not trust", &tlsconfig.Flags{Cert: other.flags("marketplace", "").Cert, Key: other.flags("marketplace", "").Key, CA: p.caFile()}, "certificate signed by unknown authority"},
		{"not for clients", p.flags("server-only", p.caFile()), "certificate specifies an incompatible key usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(t, connect(t, s, tc.client, "recommendations"))
			assertRefused(t, err, "")
			// A refused client retries in the background until its
			// connection closes, so an error of an earlier case may come
			// first; each case's reason is its own.
			for {
				err := testwait.Recv(t, handshakes.errs, "the server's handshake error: "+tc.reason)
				if strings.Contains(err.Error(), tc.reason) {
					break
				}
			}
		})
	}

	clientFlags := p.flags("marketplace", p.caFile())
	require.NoError(t, clientFlags.CheckClient())
	assert.Equal(t, "mtls", clientFlags.Mode())
	serverCert(t, connect(t, s, clientFlags, "recommendations"))
	seen := c.last(t)
	assert.Equal(t, marketplace.Certificate.SerialNumber, seen.SerialNumber, "the server knows who calls")
	assert.Equal(t, "marketplace", seen.Subject.CommonName)
}

// failedHandshakes wraps a server's credentials to report why handshakes
// fail.
type failedHandshakes struct {
	credentials.TransportCredentials
	errs chan error
}

func (h *failedHandshakes) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := h.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		select {
		case h.errs <- err:
		default: // never block the server; the test needs only the first few
		}
	}
	return c, info, err
}

// reloads collects what a KeyPairReloader reports.
type reloads struct {
	mu  sync.Mutex
	all []tlsconfig.Reload
}

func (r *reloads) add(e tlsconfig.Reload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, e)
}

func (r *reloads) get() []tlsconfig.Reload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tlsconfig.Reload(nil), r.all...)
}

func TestServerCertificateRenewedOnDisk(t *testing.T) {
	p := newPKI(t, "Test CA")
	first := p.server("recommendations", "recommendations")
	var events reloads
	serverFlags := p.flags("recommendations", "")
	serverFlags.OnReload = events.add
	s, _ := serve(t, serverFlags)
	clientFlags := p.flags("", p.caFile())

	before := connect(t, s, clientFlags, "recommendations")
	require.Equal(t, first.Certificate.SerialNumber, serverCert(t, before).SerialNumber)
	assert.Empty(t, events.get(), "nothing changed yet")

	renewed := p.server("recommendations", "recommendations")
	require.NotEqual(t, first.Certificate.SerialNumber, renewed.Certificate.SerialNumber)
	after := connect(t, s, clientFlags, "recommendations")
	assert.Equal(t, renewed.Certificate.SerialNumber, serverCert(t, after).SerialNumber, "a new connection gets the renewed certificate")
	assert.Equal(t, first.Certificate.SerialNumber, serverCert(t, before).SerialNumber, "an open connection keeps working, with the certificate it started with")
	if got := events.get(); assert.Len(t, got, 1) {
		assert.NoError(t, got[0].Err)
		assert.Equal(t, renewed.Certificate.SerialNumber, got[0].Certificate.SerialNumber)
	}
}

func TestBrokenRenewalKeepsTheCertificate(t *testing.T) {
	p := newPKI(t, "Test CA")
	first := p.server("recommendations", "recommendations")
	var events reloads
	serverFlags := p.flags("recommendations", "")
	serverFlags.OnReload = events.add
	s, _ := serve(t, serverFlags)
	clientFlags := p.flags("", p.caFile())
	serial := func() *big.Int { return serverCert(t, connect(t, s, clientFlags, "recommendations")).SerialNumber }
	require.Equal(t, first.Certificate.SerialNumber, serial())

	// Half a renewal: a new certificate whose key has not been written.
	next, err := p.ca.Issue(certs.Leaf{
		CommonName: "recommendations", DNSNames: []string{"recommendations"}, Server: true,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
	})
	require.NoError(t, err)
	half := &certs.KeyPair{CertPEM: next.CertPEM, KeyPEM: first.KeyPEM}
	require.NoError(t, half.WriteFiles(p.dir, "recommendations"))
	assert.Equal(t, first.Certificate.SerialNumber, serial(), "the old certificate is still served")
	assert.Equal(t, first.Certificate.SerialNumber, serial(), "and the failure is not retried until the files change")
	got := events.get()
	require.Len(t, got, 1, "one report of the failure")
	assert.ErrorContains(t, got[0].Err, "private key does not match public key")
	assert.Equal(t, first.Certificate.SerialNumber, got[0].Certificate.SerialNumber)

	// A file cut short, as a copy in progress leaves it.
	broken := &certs.KeyPair{CertPEM: next.CertPEM[:len(next.CertPEM)/2], KeyPEM: next.KeyPEM}
	require.NoError(t, broken.WriteFiles(p.dir, "recommendations"))
	assert.Equal(t, first.Certificate.SerialNumber, serial())
	got = events.get()
	require.Len(t, got, 2)
	assert.ErrorContains(t, got[1].Err, "failed to find any PEM data in certificate input")

	// The renewal completes: the next connection gets it.
	require.NoError(t, next.WriteFiles(p.dir, "recommendations"))
	assert.Equal(t, next.Certificate.SerialNumber, serial())
	got = events.get()
	require.Len(t, got, 3)
	assert.NoError(t, got[2].Err)
}

func TestClientCertificateRenewedOnDisk(t *testing.T) {
	p := newPKI(t, "Test CA")
	p.server("recommendations", "recommendations")
	first := p.client("marketplace", "marketplace")
	s, clients := serve(t, p.flags("recommendations", p.caFile()))
	clientFlags := p.flags("marketplace", p.caFile())
	creds, err := clientFlags.ClientCredentials()
	require.NoError(t, err)
	// One client's credentials, as the Marketplace holds them; each
	// connection is a new handshake.
	dial := func() {
		serverCert(t, s.NewClient(t, grpc.WithTransportCredentials(creds), grpc.WithAuthority("recommendations")))
	}

	dial()
	require.Equal(t, first.Certificate.SerialNumber, clients.last(t).SerialNumber)
	renewed := p.client("marketplace", "marketplace")
	dial()
	assert.Equal(t, renewed.Certificate.SerialNumber, clients.last(t).SerialNumber, "the client presents its renewed certificate")
}

func TestFlagCombinations(t *testing.T) {
	p := newPKI(t, "Test CA")
	p.server("server", "recommendations")
	p.client("client", "marketplace")
	p.issue("expired", certs.Leaf{
		CommonName: "recommendations", DNSNames: []string{"recommendations"}, Server: true, Client: true,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	})
	cert, key, ca := p.flags("server", "").Cert, p.flags("server", "").Key, p.caFile()
	missing := filepath.Join(p.dir, "missing.crt")
	for _, tc := range []struct {
		name       string
		flags      tlsconfig.Flags
		server     string // CheckServer's error, "" for none
		client     string // CheckClient's error, "" for none
		serverMode string // Mode when CheckServer accepts
		clientMode string // Mode when CheckClient accepts
		// The certificate is refused by the start-up check only (expired,
		// or made for the other side): the credentials are still made, as
		// the handshake tests need.
		leafOnly bool
	}{
		{"none", tlsconfig.Flags{}, "", "", "plaintext", "plaintext", false},
		{"cert and key", tlsconfig.Flags{Cert: cert, Key: key}, "", "-tls-cert is a client certificate for mTLS, which needs TLS: give -tls-ca", "tls", "", false},
		{"all three", tlsconfig.Flags{Cert: cert, Key: key, CA: ca}, "", "is not a client certificate (its extended key usage leaves out client authentication)", "mtls", "", true},
		{"all three, with the client's certificate", tlsconfig.Flags{Cert: p.flags("client", "").Cert, Key: p.flags("client", "").Key, CA: ca}, "is not a server certificate (its extended key usage leaves out server authentication)", "", "", "mtls", true},
		{"ca", tlsconfig.Flags{CA: ca}, "-tls-ca requires client certificates (mTLS), which needs TLS: give -tls-cert and -tls-key", "", "", "tls", false},
		{"cert alone", tlsconfig.Flags{Cert: cert}, "-tls-cert needs -tls-key", "-tls-cert needs -tls-key", "", "", false},
		{"key alone", tlsconfig.Flags{Key: key}, "-tls-key needs -tls-cert", "-tls-key needs -tls-cert", "", "", false},
		{"key and ca", tlsconfig.Flags{Key: key, CA: ca}, "-tls-key needs -tls-cert", "-tls-key needs -tls-cert", "", "", false},
		{"missing cert file", tlsconfig.Flags{Cert: missing, Key: key, CA: ca}, "-tls-cert/-tls-key: open " + missing + ": no such file or directory", "-tls-cert/-tls-key: open " + missing, "", "", false},
		{"missing ca file", tlsconfig.Flags{Cert: cert, Key: key, CA: missing}, "-tls-ca: open " + missing, "-tls-ca: open " + missing, "", "", false},
		{"a key as ca", tlsconfig.Flags{CA: key}, "-tls-ca requires", "-tls-ca: no PEM certificate in " + key, "", "", false},
		{"an expired certificate", tlsconfig.Flags{Cert: p.flags("expired", "").Cert, Key: p.flags("expired", "").Key, CA: ca}, "expired on", "expired on", "", "", true},
		{"someone else's key", tlsconfig.Flags{Cert: cert, Key: p.flags("client", "").Key, CA: ca}, "-tls-cert/-tls-key: tls: private key does not match public key", "-tls-cert/-tls-key: tls: private key does not match public key", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, side := range []struct {
				name, want, mode string
				check            func(*tlsconfig.Flags) error
				creds            func(*tlsconfig.Flags) (credentials.TransportCredentials, error)
			}{
				{"server", tc.server, tc.serverMode, (*tlsconfig.Flags).CheckServer, (*tlsconfig.Flags).ServerCredentials},
				{"client", tc.client, tc.clientMode, (*tlsconfig.Flags).CheckClient, (*tlsconfig.Flags).ClientCredentials},
			} {
				f := tc.flags
				err := side.check(&f)
				creds, credsErr := side.creds(&f)
				if side.want != "" {
					if assert.Error(t, err, side.name) {
						assert.Contains(t, err.Error(), side.want, side.name)
						assert.NotContains(t, err.Error(), "\n", "%s: one line", side.name)
					}
					if tc.leafOnly {
						assert.NoError(t, credsErr, "%s: credentials despite the certificate", side.name)
					} else {
						assert.Error(t, credsErr, "%s: no credentials from flags the check refuses", side.name)
					}
					continue
				}
				require.NoError(t, err, side.name)
				require.NoError(t, credsErr, side.name)
				assert.Equal(t, side.mode, f.Mode(), side.name)
				protocol := "tls"
				if side.mode == "plaintext" {
					protocol = "insecure"
				}
				assert.Equal(t, protocol, creds.Info().SecurityProtocol, side.name)
			}
		})
	}
}

// Both binaries take exactly the three flags, each with a usage text that
// says what it means on that side, and cmdline runs the checks.
func TestFlagSets(t *testing.T) {
	for _, side := range []struct {
		name, caUsage string
		define        func(*flag.FlagSet) *tlsconfig.Flags
		check         func(*tlsconfig.Flags) error
		bad           []string
	}{
		{"server", "client", tlsconfig.NewServerFlags, (*tlsconfig.Flags).CheckServer, []string{"-tls-ca", "ca.crt"}},
		{"client", "server", tlsconfig.NewClientFlags, (*tlsconfig.Flags).CheckClient, []string{"-tls-cert", "c.crt", "-tls-key", "c.key"}},
	} {
		fs := flag.NewFlagSet(side.name, flag.ContinueOnError)
		f := side.define(fs)
		var names []string
		fs.VisitAll(func(fl *flag.Flag) {
			names = append(names, fl.Name)
			assert.NotEmpty(t, fl.Usage)
			assert.Empty(t, fl.DefValue, "TLS is off unless asked for")
		})
		assert.Equal(t, []string{"tls-ca", "tls-cert", "tls-key"}, names, side.name)
		assert.Contains(t, fs.Lookup("tls-ca").Usage, side.caUsage, "what -tls-ca means for the %s", side.name)

		require.NoError(t, cmdline.Parse(fs, []string{"-tls-cert", "c.crt", "-tls-key", "c.key", "-tls-ca", "ca.crt"}))
		assert.Equal(t, tlsconfig.Flags{Cert: "c.crt", Key: "c.key", CA: "ca.crt"}, *f, side.name)

		fs = flag.NewFlagSet(side.name, flag.ContinueOnError)
		f = side.define(fs)
		err := cmdline.Parse(fs, side.bad, func() error { return side.check(f) })
		assert.ErrorContains(t, err, side.bad[0], "the error names the flag")
	}
}

// The reloader on its own: what Err and Certificate say as the files
// change, and a file missing for a while (a renewal by hand, rm then cp).
func TestKeyPairReloader(t *testing.T) {
	p := newPKI(t, "Test CA")
	first := p.server("recommendations", "recommendations")
	f := p.flags("recommendations", "")
	_, err := tlsconfig.NewKeyPairReloader(f.Cert, filepath.Join(p.dir, "missing.key"), nil)
	assert.ErrorContains(t, err, "missing.key: no such file or directory")
	_, err = tlsconfig.NewKeyPairReloader(f.Cert, p.caFile(), nil)
	assert.Error(t, err, "a certificate as key")

	var events reloads
	r, err := tlsconfig.NewKeyPairReloader(f.Cert, f.Key, events.add)
	require.NoError(t, err)
	served := func() *big.Int {
		c, err := r.GetCertificate(&tls.ClientHelloInfo{})
		require.NoError(t, err)
		return c.Leaf.SerialNumber
	}
	assert.Equal(t, first.Certificate.SerialNumber, served())
	assert.NoError(t, r.Err())
	assert.Equal(t, first.Certificate.SerialNumber, r.Certificate().SerialNumber)

	require.NoError(t, os.Remove(f.Cert))
	assert.Equal(t, first.Certificate.SerialNumber, served(), "a missing file keeps the certificate in use")
	assert.Equal(t, first.Certificate.SerialNumber, served())
	assert.ErrorContains(t, r.Err(), "keeping the certificate in use")
	assert.ErrorContains(t, r.Err(), "no such file or directory")
	assert.Len(t, events.get(), 1, "reported once")

	renewed := p.server("recommendations", "recommendations")
	c, err := r.GetClientCertificate(&tls.CertificateRequestInfo{})
	require.NoError(t, err)
	assert.Equal(t, renewed.Certificate.SerialNumber, c.Leaf.SerialNumber)
	assert.NoError(t, r.Err())
	assert.Equal(t, renewed.Certificate.SerialNumber, r.Certificate().SerialNumber)
	got := events.get()
	require.Len(t, got, 2)
	assert.NoError(t, got[1].Err)
}
