package loadtable

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/loadgen"
)

// protoPath is helloworld.proto, relative to the module's root, where ghz
// runs: the path the series' command names.
const protoPath = "ch07-concurrency/protobufs/helloworld.proto"

// ghzArgs is the series' command for cfg against addr:
//
//	ghz -c 100 -n 10000 --insecure --proto .../helloworld.proto --call helloworld.Greeter.SayHello -d '{"name":"Joe","sleep_millisecond":10}' 127.0.0.1:9999
//
// with --connections only when more than one is asked for.
func ghzArgs(addr string, cfg loadgen.Config) []string {
	args := []string{"-c", strconv.Itoa(cfg.Concurrency), "-n", strconv.Itoa(cfg.Total)}
	if cfg.Connections > 1 {
		args = append(args, "--connections", strconv.Itoa(cfg.Connections))
	}
	data := fmt.Sprintf(`{"name":%q,"sleep_millisecond":%d}`, cfg.Name, cfg.Sleep.Milliseconds())
	return append(args, "--insecure", "--proto", protoPath, "--call", "helloworld.Greeter.SayHello", "-d", data, addr)
}

// runGhz runs ghz once and reads its summary; its CPU comes from the
// kernel's accounting of the finished process.
func runGhz(ctx context.Context, ghz, root, addr string, cfg loadgen.Config, limit time.Duration) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, ghz, ghzArgs(addr, cfg)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("%v: %v: %s", cmd.Args, err, errLine(out))
	}
	smp, err := parseGhz(out)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
	}
	smp.clientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return smp, nil
}

var (
	ghzCount    = regexp.MustCompile(`(?m)^\s*Count:\s+(\d+)`)
	ghzPerSec   = regexp.MustCompile(`(?m)^\s*Requests/sec:\s+([0-9.]+)`)
	ghzLatency  = regexp.MustCompile(`(?m)^\s*(\d+) % in ([0-9.]+) (s|ms|µs|us|ns)`)
	ghzStatuses = regexp.MustCompile(`(?m)^\s*\[(\w+)\]\s+(\d+) responses`)
)

// parseGhz reads the figures of ghz's summary (its default output).
func parseGhz(out []byte) (sample, error) {
	var smp sample
	m := ghzCount.FindSubmatch(out)
	if m == nil {
		return smp, fmt.Errorf("no Count in ghz's output")
	}
	smp.calls, _ = strconv.Atoi(string(m[1]))
	if m = ghzPerSec.FindSubmatch(out); m == nil {
		return smp, fmt.Errorf("no Requests/sec in ghz's output")
	}
	smp.perSecond, _ = strconv.ParseFloat(string(m[1]), 64)
	unit := map[string]time.Duration{"s": time.Second, "ms": time.Millisecond, "µs": time.Microsecond, "us": time.Microsecond, "ns": time.Nanosecond}
	for _, m := range ghzLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		d := time.Duration(v * float64(unit[string(m[3])]))
		switch string(m[1]) {
		case "50":
			smp.p50 = d
		case "99":
			smp.p99 = d
		}
	}
	ok := 0
	for _, m := range ghzStatuses.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		if string(m[1]) == "OK" {
			ok += n
			continue
		}
		if smp.failed == nil {
			smp.failed = map[codes.Code]int{}
		}
		// ghz names codes as grpc-go does (DeadlineExceeded); an unknown
		// name is counted as Unknown.
		var c codes.Code
		if c.UnmarshalJSON([]byte(`"`+codeName(string(m[1]))+`"`)) != nil {
			c = codes.Unknown
		}
		smp.failed[c] += n
	}
	if ok+len(smp.failed) == 0 {
		return smp, fmt.Errorf("no status code distribution in ghz's output")
	}
	// ghz's distribution counts only successful calls: none, none shown.
	if ok > 0 && (smp.p50 == 0 || smp.p99 == 0) {
		return smp, fmt.Errorf("no 50 %% and 99 %% latencies in ghz's output")
	}
	return smp, nil
}

// codeName turns grpc-go's name of a code (DeadlineExceeded) into the
// one codes.Code's JSON reads (DEADLINE_EXCEEDED).
func codeName(s string) string {
	var out []byte
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			out = append(out, '_')
		}
		out = append(out, byte(r))
	}
	return strings.ToUpper(string(out))
}
