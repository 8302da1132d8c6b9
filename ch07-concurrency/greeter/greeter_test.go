package greeter_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"runtime/pprof"
	"slices"
	"strings"
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

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// calls is how many concurrent calls the blocking lesson makes, as the
// series does.
const calls = 5

// logBuffer collects the server's log lines; log.Logger serializes its
// writes, and the mutex makes reading them safe too.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

// inFlight counts the waits under way and remembers the most it saw at
// once: the measure of concurrency that does not depend on the clock.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) enter() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now++
	f.max = max(f.max, f.now)
}

func (f *inFlight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now--
}

func (f *inFlight) most() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}

// barrier opens when n parties have arrived at it.
type barrier struct {
	n    atomic.Int64
	want int64
	open chan struct{}
}

func newBarrier(n int) *barrier {
	return &barrier{want: int64(n), open: make(chan struct{})}
}

// wait is a greeter wait that meets the barrier: it returns once n waits
// have arrived, or with an error if they never do, so a server that runs
// fewer than n at once fails the test instead of hanging it.
func (b *barrier) wait(ctx context.Context, _ time.Duration) error {
	if b.n.Add(1) == b.want {
		close(b.open)
	}
	timer := time.NewTimer(testwait.Bound)
	defer timer.Stop()
	select {
	case <-b.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return status.Error(codes.FailedPrecondition, "the barrier never opened")
	}
}

// start serves a greeter for o in memory, and returns the server in memory
// (for its connection count) and the greeter. The greeter is closed after
// the gRPC server has stopped.
func start(t *testing.T, o greeter.Options, opts ...grpc.ServerOption) (*grpctest.Server, *greeter.Server) {
	t.Helper()
	g, err := greeter.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, g.Close(testwait.Context(t))) })
	s := grpctest.NewServer(t, g.Register, opts...)
	return s, g
}

// callAll makes n concurrent SayHello calls on conns (round robin) and
// returns their errors once all are back.
func callAll(t *testing.T, conns []*grpc.ClientConn, n int) []error {
	t.Helper()
	ctx := grpctest.Context(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := pb.NewGreeterClient(conns[i%len(conns)])
			reply, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: 10})
			if err == nil && reply.GetMessage() != "Hello, Joe!" {
				err = status.Errorf(codes.Internal, "reply %q", reply.GetMessage())
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

// entered is a server interceptor that announces every call reaching the
// server, before the greeter sees it.
func entered(ch chan<- struct{}) grpc.ServerOption {
	return grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ch <- struct{}{}
		return h(ctx, req)
	})
}

// In the Go mode the five calls are all inside the handler at once: the
// barrier opens only when the fifth has arrived, so a server that ran
// fewer at a time would fail here.
func TestGoModeHandlesAllCallsAtOnce(t *testing.T) {
	var log logBuffer
	b := newBarrier(calls)
	s, _ := start(t, greeter.Options{Mode: greeter.Go, Log: newLogger(&log), Wait: b.wait})

	for _, err := range callAll(t, []*grpc.ClientConn{s.NewClient(t)}, calls) {
		assert.NoError(t, err)
	}
	lines := log.lines()
	assert.Equal(t, repeat("Handling request", calls), lines[:calls], "every call began before any ended")
	assert.Equal(t, repeat("Done", calls), lines[calls:])
}

// In the event-loop mode the five calls all reach the server, yet only one
// is ever being handled: the others wait for the loop, which is blocked.
// The log alternates, as in the series' asyncio example.
func TestEventLoopModeHandlesOneCallAtATime(t *testing.T) {
	var log logBuffer
	var f inFlight
	release := make(chan struct{})
	started := make(chan struct{}, calls)
	wait := func(context.Context, time.Duration) error {
		f.enter()
		defer f.leave()
		started <- struct{}{}
		return gate(release)
	}
	arrived := make(chan struct{}, calls)
	s, _ := start(t, greeter.Options{Mode: greeter.EventLoop, Log: newLogger(&log), Wait: wait}, entered(arrived))

	conn := s.NewClient(t)
	done := make(chan []error, 1)
	go func() { done <- callAll(t, []*grpc.ClientConn{conn}, calls) }()
	for range calls {
		testwait.Recv(t, arrived, "five calls to reach the server")
	}
	testwait.Recv(t, started, "the loop to start the first wait")
	assert.Equal(t, 1, f.most(), "all five calls are in the server, one is being handled")
	close(release)

	for _, err := range testwait.Recv(t, done, "the calls to end") {
		assert.NoError(t, err)
	}
	assert.Equal(t, 1, f.most(), "never more than one call handled at a time")
	var want []string
	for range calls {
		want = append(want, "Handling request", "Done")
	}
	assert.Equal(t, want, log.lines())
}

// With an executor, the loop hands each wait to a worker and goes on: as
// many calls as there are workers wait at once, and the others wait for a
// free worker (seen in a goroutine dump, not guessed from the clock) while
// those are held.
func TestEventLoopWithExecutorWaitsOnEveryWorker(t *testing.T) {
	const workers = 3
	var log logBuffer
	var f inFlight
	entered, release := make(chan struct{}, calls), make(chan struct{})
	wait := func(context.Context, time.Duration) error {
		f.enter()
		defer f.leave()
		entered <- struct{}{}
		return gate(release)
	}
	s, _ := start(t, greeter.Options{Mode: greeter.EventLoop, Executor: workers, Log: newLogger(&log), Wait: wait})

	done := make(chan []error, 1)
	go func() { done <- callAll(t, []*grpc.ClientConn{s.NewClient(t)}, calls) }()
	for range workers {
		testwait.Recv(t, entered, "every worker to take a wait")
	}
	testwait.Until(t, "the other steps to wait for a free worker", func() bool {
		return waitingForAWorker() == calls-workers
	})
	assert.Equal(t, workers, f.most(), "the pool's size is the limit")
	close(release)
	for _, err := range testwait.Recv(t, done, "the calls to end") {
		assert.NoError(t, err)
	}
	assert.Equal(t, workers, f.most(), "never more waits than workers")
	lines := log.lines()
	assert.Equal(t, repeat("Handling request", calls), lines[:calls], "the loop went on while the workers waited")
	assert.Len(t, lines, 2*calls)
}

// waitingForAWorker counts the executor's goroutines that wait for a
// worker: in the executor's code, not (yet) in a wait.
func waitingForAWorker() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for g := range strings.SplitSeq(buf.String(), "\n\n") {
		if strings.Contains(g, "(*loop).step.func1.1()") && !strings.Contains(g, "greeter_test.") {
			n++
		}
	}
	return n
}

func TestModeFlagNamesTheValidModes(t *testing.T) {
	var m greeter.Mode
	require.NoError(t, m.Set("eventloop"))
	assert.Equal(t, greeter.EventLoop, m)
	err := m.Set("asyncio")
	require.Error(t, err)
	assert.Equal(t, `unknown mode "asyncio": want one of go, eventloop, onestream`, err.Error())
	assert.Equal(t, greeter.EventLoop, m, "a refused value changes nothing")
}

func TestNewRefusesAnExecutorOutsideTheEventLoop(t *testing.T) {
	_, err := greeter.New(greeter.Options{Mode: greeter.Go, Executor: 2})
	assert.ErrorContains(t, err, "only the eventloop mode takes an executor")
	_, err = greeter.New(greeter.Options{Mode: "threads"})
	assert.ErrorContains(t, err, `unknown mode "threads"`)
	_, err = greeter.New(greeter.Options{Mode: greeter.EventLoop, Executor: -1})
	assert.ErrorContains(t, err, "an executor needs 0 workers or more")
	assert.NoError(t, greeter.Options{Mode: greeter.EventLoop, Executor: 4}.Check())
	assert.NoError(t, greeter.Options{}.Check(), "the zero value is the Go mode")
}

// gate waits for a value from ch, or its close; it is for the server's
// goroutines, which must not call t.Fatal, so a gate that never opens
// fails the call instead.
func gate(ch <-chan struct{}) error {
	timer := time.NewTimer(testwait.Bound)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-timer.C:
		return status.Error(codes.FailedPrecondition, "the gate never opened")
	}
}

func newLogger(w io.Writer) *log.Logger { return log.New(w, "", 0) }

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A wait beyond MaxSleep, or below zero, is refused before any step, in
// every mode: no caller can hold a handler, or the whole loop, for days.
// MaxSleep itself is accepted.
func TestSleepIsCappedAtMaxSleep(t *testing.T) {
	for _, mode := range []greeter.Mode{greeter.Go, greeter.EventLoop} {
		waits := make(chan time.Duration, 1)
		wait := func(_ context.Context, d time.Duration) error { waits <- d; return nil }
		s, _ := start(t, greeter.Options{Mode: mode, Wait: wait})
		c := pb.NewGreeterClient(s.NewClient(t))
		ctx := grpctest.Context(t)
		for _, ms := range []int32{int32(greeter.MaxSleep.Milliseconds()) + 1, 2147483647, -1} {
			_, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: ms})
			assert.Equal(t, codes.InvalidArgument, status.Code(err), "%s mode, %d ms: %v", mode, ms, err)
		}
		_, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: int32(greeter.MaxSleep.Milliseconds())})
		require.NoError(t, err)
		assert.Equal(t, greeter.MaxSleep, testwait.Recv(t, waits, "the one wait"), "%s mode", mode)
	}
}

// A client stream may send MaxNames names of MaxNamesSize bytes in all;
// one more name, or one more byte, ends the call with RESOURCE_EXHAUSTED
// instead of growing the server's memory.
func TestSayHelloToAllKeepsAtMostMaxNames(t *testing.T) {
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{})).Register))
	long := strings.Repeat("x", greeter.MaxNamesSize/greeter.MaxNames) // MaxNames of them fill MaxNamesSize
	for _, tc := range []struct {
		names []string
		ok    bool
	}{
		{names: slices.Repeat([]string{long}, greeter.MaxNames), ok: true},
		{names: slices.Repeat([]string{"x"}, greeter.MaxNames+1)},
		{names: []string{long, strings.Repeat("x", greeter.MaxNamesSize)}},
	} {
		stream, err := c.SayHelloToAll(grpctest.Context(t))
		require.NoError(t, err)
		for _, name := range tc.names {
			if stream.Send(&pb.HelloRequest{Name: name}) != nil {
				break // the server has ended the call; CloseAndRecv says why
			}
		}
		_, err = stream.CloseAndRecv()
		if tc.ok {
			assert.NoError(t, err)
		} else {
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%d names: %v", len(tc.names), err)
		}
	}
}
