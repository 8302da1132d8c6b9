package greeter_test

import (
	"context"
	"flag"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
)

var timerProbe = flag.Int("timer", 0, "waits per count of waiters of TestTimerLateness (0 skips it)")

// How late the Go mode's 10 ms wait (greeter.ContextWait, a timer) ends,
// alone and with 100 goroutines waiting at once: the part of the
// benchmark's latency above 10 ms that the timer, not gRPC, accounts for.
// A measurement, not a check: it only logs.
//
//	go test ./ch07-concurrency/greeter -run TestTimerLateness -timer 2000 -v
func TestTimerLateness(t *testing.T) {
	if *timerProbe == 0 {
		t.Skip("a measurement: -timer N runs it, with N waits for each count of waiters")
	}
	for _, waiters := range []int{1, 100} {
		lateness := make([]time.Duration, 0, *timerProbe)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range waiters {
			wg.Go(func() {
				for range max(1, *timerProbe/waiters) {
					start := time.Now()
					_ = greeter.ContextWait(context.Background(), 10*time.Millisecond)
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
		t.Logf("%3d waiters, %d waits of 10 ms: late by %v on average, p50 %v, p99 %v",
			waiters, n, sum/time.Duration(n), lateness[n/2], lateness[n*99/100])
	}
}
