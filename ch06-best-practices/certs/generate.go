package certs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The base names of the files Generate writes in Config.Dir, each pair as
// name.crt and name.key.
const (
	// CAFile is the CA that both services trust.
	CAFile = "ca"
	// ServerFile is Recommendations' server certificate.
	ServerFile = "recommendations"
	// ClientFile is the Marketplace's client certificate, for mTLS.
	ClientFile = "marketplace"
)

// CACommonName is the subject of the CA Generate makes.
const CACommonName = "Bookstore CA"

// caLifetimes is how many leaf lifetimes a new CA lasts: long enough to
// renew its leaf certificates many times before the CA itself must be
// replaced, which is a bigger operation (every service must trust the new
// CA before any presents a certificate from it).
const caLifetimes = 10

// MaxDays bounds Config.Days: a hundred years, so that the CA's ten
// lifetimes still end before the year 9999, the last one a certificate can
// name.
const MaxDays = 36500

// clockSkew backdates every certificate a little, so a machine whose clock
// is slightly behind the one that made it does not refuse it as "not yet
// valid".
const clockSkew = 5 * time.Minute

// Config is what Generate makes: the bookstore's CA, Recommendations'
// server certificate and the Marketplace's client certificate.
type Config struct {
	// Dir is where the files go, created with mode 0700 if missing.
	Dir string
	// Days is how many days the server and client certificates last,
	// from 1 to MaxDays.
	Days int
	// ServerNames are the names clients dial Recommendations by: each is a
	// DNS name in the server certificate, or an IP if it parses as one.
	// The first is also its common name.
	ServerNames []string
	// ClientName is the client certificate's common name.
	ClientName string
}

// Check reports the first thing wrong with c, naming the flag of
// cmd/gencerts that sets it.
func (c Config) Check() error {
	switch {
	case c.Dir == "":
		return errors.New("-dir: empty directory name")
	case c.Days < 1 || c.Days > MaxDays:
		return fmt.Errorf("-days: must be from 1 to %d, got %d", MaxDays, c.Days)
	case len(c.ServerNames) == 0:
		return errors.New("-server-names: give at least one name")
	case strings.TrimSpace(c.ClientName) == "":
		return errors.New("-client-name: empty name")
	}
	for _, name := range c.ServerNames {
		switch {
		case strings.TrimSpace(name) == "":
			return fmt.Errorf("-server-names: empty name in %q", strings.Join(c.ServerNames, ","))
		case net.ParseIP(name) == nil && strings.ContainsAny(name, ":/ "):
			return fmt.Errorf("-server-names: %q is neither a host name nor an IP address (leave out ports and schemes)", name)
		}
	}
	return nil
}

// SplitNames splits a comma-separated list of names (the -server-names
// flag), trimming spaces around each. An empty entry stays empty, for
// Check to refuse.
func SplitNames(list string) []string {
	names := strings.Split(list, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
	}
	return names
}

// Generate writes the bookstore's certificates into c.Dir: ca.crt and
// ca.key, recommendations.crt and .key, marketplace.crt and .key. If
// ca.crt and ca.key already exist there, it reuses that CA and issues new
// server and client certificates only: that is how certificates are
// renewed while the services run, since both keep trusting the same CA.
// It prints one line to out per file it writes or reuses.
func Generate(c Config, out io.Writer) error {
	if err := c.Check(); err != nil {
		return err
	}
	now := time.Now()
	caCert, caKey := filepath.Join(c.Dir, CAFile+".crt"), filepath.Join(c.Dir, CAFile+".key")
	ca, reused, err := authority(caCert, caKey, now.Add(-clockSkew), now.AddDate(0, 0, caLifetimes*c.Days))
	if err != nil {
		return err
	}
	caNote := fmt.Sprintf("CA: %s; expires %s", ca.Certificate.Subject.CommonName, day(ca.Certificate.NotAfter))
	if reused {
		fmt.Fprintf(out, "reused %s (%s)\n", caCert, caNote)
		fmt.Fprintf(out, "reused %s\n", caKey)
	} else {
		if err := ca.WriteFiles(c.Dir, CAFile); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (%s)\n", caCert, caNote)
		fmt.Fprintf(out, "wrote %s (CA private key)\n", caKey)
	}

	server := Leaf{
		CommonName: c.ServerNames[0],
		Server:     true,
		NotBefore:  now.Add(-clockSkew),
		NotAfter:   now.AddDate(0, 0, c.Days),
	}
	for _, name := range c.ServerNames {
		if ip := net.ParseIP(name); ip != nil {
			server.IPs = append(server.IPs, ip)
		} else {
			server.DNSNames = append(server.DNSNames, name)
		}
	}
	client := Leaf{
		CommonName: c.ClientName,
		Client:     true,
		NotBefore:  now.Add(-clockSkew),
		NotAfter:   now.AddDate(0, 0, c.Days),
	}
	for _, leaf := range []struct {
		file, role string
		leaf       Leaf
	}{
		{ServerFile, "server: " + strings.Join(c.ServerNames, ", "), server},
		{ClientFile, "client: " + c.ClientName, client},
	} {
		pair, err := ca.Issue(leaf.leaf)
		if err != nil {
			if reused {
				return fmt.Errorf("%w: to replace the CA, remove %s and %s, run again, and restart both services", err, caCert, caKey)
			}
			return err
		}
		if err := pair.WriteFiles(c.Dir, leaf.file); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (%s; expires %s)\n", filepath.Join(c.Dir, leaf.file+".crt"), leaf.role, day(pair.Certificate.NotAfter))
		fmt.Fprintf(out, "wrote %s (private key)\n", filepath.Join(c.Dir, leaf.file+".key"))
	}
	return nil
}

// authority loads the CA in certFile and keyFile if both exist, and makes
// a new one valid from notBefore to notAfter if neither does. Only one of
// them existing is an error: overwriting it could throw away the key of a
// CA that services still trust.
func authority(certFile, keyFile string, notBefore, notAfter time.Time) (ca *Authority, reused bool, err error) {
	certExists, err := exists(certFile)
	if err != nil {
		return nil, false, err
	}
	keyExists, err := exists(keyFile)
	if err != nil {
		return nil, false, err
	}
	switch {
	case certExists && keyExists:
		ca, err := LoadAuthority(certFile, keyFile)
		return ca, true, err
	case certExists:
		return nil, false, fmt.Errorf("%s exists but %s does not: restore the key, or remove both to make a new CA", certFile, keyFile)
	case keyExists:
		return nil, false, fmt.Errorf("%s exists but %s does not: restore the certificate, or remove both to make a new CA", keyFile, certFile)
	}
	ca, err = NewAuthority(CACommonName, notBefore, notAfter)
	return ca, false, err
}

// exists reports whether path exists.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certs: %w", err)
	}
	return true, nil
}

// day formats t as the date it falls on in UTC.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
