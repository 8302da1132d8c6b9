package certs_test

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/certs"
)

// bookstore is the configuration cmd/gencerts uses by default, in dir.
func bookstore(dir string) certs.Config {
	return certs.Config{
		Dir:         dir,
		Days:        365,
		ServerNames: certs.SplitNames("recommendations,localhost,127.0.0.1,::1"),
		ClientName:  "marketplace",
	}
}

// generate runs Generate and returns what it printed.
func generate(t *testing.T, c certs.Config) string {
	t.Helper()
	var out strings.Builder
	require.NoError(t, certs.Generate(c, &out))
	return out.String()
}

// loadCert reads the certificate in file.
func loadCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(pemBlock(t, data).Bytes)
	require.NoError(t, err)
	return cert
}

// expected returns Generate's output with every date replaced by
// "DATE", and the dates in the order they appear.
func expected(out string) (string, []string) {
	date := regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
	return date.ReplaceAllString(out, "DATE"), date.FindAllString(out, -1)
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	start := time.Now()
	out, dates := expected(generate(t, bookstore(dir)))
	assert.Equal(t, fmt.Sprintf(`wrote %[1]s/ca.crt (CA: Bookstore CA; expires DATE)
wrote %[1]s/ca.key (CA private key)
wrote %[1]s/recommendations.crt (server: recommendations, localhost, 127.0.0.1, ::1; expires DATE)
wrote %[1]s/recommendations.key (private key)
wrote %[1]s/marketplace.crt (client: marketplace; expires DATE)
wrote %[1]s/marketplace.key (private key)
`, dir), out)

	assertMode(t, dir, os.ModeDir|0o700)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		mode := os.FileMode(0o644)
		if strings.HasSuffix(e.Name(), ".key") {
			mode = 0o600
		}
		assertMode(t, filepath.Join(dir, e.Name()), mode)
	}
	assert.Equal(t, []string{"ca.crt", "ca.key", "marketplace.crt", "marketplace.key", "recommendations.crt", "recommendations.key"}, names)

	ca, err := certs.LoadAuthority(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	assert.Equal(t, certs.CACommonName, ca.Certificate.Subject.CommonName)
	server := loadCert(t, filepath.Join(dir, "recommendations.crt"))
	client := loadCert(t, filepath.Join(dir, "marketplace.crt"))
	for _, name := range []string{"recommendations", "localhost", "127.0.0.1", "::1"} {
		assert.NoError(t, verify(ca, server, name), "the server certificate is valid for %s", name)
	}
	if assert.Len(t, server.IPAddresses, 2, "the names that are IPs are IP SANs") {
		assert.True(t, server.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
		assert.True(t, server.IPAddresses[1].Equal(net.ParseIP("::1")))
	}
	assert.Equal(t, []string{"recommendations", "localhost"}, server.DNSNames)
	assert.NoError(t, verify(ca, client, ""), "the client certificate is valid for clients")
	assert.Equal(t, "marketplace", client.Subject.CommonName)

	// The dates printed are the certificates' own; the leaves last a year
	// and the CA ten times as long.
	assert.Equal(t, []string{day(ca.Certificate.NotAfter), day(server.NotAfter), day(client.NotAfter)}, dates)
	assert.True(t, server.NotAfter.After(start.AddDate(0, 0, 365).Add(-time.Second)))
	assert.True(t, server.NotAfter.Before(time.Now().AddDate(0, 0, 365).Add(time.Second)))
	assert.True(t, ca.Certificate.NotAfter.After(start.AddDate(0, 0, 3650).Add(-time.Second)))
	assert.True(t, server.NotBefore.Before(start), "backdated, for clocks slightly behind")
}

// Run again, Generate keeps the CA and renews the leaves: the services'
// -tls-ca file stays valid, and they pick the new certificates up.
func TestGenerateReusesTheCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	generate(t, bookstore(dir))
	caBefore, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	keyBefore, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	serverBefore := loadCert(t, filepath.Join(dir, "recommendations.crt"))

	c := bookstore(dir)
	c.Days = 30
	out, _ := expected(generate(t, c))
	assert.Equal(t, fmt.Sprintf(`reused %[1]s/ca.crt (CA: Bookstore CA; expires DATE)
reused %[1]s/ca.key
wrote %[1]s/recommendations.crt (server: recommendations, localhost, 127.0.0.1, ::1; expires DATE)
wrote %[1]s/recommendations.key (private key)
wrote %[1]s/marketplace.crt (client: marketplace; expires DATE)
wrote %[1]s/marketplace.key (private key)
`, dir), out)

	caAfter, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	keyAfter, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	assert.Equal(t, caBefore, caAfter, "the CA certificate is unchanged")
	assert.Equal(t, keyBefore, keyAfter, "the CA key is unchanged")
	serverAfter := loadCert(t, filepath.Join(dir, "recommendations.crt"))
	assert.NotEqual(t, serverBefore.SerialNumber, serverAfter.SerialNumber, "a new server certificate")
	assert.True(t, serverAfter.NotAfter.Before(serverBefore.NotAfter), "valid for 30 days now")
	ca, err := certs.LoadAuthority(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	assert.NoError(t, verify(ca, serverAfter, "recommendations"), "signed by the same CA")

	// A renewal longer than the CA's life is refused, with the way out.
	c.Days = 3651
	err = certs.Generate(c, new(strings.Builder))
	assert.ErrorContains(t, err, "would outlive its CA")
	assert.ErrorContains(t, err, "remove "+filepath.Join(dir, "ca.crt")+" and "+filepath.Join(dir, "ca.key"))
}

// Half a CA is not silently replaced: its key may be the one the services
// trust.
func TestGenerateRefusesHalfACA(t *testing.T) {
	for _, missing := range []string{"ca.crt", "ca.key"} {
		t.Run(missing, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			generate(t, bookstore(dir))
			require.NoError(t, os.Remove(filepath.Join(dir, missing)))
			server, err := os.ReadFile(filepath.Join(dir, "recommendations.crt"))
			require.NoError(t, err)

			var out strings.Builder
			err = certs.Generate(bookstore(dir), &out)
			assert.ErrorContains(t, err, filepath.Join(dir, missing)+" does not")
			assert.Empty(t, out.String())
			after, err := os.ReadFile(filepath.Join(dir, "recommendations.crt"))
			require.NoError(t, err)
			assert.Equal(t, server, after, "nothing rewritten")
		})
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*certs.Config)
		want   string
	}{
		{"no dir", func(c *certs.Config) { c.Dir = "" }, "-dir: empty directory name"},
		{"zero days", func(c *certs.Config) { c.Days = 0 }, "-days: must be from 1 to 36500, got 0"},
		{"negative days", func(c *certs.Config) { c.Days = -1 }, "-days: must be from 1 to 36500, got -1"},
		{"too many days", func(c *certs.Config) { c.Days = certs.MaxDays + 1 }, "-days: must be from 1 to 36500, got 36501"},
		{"no server names", func(c *certs.Config) { c.ServerNames = nil }, "-server-names: give at least one name"},
		{"an empty server name", func(c *certs.Config) { c.ServerNames = certs.SplitNames("a,,b") }, `-server-names: empty name in "a,,b"`},
		{"all empty", func(c *certs.Config) { c.ServerNames = certs.SplitNames("") }, `-server-names: empty name in ""`},
		{"a port", func(c *certs.Config) { c.ServerNames = certs.SplitNames("localhost:50051") }, `-server-names: "localhost:50051" is neither a host name nor an IP address (leave out ports and schemes)`},
		{"no client name", func(c *certs.Config) { c.ClientName = " " }, "-client-name: empty name"},
		{"valid", func(*certs.Config) {}, ""},
		{"the most days", func(c *certs.Config) { c.Days = certs.MaxDays }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bookstore(t.TempDir())
			tc.change(&c)
			err := c.Check()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
			assert.EqualError(t, certs.Generate(c, new(strings.Builder)), tc.want, "Generate checks too")
		})
	}
}

func TestSplitNames(t *testing.T) {
	assert.Equal(t, []string{"recommendations", "localhost", "::1"}, certs.SplitNames("recommendations, localhost ,::1"))
	assert.Equal(t, []string{"a", "", "b"}, certs.SplitNames("a,,b"))
}

// day formats t as Generate prints it.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
