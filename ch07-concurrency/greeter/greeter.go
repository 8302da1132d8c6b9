// Package greeter is the Greeter of chapter 7 (helloworld.Greeter, the
// series' benchmark service) in modes that answer the same calls in very
// different ways.
//
// Each answer is one step: log "Handling request", wait the request's
// sleep_millisecond (the stand-in for a database query), log "Done". In the
// Go mode the step runs on the call's own goroutine. In the event-loop mode
// every step is handed to a single loop goroutine, which waits before it
// takes the next one, the way time.sleep blocks an asyncio server: calls
// queue behind each other. With an executor, the loop hands the wait to a
// pool of workers instead (asyncio's run_in_executor) and goes on.
//
// Every wait ends when its call ends (the client's deadline, its cancel, a
// server's Stop): a call nobody waits for costs nothing, and a shutdown
// that cuts the calls still running ends the loop with them.
package greeter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

const (
	// Greetings is how many greetings SayHelloStream sends for one request.
	Greetings = 5
	// MaxSleep is the longest wait a request may ask for: beyond it, or
	// below zero, the call fails with INVALID_ARGUMENT, so no caller can
	// hold a handler (or the whole event loop) for days.
	MaxSleep = 10 * time.Second
	// MaxNames is how many names SayHelloToAll keeps, and MaxNamesSize
	// how many bytes of them: one more fails the call with
	// RESOURCE_EXHAUSTED, so a client stream holds a few KiB of the
	// server's memory, not MaxNames messages of the largest size.
	MaxNames, MaxNamesSize = 100, 4 << 10
)

// Mode selects how the Greeter runs its handlers: the names are
// cmd/greeter's -mode values.
type Mode string

const (
	// Go is idiomatic grpc-go: every call runs on its own goroutine.
	Go Mode = "go"
	// EventLoop reproduces the asyncio pitfall: one loop goroutine runs
	// every call's step, one at a time.
	EventLoop Mode = "eventloop"
	// OneStream is the Go mode; cmd/greeter serves it behind
	// grpc.MaxConcurrentStreams(1), one call at a time per connection.
	OneStream Mode = "onestream"
)

// String returns the mode's name; with Set, it makes *Mode a flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set accepts one of the modes' names, and refuses anything else.
func (m *Mode) Set(s string) error {
	switch v := Mode(s); v {
	case Go, EventLoop, OneStream:
		*m = v
		return nil
	}
	return fmt.Errorf("unknown mode %q: want one of go, eventloop, onestream", s)
}

// Options configures a Server. The zero value is the Go mode, unlogged.
type Options struct {
	Mode Mode
	// Log receives "Handling request" and "Done" for every step; nil
	// discards them. A log.Logger is safe for concurrent use.
	Log *log.Logger
	// Wait replaces the wait of every step; nil means ContextWait. Tests
	// inject a wait that meets a barrier instead of the clock.
	Wait func(ctx context.Context, d time.Duration) error
	// Executor, in the event-loop mode only, is the size of the worker
	// pool the loop hands each wait to; 0 keeps the wait on the loop.
	Executor int
}

// Check reports the first mistake in o: an unknown mode, or an executor
// that is negative or outside the event-loop mode.
func (o Options) Check() error {
	if o.Mode != "" {
		var m Mode
		if err := m.Set(string(o.Mode)); err != nil {
			return err
		}
	}
	switch {
	case o.Executor < 0:
		return errors.New("an executor needs 0 workers or more (0 blocks the loop)")
	case o.Executor > 0 && o.Mode != EventLoop:
		return errors.New("only the eventloop mode takes an executor")
	}
	return nil
}

// ContextWait waits d, or until ctx ends, whichever comes first, and then
// returns ctx's error: the idiomatic Go wait, which stops working for a
// caller who has gone.
func ContextWait(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Server implements helloworld.Greeter. Create it with New, register it
// with Register, and Close it after the grpc.Server has stopped.
type Server struct {
	pb.UnimplementedGreeterServer

	log  *log.Logger
	wait func(ctx context.Context, d time.Duration) error
	loop *loop // nil in the Go modes
}

// New returns a Server for o. In the event-loop mode it starts the loop
// goroutine, which Close ends.
func New(o Options) (*Server, error) {
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("greeter: %w", err)
	}
	s := &Server{log: o.Log, wait: o.Wait}
	if s.log == nil {
		s.log = log.New(io.Discard, "", 0)
	}
	if s.wait == nil {
		s.wait = ContextWait
	}
	if o.Mode == EventLoop {
		s.loop = startLoop(o.Executor)
	}
	return s, nil
}

// Register registers the Greeter on r.
func (s *Server) Register(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, s) }

// Close ends the event loop and its workers, and waits for them until ctx
// ends. Call it after the grpc.Server has stopped: Stop cancels the calls
// still running, so their waits, and the loop, end at once.
func (s *Server) Close(ctx context.Context) error {
	if s.loop == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { s.loop.close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("greeter: the event loop has not stopped: %w", ctx.Err())
	}
}

// SayHello answers "Hello, <name>!" after one step.
func (s *Server) SayHello(ctx context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	if err := s.step(ctx, req.GetSleepMillisecond()); err != nil {
		return nil, err
	}
	return &pb.HelloReply{Message: greeting(req.GetName())}, nil
}

// SayHelloStream sends Greetings greetings, one step each.
func (s *Server) SayHelloStream(req *pb.HelloRequest, stream grpc.ServerStreamingServer[pb.HelloReply]) error {
	for i := 1; i <= Greetings; i++ {
		if err := s.step(stream.Context(), req.GetSleepMillisecond()); err != nil {
			return err
		}
		msg := fmt.Sprintf("%s (%d of %d)", greeting(req.GetName()), i, Greetings)
		if err := stream.Send(&pb.HelloReply{Message: msg}); err != nil {
			return err
		}
	}
	return nil
}

// SayHelloToAll reads names until the client closes its side (io.EOF),
// then greets them all in one reply, after one step that waits the
// longest sleep_millisecond it was sent.
func (s *Server) SayHelloToAll(stream grpc.ClientStreamingServer[pb.HelloRequest, pb.HelloReply]) error {
	var names []string
	var longest, size int32
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if size += int32(len(req.GetName())); len(names) == MaxNames || size > MaxNamesSize {
			return status.Errorf(codes.ResourceExhausted, "more than %d names or %d bytes of them", MaxNames, MaxNamesSize)
		}
		if err := checkSleep(req.GetSleepMillisecond()); err != nil {
			return err
		}
		names = append(names, req.GetName())
		longest = max(longest, req.GetSleepMillisecond())
	}
	if err := s.step(stream.Context(), longest); err != nil {
		return err
	}
	return stream.SendAndClose(&pb.HelloReply{Message: greeting(strings.Join(names, ", "))})
}

// Chat answers every message as it arrives, one step each, until the
// client closes its side. Receiving and sending alternate on this one
// goroutine, so the stream has one sender, as grpc-go requires.
func (s *Server) Chat(stream grpc.BidiStreamingServer[pb.HelloRequest, pb.HelloReply]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.step(stream.Context(), req.GetSleepMillisecond()); err != nil {
			return err
		}
		if err := stream.Send(&pb.HelloReply{Message: greeting(req.GetName())}); err != nil {
			return err
		}
	}
}

func greeting(name string) string { return "Hello, " + name + "!" }

func checkSleep(ms int32) error {
	if ms < 0 || time.Duration(ms)*time.Millisecond > MaxSleep {
		return status.Errorf(codes.InvalidArgument, "sleep_millisecond %d: want 0 to %d", ms, MaxSleep.Milliseconds())
	}
	return nil
}

// step is one answer's work: log, wait, log. Where it runs is the mode.
func (s *Server) step(ctx context.Context, ms int32) error {
	if err := checkSleep(ms); err != nil {
		return err
	}
	d := time.Duration(ms) * time.Millisecond
	var err error
	if s.loop != nil {
		err = s.loop.step(ctx, d, s.log, s.wait)
	} else {
		s.log.Print("Handling request")
		err = s.wait(ctx, d)
		s.log.Print("Done")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A wait that ended with the call reports the call's own end:
		// DEADLINE_EXCEEDED or CANCELLED.
		return status.FromContextError(err).Err()
	}
	return err
}

// errClosed is what a step still queued when the loop closes fails with.
var errClosed = status.Error(codes.Unavailable, "greeter: the event loop has stopped")

// loop is the event loop: one goroutine that runs the jobs handed to it one
// at a time, in the order they come, like asyncio's loop runs callbacks.
type loop struct {
	jobs chan func()
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	pool chan struct{} // one token per executor worker; nil: no executor
}

func startLoop(workers int) *loop {
	l := &loop{jobs: make(chan func()), quit: make(chan struct{})}
	if workers > 0 {
		l.pool = make(chan struct{}, workers)
	}
	l.wg.Go(func() {
		for {
			select {
			case job := <-l.jobs:
				job()
			case <-l.quit:
				return
			}
		}
	})
	return l
}

// post hands job to the loop, and reports false if the loop has stopped.
func (l *loop) post(job func()) bool {
	select {
	case l.jobs <- job:
		return true
	case <-l.quit:
		return false
	}
}

func (l *loop) close() {
	l.once.Do(func() { close(l.quit) })
	l.wg.Wait()
}

// step runs one step on the loop and waits for its result. The calling
// handler's goroutine only waits, like a coroutine awaiting a future; the
// work happens on the loop.
func (l *loop) step(ctx context.Context, d time.Duration, lg *log.Logger, wait func(context.Context, time.Duration) error) error {
	result := make(chan error, 1)
	posted := l.post(func() {
		if err := ctx.Err(); err != nil {
			result <- err // cancelled while queued: never started
			return
		}
		lg.Print("Handling request")
		if l.pool == nil {
			err := wait(ctx, d) // the loop waits, and with it every call
			lg.Print("Done")
			result <- err
			return
		}
		// run_in_executor: the wait goes to a worker, the loop goes on.
		// The rest of the step comes back to the loop when it is done.
		l.wg.Go(func() {
			select {
			case l.pool <- struct{}{}:
			case <-l.quit:
				result <- errClosed
				return
			}
			err := wait(ctx, d)
			<-l.pool
			if !l.post(func() { lg.Print("Done"); result <- err }) {
				result <- errClosed
			}
		})
	})
	if !posted {
		return errClosed
	}
	select {
	case err := <-result:
		return err
	case <-l.quit:
		return errClosed
	}
}
