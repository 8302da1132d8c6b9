// Command loadgen loads helloworld.Greeter.SayHello the way the series'
// ghz command does, at a fraction of ghz's CPU a call, and prints ghz's
// summary, or with -format json the fields of ghz's JSON report that the
// load table reads. The series' command, with loadgen:
//
//	go run ./tools/loadgen -c 100 -n 10000 -addr 127.0.0.1:9999
//
// It is lean by construction: -c workers, no goroutine per call; workers
// take call numbers from one atomic counter, so exactly -n calls are made
// with no lock and no channel; each call writes its latency and status
// into its own slot of slices allocated before the run; worker w uses
// connection w modulo -connections, the round-robin ghz uses. On two cores
// every microsecond the client spends is one the server does not get: a
// cheap client measures the server, not itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// config is one load run; the defaults are ghz's (-c 50, -n 200, one
// connection, 20 s a call) with the series' request (Joe, 10 ms).
type config struct {
	addr        string
	concurrency int
	total       int
	connections int
	name        string
	sleepMS     int
	timeout     time.Duration
	maxTime     time.Duration
}

func (c config) check() error {
	switch {
	case c.concurrency < 1 || c.total < 1:
		return fmt.Errorf("-c %d -n %d: both must be at least 1", c.concurrency, c.total)
	case c.connections < 1 || c.connections > c.concurrency:
		return fmt.Errorf("-connections %d: want 1 to -c (%d), each connection needs a worker", c.connections, c.concurrency)
	case c.sleepMS < 0 || c.sleepMS > 1<<31-1:
		return fmt.Errorf("-sleep %d: want a non-negative number of milliseconds", c.sleepMS)
	case c.timeout < 0 || c.maxTime <= 0:
		return fmt.Errorf("-timeout %v -max-time %v: want a timeout of 0 or more and a positive -max-time", c.timeout, c.maxTime)
	}
	if _, port, err := net.SplitHostPort(c.addr); err != nil || port == "" {
		return fmt.Errorf("-addr %q: the Greeter's host:port is needed, such as 127.0.0.1:9999", c.addr)
	}
	return nil
}

// report has the names and units of ghz's JSON report (durations in
// nanoseconds), the fields the load table reads.
type report struct {
	Count      int            `json:"count"`
	Total      time.Duration  `json:"total"`
	Average    time.Duration  `json:"average"`
	Fastest    time.Duration  `json:"fastest"`
	Slowest    time.Duration  `json:"slowest"`
	Rps        float64        `json:"rps"`
	StatusDist map[string]int `json:"statusCodeDistribution"`
	Latencies  []latency      `json:"latencyDistribution"`
	firstErr   error
}

type latency struct {
	Percentage int           `json:"percentage"`
	Latency    time.Duration `json:"latency"`
}

// run makes cfg.total calls over conns with cfg.concurrency workers. When
// ctx ends, the workers take no new calls and the report counts the calls
// made.
func run(ctx context.Context, conns []*grpc.ClientConn, cfg config) *report {
	lat := make([]time.Duration, cfg.total) // zero: never called
	code := make([]codes.Code, cfg.total)
	errs := make([]error, cfg.total)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.concurrency {
		client := pb.NewGreeterClient(conns[w%len(conns)])
		// A request per worker: marshalling writes its cached size.
		req := &pb.HelloRequest{Name: cfg.name, SleepMillisecond: int32(cfg.sleepMS)}
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < cfg.total && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				callCtx, cancel := ctx, context.CancelFunc(func() {})
				if cfg.timeout > 0 {
					callCtx, cancel = context.WithTimeout(ctx, cfg.timeout)
				}
				t := time.Now()
				_, errs[i] = client.SayHello(callCtx, req)
				lat[i], code[i] = max(time.Since(t), 1), status.Code(errs[i])
				cancel()
			}
		})
	}
	wg.Wait()
	r := &report{Total: time.Since(start), StatusDist: map[string]int{}}
	var made []time.Duration
	for i, d := range lat {
		if d == 0 {
			continue
		}
		made = append(made, d)
		r.StatusDist[code[i].String()]++
		if r.firstErr == nil {
			r.firstErr = errs[i]
		}
		r.Average += d
	}
	r.Count = len(made)
	if r.Count == 0 {
		return r
	}
	slices.Sort(made)
	r.Average /= time.Duration(r.Count)
	r.Fastest, r.Slowest = made[0], made[r.Count-1]
	r.Rps = float64(r.Count) / r.Total.Seconds()
	for _, p := range []int{10, 25, 50, 75, 90, 95, 99} {
		rank := max((p*r.Count+99)/100, 1) // nearest rank: a latency some call had
		r.Latencies = append(r.Latencies, latency{p, made[rank-1]})
	}
	return r
}

// writeText prints r with ghz's headings, so the two read side by side.
func (r *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "\nSummary:\n  Count:\t%d\n  Total:\t%s\n  Slowest:\t%s\n  Fastest:\t%s\n  Average:\t%s\n  Requests/sec:\t%.2f\n",
		r.Count, duration(r.Total), duration(r.Slowest), duration(r.Fastest), duration(r.Average), r.Rps)
	fmt.Fprintf(w, "\nLatency distribution:\n")
	for _, l := range r.Latencies {
		fmt.Fprintf(w, "  %d %% in %s \n", l.Percentage, duration(l.Latency))
	}
	fmt.Fprintf(w, "\nStatus code distribution:\n")
	for _, c := range slices.Sorted(maps.Keys(r.StatusDist)) {
		fmt.Fprintf(w, "  [%s]   %d responses   \n", c, r.StatusDist[c])
	}
}

// duration prints d the way ghz does: two decimals, in s, ms or µs.
func duration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:9999", "the Greeter's host:port")
	flag.IntVar(&cfg.concurrency, "c", 50, "concurrent calls (workers)")
	flag.IntVar(&cfg.total, "n", 200, "calls in all")
	flag.IntVar(&cfg.connections, "connections", 1, "client connections, shared round-robin by the workers")
	flag.StringVar(&cfg.name, "name", "Joe", "the name sent in each request")
	flag.IntVar(&cfg.sleepMS, "sleep", 10, "sleep_millisecond sent in each request")
	flag.DurationVar(&cfg.timeout, "timeout", 20*time.Second, "each call's deadline (0: none)")
	flag.DurationVar(&cfg.maxTime, "max-time", 10*time.Minute, "stop taking new calls after this long")
	format := flag.String("format", "summary", "summary (ghz's text) or json (ghz's JSON fields)")
	flag.Parse()
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.maxTime)
	defer cancel()
	// Each its own HTTP/2 connection: grpc-go never shares a transport
	// between two ClientConns.
	conns := make([]*grpc.ClientConn, cfg.connections)
	for i := range conns {
		conn, err := grpc.NewClient(cfg.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer conn.Close()
		conns[i] = conn
	}
	r := run(ctx, conns, cfg)
	if *format == "json" {
		_ = json.NewEncoder(os.Stdout).Encode(r)
	} else {
		r.writeText(os.Stdout)
	}
	if r.StatusDist[codes.OK.String()] == 0 {
		fmt.Fprintf(os.Stderr, "loadgen: no call succeeded: %v\n", r.firstErr)
		os.Exit(1)
	}
}
