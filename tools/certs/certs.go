// Package certs is a tiny certificate authority for the tests of chapter
// 6: beyond what ch06-best-practices/cmd/gencerts makes for a reader, it
// issues the certificates the tests need to prove what TLS refuses (an
// expired certificate, one made for the other side, one from another CA,
// a name only in the common name). It uses Go's crypto/x509 with ECDSA
// P-256 keys.
//
// One difference from the series' openssl commands matters: they put the
// service's name only in the certificate's subject common name (CN). Go
// verifies a server's name only against the certificate's subject
// alternative names (SANs) and ignores the common name, as browsers have
// for years; a certificate with the name only in CN fails in Go with
// "certificate relies on legacy Common Name field". So a server's Leaf
// lists every name a client dials it by (DNSNames) and every address
// (IPs): "recommendations" inside compose or Kubernetes, "localhost" and
// 127.0.0.1 on a laptop.
//
// Serial numbers are 128 random bits, so two certificates never share one
// (a client can tell a renewed certificate from the old one by its serial).
// Private keys are written in PKCS #8 ("PRIVATE KEY" PEM blocks), readable
// by Go, openssl and Python alike, with file mode 0600.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Authority is a certificate authority: a self-signed CA certificate and
// the key that signs the certificates it issues.
type Authority struct {
	// Certificate is the CA's certificate: what clients and servers put in
	// their trust pools (-tls-ca).
	Certificate *x509.Certificate

	certPEM []byte
	key     crypto.Signer
}

// NewAuthority makes a new CA with a fresh ECDSA P-256 key, valid from
// notBefore to notAfter. It may sign leaf certificates only (path length
// zero): it cannot make further CAs.
func NewAuthority(commonName string, notBefore, notAfter time.Time) (*Authority, error) {
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("certs: CA %q: notAfter %v is not after notBefore %v", commonName, notAfter, notBefore)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: CA %q: %w", commonName, err)
	}
	return newAuthority(der, key)
}

// newAuthority returns the Authority of a CA certificate and its key.
func newAuthority(der []byte, key crypto.Signer) (*Authority, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	return &Authority{
		Certificate: cert,
		certPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:         key,
	}, nil
}

// CertPEM returns the CA's certificate in PEM: the file both sides trust.
func (a *Authority) CertPEM() []byte { return a.certPEM }

// KeyPEM returns the CA's private key in PKCS #8 PEM. Whoever holds it can
// issue certificates that every service trusting this CA accepts: keep it
// out of images and repositories.
func (a *Authority) KeyPEM() ([]byte, error) { return marshalKey(a.key) }

// WriteFiles writes the CA's certificate to dir/name.crt (mode 0644) and
// its key to dir/name.key (mode 0600), creating dir (mode 0700) if needed.
func (a *Authority) WriteFiles(dir, name string) error {
	keyPEM, err := a.KeyPEM()
	if err != nil {
		return err
	}
	return writePair(dir, name, a.certPEM, keyPEM)
}

// Leaf describes a certificate for a service, as Issue makes it.
type Leaf struct {
	// CommonName is the subject's name, for people reading the
	// certificate; Go does not check it (see DNSNames).
	CommonName string
	// DNSNames are the host names a server certificate is valid for: a
	// client dialing "recommendations:50051" accepts the server only if
	// "recommendations" is among them.
	DNSNames []string
	// IPs are the addresses a server certificate is valid for, for clients
	// that dial an address such as 127.0.0.1:50051.
	IPs []net.IP
	// Server allows the certificate to identify a server (extended key
	// usage serverAuth): clients refuse a server certificate without it.
	Server bool
	// Client allows the certificate to identify a client (extended key
	// usage clientAuth): an mTLS server refuses a client certificate
	// without it.
	Client bool
	// NotBefore and NotAfter bound the certificate's validity; outside
	// them, peers refuse it as expired (or not yet valid).
	NotBefore, NotAfter time.Time
}

// KeyPair is an issued certificate with its private key.
type KeyPair struct {
	// CertPEM is the certificate in PEM.
	CertPEM []byte
	// KeyPEM is the private key in PKCS #8 PEM.
	KeyPEM []byte
	// Certificate is the certificate, parsed: its serial number, names and
	// validity, for tests and for printing.
	Certificate *x509.Certificate
}

// Issue makes a new ECDSA P-256 key and a certificate for it, as leaf
// describes, signed by a. A server certificate must name at least one DNS
// name or IP (Go ignores the common name), and a certificate cannot
// outlive its CA: peers would refuse it once the CA expired.
func (a *Authority) Issue(leaf Leaf) (*KeyPair, error) {
	switch {
	case !leaf.Server && !leaf.Client:
		return nil, fmt.Errorf("certs: %q: set Server, Client or both", leaf.CommonName)
	case leaf.Server && len(leaf.DNSNames) == 0 && len(leaf.IPs) == 0:
		return nil, fmt.Errorf("certs: %q: a server certificate needs a DNS name or an IP: Go checks the name a client dials only against them", leaf.CommonName)
	case !leaf.NotAfter.After(leaf.NotBefore):
		return nil, fmt.Errorf("certs: %q: NotAfter %v is not after NotBefore %v", leaf.CommonName, leaf.NotAfter, leaf.NotBefore)
	case leaf.NotAfter.Truncate(time.Second).After(a.Certificate.NotAfter): // certificates keep whole seconds
		return nil, fmt.Errorf("certs: %q: would outlive its CA %q, which expires %s",
			leaf.CommonName, a.Certificate.Subject.CommonName, a.Certificate.NotAfter.UTC().Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: key for %q: %w", leaf.CommonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: leaf.CommonName},
		DNSNames:              leaf.DNSNames,
		IPAddresses:           leaf.IPs,
		NotBefore:             leaf.NotBefore,
		NotAfter:              leaf.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, // and IsCA false: it cannot sign certificates
	}
	if leaf.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Certificate, key.Public(), a.key)
	if err != nil {
		return nil, fmt.Errorf("certs: %q: %w", leaf.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: %q: %w", leaf.CommonName, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		CertPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:      keyPEM,
		Certificate: cert,
	}, nil
}

// WriteFiles writes the certificate to dir/name.crt (mode 0644) and the key
// to dir/name.key (mode 0600), creating dir (mode 0700) if needed.
func (p *KeyPair) WriteFiles(dir, name string) error {
	return writePair(dir, name, p.CertPEM, p.KeyPEM)
}

// TLSCertificate returns the pair as crypto/tls uses it, for a
// tls.Config's Certificates or GetCertificate.
func (p *KeyPair) TLSCertificate() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	return c, nil
}

// newSerial returns a random serial number of 128 bits, never zero (RFC
// 5280 asks for a positive one).
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit.Sub(limit, big.NewInt(1)))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// marshalKey encodes key in PKCS #8 PEM.
func marshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writePair writes dir/name.key and then dir/name.crt.
func writePair(dir, name string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := writeFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".crt"), certPEM, 0o644)
}

// writeFile replaces path with data atomically: it writes a temporary file
// beside it and renames it over path, so a service reading path while it
// is renewed sees the old file or the new one, never half of one.
func writeFile(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // created with mode 0600
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), perm)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	return nil
}
