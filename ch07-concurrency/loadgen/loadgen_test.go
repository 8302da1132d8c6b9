package loadgen_test

import (
	"bytes"
	"context"
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadgen"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a Greeter that counts calls and the calls in flight. Until
// `open` calls are inside it at the same time, every call waits at a
// barrier; the open-th call opens it for all, and later calls pass
// straight through. A load generator that never has `open` calls in
// flight at once therefore never finishes (each call's generous deadline
// then fails the test). With open 0 the barrier never opens and calls wait
// for their context to end.
type fake struct {
	pb.UnimplementedGreeterServer
	open int64
	fail func(n int64) error // the n-th call's error (from 1), or nil

	calls, inFlight, maxInFlight atomic.Int64
	once                         sync.Once
	opened                       chan struct{}
	// entered, if set, gets a token for each call that reaches the
	// handler (dropped when full): a test waits on it instead of polling.
	entered chan struct{}
}

func newFake(open int64) *fake { return &fake{open: open, opened: make(chan struct{})} }

func (f *fake) SayHello(ctx context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	n := f.calls.Add(1)
	in := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxInFlight.Load(); in > m && !f.maxInFlight.CompareAndSwap(m, in); m = f.maxInFlight.Load() {
	}
	if f.open > 0 && in >= f.open {
		f.once.Do(func() { close(f.opened) })
	}
	if f.entered != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
	}
	select {
	case <-f.opened:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return nil, err
		}
	}
	return &pb.HelloReply{Message: "Hello, " + req.GetName() + "!"}, nil
}

// serve starts f over bufconn and opens conns connections to it.
func serve(t *testing.T, f *fake, conns int) (*grpctest.Server, []grpc.ClientConnInterface) {
	t.Helper()
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, f) })
	cc, err := loadgen.Connect("passthrough:///bufnet", conns, s.DialOption())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, loadgen.Close(cc)) })
	ifaces := make([]grpc.ClientConnInterface, len(cc))
	for i, c := range cc {
		ifaces[i] = c
	}
	return s, ifaces
}

func config(c, n, conns int) loadgen.Config {
	// The deadline only stops a broken run from hanging: see fake.
	return loadgen.Config{Concurrency: c, Total: n, Connections: conns, Name: "Joe", Timeout: 30 * time.Second}
}

// Exactly n calls, with c of them in flight at once at the peak (the
// barrier opens only then) and never more; every connection carries
// calls, and only those connections are opened.
func TestRunMakesExactlyNCallsAtConcurrencyC(t *testing.T) {
	for _, tc := range []struct{ c, n, conns int }{{1, 5, 1}, {10, 95, 1}, {8, 40, 4}, {50, 50, 3}} {
		f := newFake(int64(tc.c))
		s, conns := serve(t, f, tc.conns)
		r := loadgen.Run(testwait.Context(t), conns, config(tc.c, tc.n, tc.conns))

		assert.Equal(t, int64(tc.n), f.calls.Load(), "calls the server saw, %+v", tc)
		assert.Equal(t, int64(tc.c), f.maxInFlight.Load(), "most calls in flight at once, %+v", tc)
		assert.Equal(t, tc.n, r.Count(), "%+v", tc)
		assert.Equal(t, map[codes.Code]int{codes.OK: tc.n}, r.Codes, "%+v", tc)
		assert.Empty(t, r.Errors)
		assert.Equal(t, int64(tc.conns), s.Accepted(), "connections, %+v", tc)
		assert.Positive(t, r.PerSecond())
		assert.LessOrEqual(t, r.Fastest(), r.Percentile(50))
		assert.LessOrEqual(t, r.Percentile(50), r.Slowest())
	}
}

// RunAt opens the run's own connections, makes the calls over all of
// them, and closes them.
func TestRunAtOpensAndClosesItsConnections(t *testing.T) {
	f := newFake(4)
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, f) })
	r, err := loadgen.RunAt(testwait.Context(t), "passthrough:///bufnet", config(4, 20, 2), s.DialOption())
	require.NoError(t, err)
	assert.Equal(t, 20, r.Count())
	assert.Equal(t, map[codes.Code]int{codes.OK: 20}, r.Codes)
	assert.Equal(t, int64(2), s.Accepted(), "connections")
}

// Failed calls are counted by their status code, with an example of each.
func TestRunCountsErrorsByCode(t *testing.T) {
	f := newFake(1)
	f.fail = func(n int64) error {
		switch {
		case n%5 == 0:
			return status.Error(codes.NotFound, "no such name")
		case n%7 == 0:
			return status.Error(codes.ResourceExhausted, "too busy")
		}
		return nil
	}
	_, conns := serve(t, f, 1)
	r := loadgen.Run(testwait.Context(t), conns, config(4, 70, 1))
	// Of 1..70: 14 multiples of 5; 10 multiples of 7, 2 of them (35, 70)
	// also of 5.
	assert.Equal(t, map[codes.Code]int{codes.OK: 70 - 14 - 8, codes.NotFound: 14, codes.ResourceExhausted: 8}, r.Codes)
	assert.Equal(t, 70, r.Count())
	assert.Equal(t, "no such name", status.Convert(r.Errors[codes.NotFound]).Message())
	assert.Equal(t, "too busy", status.Convert(r.Errors[codes.ResourceExhausted]).Message())
	// The server numbers calls as they arrive, loadgen as they start: with
	// 4 workers the two orders differ, so the first failure is either kind.
	assert.Contains(t, []codes.Code{codes.NotFound, codes.ResourceExhausted}, status.Code(r.FirstError))

	var out bytes.Buffer
	require.NoError(t, r.WriteSummary(&out))
	assert.Contains(t, out.String(), "  [OK]   48 responses   \n")
	assert.Contains(t, out.String(), "  [NotFound]   14 responses   \n")
	assert.Contains(t, out.String(), "  [ResourceExhausted]   8 responses   \n")
}

// A call's deadline ends it with DeadlineExceeded, counted like any code.
func TestRunCountsDeadlines(t *testing.T) {
	f := newFake(0) // never opens: every call waits for its deadline
	_, conns := serve(t, f, 1)
	cfg := config(3, 6, 1)
	cfg.Timeout = time.Millisecond
	r := loadgen.Run(testwait.Context(t), conns, cfg)
	assert.Equal(t, map[codes.Code]int{codes.DeadlineExceeded: 6}, r.Codes)
}

// Ending the run's context stops it: the calls in flight end Canceled and
// no new call starts, so the report holds exactly the calls made.
func TestRunStopsWhenTheContextEnds(t *testing.T) {
	f := newFake(0)
	f.entered = make(chan struct{}, 1000)
	_, conns := serve(t, f, 2)
	ctx, cancel := context.WithCancel(testwait.Context(t))
	defer cancel()
	done := make(chan *loadgen.Report, 1)
	go func() { done <- loadgen.Run(ctx, conns, config(4, 1000, 2)) }()
	// Cancel once all four workers are in the handler.
	for range 4 {
		testwait.Recv(t, f.entered, "a worker's call to reach the handler")
	}
	cancel()
	r := testwait.Recv(t, done, "the run to end")
	assert.Equal(t, 4, r.Count())
	assert.Equal(t, map[codes.Code]int{codes.Canceled: 4}, r.Codes)
	assert.Equal(t, int64(4), f.calls.Load())
}

// Main runs the command's load and prints ghz's summary.
func TestMainPrintsTheSummary(t *testing.T) {
	f := newFake(5)
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, f) })
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	flags := loadgen.NewFlags(fs)
	require.NoError(t, cmdline.Parse(fs, []string{"-addr", "passthrough:///bufnet", "-c", "5", "-n", "20", "-connections", "2", "-sleep", "0"}, flags.Check))
	var out bytes.Buffer
	require.NoError(t, loadgen.Main(testwait.Context(t), flags, &out, s.DialOption()))
	assert.Regexp(t, `(?s)^\nSummary:\n  Count:\t20\n  Total:\t.+\n  Slowest:\t.+\n  Fastest:\t.+\n  Average:\t.+\n  Requests/sec:\t[0-9.]+\n\nLatency distribution:\n  10 % in .+99 % in [0-9.]+ (s|ms|µs) \n\nStatus code distribution:\n  \[OK\]   20 responses   \n$`, out.String())
	assert.Equal(t, int64(2), s.Accepted())
}

// When no call succeeds, Main still prints the summary, and then returns
// an error carrying the first call's error, which cmd/loadgen prints.
func TestMainFailsWhenNoCallSucceeds(t *testing.T) {
	f := newFake(1)
	f.fail = func(n int64) error { return status.Errorf(codes.Unavailable, "call %d refused", n) }
	s := grpctest.NewServer(t, func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, f) })
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	flags := loadgen.NewFlags(fs)
	require.NoError(t, cmdline.Parse(fs, []string{"-addr", "passthrough:///bufnet", "-c", "1", "-n", "3", "-sleep", "0"}, flags.Check))
	var out bytes.Buffer
	err := loadgen.Main(testwait.Context(t), flags, &out, s.DialOption())
	require.Error(t, err)
	assert.Equal(t, "no call succeeded: rpc error: code = Unavailable desc = call 1 refused", err.Error())
	assert.Equal(t, codes.Unavailable, status.Code(err), "the first error is wrapped")
	assert.Contains(t, out.String(), "  [Unavailable]   3 responses   \n")
}

func TestFlags(t *testing.T) {
	parse := func(args ...string) (*loadgen.Flags, error) {
		fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
		f := loadgen.NewFlags(fs)
		return f, cmdline.Parse(fs, args, f.Check)
	}
	f, err := parse()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9999", f.Addr)
	assert.Equal(t, loadgen.Config{Concurrency: 50, Total: 200, Connections: 1, Name: "Joe", Sleep: 10 * time.Millisecond, Timeout: 20 * time.Second}, f.Config)

	f, err = parse("-c", "100", "-n", "10000", "-sleep", "25", "-connections", "4", "-name", "Ann")
	require.NoError(t, err)
	assert.Equal(t, loadgen.Config{Concurrency: 100, Total: 10000, Connections: 4, Name: "Ann", Sleep: 25 * time.Millisecond, Timeout: 20 * time.Second}, f.Config)

	for msg, args := range map[string][]string{
		"-c 0: the concurrency must be at least 1":                   {"-c", "0"},
		"-n -5: the number of calls must be at least 1":              {"-n", "-5"},
		"-connections 0: at least 1 connection is needed":            {"-connections", "0"},
		"-connections 8 is more than -c 4":                           {"-c", "4", "-connections", "8"},
		"-sleep -1: a non-negative number of milliseconds is needed": {"-sleep", "-1"},
		"-addr is empty": {"-addr", ""},
		`-addr "9999": the Greeter's host:port is needed`:                    {"-addr", "9999"},
		`-addr "localhost": the Greeter's host:port is needed`:               {"-addr", "localhost"},
		`-addr "localhost:": the Greeter's host:port is needed`:              {"-addr", "localhost:"},
		"-max-time 0s: must be positive":                                     {"-max-time", "0"},
		`invalid value "ten" for flag -n`:                                    {"-n", "ten"},
		`unexpected argument "127.0.0.1:9999": loadgen takes flags only`:     {"127.0.0.1:9999"},
		"flag provided but not defined: -concurrency":                        {"-concurrency", "3"},
		"-timeout -1s: must not be negative":                                 {"-timeout", "-1s"},
		"-sleep 2147483648: a whole, non-negative number of milliseconds is": {"-sleep", "2147483648"},
	} {
		_, err := parse(args...)
		require.Error(t, err, "%v", args)
		assert.Contains(t, err.Error(), msg, "%v", args)
	}
}
