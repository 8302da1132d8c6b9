// Command loadtable reproduces the series' benchmark table on this
// machine, with Go beside Python: it builds cmd/greeter and the default
// grpc-go server (ch07-concurrency/baseline), starts them and the series'
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
// -ghz names a ghz binary: then every run is the series' ghz command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
