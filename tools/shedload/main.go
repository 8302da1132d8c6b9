// Command shedload measures chapter 6's load shedding (recommendations
// -max-in-flight) as docs/06 reports it: the same server, with and without
// a limit, under three times the load it can take.
//
//	go run ./tools/shedload                 # about 35 seconds
//	go run ./tools/shedload -limits 1,2,4,8 -duration 10s
//
// The server is a child process with one core (GOMAXPROCS=1), the load
// comes from this one on another: the chapter's Recommend handler behind
// shed.Limit and the chapter's stream bound, with a fixed amount of CPU
// work added to each call (-work), as a heavier service's handler would
// have. Callers use one connection, as the Marketplace does, and give each
// call the Marketplace's one-second deadline.
//
// It first finds the capacity (callers in a closed loop, no limit), then the
// unloaded latency (a tenth of the capacity), then offers -load times the
// capacity at a steady rate (an open loop: calls keep coming whatever the
// server answers, as visitors' pages do) to a server without a limit and
// to one with each of -limits.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/shed"
)

// childEnv marks the child process that serves; its flags follow.
const childEnv = "SHEDLOAD_SERVER"

// config is one measurement.
type config struct {
	limits   []uint        // -max-in-flight values to try, besides none
	work     time.Duration // CPU each call costs the server
	duration time.Duration // length of each phase
	load     float64       // offered load as a multiple of the capacity
	deadline time.Duration // each call's deadline, the Marketplace's
}

func main() {
	if os.Getenv(childEnv) != "" {
		if err := serveChild(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "shedload server:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	limits := flag.String("limits", "1,2,4", "comma-separated -max-in-flight values to measure, besides no limit")
	flag.DurationVar(&c.work, "work", time.Millisecond, "CPU each call costs the server, besides gRPC's own")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "length of each phase (there are 3 + the number of -limits)")
	flag.Float64Var(&c.load, "load", 3, "offered load, as a multiple of the capacity measured")
	flag.DurationVar(&c.deadline, "deadline", time.Second, "each call's deadline")
	flag.Parse()
	runtime.GOMAXPROCS(1) // the callers on one core, the server on the other
	var err error
	if c.limits, err = parseLimits(*limits); err == nil && (c.work <= 0 || c.duration <= 0 || c.load <= 0 || c.deadline <= 0) {
		err = errors.New("-work, -duration, -load and -deadline must be positive")
	}
	if err == nil {
		err = run(c, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shedload:", err)
		os.Exit(1)
	}
}

func parseLimits(s string) ([]uint, error) {
	var limits []uint
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("-limits %q: want positive whole numbers separated by commas", s)
		}
		limits = append(limits, uint(n))
	}
	return limits, nil
}

// run measures and prints the results as a Markdown table.
func run(c config, out io.Writer) error {
	iterations := calibrate(c.work)
	fmt.Fprintf(out, "%d cores: the server on 1, with %v of CPU work a call (%d iterations); the callers on %d, 1 connection, %v deadline\n",
		runtime.NumCPU(), c.work, iterations, runtime.GOMAXPROCS(0), c.deadline)
	var capacity float64
	var unloaded result
	rows := [][]string{}
	for i, limit := range append([]uint{0}, c.limits...) {
		conn, stop, err := startChild(limit, iterations)
		if err != nil {
			return err
		}
		client := pb.NewRecommendationsClient(conn)
		if i == 0 {
			capacity = closedLoop(client, 16, c.duration, c.deadline)
			unloaded = openLoop(client, capacity/10, c.duration, c.deadline)
			fmt.Fprintf(out, "capacity: %.0f calls/s (16 callers in a closed loop); unloaded, at %.0f calls/s: p50 %s, p99 %s\n",
				capacity, capacity/10, ms(unloaded.percentile(50)), ms(unloaded.percentile(99)))
		}
		r := openLoop(client, c.load*capacity, c.duration, c.deadline)
		stop()
		name := "none"
		if limit > 0 {
			name = strconv.FormatUint(uint64(limit), 10)
		}
		per := func(code codes.Code) string { return fmt.Sprintf("%.0f", float64(r.codes[code])/c.duration.Seconds()) }
		rows = append(rows, []string{name, fmt.Sprintf("%.0f", float64(r.sent)/c.duration.Seconds()), per(codes.OK),
			per(codes.ResourceExhausted), per(codes.DeadlineExceeded), strconv.Itoa(r.other()),
			ms(r.percentile(50)), ms(r.percentile(99)),
			fmt.Sprintf("%.1f×", r.percentile(99).Seconds()/unloaded.percentile(99).Seconds())})
	}
	fmt.Fprintf(out, "\nat %.0f× the capacity, for %v each:\n\n", c.load, c.duration)
	fmt.Fprintln(out, "| -max-in-flight | offered/s | answered/s | shed/s | past deadline/s | other | answered p50 | answered p99 | p99 ÷ unloaded p99 |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		fmt.Fprintf(out, "| %s |\n", strings.Join(r, " | "))
	}
	return nil
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", d.Seconds()*1000)
}

// result is what a load run's calls got.
type result struct {
	sent      int
	codes     map[codes.Code]int
	latencies []time.Duration // of the calls answered OK, sorted
}

func (r result) percentile(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)*p/100, len(r.latencies)-1)]
}

// other counts the calls that ended with neither OK, nor shed, nor past
// their deadline: a measurement with any is suspect.
func (r result) other() int {
	n := r.sent
	for _, c := range []codes.Code{codes.OK, codes.ResourceExhausted, codes.DeadlineExceeded} {
		n -= r.codes[c]
	}
	return n
}

// recorder collects calls' outcomes from many goroutines.
type recorder struct {
	mu sync.Mutex
	r  result
}

// call makes one call, as the Marketplace does, and times it.
func call(client pb.RecommendationsClient, deadline time.Duration) (codes.Code, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
	return status.Code(err), time.Since(start)
}

func (rec *recorder) call(client pb.RecommendationsClient, deadline time.Duration) {
	code, took := call(client, deadline)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.sent++
	rec.r.codes[code]++
	if code == codes.OK {
		rec.r.latencies = append(rec.r.latencies, took)
	}
}

func (rec *recorder) result() result {
	slices.Sort(rec.r.latencies)
	return rec.r
}

func newRecorder() *recorder { return &recorder{r: result{codes: map[codes.Code]int{}}} }

// openLoop sends calls at rate a second for d, each on its own goroutine,
// whatever the server answers, and waits for the last to end.
func openLoop(client pb.RecommendationsClient, rate float64, d, deadline time.Duration) result {
	rec := newRecorder()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, sent := time.Now(), 0
	for now := range tick.C {
		elapsed := min(now.Sub(start), d)
		for due := int(rate * elapsed.Seconds()); sent < due; sent++ {
			wg.Go(func() { rec.call(client, deadline) })
		}
		if elapsed == d {
			break
		}
	}
	wg.Wait()
	return rec.result()
}

// closedLoop runs callers that each call again as soon as a call ends, for
// d, and returns the calls answered a second: the server's capacity.
func closedLoop(client pb.RecommendationsClient, callers int, d, deadline time.Duration) float64 {
	var ok atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if code, _ := call(client, deadline); code == codes.OK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(ok.Load()) / d.Seconds()
}

// spin does n iterations of arithmetic the compiler cannot drop: CPU work
// that takes its time on the CPU, not on the clock (a loop on time.Since
// would end early for a goroutine that waited for the core).
func spin(n int) uint64 {
	x := uint64(1)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink atomic.Uint64

// calibrate returns the iterations of spin that take about d on this machine.
func calibrate(d time.Duration) int {
	const n = 50_000_000
	start := time.Now()
	sink.Store(spin(n))
	return max(1, int(float64(n)*d.Seconds()/time.Since(start).Seconds()))
}

// startChild starts the server process and connects to it; stop closes
// the connection and ends the process.
func startChild(limit uint, iterations int) (*grpc.ClientConn, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, strconv.FormatUint(uint64(limit), 10), strconv.Itoa(iterations))
	cmd.Env = append(os.Environ(), childEnv+"=1", "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the child serves until it closes
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	end := func() { _ = stdin.Close(); _ = cmd.Wait() }
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		end()
		return nil, nil, fmt.Errorf("the server did not say its address: %w", err)
	}
	conn, err := grpc.NewClient(strings.TrimSpace(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		end()
		return nil, nil, err
	}
	return conn, func() { _ = conn.Close(); end() }, nil
}

// serveChild serves Recommend on a loopback port with shed.Limit(args[0])
// and args[1] iterations of work a call, writes the address to out, and
// serves until in closes (the parent is done, or gone).
func serveChild(args []string, in io.Reader, out io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("want a limit and an iteration count, got %q", args)
	}
	limit, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return err
	}
	iterations, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	work := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		sink.Store(spin(iterations))
		return handler(ctx, req)
	}
	// As the chapter's server: its stream bound, the limit first, then the call.
	s := grpc.NewServer(grpc.MaxConcurrentStreams(100), grpc.InTapHandle(shed.Limit(uint(limit), prometheus.NewRegistry())),
		grpc.UnaryInterceptor(work))
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()
	if _, err := fmt.Fprintln(out, lis.Addr()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in)
	return nil
}
