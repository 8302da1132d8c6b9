package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
)

// Reload reports a change of the certificate and key files on disk, seen
// by a KeyPairReloader at a handshake.
type Reload struct {
	// Certificate is the certificate in use from now on: the renewed one,
	// or, if Err is set, the one in use before.
	Certificate *x509.Certificate
	// Err is why the files on disk did not load (a renewal half-written,
	// a key that does not match its certificate); nil if they did.
	Err error
}

// KeyPairReloader serves a certificate and key from files, and reads them
// again when they change, so a certificate renewed on disk is used from
// the next handshake on, without a restart. Connections already open keep
// the certificate they started with.
//
// At every handshake it reads both files and compares them with what it
// last saw. Reading two files of a kilobyte costs far less than the
// handshake itself, and, unlike comparing modification times and sizes, it
// cannot be fooled by a file system clock that ticks every few
// milliseconds (a renewal written within one tick, at the same size, looks
// unchanged). If the new files do not load, because a renewal is half
// written or its key and certificate do not match, the last good pair
// stays in use: a renewal gone wrong never takes a running service down.
// It is tried again when the files change again.
//
// Use GetCertificate in a server's tls.Config and GetClientCertificate in
// a client's. A KeyPairReloader is safe for concurrent use.
type KeyPairReloader struct {
	certFile, keyFile string
	onReload          func(Reload)

	mu      sync.Mutex
	current *tls.Certificate
	// seenCert, seenKey and seenErr are what the files held at the last
	// look, whether they loaded or not: a change is a difference from them.
	seenCert, seenKey []byte
	seenErr           string
	err               error // why the files on disk are not in use; nil if they are
}

// NewKeyPairReloader loads the certificate and key in certFile and keyFile,
// which must load now. onReload, if not nil, is called at each change of
// the files with what became of it; it is called while handshakes wait on
// the reloader, so it must return quickly and must not call the
// reloader's methods.
func NewKeyPairReloader(certFile, keyFile string, onReload func(Reload)) (*KeyPairReloader, error) {
	r := &KeyPairReloader{certFile: certFile, keyFile: keyFile, onReload: onReload}
	certPEM, keyPEM, err := r.read()
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	r.current, r.seenCert, r.seenKey = &pair, certPEM, keyPEM
	return r, nil
}

// GetCertificate returns the current certificate, for a server's
// tls.Config.GetCertificate.
func (r *KeyPairReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.refresh(), nil
}

// GetClientCertificate returns the current certificate, for a client's
// tls.Config.GetClientCertificate: the server asked for one (mTLS).
func (r *KeyPairReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.refresh(), nil
}

// Certificate returns the certificate in use, without looking at the
// files.
func (r *KeyPairReloader) Certificate() *x509.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current.Leaf
}

// Err returns why the files on disk, as last seen, are not the
// certificate in use, or nil if they are.
func (r *KeyPairReloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// refresh loads the files if they changed since the last look, and returns
// the certificate to use. The lock is held while reading, so that two
// handshakes never race to install an older and a newer pair.
func (r *KeyPairReloader) refresh() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, keyPEM, err := r.read()
	if err != nil {
		if err.Error() != r.seenErr {
			r.seenCert, r.seenKey, r.seenErr = nil, nil, err.Error()
			r.failed(err)
		}
		return r.current
	}
	if r.seenErr == "" && bytes.Equal(certPEM, r.seenCert) && bytes.Equal(keyPEM, r.seenKey) {
		return r.current
	}
	r.seenCert, r.seenKey, r.seenErr = certPEM, keyPEM, ""
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		r.failed(fmt.Errorf("%s, %s: %w", r.certFile, r.keyFile, err))
		return r.current
	}
	r.current, r.err = &pair, nil
	if r.onReload != nil {
		r.onReload(Reload{Certificate: pair.Leaf})
	}
	return r.current
}

// failed records that the files on disk do not load, and says so.
func (r *KeyPairReloader) failed(err error) {
	r.err = fmt.Errorf("keeping the certificate in use: %w", err)
	if r.onReload != nil {
		r.onReload(Reload{Certificate: r.current.Leaf, Err: r.err})
	}
}

// read reads the certificate and key files.
func (r *KeyPairReloader) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}
