package greeter_test

import (
	"context"
	"errors"
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

// anHour is a wait no test lets finish: only the call's end can stop it.
const anHour = int32(time.Hour / time.Millisecond)

// observingWait is the Go mode's real wait, reporting when it begins and
// how it ends.
func observingWait() (wait func(context.Context, time.Duration) error, began chan struct{}, ended chan error) {
	began, ended = make(chan struct{}, 1), make(chan error, 1)
	return func(ctx context.Context, d time.Duration) error {
		began <- struct{}{}
		err := greeter.ContextWait(ctx, d)
		ended <- err
		return err
	}, began, ended
}

// A deadline shorter than the wait ends the call with DEADLINE_EXCEEDED,
// and the server's wait ends with it instead of running on for nobody.
func TestDeadlineShorterThanTheWaitEndsTheServersWork(t *testing.T) {
	wait, began, ended := observingWait()
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{Wait: wait})).Register))

	// One ordinary call first, so the connection is up: the deadline below
	// then covers the call alone, not the lazy connect as well.
	_, err := c.SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe"})
	require.NoError(t, err)
	testwait.Recv(t, began, "the warm-up call's wait to begin")
	require.NoError(t, testwait.Recv(t, ended, "the warm-up call's wait to end"))

	// A second is short next to the hour, and long enough for a call on a
	// ready connection to reach the server on a busy machine.
	ctx, cancel := context.WithTimeout(grpctest.Context(t), time.Second)
	defer cancel()
	_, err = c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: anHour})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)

	// The handler was waiting, and the call's end ended its wait: the
	// server has the deadline too (gRPC sends it as grpc-timeout), so its
	// context ends by its own timer (DeadlineExceeded) or by the client's
	// cancel arriving first (Canceled).
	testwait.Recv(t, began, "the server to have begun waiting")
	err = testwait.Recv(t, ended, "the server's wait to end")
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled),
		"the wait ended with %v, not with the call's context", err)
}

// Cancelling the client's context cancels the server's work.
func TestCancellingTheClientCancelsTheServersWork(t *testing.T) {
	wait, began, ended := observingWait()
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{Wait: wait})).Register))

	ctx, cancel := context.WithCancel(grpctest.Context(t))
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Joe", SleepMillisecond: anHour})
		errc <- err
	}()
	testwait.Recv(t, began, "the server to begin waiting")
	cancel()

	err := testwait.Recv(t, errc, "the call to end")
	assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	assert.ErrorIs(t, testwait.Recv(t, ended, "the server's wait to end"), context.Canceled)
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
