package greeter_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
)

// How late the Go mode's 10 ms wait (greeter.ContextWait, a timer) ends,
// alone and with 100 goroutines waiting at once: the part of the load
// benchmark's latency above 10 ms that the timer, not gRPC, accounts for.
// Each op is one round of waits; it reports the lateness on average, at
// the median and at p99.
//
//	go test ./ch07-concurrency/greeter -run '^$' -bench TimerLateness -benchtime 200x
func BenchmarkTimerLateness(b *testing.B) {
	for _, waiters := range []int{1, 100} {
		b.Run(fmt.Sprintf("waiters=%d", waiters), func(b *testing.B) {
			var mu sync.Mutex
			var lateness []time.Duration
			for b.Loop() {
				var wg sync.WaitGroup
				for range waiters {
					wg.Go(func() {
						start := time.Now()
						_ = greeter.ContextWait(context.Background(), 10*time.Millisecond)
						late := time.Since(start) - 10*time.Millisecond
						mu.Lock()
						lateness = append(lateness, late)
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			slices.Sort(lateness)
			var sum time.Duration
			for _, d := range lateness {
				sum += d
			}
			n := len(lateness)
			b.ReportMetric(float64(sum.Microseconds())/float64(n), "late-us/wait")
			b.ReportMetric(float64(lateness[n/2].Microseconds()), "p50-late-us")
			b.ReportMetric(float64(lateness[n*99/100].Microseconds()), "p99-late-us")
		})
	}
}
