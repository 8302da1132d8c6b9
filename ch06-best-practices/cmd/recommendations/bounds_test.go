package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/internal/rawh2"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// silentBound is how long a test waits for the server to close a
// connection that never speaks: well past newServer's 5 s ConnectionTimeout
// on 2 noisy cores, well short of 30 s, so a looser timeout fails.
const silentBound = 15 * time.Second

// serveHealthOnly serves s.healthOnly on a loopback port of its own, as
// main does for -health-addr, until the test ends, and returns its address.
func serveHealthOnly(t *testing.T, s server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.healthOnly.Serve(lis) }()
	t.Cleanup(func() {
		s.healthOnly.Stop()
		assert.NoError(t, testwait.Recv(t, served, "the health-only server's Serve to return"))
	})
	return lis.Addr().String()
}

// assertAdvertisedBounds reads the server's first frames on a new
// connection to addr: its SETTINGS (fixed 64 KiB stream windows, 100
// streams per connection, 8 KiB of headers) and its WINDOW_UPDATE widening
// the connection's window from HTTP/2's 65,535 bytes to 64 KiB, and no
// further (grpc-go would otherwise grow both windows as it measures the link).
func assertAdvertisedBounds(t *testing.T, addr string) {
	t.Helper()
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
	}, got, "%s's SETTINGS", addr)
	f, err = fr.ReadFrame()
	require.NoError(t, err)
	update, ok := f.(*http2.WindowUpdateFrame)
	require.True(t, ok, "the server's WINDOW_UPDATE for the connection, not %v", f)
	assert.Equal(t, uint32(0), update.StreamID)
	assert.Equal(t, uint32(64<<10-65535), update.Increment)
}

// assertSilentConnectionClosed opens a TCP connection to addr that never
// speaks, and checks the server closes it within silentBound.
func assertSilentConnectionClosed(t *testing.T, addr string) {
	t.Helper()
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(silentBound)))
	_, err = io.Copy(io.Discard, silent) // the server's SETTINGS, then the end
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: closed by the server within %v, not by the test's bound: %v", addr, silentBound, err)
}

// The server main builds advertises its bounds to every client: what the
// options say, not grpc-go's defaults (no stream limit, 16 KiB headers,
// windows that grow to megabytes).
func TestTheServerAdvertisesItsBounds(t *testing.T) {
	_, addr := start(t, options{})
	assertAdvertisedBounds(t, addr)
}

// The health-only server (-health-addr) is a public port too, in
// plaintext: it has the same bounds as the main server. It advertises them,
// refuses 16 KiB of headers, and closes a connection that never speaks
// once the handshake's time is up.
func TestTheHealthOnlyServerIsBoundedToo(t *testing.T) {
	t.Parallel()
	s, _ := start(t, options{})
	addr := serveHealthOnly(t, s)
	assertAdvertisedBounds(t, addr)

	health := healthpb.NewHealthClient(dial(t, addr))
	ctx := metadata.AppendToOutgoingContext(testwait.Context(t), "padding", strings.Repeat("x", 16<<10))
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	assert.Error(t, err, "16 KB of headers")
	resp, err := health.Check(testwait.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "the connection still serves calls within the bounds")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())

	assertSilentConnectionClosed(t, addr)
}

// Pings closer together than the policy's 10 s are strikes even with
// PermitWithoutStream, and the third strike closes the connection with
// GOAWAY ENHANCE_YOUR_CALM "too_many_pings": a client cannot make the
// server answer pings as fast as it likes. Two quick pings after the first
// are strikes one and two; one half of MinTime later is the third.
func TestPingsTooOftenWithoutACallAreRefused(t *testing.T) {
	t.Parallel()
	const gap = 5 * time.Second // newServer's EnforcementPolicy.MinTime is 10 s
	_, addr := start(t, options{})
	c, err := net.Dial("tcp", addr)
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

// listServices asks conn's reflection service for the services it lists.
func listServices(t *testing.T, conn *grpc.ClientConn) ([]string, error) {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(testwait.Context(t))
	require.NoError(t, err)
	err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	require.NoError(t, stream.CloseSend())
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, nil
}

// Reflection on the main port lists both APIs, health and reflection
// itself, as grpcurl shows in the chapter; the plaintext health-only port
// serves health and nothing else (no reflection to map the service to
// anyone without a certificate); neither serves channelz.
func TestWhatEachPortServes(t *testing.T) {
	s, addr := start(t, options{})
	healthAddr := serveHealthOnly(t, s)
	main, healthOnly := dial(t, addr), dial(t, healthAddr)

	names, err := listServices(t, main)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"Recommendations", "recommendations.v1.RecommendationsService", "grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
	}, names)

	resp, err := healthpb.NewHealthClient(healthOnly).Check(testwait.Context(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, err = listServices(t, healthOnly)
	assert.Equal(t, codes.Unimplemented, status.Code(err), "reflection on the health-only port: %v", err)

	for name, conn := range map[string]*grpc.ClientConn{"main": main, "health-only": healthOnly} {
		_, err := channelzpb.NewChannelzClient(conn).GetServers(testwait.Context(t), &channelzpb.GetServersRequest{})
		assert.Equal(t, codes.Unimplemented, status.Code(err), "channelz on the %s port: %v", name, err)
	}
}
