package greeter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// maxSleep is the longest wait a request may ask for: only the call's end
// can stop it within a test's bound.
var maxSleep = int32(greeter.MaxSleep.Milliseconds())

// handler is a server interceptor that reports each call entering the
// handler and the error the handler returned: what the server itself did,
// seen from outside the Greeter, whose own wait the tests do not replace.
func handler(entered chan<- struct{}, returned chan<- error) grpc.ServerOption {
	return grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		entered <- struct{}{}
		reply, err := h(ctx, req)
		returned <- err
		return reply, err
	})
}

// In the Go mode, with the mode's own wait, a deadline shorter than the
// wait ends the call with DEADLINE_EXCEEDED, and the handler returns with
// the call's end instead of waiting on for nobody: had the wait ignored its
// context, the handler would return OK, MaxSleep later.
func TestGoModeHonoursTheCallersDeadline(t *testing.T) {
	entered, returned := make(chan struct{}, 2), make(chan error, 2)
	s, _ := start(t, greeter.Options{Mode: greeter.Go}, handler(entered, returned))
	c := pb.NewGreeterClient(s.NewClient(t))

	// One ordinary call first, so the connection is up: the deadline below
	// then covers the call alone, not the lazy connect as well.
	_, err := c.SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe"})
	require.NoError(t, err)
	testwait.Recv(t, entered, "the warm-up call")
	require.NoError(t, testwait.Recv(t, returned, "the warm-up call's handler"))

	ctx, cancel := context.WithTimeout(grpctest.Context(t), time.Second)
	defer cancel()
	_, err = c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: maxSleep})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)

	// The server has the deadline too (gRPC sends it as grpc-timeout): its
	// context ends by its own timer, or by the client's cancel arriving
	// first.
	testwait.Recv(t, entered, "the call to enter the handler")
	code := status.Code(testwait.Recv(t, returned, "the handler to return"))
	assert.Contains(t, []codes.Code{codes.DeadlineExceeded, codes.Canceled}, code, "the handler returned %v, not the call's end", code)
}

// Cancelling the client's context cancels the server's work, in every
// mode: the event loop's wait (or its executor's) ends with its call too,
// and the loop goes on to the next (a later call is answered).
func TestCancellingTheClientCancelsTheServersWork(t *testing.T) {
	for _, o := range []greeter.Options{{Mode: greeter.Go}, {Mode: greeter.EventLoop}, {Mode: greeter.EventLoop, Executor: 1}} {
		mode := fmt.Sprintf("%s (executor %d)", o.Mode, o.Executor)
		entered, returned := make(chan struct{}, 2), make(chan error, 2)
		s, _ := start(t, o, handler(entered, returned))
		c := pb.NewGreeterClient(s.NewClient(t))

		ctx, cancel := context.WithCancel(grpctest.Context(t))
		errc := make(chan error, 1)
		go func() {
			_, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: maxSleep})
			errc <- err
		}()
		testwait.Recv(t, entered, "the call to enter the handler")
		cancel()
		assert.Equal(t, codes.Canceled, status.Code(testwait.Recv(t, errc, "the call to end")), "%s mode", mode)
		assert.Equal(t, codes.Canceled, status.Code(testwait.Recv(t, returned, "the handler to return")), "%s mode", mode)

		_, err := c.SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe"})
		assert.NoError(t, err, "%s mode: the next call", mode)
		testwait.Recv(t, entered, "the next call")
		testwait.Recv(t, returned, "the next call's handler")
	}
}

// A call whose client gave up while it queued behind a blocked event loop
// is never started, as asyncio never starts a task cancelled before it
// ran; the one that was running could not be interrupted.
func TestEventLoopSkipsACallCancelledWhileQueued(t *testing.T) {
	var log logBuffer
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	wait := func(context.Context, time.Duration) error {
		started <- struct{}{}
		return gate(release)
	}
	// The server learns of the client's cancel a moment after the client
	// does; this interceptor says when, so the test releases the loop
	// only after the server's context for the second call has ended.
	arrived := make(chan struct{}, 2)
	secondGone := make(chan struct{})
	watch := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		arrived <- struct{}{}
		if req.(*pb.HelloRequest).GetName() == "second" {
			go func() {
				<-ctx.Done() // ends with the call, so this never leaks
				close(secondGone)
			}()
		}
		return h(ctx, req)
	})
	g, err := greeter.New(greeter.Options{Mode: greeter.EventLoop, Log: newLogger(&log), Wait: wait})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, g.Close(testwait.Context(t))) })
	c := pb.NewGreeterClient(grpctest.NewServer(t, g.Register, watch).NewClient(t))

	first := make(chan error, 1)
	go func() {
		_, err := c.SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "first"})
		first <- err
	}()
	testwait.Recv(t, started, "the loop to block in the first call")

	ctx, cancel := context.WithCancel(grpctest.Context(t))
	second := make(chan error, 1)
	go func() {
		_, err := c.SayHello(ctx, &pb.HelloRequest{Name: "second"})
		second <- err
	}()
	testwait.Recv(t, arrived, "the first call to reach the server")
	testwait.Recv(t, arrived, "the second call to reach the server")
	cancel()
	assert.Equal(t, codes.Canceled, status.Code(testwait.Recv(t, second, "the second call to end")))
	testwait.Recv(t, secondGone, "the server to see the second call cancelled")

	close(release)
	assert.NoError(t, testwait.Recv(t, first, "the first call to end"))
	// The loop reaches the second call's step only after the first; a
	// third call, once that is answered, proves the loop is past it.
	_, err = c.SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "third"})
	require.NoError(t, err)
	assert.Equal(t, []string{"Handling request", "Done", "Handling request", "Done"}, log.lines(),
		"the first and the third were handled, the second skipped")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
