package main_test

import (
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gr "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// greeter builds the binary (once per test process).
func greeter(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	return proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cmd/greeter")[0]
}

var serving = regexp.MustCompile(`^greeter: serving gRPC on (\S+) in (\S+) mode$`)

// Each mode serves the benchmark's call, logs it, and stops cleanly on
// SIGTERM.
func TestServesInEveryModeAndStopsOnSIGTERM(t *testing.T) {
	bin := greeter(t)
	for _, args := range [][]string{
		{"-mode", "go"},
		{"-mode", "eventloop"},
		{"-mode", "eventloop", "-executor", "4"},
		{"-mode", "onestream"},
		{}, // go is the default
	} {
		p := proctest.Start(t, bin, append([]string{"-addr", "127.0.0.1:0"}, args...))
		m := p.WaitFor(t, serving)
		want := "go"
		if len(args) > 0 {
			want = args[1]
		}
		assert.Equal(t, want, m[2], "%q", args)

		conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		reply, err := pb.NewGreeterClient(conn).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe", SleepMillisecond: 10})
		require.NoError(t, err, "%q", args)
		assert.Equal(t, "Hello, Joe!", reply.GetMessage())
		require.NoError(t, conn.Close())
		p.WaitFor(t, regexp.MustCompile(`^Done$`))

		assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
		assert.Regexp(t, `(?m)^Handling request\nDone\ngreeter: stopped\n?\z`, p.Output(), "%q", args)
	}
}

// -quiet serves without the log lines, for load runs.
func TestQuietLogsNoRequests(t *testing.T) {
	p := proctest.Start(t, greeter(t), []string{"-addr", "127.0.0.1:0", "-quiet"})
	addr := p.WaitFor(t, serving)[1]
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	_, err = pb.NewGreeterClient(conn).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe"})
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
	assert.Regexp(t, `\Agreeter: serving gRPC on \S+ in go mode\ngreeter: stopped\n?\z`, p.Output())
}

// A mistake on the command line names the flag, and exits 2.
func TestBadFlagsAreNamed(t *testing.T) {
	bin := greeter(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "asyncio"}, `invalid value "asyncio" for flag -mode: unknown mode "asyncio": want one of go, eventloop, onestream` + "\n"},
		{[]string{"-executor", "4"}, "greeter: -executor 4: only the eventloop mode takes an executor\n"},
		{[]string{"-mode", "eventloop", "-executor", "-1"}, "greeter: -executor -1: an executor needs 0 workers or more (0 blocks the loop)\n"},
		{[]string{"eventloop"}, `greeter: unexpected argument "eventloop": greeter takes flags only` + "\n"},
	} {
		stdout, stderr, code := proctest.Run(t, bin, tc.args)
		assert.Equal(t, 2, code, "%q", tc.args)
		assert.Empty(t, stdout)
		assert.True(t, strings.HasPrefix(stderr, tc.want), "%q: %s", tc.args, stderr)
	}
}

// The binary closes a connection that never speaks within seconds, so
// silent clients cannot pile up.
func TestASilentConnectionIsClosed(t *testing.T) {
	p := proctest.Start(t, greeter(t), []string{"-addr", "127.0.0.1:0", "-quiet"})
	silent, err := net.Dial("tcp", p.WaitFor(t, serving)[1])
	require.NoError(t, err)
	defer silent.Close()
	// main's bound is 5 s: 15 s leaves room for a slow machine, and fails a bound of 30 s or more.
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(15*time.Second)))
	_, err = io.Copy(io.Discard, silent) // the server's SETTINGS, then the end
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "closed by the server, not by the test's bound: %v", err)
}

// SIGTERM with a call that waits greeter.MaxSleep in flight: the binary
// cuts it at its shutdown bound (5 s, shorter than the wait), says so, and
// exits 0.
func TestSIGTERMCutsALongCallAtTheBound(t *testing.T) {
	p := proctest.Start(t, greeter(t), []string{"-addr", "127.0.0.1:0"})
	conn, err := grpc.NewClient(p.WaitFor(t, serving)[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	call := make(chan error, 1)
	go func() {
		_, err := pb.NewGreeterClient(conn).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe", SleepMillisecond: int32(gr.MaxSleep.Milliseconds())})
		call <- err
	}()
	p.WaitFor(t, regexp.MustCompile(`^Handling request$`))
	assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
	assert.Contains(t, p.Output(), "greeter: shutdown timeout: cut the calls still in flight\n")
	assert.Error(t, testwait.Recv(t, call, "the cut call to end"))
}
