// Command gencerts makes the certificates of chapter 6's TLS and mTLS: a
// CA, a server certificate for Recommendations and a client certificate
// for the Marketplace, with Go's crypto/x509 instead of openssl.
//
//	go run ./ch06-best-practices/cmd/gencerts              # writes certs/
//	go run ./ch06-best-practices/cmd/gencerts -days 1      # renews the leaves, keeps the CA
//
// Run again, it keeps the CA already in -dir and only renews the server
// and client certificates: the running services trust the same CA, and
// pick the new certificates up on their next connection, without a
// restart. Remove ca.crt and ca.key to start over with a new CA.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/certs"
)

func main() {
	fs := flag.NewFlagSet("gencerts", flag.ContinueOnError)
	dir := fs.String("dir", "certs", "directory to write the certificates and keys into (created with mode 0700)")
	days := fs.Int("days", 365, "how many days the server and client certificates last")
	serverNames := fs.String("server-names", "recommendations,localhost,127.0.0.1,::1",
		"comma-separated names clients dial Recommendations by; IP addresses become IP SANs")
	clientName := fs.String("client-name", "marketplace", "common name of the Marketplace's client certificate")
	var cfg certs.Config
	cmdline.Main(fs, os.Args[1:], func() error {
		cfg = certs.Config{Dir: *dir, Days: *days, ServerNames: certs.SplitNames(*serverNames), ClientName: *clientName}
		return cfg.Check()
	})

	if err := certs.Generate(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}
