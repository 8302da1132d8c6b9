// Command greeter serves helloworld.Greeter, the series' benchmark service,
// in one of three modes, to show and to measure what a blocking wait does
// to a server:
//
//	go run ./ch07-concurrency/cmd/greeter                    # -mode go: a goroutine per call, on :9999
//	go run ./ch07-concurrency/cmd/greeter -mode eventloop    # the asyncio pitfall: one loop that blocks
//	go run ./ch07-concurrency/cmd/greeter -mode eventloop -executor 4   # ...handing its waits to 4 workers
//	go run ./ch07-concurrency/cmd/greeter -mode onestream    # MaxConcurrentStreams(1) per connection
//
// Every answer logs "Handling request" and "Done" on standard output,
// unless -quiet.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
)

// options are what the flags fill, and the bounds main fixes (tests
// shorten them).
type options struct {
	greeter.Options
	handshake time.Duration // a new connection's HTTP/2 handshake
	idle      time.Duration // a connection without calls is closed after it
	age       time.Duration // every connection is closed after it (a GOAWAY first)
	ping      time.Duration // a silent client is pinged, and dropped if it does not answer
}

// newServer builds the gRPC server the binary runs, bounded so that a few
// idle or misbehaving clients cannot hold its memory or lock others out.
// extra comes last (tests add interceptors).
func newServer(o options, extra ...grpc.ServerOption) (*grpc.Server, *greeter.Server, error) {
	g, err := greeter.New(o.Options)
	if err != nil {
		return nil, nil, err
	}
	streams := uint32(100) // calls one connection carries at once
	if o.Mode == greeter.OneStream {
		streams = 1 // the lesson: one call at a time per connection
	}
	s := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxConcurrentStreams(streams),
		grpc.ConnectionTimeout(o.handshake),
		// Age: an hour (main's), not chapter 4's 30 s: one greeter has no replicas to reach, and a
		// GOAWAY mid-benchmark would measure reconnections. Ping timeout = interval. (Tests shorten them.)
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     o.idle,
			MaxConnectionAge:      o.age,
			MaxConnectionAgeGrace: greeter.MaxSleep, // the longest call ends
			Time:                  o.ping,
			Timeout:               o.ping,
		}),
		// Clients may ping every 10 s, even between calls; more often is
		// abuse, and closes the connection.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// A request is a name and a number: 4 KiB is plenty, and bounds
		// what each call holds (5 greetings of it for a server stream).
		grpc.MaxRecvMsgSize(4 << 10), grpc.MaxHeaderListSize(8 << 10),
		// Fixed 64 KiB windows: a stream holds at most that much its
		// handler has not read (grpc-go would grow them to megabytes).
		grpc.InitialWindowSize(64 << 10), grpc.InitialConnWindowSize(64 << 10),
	}, extra...)...)
	g.Register(s)
	return s, g, nil
}

// shutdown stops s gracefully, for bound at most: then Stop cancels the calls left, whose waits
// end with them, and their handlers get bound again to return (GracefulStop waits for every one,
// even after Stop: not for ever). Close waits for the loop, bound again. graceful: none was cut.
func shutdown(s *grpc.Server, g *greeter.Server, bound time.Duration) (graceful bool, err error) {
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		graceful = true
	case <-time.After(bound):
		s.Stop()
		select { // the calls are cancelled: handlers that honour it return now
		case <-stopped:
		case <-time.After(bound):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	return graceful, g.Close(ctx)
}

func main() {
	addr := flag.String("addr", ":9999", "gRPC listen address")
	o := options{Options: greeter.Options{Mode: greeter.Go}, handshake: 5 * time.Second, idle: 5 * time.Minute, age: time.Hour, ping: time.Minute}
	flag.Var(&o.Mode, "mode", "how calls are handled: go, eventloop or onestream")
	flag.IntVar(&o.Executor, "executor", 0, "in eventloop mode, hand each wait to a pool of this many workers (asyncio's run_in_executor); 0 blocks the loop")
	quiet := flag.Bool("quiet", false, "do not log each request (for load runs)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(2, "unexpected argument %q: greeter takes flags only", flag.Arg(0))
	}
	if err := o.Check(); err != nil {
		fail(2, "-executor %d: %v", o.Executor, err)
	}
	if !*quiet {
		o.Log = log.New(os.Stdout, "", 0)
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(1, "%v", err)
	}
	s, g, err := newServer(o)
	if err != nil {
		fail(1, "%v", err)
	}
	// SIGINT (Ctrl+C) and SIGTERM both stop the server gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	fmt.Printf("greeter: serving gRPC on %s in %s mode\n", lis.Addr(), o.Mode)
	select {
	case err := <-served:
		fail(1, "%v", err)
	case <-ctx.Done():
	}
	graceful, err := shutdown(s, g, 5*time.Second)
	if err != nil {
		fail(1, "%v", err)
	}
	if !graceful {
		fmt.Println("greeter: shutdown timeout: cut the calls still in flight")
	}
	fmt.Println("greeter: stopped")
}

// fail prints one line that says what went wrong, and exits with code.
func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "greeter: "+format+"\n", args...)
	os.Exit(code)
}
