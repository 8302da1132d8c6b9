// Package tlsconfig turns chapter 6's TLS flags into gRPC transport
// credentials, for the Recommendations server and for its client, the
// Marketplace.
//
// With TLS, the server proves who it is: it presents a certificate for the
// name the client dialed, signed by a CA the client trusts, and the
// connection is encrypted. Anyone may still connect. With mutual TLS
// (mTLS), the client proves who it is too: the server asks for a client
// certificate and refuses a connection without one signed by the CA it
// trusts, so only a holder of such a certificate (the Marketplace) can
// call Recommendations at all.
//
// Both binaries take the same three flags, which mean:
//
//	                recommendations (server)        marketplace (client)
//	-tls-cert/key   its certificate: TLS on         its client certificate, for mTLS
//	-tls-ca         CA of the clients: mTLS on      CA of the server: TLS on
//
// Certificates expire, so they are renewed while the services run: the
// certificate and key files are read again when they change on disk (see
// KeyPairReloader), and the next connection uses the new pair. The CA file
// is read once, at start. Replacing a CA is a different operation from
// renewing a certificate: during a rotation each side must trust the old
// and the new CA at once (both in the -tls-ca file), until every
// certificate in use comes from the new one; a restart to pick up the
// longer file is part of that plan, not something to do behind its back.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Flags are the TLS flags of both binaries.
type Flags struct {
	// Cert is the PEM certificate file (-tls-cert): the server's own, or
	// the client's for mTLS.
	Cert string
	// Key is the PEM private key file of Cert (-tls-key).
	Key string
	// CA is the PEM file of the CA certificates to trust (-tls-ca): on the
	// server, those that sign client certificates (mTLS); on the client,
	// those that sign the server's certificate.
	CA string

	// OnReload, if set, is told about every change of the certificate and
	// key files on disk (see KeyPairReloader); the binaries log it. No
	// flag sets it.
	OnReload func(Reload)
}

// NewServerFlags defines -tls-cert, -tls-key and -tls-ca on fs with their
// meaning for a server.
func NewServerFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Cert, "tls-cert", "", "server certificate `FILE` (PEM); with -tls-key, turns TLS on")
	fs.StringVar(&f.Key, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	fs.StringVar(&f.CA, "tls-ca", "", "CA certificate `FILE` (PEM) that signs client certificates; requires them (mTLS)")
	return f
}

// NewClientFlags defines -tls-cert, -tls-key and -tls-ca on fs with their
// meaning for a client.
func NewClientFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Cert, "tls-cert", "", "client certificate `FILE` (PEM) to present for mTLS; needs -tls-ca")
	fs.StringVar(&f.Key, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	fs.StringVar(&f.CA, "tls-ca", "", "CA certificate `FILE` (PEM) that signs the server's certificate; turns TLS on")
	return f
}

// Mode names the security of the connection the flags ask for:
// "plaintext", "tls" (the server proves who it is) or "mtls" (both sides
// do).
func (f *Flags) Mode() string {
	switch {
	case f.CA != "" && f.Cert != "":
		return "mtls"
	case f.CA != "" || f.Cert != "":
		return "tls"
	}
	return "plaintext"
}

// CheckServer checks the flags of a server, a check for cmdline.Main: a
// certificate and its key go together, -tls-ca needs them, every file
// given must load, and the certificate must be valid now and made for a
// server. (A certificate that fails the last check would be refused by
// every client, one connection at a time; at start-up it is one line.)
func (f *Flags) CheckServer() error {
	if err := f.checkServer(); err != nil {
		return err
	}
	return f.checkLeaf(x509.ExtKeyUsageServerAuth, "server")
}

func (f *Flags) checkServer() error {
	switch {
	case f.Cert == "" && f.Key != "":
		return errors.New("-tls-key needs -tls-cert: give both for TLS, or neither for plaintext")
	case f.Cert != "" && f.Key == "":
		return errors.New("-tls-cert needs -tls-key: give both for TLS, or neither for plaintext")
	case f.CA != "" && f.Cert == "":
		return errors.New("-tls-ca requires client certificates (mTLS), which needs TLS: give -tls-cert and -tls-key too")
	}
	return f.checkFiles()
}

// CheckClient checks the flags of a client, a check for cmdline.Main: TLS
// is on when -tls-ca is given, a client certificate and its key go
// together and only with -tls-ca, every file given must load, and the
// client certificate must be valid now and made for a client.
func (f *Flags) CheckClient() error {
	if err := f.checkClient(); err != nil {
		return err
	}
	return f.checkLeaf(x509.ExtKeyUsageClientAuth, "client")
}

func (f *Flags) checkClient() error {
	switch {
	case f.Cert == "" && f.Key != "":
		return errors.New("-tls-key needs -tls-cert: the client certificate and its key go together")
	case f.Cert != "" && f.Key == "":
		return errors.New("-tls-cert needs -tls-key: the client certificate and its key go together")
	case f.Cert != "" && f.CA == "":
		return errors.New("-tls-cert is a client certificate for mTLS, which needs TLS: give -tls-ca, the CA of the server")
	}
	return f.checkFiles()
}

// checkFiles loads each file given, so that a typo fails at start with the
// flag's name, not at the first connection.
func (f *Flags) checkFiles() error {
	if f.Cert != "" {
		if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
			return fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
	}
	if f.CA != "" {
		if _, err := loadPool(f.CA); err != nil {
			return err
		}
	}
	return nil
}

// checkLeaf checks that the certificate of -tls-cert, if given, is valid
// now and allowed for use (server or client authentication), the two
// mistakes that load fine and then fail every handshake: an expired
// certificate, and the other side's certificate given by mistake.
func (f *Flags) checkLeaf(use x509.ExtKeyUsage, role string) error {
	if f.Cert == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	leaf := pair.Leaf
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("-tls-cert: %s expired on %s: renew it (go run ./ch06-best-practices/cmd/gencerts)", f.Cert, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("-tls-cert: %s is not valid before %s: check this machine's clock", f.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	case len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, use) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny):
		return fmt.Errorf("-tls-cert: %s is not a %s certificate (its extended key usage leaves out %s authentication)", f.Cert, role, role)
	}
	return nil
}

// ServerCredentials returns the server's transport credentials, for
// grpc.Creds: plaintext (insecure.NewCredentials) when no flag is given,
// so the caller passes credentials either way; otherwise TLS 1.3 with the
// certificate reloaded as it is renewed, and with -tls-ca, a client
// certificate signed by that CA required on every connection.
func (f *Flags) ServerCredentials() (credentials.TransportCredentials, error) {
	if f.Cert == "" && f.Key == "" && f.CA == "" {
		return insecure.NewCredentials(), nil
	}
	// The flags' combination and files; not checkLeaf, which is for the
	// operator at start-up: the tests serve expired and wrong-use
	// certificates on purpose, to show clients refuse them.
	if err := f.checkServer(); err != nil {
		return nil, err
	}
	pair, err := NewKeyPairReloader(f.Cert, f.Key, f.OnReload)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	cfg := &tls.Config{
		// TLS 1.3 only: both ends are ours, and 1.3 drops the old cipher
		// suites and encrypts the certificates on the wire.
		MinVersion:     tls.VersionTLS13,
		GetCertificate: pair.GetCertificate,
	}
	if f.CA != "" {
		cfg.ClientCAs, err = loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// ClientCredentials returns the client's transport credentials, for
// grpc.WithTransportCredentials: plaintext (insecure.NewCredentials)
// without -tls-ca; otherwise TLS 1.3, trusting only the server
// certificates that -tls-ca signs, for the name the client dials, and with
// -tls-cert and -tls-key, presenting that client certificate (reloaded as
// it is renewed) when the server asks for one.
func (f *Flags) ClientCredentials() (credentials.TransportCredentials, error) {
	if f.Cert == "" && f.Key == "" && f.CA == "" {
		return insecure.NewCredentials(), nil
	}
	if err := f.checkClient(); err != nil {
		return nil, err
	}
	roots, err := loadPool(f.CA)
	if err != nil {
		return nil, err
	}
	// No ServerName: gRPC fills it in from the name the client dials (or
	// grpc.WithAuthority), and the server's certificate must list it.
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	if f.Cert != "" {
		pair, err := NewKeyPairReloader(f.Cert, f.Key, f.OnReload)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		cfg.GetClientCertificate = pair.GetClientCertificate
	}
	return credentials.NewTLS(cfg), nil
}

// loadPool reads the PEM certificates in file (-tls-ca) into a pool.
func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("-tls-ca: no PEM certificate in %s", file)
	}
	return pool, nil
}
