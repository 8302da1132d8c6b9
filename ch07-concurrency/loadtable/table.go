// Package loadtable is the loadtable command's engine: it reproduces the
// series' benchmark table on this machine, with Go beside Python. It
// builds cmd/greeter and the default grpc-go server
// (ch07-concurrency/cmd/baseline), starts them and the series' Python servers
// as processes on loopback, loads each in turn with the series' parameters,
// round after round so that all see the same machine, and prints a
// Markdown table: requests/sec, latency, and the CPU each server spent a
// call.
package loadtable

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadgen"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/pyservers"
	"github.com/gobookstore/grpc-microservices-go/internal/proccpu"
)

// options are loadtable's flags.
type options struct {
	load       loadgen.Config
	sleepMS    int
	slowN      int
	rounds     int
	gomaxprocs int
	only       string
	ghz        string
	timeout    time.Duration
}

// startTimeout bounds a server's start: the Python ones generate their
// code first, on a busy machine.
const startTimeout = time.Minute

func parse(args []string) (*options, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("loadtable", flag.ContinueOnError)
	o := &options{}
	fs.IntVar(&o.load.Concurrency, "c", 100, "concurrent calls (the series' ghz -c)")
	fs.IntVar(&o.load.Total, "n", 10000, "calls a run (the series' ghz -n)")
	fs.IntVar(&o.sleepMS, "sleep", 10, "sleep_millisecond of each request")
	fs.IntVar(&o.load.Connections, "connections", 1, "client connections a run (ghz --connections)")
	fs.IntVar(&o.slowN, "slow-n", 500, "calls a run for the modes that serialize calls (eventloop, onestream): at 10 ms, 10,000 would take 100 s")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each loads every server once, in turn")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of the Go servers (0: Go's default, the CPUs)")
	fs.StringVar(&o.only, "only", "", "comma-separated servers to run (default all): "+strings.Join(names(), ","))
	fs.StringVar(&o.ghz, "ghz", "", "path of a ghz binary: load with the series' ghz command instead of loadgen's engine")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "limit of each run")
	err := cmdline.Parse(fs, args, func() error {
		switch {
		case o.sleepMS < 0:
			return fmt.Errorf("-sleep %d: a non-negative number of milliseconds is needed", o.sleepMS)
		case o.slowN < 1:
			return fmt.Errorf("-slow-n %d: at least 1 call is needed", o.slowN)
		case o.rounds < 1:
			return fmt.Errorf("-rounds %d: at least 1 round is needed", o.rounds)
		case o.gomaxprocs < 0:
			return fmt.Errorf("-gomaxprocs %d: must not be negative", o.gomaxprocs)
		case o.timeout <= 0:
			return fmt.Errorf("-timeout %v: must be positive", o.timeout)
		}
		if o.ghz != "" {
			// Found now, a flag mistake; not after the servers are built.
			path, err := exec.LookPath(o.ghz)
			if err != nil {
				return fmt.Errorf("-ghz %s: no ghz to run there (%v)", o.ghz, err)
			}
			// ghz runs in the module's root: a relative path would then
			// name another file.
			if o.ghz, err = filepath.Abs(path); err != nil {
				return fmt.Errorf("-ghz %s: %w", o.ghz, err)
			}
		}
		for _, name := range o.selected() {
			if !slices.Contains(names(), name) {
				return fmt.Errorf("-only: no server %q (servers: %s)", name, strings.Join(names(), ","))
			}
		}
		o.load.Sleep = time.Duration(o.sleepMS) * time.Millisecond
		o.load.Name = "Joe"
		o.load.Timeout = 20 * time.Second // ghz's default deadline a call
		return o.load.Check()
	})
	return o, fs, err
}

func (o *options) selected() []string {
	if o.only == "" {
		return nil
	}
	return strings.Split(o.only, ",")
}

// server is one row of the table.
type server struct {
	key, label string
	python     *pyservers.Server // nil for a Go server
	args       []string          // a Go server's flags, after -addr
	slow       bool              // serializes calls: loaded with -slow-n calls

	cmd     *exec.Cmd
	addr    string
	log     string
	samples []sample
}

// servers are the table's rows, Go first, then the series' order.
func servers() []*server {
	rows := []*server{
		{key: "baseline", label: "Go: default grpc-go server"},
		{key: "go", label: "Go: greeter -mode go", args: []string{"-mode", "go"}},
		{key: "onestream", label: "Go: greeter -mode onestream", args: []string{"-mode", "onestream"}, slow: true},
		{key: "eventloop", label: "Go: greeter -mode eventloop", args: []string{"-mode", "eventloop"}, slow: true},
	}
	for i := range pyservers.Servers {
		p := &pyservers.Servers[i]
		rows = append(rows, &server{key: p.Name, label: "Python: " + p.Name, python: p})
	}
	return rows
}

func names() []string {
	var out []string
	for _, s := range servers() {
		out = append(out, s.key)
	}
	return out
}

// sample is one run against one server.
type sample struct {
	perSecond float64
	p50, p99  time.Duration
	calls     int
	failed    map[codes.Code]int
	serverCPU float64 // seconds
	clientCPU float64 // seconds, the load generator's
}

// Run is the loadtable command: it parses args (the command's flags),
// measures, prints the table on stdout and what it skipped or could not
// measure on stderr, and returns the exit code: 2 for a flag mistake.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, fs, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stderr)
		fs.Usage()
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, cmdline.Describe(fs, err))
		return 2
	}
	if err := table(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "loadtable:", err)
		return 1
	}
	return 0
}

func table(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loadtable-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var rows []*server
	var notes []string
	python, pyErr := "", error(nil)
	for _, s := range servers() {
		if o.only != "" && !slices.Contains(o.selected(), s.key) {
			continue
		}
		if s.python != nil {
			if python == "" && pyErr == nil {
				python, pyErr = pyservers.Python()
			}
			if pyErr != nil {
				notes = append(notes, fmt.Sprintf("%s: skipped, %v", s.label, pyErr))
				continue
			}
			if why := s.python.Skip(python); why != "" {
				notes = append(notes, "Python: "+why)
				continue
			}
		}
		rows = append(rows, s)
	}
	if len(rows) == 0 {
		for _, n := range notes {
			fmt.Fprintln(stdout, "- "+n)
		}
		return errors.New("no server to measure")
	}

	greeterBin, baselineBin := filepath.Join(dir, "greeter"), filepath.Join(dir, "baseline")
	for bin, pkg := range map[string]string{greeterBin: "./ch07-concurrency/cmd/greeter", baselineBin: "./ch07-concurrency/cmd/baseline"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}

	defer func() {
		for _, s := range rows {
			s.stop()
		}
	}()
	for _, s := range rows {
		var cmd *exec.Cmd
		switch {
		case s.python != nil:
			cmd = s.python.Command(python, pyservers.Dir(root), 0)
		case s.key == "baseline":
			cmd = exec.Command(baselineBin, "-addr", "127.0.0.1:0")
		default:
			// -quiet: like the Python servers and the baseline, no log line
			// a call, whose writes would be measured as the server's work.
			cmd = exec.Command(greeterBin, append([]string{"-addr", "127.0.0.1:0", "-quiet"}, s.args...)...)
		}
		if s.python == nil && o.gomaxprocs > 0 {
			cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.gomaxprocs))
		}
		if err := s.start(ctx, cmd, filepath.Join(dir, s.key+".log")); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "loadtable: %s listening on %s (pid %d)\n", s.label, s.addr, s.cmd.Process.Pid)
	}

	// A short warm-up of each server, not measured: connections, caches,
	// the heap, Python's imports.
	for _, s := range rows {
		warm := o.load
		warm.Total = max(1, min(o.calls(s)/10, 1000))
		if _, err := loadOnce(ctx, s.addr, warm, o.timeout); err != nil {
			return fmt.Errorf("warming up %s: %w", s.label, err)
		}
	}
	for round := range o.rounds {
		for _, s := range rows {
			smp, err := o.measure(ctx, root, s)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s.label, round+1, err)
			}
			fmt.Fprintf(stderr, "loadtable: round %d, %s: %.0f requests/sec\n", round+1, s.label, smp.perSecond)
			s.samples = append(s.samples, smp)
		}
	}
	o.print(stdout, rows, notes)
	return nil
}

// calls is the calls a run makes against s.
func (o *options) calls(s *server) int {
	if s.slow {
		return min(o.slowN, o.load.Total)
	}
	return o.load.Total
}

// start runs cmd with its output in logFile, and waits for its first
// line, which gives its address.
func (s *server) start(ctx context.Context, cmd *exec.Cmd, logFile string) error {
	// Output goes to a file, not a pipe: reading it here would cost this
	// process (the load generator's) CPU should a server log its calls.
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.label, err)
	}
	s.cmd, s.log = cmd, logFile
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		data, _ := os.ReadFile(logFile)
		if line, _, ok := strings.Cut(string(data), "\n"); ok {
			m := pyservers.Listening.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("%s: unexpected first line %q", s.label, line)
			}
			s.addr = m[1]
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening: %s", s.label, data)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen within %v", s.label, startTimeout)
		}
	}
}

// stop ends the server with SIGTERM (the Python servers then remove their
// generated code), and kills it if it lingers.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	for range 100 { // 10 s
		// Signal 0 fails once the process is gone (Wait reaped it).
		if s.cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
}

// measure loads s once and measures its CPU over the run.
func (o *options) measure(ctx context.Context, root string, s *server) (sample, error) {
	cfg := o.load
	cfg.Total = o.calls(s)
	before, err := proccpu.Seconds(s.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	var smp sample
	if o.ghz != "" {
		if smp, err = runGhz(ctx, o.ghz, root, s.addr, cfg, o.timeout); err != nil {
			return sample{}, err
		}
	} else {
		selfBefore := selfCPU()
		r, err := loadOnce(ctx, s.addr, cfg, o.timeout)
		if err != nil {
			return sample{}, err
		}
		smp = sample{perSecond: r.PerSecond(), p50: r.Percentile(50), p99: r.Percentile(99), calls: r.Count(), clientCPU: selfCPU() - selfBefore}
		for c, n := range r.Codes {
			if c != codes.OK {
				if smp.failed == nil {
					smp.failed = map[codes.Code]int{}
				}
				smp.failed[c] = n
			}
		}
	}
	after, err := proccpu.Seconds(s.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	smp.serverCPU = after - before
	return smp, nil
}

// loadOnce runs loadgen's engine against addr on fresh connections.
func loadOnce(ctx context.Context, addr string, cfg loadgen.Config, limit time.Duration) (*loadgen.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	r, err := loadgen.RunAt(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("the run did not finish within -timeout %v: %d of %d calls made", limit, r.Count(), cfg.Total)
	}
	return r, nil
}

// selfCPU is this process's CPU time so far, in seconds, to the
// microsecond: the in-process load generator's cost.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// moduleRoot is the directory of the workbook's go.mod, which the builds,
// the Python scripts and ghz's --proto are relative to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run loadtable inside the workbook's module (go run ./ch07-concurrency/cmd/loadtable)")
	}
	return filepath.Dir(gomod), nil
}

// print writes the table in Markdown: medians over the rounds.
func (o *options) print(w io.Writer, rows []*server, notes []string) {
	ceiling := 0.0
	if o.load.Sleep > 0 {
		ceiling = float64(o.load.Concurrency) / o.load.Sleep.Seconds()
	}
	load := "loadgen's engine (in loadtable's process)"
	if o.ghz != "" {
		load = "ghz (" + o.ghz + ")"
	}
	fmt.Fprintf(w, "%d rounds, each server in turn; -c %d -n %d, %d ms a call, %d connection(s); load from %s; %s, %d CPUs, GOMAXPROCS of the Go servers: %s; greeter runs with -quiet.\n",
		o.rounds, o.load.Concurrency, o.load.Total, o.sleepMS, o.load.Connections, load, runtime.Version(), runtime.NumCPU(), gomaxprocs(o.gomaxprocs))
	if ceiling > 0 {
		fmt.Fprintf(w, "Ceiling: %d concurrent / %d ms = %.0f requests/sec.\n", o.load.Concurrency, o.sleepMS, ceiling)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | calls a run | requests/sec, median (min–max) | p50 | p99 | server CPU s / 1,000 calls | client CPU s / 1,000 calls | % of ceiling |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range rows {
		col := func(f func(sample) float64) []float64 {
			var xs []float64
			for _, smp := range s.samples {
				xs = append(xs, f(smp))
			}
			slices.Sort(xs)
			return xs
		}
		rps := col(func(x sample) float64 { return x.perSecond })
		per1000 := func(f func(sample) float64) float64 {
			return median(col(func(x sample) float64 { return 1000 * f(x) / float64(x.calls) }))
		}
		pct := "–"
		if ceiling > 0 {
			pct = fmt.Sprintf("%.0f%%", 100*median(rps)/ceiling)
		}
		label := s.label
		var failed int
		for _, smp := range s.samples {
			for _, n := range smp.failed {
				failed += n
			}
		}
		if failed > 0 {
			label += fmt.Sprintf(" (%d calls failed)", failed)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f (%.0f–%.0f) | %s | %s | %s | %.3f | %s |\n", label, o.calls(s),
			median(rps), rps[0], rps[len(rps)-1],
			loadgen.FormatDuration(time.Duration(median(col(func(x sample) float64 { return float64(x.p50) })))),
			loadgen.FormatDuration(time.Duration(median(col(func(x sample) float64 { return float64(x.p99) })))),
			serverCPUColumn(median(col(func(x sample) float64 { return x.serverCPU })), per1000(func(x sample) float64 { return x.serverCPU }), o.calls(s)),
			per1000(func(x sample) float64 { return x.clientCPU }), pct)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
}

// serverCPUColumn prints the server's CPU s per 1,000 calls. /proc counts
// in ticks of 10 ms, so a run shorter than that can measure nothing: when
// the median run measured less than one tick, the column says so, with the
// bound one tick sets on calls calls, rather than print 0.000.
func serverCPUColumn(medianRun, per1000 float64, calls int) string {
	if medianRun < proccpu.Tick/2 && calls > 0 {
		return fmt.Sprintf("<%.3f", 1000*proccpu.Tick/float64(calls))
	}
	return fmt.Sprintf("%.3f", per1000)
}

func gomaxprocs(n int) string {
	if n == 0 {
		return "default"
	}
	return strconv.Itoa(n)
}

// median of sorted xs: the upper one of an even count.
func median(sorted []float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)/2]
}

// errLine is the first line of out that reads like an error, for a
// failing ghz.
func errLine(out []byte) string {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			return sc.Text()
		}
	}
	return ""
}
