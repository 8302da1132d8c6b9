// Command baseline is the load benchmark's yardstick: the default grpc-go
// server, as a Go programmer would first write it, with nothing tuned and
// nothing logged. Its SayHello calls time.Sleep for the request's
// sleep_millisecond and answers "Hello, <name>!"; grpc-go already runs
// each call on a goroutine of its own, so a sleeping call blocks nobody.
//
// cmd/loadtable measures cmd/greeter's modes against it: the Go mode must
// lose nothing to this server. It lives apart from cmd/greeter so that
// nothing chapter 7 adds (modes, logging, options) can slow it down.
//
//	go run ./ch07-concurrency/cmd/baseline -addr 127.0.0.1:9999
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// greeter is the whole service: sleep, then greet.
type greeter struct {
	pb.UnimplementedGreeterServer
}

func (greeter) SayHello(_ context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	// A plain sleep, as in a first version: it ignores the call's
	// cancellation, which cmd/greeter's Go mode honours.
	time.Sleep(time.Duration(req.GetSleepMillisecond()) * time.Millisecond)
	return &pb.HelloReply{Message: "Hello, " + req.GetName() + "!"}, nil
}

func main() {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	addr := fs.String("addr", ":9999", "gRPC listen address")
	cmdline.Main(fs, os.Args[1:])
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, greeter{})
	fmt.Printf("baseline: serving gRPC on %s\n", lis.Addr())
	// The load table kills it when done: no graceful stop to show here.
	if err := s.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
