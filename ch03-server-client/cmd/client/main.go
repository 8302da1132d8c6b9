// Command client calls the Recommendations service once and prints what it
// answers: the books, or the status code and message.
//
//	go run ./ch03-server-client/cmd/client -category SCIENCE_FICTION -max 2
//	go run ./ch03-server-client/cmd/client -category 99     # NotFound
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/cli"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

func main() {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	config := cli.Flags(fs)
	var cfg cli.Config
	cmdline.Main(fs, os.Args[1:], func() (err error) {
		cfg, err = config()
		return err
	})

	conn, err := marketplace.Connect(cfg.Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	if err := cli.Recommend(ctx, pb.NewRecommendationsClient(conn), cfg.Request, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, cli.Describe(err))
		os.Exit(1)
	}
}
