package greeter_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
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

// A server stream: five greetings in order, then the end of the stream.
func TestSayHelloStreamSendsFiveGreetingsThenEnds(t *testing.T) {
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{})).Register))
	stream, err := c.SayHelloStream(grpctest.Context(t), &pb.HelloRequest{Name: "Ann"})
	require.NoError(t, err)
	for i := 1; i <= greeter.Greetings; i++ {
		reply, err := stream.Recv()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("Hello, Ann! (%d of 5)", i), reply.GetMessage())
	}
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF, "the server's return ends the stream")
}

// A client stream: the server reads until the client closes its side, and
// only then answers, once.
func TestSayHelloToAllAnswersOnceTheClientCloses(t *testing.T) {
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{})).Register))
	stream, err := c.SayHelloToAll(grpctest.Context(t))
	require.NoError(t, err)
	for _, name := range []string{"Alice", "Bob", "Charlie"} {
		require.NoError(t, stream.Send(&pb.HelloRequest{Name: name}))
	}
	reply, err := stream.CloseAndRecv()
	require.NoError(t, err)
	assert.Equal(t, "Hello, Alice, Bob, Charlie!", reply.GetMessage())
}

// A bidirectional stream: one reply per message, as it arrives; the
// client closing its side ends the server's loop and the stream.
func TestChatRepliesToEachMessageAndEndsWhenTheClientCloses(t *testing.T) {
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{})).Register))
	stream, err := c.Chat(grpctest.Context(t))
	require.NoError(t, err)
	for _, name := range []string{"Alice", "Bob"} {
		require.NoError(t, stream.Send(&pb.HelloRequest{Name: name}))
		reply, err := stream.Recv()
		require.NoError(t, err)
		assert.Equal(t, "Hello, "+name+"!", reply.GetMessage(), "the reply comes before the next message is sent")
	}
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)
}

// One goroutine sends while another receives on the same stream: the one
// concurrent use grpc-go allows (never two senders, never two receivers).
// The race detector checks it.
func TestChatSendsAndReceivesFromTwoGoroutines(t *testing.T) {
	const n = 200
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{})).Register))
	stream, err := c.Chat(grpctest.Context(t))
	require.NoError(t, err)

	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := stream.Send(&pb.HelloRequest{Name: fmt.Sprint(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	for i := range n {
		reply, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("Hello, %d!", i), reply.GetMessage(), "replies come in order")
	}
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, testwait.Recv(t, sent, "the sender to finish"))
}

// Cancelling mid-stream ends the server's handler: its wait sees the
// cancel, and the client's next Recv reports it.
func TestCancellingMidStreamEndsTheServersWork(t *testing.T) {
	began, ended := make(chan struct{}, 1), make(chan error, 1)
	var steps atomic.Int64
	wait := func(ctx context.Context, d time.Duration) error {
		if steps.Add(1) == 1 {
			return nil // the first greeting goes out at once
		}
		began <- struct{}{}
		err := greeter.ContextWait(ctx, time.Hour)
		ended <- err
		return err
	}
	c := pb.NewGreeterClient(grpctest.Start(t, must(greeter.New(greeter.Options{Wait: wait})).Register))
	ctx, cancel := context.WithCancel(grpctest.Context(t))
	defer cancel()
	stream, err := c.SayHelloStream(ctx, &pb.HelloRequest{Name: "Ann"})
	require.NoError(t, err)
	reply, err := stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, "Hello, Ann! (1 of 5)", reply.GetMessage())
	testwait.Recv(t, began, "the server to wait before the second greeting")

	cancel()
	_, err = stream.Recv()
	assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	assert.ErrorIs(t, testwait.Recv(t, ended, "the server's wait to end"), context.Canceled)
}

// sendCounter counts, on the server, the messages a stream's handler has
// begun and finished sending.
type sendCounter struct {
	begun, done atomic.Int64
}

func (s *sendCounter) interceptor() grpc.ServerOption {
	return grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, countingStream{ServerStream: ss, c: s})
	})
}

type countingStream struct {
	grpc.ServerStream
	c *sendCounter
}

func (s countingStream) SendMsg(m any) error {
	s.c.begun.Add(1)
	defer s.c.done.Add(1)
	return s.ServerStream.SendMsg(m)
}

// Flow control: a client that reads nothing does not make the server
// buffer its replies without bound. HTTP/2 gives each stream a window of
// bytes the receiver will accept; once the replies fill it (and grpc-go's
// per-stream write quota behind it), the server's Send blocks until the
// client reads. The test fixes the windows at 64 KiB (which turns off
// grpc-go's automatic window growth), sends far more than fits, and finds
// the server's handler blocked in Send after a bounded number of replies.
// Then the client reads, and every reply arrives, in order.
func TestSlowReaderBlocksTheSenderWithinTheFlowControlWindow(t *testing.T) {
	const (
		window  = 64 << 10
		msgSize = 4 << 10
		n       = 1000 // 4 MiB of replies, 64 windows' worth
	)
	var sends sendCounter
	s := grpctest.NewServer(t, must(greeter.New(greeter.Options{})).Register, sends.interceptor())
	conn := s.NewClient(t, grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window))
	c := pb.NewGreeterClient(conn)
	ctx, cancel := context.WithCancel(grpctest.Context(t))
	defer cancel()
	stream, err := c.Chat(ctx)
	require.NoError(t, err)

	name := strings.Repeat("x", msgSize)
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := stream.Send(&pb.HelloRequest{Name: name}); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()

	// The stream window and grpc-go's write quota (64 KiB each) hold at
	// most 32 replies of 4 KiB, and at least the window's worth always
	// goes out. Once the server has begun a Send it cannot finish past
	// that, it is stuck: the count cannot grow until the client reads.
	// The write quota is an unexported grpc-go default (defaultWriteQuota
	// in internal/transport/defaults.go, 64 KiB in grpc-go v1.85.0, the
	// version go.mod requires): a release that changes it moves highest.
	lowest, highest := int64(window/msgSize), int64(2*window/msgSize)+2
	testwait.Until(t, "the server to block in Send", func() bool {
		done := sends.done.Load()
		return done >= lowest && sends.begun.Load() == done+1
	})
	assert.LessOrEqual(t, sends.done.Load(), highest, "replies sent while the client read nothing")

	for i := range n {
		reply, err := stream.Recv()
		require.NoError(t, err, "reply %d", i)
		require.Len(t, reply.GetMessage(), msgSize+len("Hello, !"))
	}
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, testwait.Recv(t, sent, "the client to finish sending"))
	assert.EqualValues(t, n, sends.done.Load())
}
