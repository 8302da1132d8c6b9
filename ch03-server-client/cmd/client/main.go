// Command client calls the Recommendations service once and prints what it
// answers: the books, or the status code and message.
//
//	go run ./ch03-server-client/cmd/client -category SCIENCE_FICTION -max 2
//	go run ./ch03-server-client/cmd/client -category 99     # NotFound
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/cli"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

func main() {
	cfg, err := cli.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}

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
