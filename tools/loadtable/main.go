// Command loadtable reproduces the series' benchmark table on this machine,
// with Go beside Python. It builds chapter 7's greeter and baseline, starts
// them and the series' Python servers (pyservers/) as processes on
// loopback, loads each in turn with the series' parameters (100 concurrent
// calls, 10,000 calls, 10 ms), round after round so that all see the same
// machine, and prints a Markdown table: requests/sec, latency, and the CPU
// each server spent a call.
//
// The load is ghz's report in JSON (ghz --format json), from ghz itself
// with -ghz, or from tools/loadgen, which writes the same fields at less
// CPU a call. Run it from the module's root, alone on the machine:
//
//	go run ./tools/loadtable -rounds 3
//	go run ./tools/loadtable -ghz $(go env GOPATH)/bin/ghz   # the series' own command
//	go run ./tools/loadtable -only baseline,go -connections 4
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proccpu"
)

// server is one row of the table.
type server struct {
	key  string   // what -only names
	cmd  []string // its command; "greeter", "baseline" and "python" are resolved at start
	slow bool     // serializes calls: loaded with -slow-n calls
	pkgs []string // Python modules it needs beyond grpc
}

var rows = []server{
	{key: "baseline", cmd: []string{"baseline"}},
	{key: "go", cmd: []string{"greeter", "-quiet", "-mode", "go"}},
	{key: "onestream", cmd: []string{"greeter", "-quiet", "-mode", "onestream"}, slow: true},
	{key: "eventloop", cmd: []string{"greeter", "-quiet", "-mode", "eventloop"}, slow: true},
	{key: "threads", cmd: []string{"python", "threads_server.py"}},
	{key: "gevent", cmd: []string{"python", "gevent_server.py"}, pkgs: []string{"gevent"}},
	{key: "grpclib", cmd: []string{"python", "grpclib_server.py"}, pkgs: []string{"grpclib"}},
	{key: "grpclib+uvloop", cmd: []string{"python", "grpclib_server.py", "--uvloop"}, pkgs: []string{"grpclib", "uvloop"}},
	{key: "grpc.aio", cmd: []string{"python", "aio_server.py"}},
	{key: "grpc.aio+uvloop", cmd: []string{"python", "aio_server.py", "--uvloop"}, pkgs: []string{"uvloop"}},
}

// ghzReport is what the table reads of ghz's JSON report (durations in ns).
type ghzReport struct {
	Count      int            `json:"count"`
	Rps        float64        `json:"rps"`
	StatusDist map[string]int `json:"statusCodeDistribution"`
	Latencies  []struct {
		Percentage int           `json:"percentage"`
		Latency    time.Duration `json:"latency"`
	} `json:"latencyDistribution"`
}

// percentile is the latency of p% in r, zero if absent (no call succeeded).
func (r ghzReport) percentile(p int) time.Duration {
	for _, l := range r.Latencies {
		if l.Percentage == p {
			return l.Latency
		}
	}
	return 0
}

// sample is one run against one server: ghz's report and the CPU seconds
// the server and the load generator spent on it.
type sample struct {
	ghzReport
	serverCPU, clientCPU float64
}

var listening = regexp.MustCompile(`: serving gRPC on (\S+:\d+)`)

func main() {
	c := flag.Int("c", 100, "concurrent calls (ghz -c)")
	n := flag.Int("n", 10000, "calls a run (ghz -n)")
	sleep := flag.Int("sleep", 10, "sleep_millisecond of each request")
	conns := flag.Int("connections", 1, "client connections a run (ghz --connections)")
	slowN := flag.Int("slow-n", 500, "calls a run for the modes that serialize calls (eventloop, onestream)")
	rounds := flag.Int("rounds", 3, "rounds; each loads every server once, in turn")
	procs := flag.Int("gomaxprocs", 0, "GOMAXPROCS of the Go servers (0: Go's default)")
	only := flag.String("only", "", "comma-separated servers to run (default all)")
	ghz := flag.String("ghz", "", "path of a ghz binary to load with, instead of tools/loadgen")
	limit := flag.Duration("timeout", 3*time.Minute, "limit of each run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "loadtable-")
	check(err)
	defer os.RemoveAll(dir)

	// Build the Go servers and loadgen; find a Python with grpcio.
	for _, name := range []string{"greeter", "baseline"} {
		build(ctx, filepath.Join(dir, name), "./ch07-concurrency/cmd/"+name)
	}
	load := *ghz
	if load == "" {
		load = filepath.Join(dir, "loadgen")
		build(ctx, load, "./tools/loadgen")
	}
	python := "/usr/bin/python3" // Debian's packages install for it
	var notes []string
	var picked []server
	for _, s := range rows {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), s.key) {
			continue
		}
		if s.cmd[0] == "python" {
			imports := strings.Join(append([]string{"grpc", "grpc_tools"}, s.pkgs...), ", ")
			if exec.Command(python, "-c", "import "+imports).Run() != nil {
				notes = append(notes, fmt.Sprintf("%s: skipped, %s cannot import %s", s.key, python, imports))
				continue
			}
		}
		picked = append(picked, s)
	}

	// Start every server, and read its address from its first line.
	addrs := map[string]string{}
	procsOf := map[string]*exec.Cmd{}
	defer func() {
		for _, p := range procsOf {
			_ = p.Process.Signal(syscall.SIGTERM) // the Python ones remove their generated code
			_ = p.Wait()
		}
	}()
	for _, s := range picked {
		args := slices.Clone(s.cmd)
		switch args[0] {
		case "python":
			args = append([]string{python, "-u", filepath.Join("tools", "loadtable", "pyservers", args[1])}, append(args[2:], "--port", "0")...)
		default:
			args = append([]string{filepath.Join(dir, args[0]), "-addr", "127.0.0.1:0"}, args[1:]...)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no server outlives us
		if *procs > 0 && s.cmd[0] != "python" {
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(*procs))
		}
		out, err := cmd.StdoutPipe()
		check(err)
		check(cmd.Start())
		procsOf[s.key] = cmd
		line := make([]byte, 256)
		k, _ := io.ReadAtLeast(out, line, 1)
		m := listening.FindSubmatch(line[:k])
		if m == nil {
			check(fmt.Errorf("%s: first line %q does not say where it listens", s.key, line[:k]))
		}
		addrs[s.key] = string(m[1])
		go func() { _, _ = io.Copy(io.Discard, out) }()
	}

	samples := map[string][]sample{}
	for round := range *rounds + 1 { // round 0 warms up, unmeasured
		for _, s := range picked {
			calls := *n
			if s.slow {
				calls = min(*slowN, *n)
			}
			if round == 0 {
				calls = max(1, min(calls/10, 1000))
			}
			args := []string{"-c", strconv.Itoa(*c), "-n", strconv.Itoa(calls), "--connections", strconv.Itoa(*conns),
				"--insecure", "--proto", "ch07-concurrency/protobufs/helloworld.proto", "--call", "helloworld.Greeter.SayHello",
				"-d", fmt.Sprintf(`{"name":"Joe","sleep_millisecond":%d}`, *sleep), "--format", "json", addrs[s.key]}
			if *ghz == "" { // loadgen's flags
				args = []string{"-c", strconv.Itoa(*c), "-n", strconv.Itoa(calls), "-connections", strconv.Itoa(*conns),
					"-sleep", strconv.Itoa(*sleep), "-format", "json", "-addr", addrs[s.key]}
			}
			smp := measure(ctx, *limit, procsOf[s.key].Process.Pid, load, args)
			if round > 0 {
				fmt.Fprintf(os.Stderr, "loadtable: round %d, %s: %.0f requests/sec\n", round, s.key, smp.Rps)
				samples[s.key] = append(samples[s.key], smp)
			}
		}
	}

	fmt.Printf("%d rounds; -c %d, %d ms a call, %d connection(s); load from %s; %s, %d CPUs, GOMAXPROCS %d (0: default).\n\n",
		*rounds, *c, *sleep, *conns, filepath.Base(load), runtime.Version(), runtime.NumCPU(), *procs)
	fmt.Println("| server | calls a run | requests/sec, median (min–max) | % of ceiling | p50 | p99 | server CPU s / 1,000 calls | client CPU s / 1,000 calls | failed calls |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	ceiling := float64(*c) * 1000 / float64(max(*sleep, 1))
	for _, s := range picked {
		smp := samples[s.key]
		col := func(f func(sample) float64) float64 {
			var xs []float64
			for _, x := range smp {
				xs = append(xs, f(x))
			}
			slices.Sort(xs)
			return xs[len(xs)/2] // the median, the upper one of an even count
		}
		rps := func(x sample) float64 { return x.Rps }
		lo := slices.MinFunc(smp, func(a, b sample) int { return cmp.Compare(a.Rps, b.Rps) }).Rps
		hi := slices.MaxFunc(smp, func(a, b sample) int { return cmp.Compare(a.Rps, b.Rps) }).Rps
		failed := 0
		for _, x := range smp {
			failed += x.Count - x.StatusDist["OK"]
		}
		fmt.Printf("| %s | %d | %.0f (%.0f–%.0f) | %.0f%% | %.2f ms | %.2f ms | %.3f | %.3f | %d |\n",
			s.key, smp[0].Count, col(rps), lo, hi, 100*col(rps)/ceiling,
			col(func(x sample) float64 { return float64(x.percentile(50)) / 1e6 }),
			col(func(x sample) float64 { return float64(x.percentile(99)) / 1e6 }),
			col(func(x sample) float64 { return 1000 * x.serverCPU / float64(max(x.Count, 1)) }),
			col(func(x sample) float64 { return 1000 * x.clientCPU / float64(max(x.Count, 1)) }), failed)
	}
	fmt.Println("\nServer CPU is read from /proc in ticks of 10 ms: short runs measure it coarsely.")
	for _, note := range notes {
		fmt.Println("- " + note)
	}
}

// measure runs the load command once and reads its JSON report, with the
// CPU the server (pid) spent over the run and the load command's own.
func measure(ctx context.Context, limit time.Duration, pid int, load string, args []string) sample {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	before, err := proccpu.Seconds(pid)
	check(err)
	cmd := exec.CommandContext(ctx, load, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		check(fmt.Errorf("%s: %w", load, err))
	}
	var smp sample
	if err := json.Unmarshal(out, &smp.ghzReport); err != nil {
		check(fmt.Errorf("%s's JSON report: %w", load, err))
	}
	after, err := proccpu.Seconds(pid)
	check(err)
	smp.serverCPU = after - before
	smp.clientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return smp
}

func build(ctx context.Context, out, pkg string) {
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		check(fmt.Errorf("go build %s: %v\n%s", pkg, err, b))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtable:", err)
		os.Exit(1)
	}
}
