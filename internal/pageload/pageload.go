// Package pageload loads a web page from concurrent clients, for the load
// runs the docs report: a closed loop of workers that each fetch the page,
// read it, and fetch it again, until a number of pages is done or a time
// limit passes, whichever comes first.
package pageload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proccpu"
)

// Result is what a run measured.
type Result struct {
	Pages    int           // whole pages fetched
	Failures int           // requests that failed, or answered without three books
	Elapsed  time.Duration // from the first request to the last answer
	P50, P99 time.Duration // latency of a page, among the whole ones
}

// PerSecond is the throughput: whole pages a second.
func (r Result) PerSecond() float64 { return float64(r.Pages) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%d pages in %v: %.0f/s, p50 %v, p99 %v, %d failures",
		r.Pages, r.Elapsed.Round(time.Millisecond), r.PerSecond(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Failures)
}

// Run fetches url with workers concurrent clients, keep-alive on, until
// pages requests are done or limit passes. A page counts when it is a 200
// with three <li>: a degraded page is a failure, since it skipped the work
// being measured. client is used if not nil, for TLS.
func Run(ctx context.Context, client *http.Client, url string, pages, workers int, limit time.Duration) Result {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	}
	defer client.CloseIdleConnections()
	return Loop(ctx, pages, workers, limit, func(ctx context.Context) bool { return fetch(ctx, client, url) })
}

// Loop is Run's closed loop for any operation: workers goroutines call op
// again and again until n calls are done or limit passes. A call that
// returns false is a failure; Pages counts the others.
func Loop(ctx context.Context, n, workers int, limit time.Duration, op func(context.Context) bool) Result {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		next      atomic.Int64
		failures  atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, n)
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				if op(ctx) {
					mine = append(mine, time.Since(t0))
				} else {
					failures.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{Pages: len(latencies), Failures: int(failures.Load()), Elapsed: time.Since(start)}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		r.P50 = latencies[len(latencies)/2]
		r.P99 = latencies[len(latencies)*99/100]
	}
	return r
}

// CPUSeconds returns each process's CPU time so far, user and system, in
// seconds, from Linux's /proc: what a load run divides by the work done.
// It fails the test if a process is gone.
func CPUSeconds(t testing.TB, pids ...int) []float64 {
	t.Helper()
	var out []float64
	for _, pid := range pids {
		cpu, err := proccpu.Seconds(pid)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cpu)
	}
	return out
}

// Median returns the median of xs (the upper one of an even count), the
// figure load runs report, since a busy machine makes some rounds slow.
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func fetch(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && strings.Count(string(body), "<li>") == 3
}
