// Command loadgen loads helloworld.Greeter.SayHello the way the series'
// ghz command does, at a fraction of ghz's CPU a call, and prints ghz's
// summary. The series' command, with loadgen:
//
//	loadgen -c 100 -n 10000 -addr 127.0.0.1:9999
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadgen"
)

func main() {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	f := loadgen.NewFlags(fs)
	cmdline.Main(fs, os.Args[1:], f.Check)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := loadgen.Main(ctx, f, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
