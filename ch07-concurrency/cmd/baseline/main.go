// Command baseline is the load benchmark's yardstick: the default grpc-go
// server, as a Go programmer would first write it, with nothing tuned and
// nothing logged. Its SayHello calls time.Sleep for the request's
// sleep_millisecond and answers "Hello, <name>!"; grpc-go already runs
// each call on a goroutine of its own, so a sleeping call blocks nobody.
//
// The load table measures cmd/greeter's modes against it: the Go mode,
// bounds and all, must lose nothing to this server. It refuses a wait
// beyond greeter.MaxSleep, as the Greeter does, and nothing more: with
// none of the Greeter's bounds, it listens on loopback only by default.
//
//	go run ./ch07-concurrency/cmd/baseline   # on 127.0.0.1:9999
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// server is the whole service: sleep, then greet.
type server struct {
	pb.UnimplementedGreeterServer
}

func (server) SayHello(_ context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	d := time.Duration(req.GetSleepMillisecond()) * time.Millisecond
	if d < 0 || d > greeter.MaxSleep {
		return nil, status.Errorf(codes.InvalidArgument, "sleep_millisecond %d: want 0 to %d", req.GetSleepMillisecond(), greeter.MaxSleep.Milliseconds())
	}
	// A plain sleep, as in a first version: it ignores the call's
	// cancellation, which cmd/greeter's modes honour.
	time.Sleep(d)
	return &pb.HelloReply{Message: "Hello, " + req.GetName() + "!"}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9999", "gRPC listen address (unbounded: keep it off public interfaces)")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	// gRPC's defaults, on purpose, so no bounds: this is the yardstick, a
	// first server as written, that the bounded greeter is measured against.
	// Run it on loopback (as the load table does), not facing strangers.
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, server{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := s.Serve(lis); err != nil { // nil once stopped: else the listener broke
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
	}()
	fmt.Printf("baseline: serving gRPC on %s\n", lis.Addr())
	<-ctx.Done()
	// Calls in flight get 5 s to finish; a sleep of up to greeter.MaxSleep
	// ignores its cancellation, so GracefulStop (which waits for every
	// handler, even after Stop) runs aside, and past 5 s Stop cuts the
	// connections and main returns without it.
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.Stop()
		fmt.Println("baseline: shutdown timeout: cut the calls still in flight")
	}
	fmt.Println("baseline: stopped")
}
