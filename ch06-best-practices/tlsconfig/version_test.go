package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// The server speaks TLS 1.3 only: a client that offers nothing newer than
// TLS 1.2 is refused, and a client that offers both (Go's default) gets
// TLS 1.3. The client here is plain crypto/tls, not tlsconfig.Client, whose
// own minimum of 1.3 would hide the server's.
func TestServerSpeaksTLS13Only(t *testing.T) {
	p := newPKI(t, "Bookstore CA")
	p.write("server", server)
	s, _ := serve(t, mustServer(t, files(p.dir, "server", ""), slog.New(slog.DiscardHandler)))
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Certificate)

	conn := s.NewClient(t, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})), grpc.WithAuthority("localhost"))
	defer conn.Close()
	var pr peer.Peer
	_, err := healthpb.NewHealthClient(conn).Check(grpctest.Context(t), &healthpb.HealthCheckRequest{}, grpc.Peer(&pr))
	require.NoError(t, err)
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "%T", pr.AuthInfo)
	assert.Equal(t, tls.VersionName(tls.VersionTLS13), tls.VersionName(info.State.Version))

	_, err = call(t, s, credentials.NewTLS(&tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}))
	refused(t, err, "a client limited to TLS 1.2")
}
