// Command gencerts makes chapter 6's certificates with Go's crypto/x509, not
// openssl: a CA, a server certificate for Recommendations and a client one for
// the Marketplace, each with an ECDSA P-256 key. Run again, it keeps the CA and
// issues new leaves: a renewal, which the services pick up on their next connection.
//
//	go run ./ch07-concurrency/cmd/gencerts   # writes certs/
package main

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	dir := flag.String("dir", "certs", "directory to write the certificates and keys into (created with mode 0700)")
	days := flag.Int("days", 365, "how many days the server and client certificates last (the CA ten times as long)")
	names := flag.String("server-names", "recommendations,localhost,127.0.0.1,::1", "comma-separated names clients dial Recommendations by")
	flag.Parse()
	if *days < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "gencerts: -days must be at least 1, and there are no arguments")
		os.Exit(2)
	}
	from := time.Now().Add(-5 * time.Minute) // for clocks a little behind this one
	leaf := func(name string, use x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, NotBefore: from, NotAfter: from.AddDate(0, 0, *days),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{use}}
	}
	// Go checks the name dialled against the alternative names only, never the common name.
	server := leaf("recommendations", x509.ExtKeyUsageServerAuth)
	for _, name := range strings.Split(*names, ",") {
		if ip := net.ParseIP(name); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, name)
		}
	}
	err := os.MkdirAll(*dir, 0o700)
	crt, key := filepath.Join(*dir, "ca.crt"), filepath.Join(*dir, "ca.key")
	pair, lerr := tls.LoadX509KeyPair(crt, key)
	ca, caKey := pair.Leaf, crypto.Signer(nil)
	_, crtErr := os.Stat(crt)
	if _, keyErr := os.Stat(key); err == nil && errors.Is(crtErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		// No CA yet. (Half of one is an error: never overwrite it.)
		ca, caKey, err = issue(*dir, "ca", &x509.Certificate{Subject: pkix.Name{CommonName: "Bookstore CA"}, NotBefore: from, IsCA: true,
			NotAfter: from.AddDate(0, 0, 10**days), BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	} else if err = cmp.Or(err, lerr); err == nil {
		caKey = pair.PrivateKey.(crypto.Signer) // every key tls loads is one
		fmt.Printf("reused %s and ca.key (%s, expires %s)\n", crt, ca.Subject.CommonName, ca.NotAfter.Format(time.DateOnly))
	}
	if err == nil {
		_, _, err = issue(*dir, "recommendations", server, ca, caKey)
	}
	if err == nil {
		_, _, err = issue(*dir, "marketplace", leaf("marketplace", x509.ExtKeyUsageClientAuth), ca, caKey)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}

// issue makes a key and a certificate from tmpl signed by parent (nil: itself), and writes
// dir/name.key and .crt, each renamed over the old, so a service never reads half a renewal.
func issue(dir, name string, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	tmpl.SerialNumber, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)) // unique: 128 random bits
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	keyDER, kerr := x509.MarshalPKCS8PrivateKey(key)
	cert, perr := x509.ParseCertificate(der)
	path, err := filepath.Join(dir, name), cmp.Or(err, kerr, perr)
	for _, f := range []struct {
		ext, kind string
		der       []byte
		mode      os.FileMode
	}{{".key", "PRIVATE KEY", keyDER, 0o600}, {".crt", "CERTIFICATE", der, 0o644}} {
		if err == nil {
			err = os.WriteFile(path+f.ext+".tmp", pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), f.mode)
		}
		if err == nil {
			err = os.Rename(path+f.ext+".tmp", path+f.ext)
		}
	}
	if err == nil {
		fmt.Printf("wrote %s.crt and %s.key (%s, expires %s)\n", path, name, cert.Subject.CommonName, cert.NotAfter.Format(time.DateOnly))
	}
	return cert, key, err
}
