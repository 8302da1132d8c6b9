// Package loadgen is a lean load generator for helloworld.Greeter.SayHello:
// the series' ghz command, rewritten on the generated Go client so that it
// spends as little CPU as it can on each call. On a two-core machine the
// load generator and the server share the cores, and every microsecond the
// client spends is one the server does not get: a load generator that is
// cheap per call measures the server, not itself.
//
// It is lean by construction: Config.Concurrency workers, no goroutine per
// call; workers take call numbers from one atomic counter, so exactly
// Config.Total calls are made with no lock and no channel; each call writes
// its latency and status code into its own slot of slices allocated before
// the run starts; worker w uses connection w modulo Config.Connections, the
// round-robin ghz uses.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// Config is one load run: the series' ghz command is Concurrency 100,
// Total 10,000, Name "Joe", Sleep 10 ms.
type Config struct {
	Concurrency int           // workers, each with one call in flight (ghz -c)
	Total       int           // calls in all (ghz -n)
	Connections int           // client connections the workers share (ghz --connections)
	Name        string        // the request's name
	Sleep       time.Duration // the request's sleep_millisecond, whole milliseconds
	Timeout     time.Duration // each call's deadline (ghz -t); 0 means none
}

// Check reports the first thing wrong with c, in the words of the
// command's flags.
func (c Config) Check() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("-c %d: the concurrency must be at least 1", c.Concurrency)
	case c.Total < 1:
		return fmt.Errorf("-n %d: the number of calls must be at least 1", c.Total)
	case c.Connections < 1:
		return fmt.Errorf("-connections %d: at least 1 connection is needed", c.Connections)
	case c.Connections > c.Concurrency:
		// Worker w uses connection w mod Connections: with fewer workers
		// than connections, some connections would carry no call.
		return fmt.Errorf("-connections %d is more than -c %d: each connection needs at least one worker", c.Connections, c.Concurrency)
	case c.Sleep < 0 || c.Sleep%time.Millisecond != 0 || c.Sleep.Milliseconds() > 1<<31-1:
		return fmt.Errorf("-sleep %d: a whole, non-negative number of milliseconds is needed", c.Sleep.Milliseconds())
	case c.Timeout < 0:
		return fmt.Errorf("-timeout %v: must not be negative", c.Timeout)
	}
	return nil
}

// Connect opens n client connections to target, each its own HTTP/2
// connection (grpc-go never shares a transport between two ClientConns).
// They connect lazily, on their first call. opts come after the insecure
// credentials, so a test can add a dialer.
func Connect(target string, n int, opts ...grpc.DialOption) ([]*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		conn, err := grpc.NewClient(target, opts...)
		if err != nil {
			_ = Close(conns)
			return nil, err
		}
		conns = append(conns, conn)
	}
	return conns, nil
}

// Close closes every connection and returns the first error.
func Close(conns []*grpc.ClientConn) error {
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// RunAt runs cfg against target on cfg.Connections fresh connections
// (Connect, Run, Close), so that a run pays for its own connections and
// leaves none open; opts are Connect's. It returns an error only when the
// connections cannot be made or closed; failed calls are in the report.
// Like Run, it panics if cfg fails Check.
func RunAt(ctx context.Context, target string, cfg Config, opts ...grpc.DialOption) (*Report, error) {
	conns, err := Connect(target, cfg.Connections, opts...)
	if err != nil {
		return nil, err
	}
	ifaces := make([]grpc.ClientConnInterface, len(conns))
	for i, c := range conns {
		ifaces[i] = c
	}
	r := Run(ctx, ifaces, cfg)
	if err := Close(conns); err != nil {
		return nil, err
	}
	return r, nil
}

// Run makes cfg.Total calls over conns with cfg.Concurrency workers and
// returns what happened. When ctx ends, the workers stop taking new calls
// and the calls in flight end with ctx's error; the report then counts only
// the calls that were made. Run panics if cfg fails Check or conns is not
// cfg.Connections long: both are the caller's bugs.
func Run(ctx context.Context, conns []grpc.ClientConnInterface, cfg Config) *Report {
	if err := cfg.Check(); err != nil {
		panic("loadgen: " + err.Error())
	}
	if len(conns) != cfg.Connections {
		panic(fmt.Sprintf("loadgen: %d connections for -connections %d", len(conns), cfg.Connections))
	}
	// One slot per call, written by the worker that made the call and read
	// only after all workers are done: no lock, no allocation while the
	// load runs.
	latencies := make([]time.Duration, cfg.Total)
	codeOf := make([]codes.Code, cfg.Total)
	errOf := make([]error, cfg.Total) // nil for every successful call
	var next atomic.Int64

	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Concurrency {
		client := pb.NewGreeterClient(conns[w%len(conns)])
		// Each worker has its own request: marshalling a message writes
		// its cached size, and one message shared by all workers would be
		// a cache line they all write to.
		req := &pb.HelloRequest{Name: cfg.Name, SleepMillisecond: int32(cfg.Sleep.Milliseconds())}
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Total || ctx.Err() != nil {
					return
				}
				latencies[i], codeOf[i], errOf[i] = call(ctx, client, req, cfg.Timeout)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	// When ctx ended the run early, some slots were never called: their
	// latency is still zero (call never returns a zero latency).
	r := &Report{Total: elapsed, Codes: map[codes.Code]int{}, Errors: map[codes.Code]error{}}
	r.Latencies = make([]time.Duration, 0, cfg.Total)
	for i, d := range latencies {
		if d == 0 {
			continue
		}
		r.Latencies = append(r.Latencies, d)
		r.Codes[codeOf[i]]++
		if errOf[i] != nil && r.Errors[codeOf[i]] == nil {
			r.Errors[codeOf[i]] = errOf[i]
		}
		if r.FirstError == nil {
			r.FirstError = errOf[i]
		}
	}
	slices.Sort(r.Latencies) // the percentiles need them in order
	return r
}

// call makes one SayHello call and times it.
func call(ctx context.Context, client pb.GreeterClient, req *pb.HelloRequest, timeout time.Duration) (time.Duration, codes.Code, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	_, err := client.SayHello(ctx, req)
	d := time.Since(start)
	if d == 0 {
		d = 1 // zero marks a slot never called (see Run)
	}
	return d, status.Code(err), err
}
