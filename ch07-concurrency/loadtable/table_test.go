package loadtable

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadgen"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The command end to end on the Go servers, with a tiny load: every row is
// there and its figures parse. What the figures are is the load run's
// business, not a test's.
func TestTableOfTheGoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts servers")
	}
	proctest.TrackSources(t)
	var out, errOut bytes.Buffer
	code := Run(testwait.Context(t), []string{"-n", "200", "-c", "20", "-slow-n", "10", "-rounds", "2", "-only", "baseline,go,onestream,eventloop"}, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	t.Log("\n" + out.String())

	assert.Contains(t, out.String(), "2 rounds, each server in turn; -c 20 -n 200, 10 ms a call, 1 connection(s)")
	assert.Contains(t, out.String(), "Ceiling: 20 concurrent / 10 ms = 2000 requests/sec.")
	row := regexp.MustCompile(`(?m)^\| (Go: [^|]+) \| (\d+) \| ([0-9]+) \(([0-9]+)–([0-9]+)\) \| ([0-9.]+ (?:s|ms|µs)) \| ([0-9.]+ (?:s|ms|µs)) \| (<?[0-9.]+) \| ([0-9.]+) \| ([0-9]+)% \|$`)
	rows := row.FindAllStringSubmatch(out.String(), -1)
	var labels []string
	for _, r := range rows {
		labels = append(labels, r[1])
		median, _ := strconv.Atoi(r[3])
		lo, _ := strconv.Atoi(r[4])
		hi, _ := strconv.Atoi(r[5])
		assert.True(t, lo <= median && median <= hi, "median within min–max: %s", r[0])
		for _, f := range r[8:10] {
			_, err := strconv.ParseFloat(strings.TrimPrefix(f, "<"), 64)
			assert.NoError(t, err, r[0])
		}
	}
	assert.Equal(t, []string{"Go: default grpc-go server", "Go: greeter -mode go", "Go: greeter -mode onestream", "Go: greeter -mode eventloop"}, labels, "rows:\n%s", out.String())
	for _, r := range rows {
		want := "200"
		if strings.Contains(r[1], "onestream") || strings.Contains(r[1], "eventloop") {
			want = "10"
		}
		assert.Equal(t, want, r[2], "calls a run: %s", r[0])
	}
	assert.NotContains(t, out.String(), "failed")
}

func TestFlags(t *testing.T) {
	o, _, err := parse(nil)
	require.NoError(t, err)
	assert.Equal(t, loadgen.Config{Concurrency: 100, Total: 10000, Connections: 1, Name: "Joe", Sleep: 10 * time.Millisecond, Timeout: 20 * time.Second}, o.load)
	assert.Equal(t, 3, o.rounds)

	for msg, args := range map[string][]string{
		`-only: no server "python"`:                       {"-only", "go,python"},
		"-rounds 0: at least 1 round is needed":           {"-rounds", "0"},
		"-connections 200 is more than -c 100":            {"-connections", "200"},
		"-gomaxprocs -1: must not be negative":            {"-gomaxprocs", "-1"},
		"-slow-n 0: at least 1 call is needed":            {"-slow-n", "0"},
		"-timeout 0s: must be positive":                   {"-timeout", "0"},
		"-ghz /nonexistent/ghz: no ghz to run there":      {"-ghz", "/nonexistent/ghz"},
		`unexpected argument "go": loadtable takes flags`: {"go"},
	} {
		var out, errOut bytes.Buffer
		code := Run(t.Context(), args, &out, &errOut)
		assert.Equal(t, 2, code, "%v", args)
		assert.Contains(t, errOut.String(), "loadtable: "+msg, "%v", args)
		assert.Empty(t, out.String())
	}
}

// Below one 10 ms tick a run measured nothing: the column says how little
// that is, rather than 0.000.
func TestServerCPUColumnBelowOneTick(t *testing.T) {
	assert.Equal(t, "<0.050", serverCPUColumn(0, 0, 200))
	assert.Equal(t, "<0.001", serverCPUColumn(0, 0, 10000))
	assert.Equal(t, "0.029", serverCPUColumn(0.29, 0.029, 10000))
}

func TestGhzCommandIsTheSeries(t *testing.T) {
	cfg := loadgen.Config{Concurrency: 100, Total: 10000, Connections: 1, Name: "Joe", Sleep: 10 * time.Millisecond}
	assert.Equal(t, "-c 100 -n 10000 --insecure --proto ch07-concurrency/protobufs/helloworld.proto --call helloworld.Greeter.SayHello -d {\"name\":\"Joe\",\"sleep_millisecond\":10} 127.0.0.1:9999",
		strings.Join(ghzArgs("127.0.0.1:9999", cfg), " "))
	cfg.Connections = 4
	assert.Contains(t, strings.Join(ghzArgs("127.0.0.1:9999", cfg), " "), "-n 10000 --connections 4 --insecure")
}

// ghz's summary, as v0.93.0 and v0.121.0 print it.
func TestParseGhz(t *testing.T) {
	smp, err := parseGhz([]byte("\nSummary:\n  Count:\t100\n  Total:\t186.65 ms\n  Slowest:\t65.47 ms\n  Fastest:\t10.71 ms\n  Average:\t18.18 ms\n  Requests/sec:\t535.75\n\n" +
		"Response time histogram:\n  10.712 [1]  |∎\n  16.188 [79] |∎∎∎∎\n\nLatency distribution:\n  10 % in 10.95 ms \n  25 % in 11.55 ms \n  50 % in 12.83 ms \n" +
		"  75 % in 14.40 ms \n  90 % in 19.95 ms \n  95 % in 64.58 ms \n  99 % in 1.21 s \n\nStatus code distribution:\n  [OK]   98 responses   \n  [DeadlineExceeded]   2 responses   \n\n"))
	require.NoError(t, err)
	assert.Equal(t, 100, smp.calls)
	assert.InDelta(t, 535.75, smp.perSecond, 1e-9)
	assert.Equal(t, 12830*time.Microsecond, smp.p50)
	assert.Equal(t, 1210*time.Millisecond, smp.p99)
	assert.Equal(t, map[codes.Code]int{codes.DeadlineExceeded: 2}, smp.failed)

	// Every call failed: ghz prints no latencies.
	smp, err = parseGhz([]byte("\nSummary:\n  Count:\t100\n  Total:\t70.89 ms\n  Slowest:\t0 ns\n  Fastest:\t0 ns\n  Average:\t6.17 ms\n  Requests/sec:\t1410.65\n\n" +
		"Response time histogram:\n\nLatency distribution:\n\nStatus code distribution:\n  [DeadlineExceeded]   100 responses   \n"))
	require.NoError(t, err)
	assert.Equal(t, map[codes.Code]int{codes.DeadlineExceeded: 100}, smp.failed)

	_, err = parseGhz([]byte("Error: connection refused"))
	assert.Error(t, err)
}
