// Package tlsconfig turns certificate files into gRPC transport credentials:
// with TLS the server proves who it is; with mutual TLS (mTLS) the client
// does too. Certificates are renewed live: the next handshake after the files
// change uses the new pair if it passes the Check start-up uses; one refused
// is logged, and the previous pair stays in use.
package tlsconfig

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Files names one side's PEM files; none means plaintext.
type Files struct {
	Cert, Key string // this side's certificate and key: the server's, or the client's for mTLS
	// CA signs both sides' certificates: the server requires client
	// certificates it signed (mTLS), the client trusts servers it signed.
	CA string
}

// Server returns plaintext for no files; TLS 1.3 with Cert and Key; and with
// CA too, a client certificate signed by CA required on every connection.
func Server(f Files, log *slog.Logger) (credentials.TransportCredentials, error) {
	if f == (Files{}) {
		return insecure.NewCredentials(), nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("TLS needs a certificate and its key")
	}
	pair, err := newKeyPair(f, x509.ExtKeyUsageServerAuth, log)
	if err != nil {
		return nil, err
	}
	// TLS 1.3 only: both ends are ours, and 1.3 has no weak cipher suites.
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ClientCAs: pair.roots,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return pair.get() }}
	if f.CA != "" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// Client returns plaintext for no files; TLS 1.3 trusting the servers CA
// signed; and with Cert and Key, that client certificate when asked for one.
func Client(f Files, log *slog.Logger) (credentials.TransportCredentials, error) {
	switch {
	case f == (Files{}):
		return insecure.NewCredentials(), nil
	case f.CA == "":
		return nil, errors.New("TLS needs the CA that signs the server's certificate")
	case f.Cert == "" && f.Key == "":
		roots, err := loadCA(f.CA)
		return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}), err
	}
	pair, err := newKeyPair(f, x509.ExtKeyUsageClientAuth, log)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pair.roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return pair.get() }}), nil
}

// Check is what every certificate passes before use, at start-up and renewal
// alike: valid now, made for use, signed by roots if given. It refuses what
// loads fine, then fails every handshake: expired, the other side's, another CA's.
func Check(leaf *x509.Certificate, roots *x509.CertPool, use x509.ExtKeyUsage) error {
	if roots == nil { // no CA (TLS without mTLS): Verify still checks dates and use
		roots = x509.NewCertPool()
		roots.AddCert(leaf)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{use}})
	return err
}

func loadCA(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(data) {
		err = fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, err
}

// keyPair serves a certificate and key from files read at every handshake: they
// cost far less than it, and bytes, unlike modification times, miss no change.
type keyPair struct {
	Files
	roots *x509.CertPool
	use   x509.ExtKeyUsage
	log   *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate // nil until the first get
	seen    string           // the files' bytes as last read
}

func newKeyPair(f Files, use x509.ExtKeyUsage, log *slog.Logger) (*keyPair, error) {
	roots, err := loadCA(f.CA)
	k := &keyPair{Files: f, roots: roots, use: use, log: cmp.Or(log, slog.Default())}
	if err == nil {
		_, err = k.get() // start-up goes through the same check as every renewal
	}
	return k, err
}

// get returns the files' pair if they changed and pass Check, else the one in
// use; at start-up (none in use yet) a refusal is an error.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	certPEM, certErr := os.ReadFile(k.Cert)
	keyPEM, keyErr := os.ReadFile(k.Key)
	if seen := string(certPEM) + string(keyPEM); seen != k.seen || k.current == nil {
		k.seen = seen
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err = cmp.Or(certErr, keyErr, err); err == nil {
			err = Check(pair.Leaf, k.roots, k.use)
		}
		switch {
		case err != nil && k.current == nil:
			return nil, fmt.Errorf("%s: %w", k.Cert, err)
		case err != nil:
			k.log.Error("certificate renewal refused; still using the previous certificate", "file", k.Cert, "err", err)
		default:
			if k.current != nil {
				k.log.Info("certificate renewed", "file", k.Cert, "serial", pair.Leaf.SerialNumber.Text(16), "expires", pair.Leaf.NotAfter)
			}
			k.current = &pair
		}
	}
	return k.current, nil
}
