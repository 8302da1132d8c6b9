package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
)

// Report is what a load run measured.
type Report struct {
	Total     time.Duration        // from the first call's start to the last call's end
	Latencies []time.Duration      // every call's, in increasing order, which the percentiles need
	Codes     map[codes.Code]int   // calls by status code, OK included
	Errors    map[codes.Code]error // one error of each failing code, as an example
	// FirstError is the error of the first failed call, in the order the
	// calls were numbered; nil if every call made succeeded.
	FirstError error
}

// Count is the number of calls made.
func (r *Report) Count() int { return len(r.Latencies) }

// PerSecond is the calls made a second over the whole run: ghz's
// Requests/sec.
func (r *Report) PerSecond() float64 {
	if r.Total <= 0 {
		return 0
	}
	return float64(r.Count()) / r.Total.Seconds()
}

// Fastest is the shortest call's latency, zero if none was made.
func (r *Report) Fastest() time.Duration { return r.Percentile(0) }

// Slowest is the longest call's latency, zero if none was made.
func (r *Report) Slowest() time.Duration { return r.Percentile(100) }

// Average is the mean latency, zero if no call was made.
func (r *Report) Average() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range r.Latencies {
		sum += d
	}
	return sum / time.Duration(len(r.Latencies))
}

// Percentile returns the latency that p percent of the calls did not
// exceed, by the nearest-rank method: the smallest latency with at least
// p% of the calls at or below it, so that every figure is a latency some
// call really had. Percentile(0) is the fastest call; zero if none was
// made.
func (r *Report) Percentile(p int) time.Duration {
	return percentile(r.Latencies, p)
}

// percentile is nearest rank on sorted: the element at rank ⌈p·n/100⌉,
// counting from 1, and the first element for p = 0.
func percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	p = max(0, min(p, 100))
	rank := (p*n + 99) / 100 // ⌈p·n/100⌉ in integers
	return sorted[max(rank, 1)-1]
}

// percentiles are those ghz prints under "Latency distribution".
var percentiles = []int{10, 25, 50, 75, 90, 95, 99}

// WriteSummary prints r the way ghz prints its summary: the same headings
// and wording, so a reader can put the two side by side. ghz's histogram
// is left out, and the latencies are those of all calls, failed ones
// included, where ghz's distribution counts only the successful ones.
func (r *Report) WriteSummary(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("\nSummary:\n")
	ew.printf("  Count:\t%d\n", r.Count())
	ew.printf("  Total:\t%s\n", FormatDuration(r.Total))
	ew.printf("  Slowest:\t%s\n", FormatDuration(r.Slowest()))
	ew.printf("  Fastest:\t%s\n", FormatDuration(r.Fastest()))
	ew.printf("  Average:\t%s\n", FormatDuration(r.Average()))
	ew.printf("  Requests/sec:\t%.2f\n", r.PerSecond())
	ew.printf("\nLatency distribution:\n")
	for _, p := range percentiles {
		ew.printf("  %d %% in %s \n", p, FormatDuration(r.Percentile(p)))
	}
	ew.printf("\nStatus code distribution:\n")
	for _, c := range slices.Sorted(maps.Keys(r.Codes)) {
		ew.printf("  [%s]   %d responses   \n", c, r.Codes[c])
	}
	if len(r.Errors) > 0 {
		ew.printf("\nError distribution (one example of each code):\n")
		for _, c := range slices.Sorted(maps.Keys(r.Errors)) {
			ew.printf("  [%d]   %v   \n", r.Codes[c], r.Errors[c])
		}
	}
	return ew.err
}

// FormatDuration prints d the way ghz does: two decimals, in s, ms or µs.
func FormatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
	}
}

// errWriter keeps the first write error, so the summary is printed without
// a check after every line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
