package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Exactly -n calls are made, spread over the connections, and the JSON
// report has the fields and units of ghz's, which the load table reads.
func TestRunMakesEveryCallAndReportsLikeGhz(t *testing.T) {
	g, err := greeter.New(greeter.Options{})
	require.NoError(t, err)
	s := grpctest.NewServer(t, g.Register)
	conns := []*grpc.ClientConn{s.NewClient(t), s.NewClient(t)}
	cfg := config{addr: "bufnet:1", concurrency: 4, total: 50, connections: 2, name: "Joe", sleepMS: 1, timeout: testwait.Bound, maxTime: testwait.Bound}
	require.NoError(t, cfg.check())

	r := run(context.Background(), conns, cfg)
	assert.EqualValues(t, 2, s.Accepted(), "both connections carried calls")
	data, err := json.Marshal(r)
	require.NoError(t, err)
	var ghz map[string]any
	require.NoError(t, json.Unmarshal(data, &ghz))
	assert.EqualValues(t, 50, ghz["count"])
	assert.Equal(t, map[string]any{"OK": 50.0}, ghz["statusCodeDistribution"])
	assert.Len(t, ghz["latencyDistribution"], 7)
	assert.Positive(t, ghz["rps"])
	assert.LessOrEqual(t, r.Fastest, r.Latencies[2].Latency)
	assert.LessOrEqual(t, r.Latencies[2].Latency, r.Slowest)
}

func TestCheckNamesTheFlag(t *testing.T) {
	cfg := config{addr: "9999", concurrency: 1, total: 1, connections: 1, maxTime: 1}
	assert.EqualError(t, cfg.check(), `-addr "9999": the Greeter's host:port is needed, such as 127.0.0.1:9999`)
	cfg.addr, cfg.connections = "127.0.0.1:9999", 2
	assert.ErrorContains(t, cfg.check(), "-connections 2")
}
