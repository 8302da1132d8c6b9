// Command loadtable reproduces the series' benchmark table on this
// machine, with Go beside Python: it builds cmd/greeter and the default
// grpc-go server (ch07-concurrency/cmd/baseline), starts them and the series'
// Python servers as processes on loopback, loads each in turn with the
// series' parameters (100 concurrent calls, 10,000 calls, 10 ms), round
// after round so that all see the same machine, and prints a Markdown
// table: requests/sec, latency, and the CPU each server spent a call.
//
// Run it from the module's root, alone on the machine:
//
//	go run ./ch07-concurrency/cmd/loadtable -rounds 3
//	go run ./ch07-concurrency/cmd/loadtable -ghz $(go env GOPATH)/bin/ghz   # the series' own command
//	go run ./ch07-concurrency/cmd/loadtable -only baseline,go -connections 4
//
// The load comes from cmd/loadgen's engine, inside this process, unless
// -ghz names a ghz binary: then every run is the series' ghz command. The
// work is package loadtable's.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadtable"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadtable.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
