package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// defaults are main's bounds.
func defaults(mode greeter.Mode) options {
	return options{Options: greeter.Options{Mode: mode}, handshake: 5 * time.Second, idle: 5 * time.Minute, age: time.Hour, ping: time.Minute}
}

// serve runs the server newServer builds for o on a loopback port, and
// returns its address; the test's end stops it as main does.
func serve(t *testing.T, o options, extra ...grpc.ServerOption) (string, *grpc.Server, *greeter.Server) {
	t.Helper()
	s, g, err := newServer(o, extra...)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		_, err := shutdown(s, g, time.Second)
		assert.NoError(t, err)
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return lis.Addr().String(), s, g
}

func client(t *testing.T, addr string) pb.GreeterClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewGreeterClient(conn)
}

// raw opens an HTTP/2 connection that speaks only as the test says.
func raw(t *testing.T, addr string) *rawh2.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	h, err := rawh2.Open(c, time.Now().Add(testwait.Bound))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// gated is a greeter wait that announces each call and holds it until
// release closes (or the call ends).
func gated(entered chan<- string, release <-chan struct{}) func(context.Context, time.Duration) error {
	return func(ctx context.Context, _ time.Duration) error {
		entered <- "entered"
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func request(t *testing.T, name string) []byte {
	t.Helper()
	b, err := proto.Marshal(&pb.HelloRequest{Name: name})
	require.NoError(t, err)
	return b
}

// In the one-stream mode, while a first call is held in the handler, the
// server refuses a second stream on the same connection (RST_STREAM
// REFUSED_STREAM: a client that ignores the limit cannot get past it), and
// a call on a second connection enters at once.
func TestOneStreamServesOneCallPerConnectionAndConnectionsSideBySide(t *testing.T) {
	entered, release := make(chan string, 3), make(chan struct{})
	o := defaults(greeter.OneStream)
	o.Wait = gated(entered, release)
	addr, _, _ := serve(t, o)

	h := raw(t, addr)
	first, err := h.Begin("/helloworld.Greeter/SayHello")
	require.NoError(t, err)
	require.NoError(t, h.Send(first, request(t, "first")))
	testwait.Recv(t, entered, "the first call to enter the handler")
	second, err := h.Begin("/helloworld.Greeter/SayHello")
	require.NoError(t, err)
	require.NoError(t, h.Send(second, request(t, "second")))
	seen, err := h.Sync()
	require.NoError(t, err)
	assert.Equal(t, 1, seen.Refused, "the second stream on the held connection is refused")

	other := make(chan error, 1)
	go func() {
		_, err := client(t, addr).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "other"})
		other <- err
	}()
	testwait.Recv(t, entered, "a call on a second connection to enter while the first is held")
	close(release)
	assert.NoError(t, testwait.Recv(t, other, "the second connection's call"))
	r, err := h.Await(first)
	require.NoError(t, err)
	assert.Equal(t, "0", r.Status, "the first call ends OK")
}

// In the Go mode a connection carries 100 calls at once, and no more: a
// client that opens streams and never sends a request holds at most 100
// handlers per connection.
func TestAConnectionCarriesAtMost100Calls(t *testing.T) {
	addr, _, _ := serve(t, defaults(greeter.Go))
	h := raw(t, addr)
	for range 101 {
		require.NoError(t, h.Start("/helloworld.Greeter/SayHello"))
	}
	seen, err := h.Sync()
	require.NoError(t, err)
	assert.Equal(t, 1, seen.Refused, "the 101st stream is refused")
}

// A request is a name and a number: one over 4 KiB is refused, as are
// headers over 8 KiB, so no call can make the server hold megabytes.
func TestMessagesAndHeadersAreBounded(t *testing.T) {
	addr, _, _ := serve(t, defaults(greeter.Go))
	c := client(t, addr)
	ctx := grpctest.Context(t)
	_, err := c.SayHello(ctx, &pb.HelloRequest{Name: strings.Repeat("x", 3<<10)})
	require.NoError(t, err, "a name of 3 KiB")
	_, err = c.SayHello(ctx, &pb.HelloRequest{Name: strings.Repeat("x", 5<<10)})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "a name of 5 KiB: %v", err)
	_, err = c.SayHello(metadata.AppendToOutgoingContext(ctx, "padding", strings.Repeat("x", 16<<10)), &pb.HelloRequest{Name: "Joe"})
	assert.Error(t, err, "16 KiB of headers")
}

// The server advertises fixed windows of 64 KiB, per stream and for the
// connection, so that no stream holds more than that of unread data
// whatever the link's speed (grpc-go would otherwise grow them towards
// megabytes as it measures the link), and its limits on streams and
// headers.
func TestTheServerAdvertisesItsBounds(t *testing.T) {
	addr, _, _ := serve(t, defaults(greeter.Go))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(testwait.Bound)))
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	f, err := fr.ReadFrame()
	require.NoError(t, err)
	settings, ok := f.(*http2.SettingsFrame)
	require.True(t, ok, "the server speaks first with SETTINGS, not %v", f)
	got := map[http2.SettingID]uint32{}
	require.NoError(t, settings.ForeachSetting(func(s http2.Setting) error { got[s.ID] = s.Val; return nil }))
	assert.Equal(t, map[http2.SettingID]uint32{
		http2.SettingInitialWindowSize:    64 << 10,
		http2.SettingMaxConcurrentStreams: 100,
		http2.SettingMaxHeaderListSize:    8 << 10,
		http2.SettingMaxFrameSize:         16 << 10, // grpc-go always says it
	}, got)
	// The connection's window starts at HTTP/2's 65,535 bytes: the server
	// widens it to 64 KiB, one byte more, and no further.
	f, err = fr.ReadFrame()
	require.NoError(t, err)
	update, ok := f.(*http2.WindowUpdateFrame)
	require.True(t, ok, "the server's WINDOW_UPDATE for the connection, not %v", f)
	assert.Equal(t, uint32(0), update.StreamID)
	assert.Equal(t, uint32(64<<10-65535), update.Increment)
}

// A connection that never finishes its handshake is closed after the
// handshake bound, and one without calls after the idle bound (with a
// GOAWAY): neither can hold the server's resources for long.
func TestSilentAndIdleConnectionsAreClosed(t *testing.T) {
	o := defaults(greeter.Go)
	o.handshake, o.idle = 100*time.Millisecond, 100*time.Millisecond
	addr, _, _ := serve(t, o)

	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(testwait.Bound)))
	_, err = io.Copy(io.Discard, silent) // the server's SETTINGS, then the end
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "closed by the server, not by the test's bound: %v", err)

	seen, err := raw(t, addr).AwaitGoAway()
	require.NoError(t, err)
	assert.True(t, seen.GoAway)
}

// Every connection is closed once it reaches its age, even one busy with
// a call: a GOAWAY first, and the call in flight still ends (its grace is
// MaxSleep), so a client reconnects rather than keeping one connection,
// and what it holds, for ever.
func TestOldConnectionsAreClosed(t *testing.T) {
	entered, release := make(chan string, 1), make(chan struct{})
	o := defaults(greeter.Go)
	o.age = 100 * time.Millisecond
	o.Wait = gated(entered, release)
	addr, _, _ := serve(t, o)
	h := raw(t, addr)
	id, err := h.Begin("/helloworld.Greeter/SayHello")
	require.NoError(t, err)
	require.NoError(t, h.Send(id, request(t, "Joe")))
	testwait.Recv(t, entered, "the call to enter the handler")
	seen, err := h.AwaitGoAway()
	require.NoError(t, err, "no GOAWAY: the connection outlived its age")
	assert.True(t, seen.GoAway)
	close(release)
	r, err := h.Await(id)
	require.NoError(t, err)
	assert.Equal(t, "0", r.Status, "the call in flight ends, within the grace")
}

// Clients may ping every 10 s, even between calls. grpc-go's default
// would count such a ping as a strike (5 min with a call, none at all
// without), and close the connection at the third. Pings closer than 10 s
// are a strike under either policy, so: two quick ones after the first
// (strikes one and two), then one after 10 s, which only the default
// counts. The wait is real time, as the server's clock is.
func TestPingsTenSecondsApartAreAllowedBetweenCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the policy's 10 s")
	}
	t.Parallel()
	const minTime = 10 * time.Second // newServer's EnforcementPolicy.MinTime
	addr, _, _ := serve(t, defaults(greeter.Go))
	h := raw(t, addr)
	for range 3 {
		seen, err := h.Sync() // a PING, and its answer
		require.NoError(t, err)
		require.False(t, seen.GoAway, "two strikes are allowed")
	}
	_, err := h.SyncAfter(minTime + time.Second) // past MinTime, a second to spare
	require.NoError(t, err)
	// The connection still carries a call: the server did not close it.
	const closed = "the server closed the connection after a ping 10 s after the last one: its policy is not MinTime 10 s with PermitWithoutStream"
	id, err := h.Begin("/helloworld.Greeter/SayHello")
	require.NoError(t, err, closed)
	require.NoError(t, h.Send(id, request(t, "Joe")), closed)
	r, err := h.Await(id)
	require.NoError(t, err, closed)
	assert.Equal(t, "0", r.Status, "%+v", r)
}

// Shutdown is bounded in every mode: a call stuck in the event loop (a
// wait of MaxSleep) is cut at the bound, its wait ends with its call (the
// handler returns CANCELLED, not OK), and the loop stops. shutdown gives
// the cancelled handlers a second bound to return, not for ever: a wait
// that ignored its call would be left behind, not waited for.
func TestShutdownCutsAStuckEventLoopCallAtTheBound(t *testing.T) {
	lines := make(chan string, 4)
	o := defaults(greeter.EventLoop)
	o.Log = newLineLogger(lines)
	returned := make(chan error, 1)
	s, g, err := newServer(o, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		reply, err := h(ctx, req)
		returned <- err
		return reply, err
	}))
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()

	call := make(chan error, 1)
	go func() {
		_, err := client(t, lis.Addr().String()).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe", SleepMillisecond: int32(greeter.MaxSleep.Milliseconds())})
		call <- err
	}()
	assert.Equal(t, "Handling request", testwait.Recv(t, lines, "the loop to begin the call's wait"))

	done := make(chan error, 1)
	go func() {
		graceful, err := shutdown(s, g, 500*time.Millisecond)
		assert.False(t, graceful, "the stuck call was cut")
		done <- err
	}()
	assert.NoError(t, testwait.Recv(t, done, "shutdown to return"), "the loop stopped within the bound")
	assert.Error(t, testwait.Recv(t, call, "the stuck call to end"))
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	assert.Equal(t, "Done", testwait.Recv(t, lines, "the loop's wait to end"))
	assert.Equal(t, codes.Canceled, status.Code(testwait.Recv(t, returned, "the handler to return")), "the wait ended with its call")
}

// newLineLogger is a logger that sends each line it logs on lines.
func newLineLogger(lines chan<- string) *log.Logger {
	return log.New(lineWriter(lines), "", 0)
}

type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- strings.TrimSuffix(string(p), "\n")
	return len(p), nil
}

// A client that keeps a call open but stops answering (a peer gone without
// a FIN, a frozen process) is pinged, and its connection closed when the
// ping goes unanswered: it cannot hold a stream, and its memory, for ever.
func TestAClientThatStopsAnsweringIsDropped(t *testing.T) {
	o := defaults(greeter.Go)
	o.ping = 100 * time.Millisecond
	addr, _, _ := serve(t, o)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(testwait.Bound)))
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	// A call that never sends its request keeps the connection busy, so
	// only the unanswered ping can end it.
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/helloworld.Greeter/SayHello"},
		{":authority", "test"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}))
	pinged := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "closed by the server, not by the test's bound: %v", err)
			break
		}
		if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
			pinged = true // and never answered
		}
	}
	assert.True(t, pinged, "the server pinged the silent client before closing")
}

// Nothing but the Greeter is served on its port: no channelz, whose
// answers describe every connection and call to whoever asks.
func TestNoChannelzOnThePublicPort(t *testing.T) {
	addr, _, _ := serve(t, defaults(greeter.Go))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = channelzpb.NewChannelzClient(conn).GetServers(grpctest.Context(t), &channelzpb.GetServersRequest{})
	assert.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
}

// A handler that ignores its call's end does not hold shutdown: past the
// bound, Stop cuts the call, and past a second bound shutdown returns
// without that handler, which is left behind rather than waited for.
func TestShutdownLeavesBehindAHandlerThatIgnoresItsCall(t *testing.T) {
	entered, release := make(chan string, 1), make(chan struct{})
	o := defaults(greeter.Go)
	o.Wait = func(context.Context, time.Duration) error { // a wait like time.Sleep's
		entered <- "entered"
		<-release
		return nil
	}
	s, g, err := newServer(o)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	defer func() { assert.NoError(t, testwait.Recv(t, served, "Serve to return")) }()
	defer close(release) // the handler returns at the test's end, and nothing leaks

	call := make(chan error, 1)
	go func() {
		_, err := client(t, lis.Addr().String()).SayHello(grpctest.Context(t), &pb.HelloRequest{Name: "Joe", SleepMillisecond: 1})
		call <- err
	}()
	testwait.Recv(t, entered, "the call to begin its wait")
	done := make(chan bool, 1)
	go func() {
		graceful, err := shutdown(s, g, 200*time.Millisecond)
		assert.NoError(t, err)
		done <- graceful
	}()
	assert.False(t, testwait.Recv(t, done, "shutdown to return while the handler still waits"), "the call was cut")
	assert.Equal(t, codes.Unavailable, status.Code(testwait.Recv(t, call, "the cut call to end")))
}
