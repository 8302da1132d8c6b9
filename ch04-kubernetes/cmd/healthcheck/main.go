// Command healthcheck asks a local service whether it is healthy and exits
// 0 if it is, 1 if not: the healthcheck of the compose file, copied into
// both images, which have no shell or curl to run one with.
//
//	healthcheck -grpc localhost:50051                # gRPC health checking
//	healthcheck -http http://localhost:5000/healthz  # HTTP 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/probe"
)

func main() {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	grpcAddr := fs.String("grpc", "", "host:port of a gRPC server to ask with grpc.health.v1")
	url := fs.String("http", "", "URL to GET; healthy if the answer is 200")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	cmdline.Main(fs, os.Args[1:], func() error {
		switch {
		case (*grpcAddr == "") == (*url == ""):
			return errors.New("give one of -grpc and -http")
		case *grpcAddr != "":
			return marketplace.CheckTarget(*grpcAddr)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	if *grpcAddr != "" {
		err = probe.GRPC(ctx, *grpcAddr, "")
	} else {
		err = probe.HTTP(ctx, *url)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}
