// Package greeter is the Greeter of chapter 7 (helloworld.Greeter, the
// series' benchmark service) in three modes that answer the same calls in
// very different ways.
//
// Each answer is one step: log "Handling request", wait the request's
// sleep_millisecond (the stand-in for a database query), log "Done". In the
// Go mode the step runs on the call's own goroutine and the wait gives up
// when the call ends. In the event-loop mode every step is handed to a
// single loop goroutine whose wait blocks, the way time.sleep blocks an
// asyncio server: calls queue behind each other. With an executor, the loop
// hands the wait to a pool of workers instead (asyncio's run_in_executor)
// and goes on with the next step.
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// Greetings is how many greetings SayHelloStream sends for one request.
const Greetings = 5

// Options configures a Server. The zero value is the Go mode with the real
// waits and no log.
type Options struct {
	// Mode selects the concurrency model; empty means Go.
	Mode Mode
	// Log receives "Handling request" and "Done" for every step; nil
	// discards them. A log.Logger is safe for concurrent use.
	Log *log.Logger
	// Wait replaces the wait of every step. Nil means the mode's own:
	// ContextWait in the Go modes, BlockingWait on the event loop. Tests
	// inject a wait that meets a barrier instead of the clock.
	Wait func(ctx context.Context, d time.Duration) error
	// Executor, in the event-loop mode only, is the size of the worker
	// pool the loop hands each wait to (asyncio's run_in_executor); 0
	// keeps the wait on the loop, blocking it.
	Executor int
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

// BlockingWait sleeps d whatever ctx says, like time.sleep in Python: it
// is the event loop's wait, which nothing can interrupt.
func BlockingWait(_ context.Context, d time.Duration) error {
	time.Sleep(d)
	return nil
}

// Server implements helloworld.Greeter. Create it with New, register it
// with Register, serve it with ServerOptions, and Close it after the
// grpc.Server has stopped.
type Server struct {
	pb.UnimplementedGreeterServer

	mode Mode
	log  *log.Logger
	wait func(ctx context.Context, d time.Duration) error
	loop *loop // nil in the Go modes
}

// New returns a Server for o. In the event-loop mode it starts the loop
// goroutine, which Close ends.
func New(o Options) (*Server, error) {
	s := &Server{mode: o.Mode, log: o.Log, wait: o.Wait}
	if s.mode == "" {
		s.mode = Go
	}
	if s.log == nil {
		s.log = log.New(io.Discard, "", 0)
	}
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("greeter: %w", err)
	}
	if s.mode == EventLoop {
		if s.wait == nil {
			s.wait = BlockingWait
		}
		s.loop = startLoop(o.Executor)
	} else if s.wait == nil {
		s.wait = ContextWait
	}
	return s, nil
}

// Check reports the first mistake in o, worded after cmd/greeter's flags,
// which it checks too: a mode that is not one of Modes, or an executor
// that is negative or outside the event-loop mode. New refuses what Check
// refuses.
func (o Options) Check() error {
	if o.Mode != "" {
		var m Mode
		if err := m.Set(string(o.Mode)); err != nil {
			return err
		}
	}
	switch {
	case o.Executor < 0:
		return fmt.Errorf("-executor %d: the executor's workers must be 0 or more (0 blocks the loop)", o.Executor)
	case o.Executor > 0 && o.Mode != EventLoop:
		return fmt.Errorf("-executor %d: only -mode %s takes an executor, of at least one worker", o.Executor, EventLoop)
	}
	return nil
}

// Mode reports the server's mode.
func (s *Server) Mode() Mode { return s.mode }

// ServerOptions returns the grpc.ServerOptions the mode needs: in the
// one-stream mode, MaxConcurrentStreams(1). A connection then carries one
// call at a time; grpc-go's client holds the other calls back until the
// stream in flight ends.
func (s *Server) ServerOptions() []grpc.ServerOption {
	if s.mode == OneStream {
		return []grpc.ServerOption{grpc.MaxConcurrentStreams(1)}
	}
	return nil
}

// Register registers the Greeter on r.
func (s *Server) Register(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, s) }

// Close ends the event loop and its workers and waits for them, or until
// ctx ends: a blocking wait cannot be interrupted, so a loop in the middle
// of a long one stops only when it is over. When ctx ends first, Close
// gives up with an error that wraps serve.ErrShutdownTimeout and names
// ctx's error, the same a forced stop of the grpc.Server returns. Call Close
// after the grpc.Server has stopped: a step still queued then fails with
// codes.Unavailable.
func (s *Server) Close(ctx context.Context) error {
	if s.loop == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.loop.close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// ctx's error is only named, not wrapped: serve.OnlyTimeout then
		// sees one leaf, the timeout, and the binary exits 0.
		return fmt.Errorf("greeter: the event loop is still blocked: %w (%v)", serve.ErrShutdownTimeout, ctx.Err())
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
	var longest int32
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
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

// step is one answer's work: log, wait, log. Where it runs is the mode.
func (s *Server) step(ctx context.Context, ms int32) error {
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
	// pool, when not nil, holds one token per executor worker: a wait
	// handed to the executor runs only while it holds a token.
	pool chan struct{}
}

func startLoop(workers int) *loop {
	l := &loop{jobs: make(chan func()), quit: make(chan struct{})}
	if workers > 0 {
		l.pool = make(chan struct{}, workers)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case job := <-l.jobs:
				job()
			case <-l.quit:
				return
			}
		}
	}()
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
		// asyncio never starts a task cancelled while it was queued; a
		// started one it cannot interrupt while it blocks.
		if err := ctx.Err(); err != nil {
			result <- err
			return
		}
		lg.Print("Handling request")
		if l.pool == nil {
			err := wait(ctx, d) // blocks the loop, and with it every call
			lg.Print("Done")
			result <- err
			return
		}
		// run_in_executor: the wait goes to a worker, the loop goes on.
		// The rest of the step comes back to the loop when it is done.
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
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
		}()
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
