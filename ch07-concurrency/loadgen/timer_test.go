package loadgen_test

import (
	"flag"
	"slices"
	"sync"
	"testing"
	"time"
)

var timerProbe = flag.Int("timer", 0, "sleeps per goroutine count of TestSleepLateness (0 skips it)")

// How late a 10 ms time.Sleep wakes up, alone and with 100 goroutines
// sleeping at once: the part of the benchmark's latency above 10 ms that
// the timer, not gRPC, accounts for. A measurement, not a check: it only
// logs.
//
//	go test ./ch07-concurrency/loadgen -run TestSleepLateness -timer 2000 -v
func TestSleepLateness(t *testing.T) {
	if *timerProbe == 0 {
		t.Skip("a measurement: -timer N runs it, with N sleeps for each count of sleepers")
	}
	for _, sleepers := range []int{1, 100} {
		lateness := make([]time.Duration, 0, *timerProbe)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range sleepers {
			wg.Go(func() {
				for range max(1, *timerProbe/sleepers) {
					start := time.Now()
					time.Sleep(10 * time.Millisecond)
					late := time.Since(start) - 10*time.Millisecond
					mu.Lock()
					lateness = append(lateness, late)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(lateness)
		var sum time.Duration
		for _, d := range lateness {
			sum += d
		}
		n := len(lateness)
		t.Logf("%3d sleepers, %d sleeps of 10 ms: late by %v on average, p50 %v, p99 %v",
			sleepers, n, sum/time.Duration(n), lateness[n/2], lateness[n*99/100])
	}
}
