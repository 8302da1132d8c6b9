package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// The test binary is also the measurement's server: startChild runs
// os.Executable, which is this binary under go test.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// The child serves the chapter's Recommend behind the limit, and ends when
// the measurement closes its input: stop returns once it has exited.
func TestTheChildServesUntilStopped(t *testing.T) {
	conn, stop, err := startChild(1, 1000)
	require.NoError(t, err)
	code, took := call(pb.NewRecommendationsClient(conn), 10*time.Second)
	assert.Equal(t, codes.OK, code)
	assert.Positive(t, took)
	stop()
}

// The open loop sends exactly rate × duration calls, whatever they get, and
// accounts for every one: each ends with a code, and each answered call
// has its latency, sorted.
func TestOpenLoopSendsAtItsRateAndCountsEveryCall(t *testing.T) {
	conn, stop, err := startChild(1, 1000)
	require.NoError(t, err)
	defer stop()
	r := openLoop(pb.NewRecommendationsClient(conn), 500, 400*time.Millisecond, 10*time.Second)
	assert.Equal(t, 200, r.sent)
	total := 0
	for _, n := range r.codes {
		total += n
	}
	assert.Equal(t, r.sent, total)
	require.NotEmpty(t, r.latencies, "some calls answered: %v", r.codes)
	assert.Len(t, r.latencies, r.codes[codes.OK])
	assert.IsNonDecreasing(t, r.latencies)
	assert.Equal(t, r.latencies[len(r.latencies)-1], r.percentile(100))
}

// The whole measurement, short: a row for no limit and one for each limit.
func TestRunPrintsARowALimit(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(config{limits: []uint{1, 2}, work: 100 * time.Microsecond, duration: 200 * time.Millisecond,
		load: 2, deadline: 10 * time.Second}, &out))
	for _, row := range []string{"\n| none | ", "\n| 1 | ", "\n| 2 | "} {
		assert.Contains(t, out.String(), row)
	}
}

func TestParseLimits(t *testing.T) {
	limits, err := parseLimits("1, 2,8")
	require.NoError(t, err)
	assert.Equal(t, []uint{1, 2, 8}, limits)
	for _, bad := range []string{"", "0", "1,,2", "-1", "two"} {
		_, err := parseLimits(bad)
		assert.Error(t, err, "%q", bad)
	}
}
