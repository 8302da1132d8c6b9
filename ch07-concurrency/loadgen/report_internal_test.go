package loadgen

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// Nearest rank: the p-th percentile of n sorted latencies is the one at
// rank ⌈p·n/100⌉ (from 1), a latency some call really had.
func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 0, 7 * time.Millisecond},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 100, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},   // rank 1
		{ms(1, 2), 51, 2 * time.Millisecond},   // rank ⌈1.02⌉ = 2
		{ms(1, 2, 3, 4), 25, time.Millisecond}, // rank 1
		{ms(1, 2, 3, 4), 75, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{ms(hundred...), 0, 1 * time.Millisecond},
		{ms(hundred...), 1, 1 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 90, 90 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
		{ms(hundred...), 150, 100 * time.Millisecond},                                  // clamped
		{ms(hundred...), -1, 1 * time.Millisecond},                                     // clamped
		{ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110), 90, 100 * time.Millisecond}, // rank ⌈9.9⌉ = 10
	} {
		assert.Equal(t, tc.want, percentile(tc.sorted, tc.p), "p%d of %v", tc.p, tc.sorted)
	}
}

func TestReportFigures(t *testing.T) {
	r := &Report{Total: 2 * time.Second, Latencies: []time.Duration{4 * time.Millisecond, time.Millisecond, 10 * time.Millisecond, 5 * time.Millisecond}, Codes: map[codes.Code]int{codes.OK: 4}}
	slices.Sort(r.Latencies)
	assert.Equal(t, 4, r.Count())
	assert.InDelta(t, 2.0, r.PerSecond(), 1e-9)
	assert.Equal(t, time.Millisecond, r.Fastest())
	assert.Equal(t, 10*time.Millisecond, r.Slowest())
	assert.Equal(t, 5*time.Millisecond, r.Average())
	assert.Equal(t, 4*time.Millisecond, r.Percentile(50))

	empty := &Report{}
	assert.Zero(t, empty.PerSecond())
	assert.Zero(t, empty.Average())
	assert.Zero(t, empty.Slowest())
}

func TestFormatDuration(t *testing.T) {
	assert.Equal(t, "1.52 s", FormatDuration(1520*time.Millisecond))
	assert.Equal(t, "25.61 ms", FormatDuration(25610*time.Microsecond))
	assert.Equal(t, "812.50 µs", FormatDuration(812500*time.Nanosecond))
}

func TestWriteSummary(t *testing.T) {
	r := &Report{Total: time.Second, Latencies: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, Codes: map[codes.Code]int{codes.OK: 1, codes.Unavailable: 1}, Errors: map[codes.Code]error{codes.Unavailable: assert.AnError}}
	var out bytes.Buffer
	require.NoError(t, r.WriteSummary(&out))
	assert.Equal(t, `
Summary:
  Count:	2
  Total:	1.00 s
  Slowest:	20.00 ms
  Fastest:	10.00 ms
  Average:	15.00 ms
  Requests/sec:	2.00

Latency distribution:
  10 % in 10.00 ms 
  25 % in 10.00 ms 
  50 % in 10.00 ms 
  75 % in 20.00 ms 
  90 % in 20.00 ms 
  95 % in 20.00 ms 
  99 % in 20.00 ms 

Status code distribution:
  [OK]   1 responses   
  [Unavailable]   1 responses   

Error distribution (one example of each code):
  [1]   `+assert.AnError.Error()+"   \n", out.String())
}
