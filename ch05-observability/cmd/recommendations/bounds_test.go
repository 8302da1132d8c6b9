package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// Chapter 4's bounds and health, as chapter 4 tests them, on the server
// chapter 5's main builds: removing a bound here fails a test.

// serve serves newServer(o), as main builds it, on a loopback port until
// the test ends, and returns the address.
func serve(t *testing.T, o options) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := newServer(defaults(t, o))
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return lis.Addr().String()
}

// dial returns a client connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Health answers for the whole server and for Recommendations by name.
func TestHealthIsServing(t *testing.T) {
	health := healthpb.NewHealthClient(dial(t, serve(t, options{})))
	for _, service := range []string{"", "Recommendations"} {
		resp, err := health.Check(testwait.Context(t), &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err, "service %q", service)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus(), "service %q", service)
	}
	_, err := health.Check(testwait.Context(t), &healthpb.HealthCheckRequest{Service: "Nonesuch"})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

// Reflection lists the services, as grpcurl shows them; channelz is not
// among them.
func TestReflectionListsTheServices(t *testing.T) {
	stream, err := reflectionpb.NewServerReflectionClient(dial(t, serve(t, options{}))).ServerReflectionInfo(testwait.Context(t))
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.ElementsMatch(t, []string{
		"Recommendations", "grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
	}, names)
}

// 128 clients that open a TCP connection and never speak lock nobody
// out: calls made meanwhile, each within the Marketplace's one second,
// all succeed. (A cap on connections, which they would fill, is what the
// server does not have.)
func TestIdleConnectionsLockNobodyOut(t *testing.T) {
	addr := serve(t, options{seed: 1})
	for range 128 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
	}
	client := pb.NewRecommendationsClient(dial(t, addr))
	for range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		resp, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
		cancel()
		require.NoError(t, err)
		assert.Len(t, resp.GetRecommendations(), 3)
	}
}

// A request larger than 16 KB is refused.
func TestLargeRequestsAreRefused(t *testing.T) {
	client := pb.NewRecommendationsClient(dial(t, serve(t, options{})))
	req := &pb.RecommendationRequest{MaxResults: 1}
	// 32 KB in a field the contract does not know: still a valid message.
	req.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, 32<<10)))
	_, err := client.Recommend(testwait.Context(t), req)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	req.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, 8<<10)))
	_, err = client.Recommend(testwait.Context(t), req)
	assert.NoError(t, err, "8 KB is within the limit")
}

// rawConn is a client's HTTP/2 connection that ignores what the server
// asks of it, as a hostile client would: the server's limits must hold
// on their own.
type rawConn struct {
	c  net.Conn
	fr *http2.Framer
}

func openRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testwait.Bound)))
	_, err = io.WriteString(c, http2.ClientPreface)
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	require.NoError(t, fr.WriteSettings())
	return &rawConn{c: c, fr: fr}
}

// call sends a Recommend call on stream id with extra headers and an
// empty request, and returns how it ended: "grpc-status N", "reset",
// "GOAWAY CODE", or "closed".
func (r *rawConn) call(t *testing.T, id uint32, extra ...hpack.HeaderField) string {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/Recommendations/Recommend"}, {Name: ":authority", Value: "raw"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...)
	for _, f := range fields {
		require.NoError(t, enc.WriteField(f))
	}
	require.NoError(t, r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true}))
	require.NoError(t, r.fr.WriteData(id, true, make([]byte, 5))) // an empty message
	return r.await(t, func(f http2.Frame) string {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "reset"
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id && f.StreamEnded() {
				st := "none"
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						st = hf.Value
					}
				}
				return "grpc-status " + st
			}
		}
		return ""
	})
}

// await reads frames, answering SETTINGS and PINGs, until done returns a
// result, or the server sends GOAWAY or closes the connection.
func (r *rawConn) await(t *testing.T, done func(http2.Frame) string) string {
	t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
			return "closed"
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				require.NoError(t, r.fr.WriteSettingsAck())
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				require.NoError(t, r.fr.WritePing(true, f.Data))
			}
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String()
		}
		if result := done(f); result != "" {
			return result
		}
	}
}

// Headers beyond 8 KB are refused, even from a client that ignores the
// limit the server announces; gRPC's default would take 16 MB.
func TestLargeHeadersAreRefused(t *testing.T) {
	addr := serve(t, options{})
	raw := openRaw(t, addr)
	assert.Equal(t, "grpc-status 0", raw.call(t, 1, hpack.HeaderField{Name: "x-small", Value: strings.Repeat("a", 1<<10)}))
	got := raw.call(t, 3, hpack.HeaderField{Name: "x-large", Value: strings.Repeat("a", 9<<10)})
	assert.NotContains(t, got, "grpc-status 0", "a 9 KB header was accepted")
}

// A client pinging as fast as it can, with no call open, is disconnected.
func TestPingFloodIsDisconnected(t *testing.T) {
	raw := openRaw(t, serve(t, options{}))
	for i := range 5 {
		require.NoError(t, raw.fr.WritePing(false, [8]byte{byte(i)}))
	}
	assert.Equal(t, "GOAWAY ENHANCE_YOUR_CALM", raw.await(t, func(http2.Frame) string { return "" }))
}

// At most 100 calls at once on one connection: a client that opens 150
// and sends nothing has 50 refused at once.
func TestCallsPerConnectionAreBounded(t *testing.T) {
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	// The server's limit is in force once the client has its SETTINGS.
	_, err = conn.Sync()
	require.NoError(t, err)
	for range 150 {
		require.NoError(t, conn.Start("/Recommendations/Recommend"))
	}
	seen, err := conn.Sync()
	require.NoError(t, err)
	assert.Equal(t, 50, seen.Refused)
}

// The keepalive enforcement policy lets a client ping every 10 s with no
// call open, as the Marketplace's connection does; grpc-go's default (5
// min, and no pings without a call) would close it at the third. Two quick
// pings after the first are strikes under either policy; one 10 s apart is
// a strike only under the default, and the third closes the connection.
func TestPingsTenSecondsApartAreAllowedWithoutACall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the policy's 10 s")
	}
	t.Parallel()
	const minTime = 10 * time.Second // newServer's EnforcementPolicy.MinTime
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(minTime+testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	for range 3 {
		seen, err := conn.Sync() // a PING, and its answer
		require.NoError(t, err)
		require.False(t, seen.GoAway, "two strikes are allowed")
	}
	_, err = conn.SyncAfter(minTime + time.Second) // past MinTime, a second to spare
	require.NoError(t, err)
	const closed = "the server closed the connection after a ping 10 s after the last one: its policy is not MinTime 10 s with PermitWithoutStream"
	id, err := conn.Begin("/grpc.health.v1.Health/Check")
	require.NoError(t, err, closed)
	require.NoError(t, conn.Send(id, nil), closed)
	reply, err := conn.Await(id)
	require.NoError(t, err, closed)
	assert.Equal(t, "0", reply.Status, "%+v", reply)
}

// The server closes every connection after MaxConnectionAge (30 s),
// politely: a GOAWAY, after which a client reconnects and looks the name up
// again, so new replicas get their share of calls. A call open before the
// GOAWAY has MaxConnectionAgeGrace (10 s) to finish: its request, sent 2 s
// after the GOAWAY, is still answered.
func TestConnectionsAreClosedWhenOld(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the 30 s")
	}
	t.Parallel()
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(30*time.Second+testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	id, err := conn.Begin("/Recommendations/Recommend") // its request comes after the GOAWAY
	require.NoError(t, err)
	seen, err := conn.AwaitGoAway()
	require.NoError(t, err, "no GOAWAY on a connection older than MaxConnectionAge")
	assert.True(t, seen.GoAway)
	<-time.After(2 * time.Second) // a call still running 2 s into the grace; real time, as the server's clock is
	req, err := proto.Marshal(&pb.RecommendationRequest{MaxResults: 3})
	require.NoError(t, err)
	const cut = "a call open before the GOAWAY was cut 2 s after it: the grace is not 10 s"
	require.NoError(t, conn.Send(id, req), cut)
	reply, err := conn.Await(id)
	require.NoError(t, err, cut)
	assert.Equal(t, "0", reply.Status, "%+v", reply)
}

// A connection that never speaks, not even HTTP/2's preface, is closed
// once its handshake time (ConnectionTimeout, 5 s) is up: well within
// 15 s, where grpc-go's default would hold it 120 s. The read ends when
// the server closes; its deadline is only the bound.
func TestSilentConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	const bound = 15 * time.Second // three times newServer's ConnectionTimeout
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(bound)))
	_, err = io.Copy(io.Discard, c) // the server's SETTINGS, then the end
	assert.NotErrorIs(t, err, os.ErrDeadlineExceeded, "a silent connection still open after %v", bound)
}

// The server tells each client its bounds in its first frames: fixed
// flow-control windows of 64 KB, per stream and for the connection (what
// a client may send ahead; grpc-go would otherwise grow them towards
// megabytes as it measures the link), at most 100 calls at once, and
// headers of 8 KB.
func TestTheServerAdvertisesItsBounds(t *testing.T) {
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(testwait.Bound)))
	_, err = io.WriteString(c, http2.ClientPreface)
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
	// widens it to 64 KB, one byte more, and no further.
	f, err = fr.ReadFrame()
	require.NoError(t, err)
	update, ok := f.(*http2.WindowUpdateFrame)
	require.True(t, ok, "the server's WINDOW_UPDATE for the connection, not %v", f)
	assert.Equal(t, uint32(0), update.StreamID)
	assert.Equal(t, uint32(64<<10-65535), update.Increment)
}

// Pings closer together than the policy's 10 s are strikes even with no
// call open, and the third strike closes the connection with GOAWAY
// ENHANCE_YOUR_CALM "too_many_pings". Two quick pings after the first are
// strikes one and two; one 5 s later is the third, which a policy of a
// few seconds would let through (TestPingFloodIsDisconnected's pings, back
// to back, are too close for any). The wait is real time, as the server's
// clock is.
func TestPingsFiveSecondsApartAreTooMany(t *testing.T) {
	t.Parallel()
	const gap = 5 * time.Second // half newServer's EnforcementPolicy.MinTime
	c, err := net.Dial("tcp", serve(t, options{}))
	require.NoError(t, err)
	conn, err := rawh2.Open(c, time.Now().Add(gap+testwait.Bound))
	require.NoError(t, err)
	defer conn.Close()
	for range 3 {
		seen, err := conn.Sync()
		require.NoError(t, err)
		require.False(t, seen.GoAway, "two strikes are allowed")
	}
	seen, err := conn.SyncAfter(gap) // strike three: the server answers it, then says GOAWAY
	require.NoError(t, err)
	require.False(t, seen.GoAway, "the answer to the third strike comes before the GOAWAY")
	// Read on with a framer of our own (rawh2's reads nothing ahead), for
	// the GOAWAY's code: the one MaxConnectionAge sends later says NO_ERROR.
	fr := http2.NewFramer(nil, c)
	for {
		f, err := fr.ReadFrame()
		require.NoError(t, err, "no GOAWAY: a ping %v after the last, with no call open, was no strike, so the policy's MinTime is not 10 s", gap)
		if away, ok := f.(*http2.GoAwayFrame); ok {
			assert.Equal(t, http2.ErrCodeEnhanceYourCalm, away.ErrCode, "a ping %v after the last, with no call open, is a strike", gap)
			assert.Equal(t, "too_many_pings", string(away.DebugData()))
			return
		}
	}
}
