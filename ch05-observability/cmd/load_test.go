package cmd_test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/pageload"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

var (
	loadFor     = flag.Duration("load", 0, "how long each round of TestHomepageThroughput loads each stack (0 skips it)")
	loadRounds  = flag.Int("load-rounds", 5, "rounds of TestHomepageThroughput")
	loadClients = flag.Int("load-clients", 16, "connections wrk keeps open to each Marketplace")
)

// counter is an OTLP trace receiver that only counts the spans it gets: a
// load run then pays for exporting spans, as production does, but hardly
// for receiving them, which a collector does on a machine of its own. It
// walks the request's protobuf wire format down to the spans (request
// field 1, ResourceSpans; its field 2, ScopeSpans; its field 2, Span)
// without decoding them.
type counter struct{ spans atomic.Int64 }

func (c *counter) register(s grpc.ServiceRegistrar) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Export", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req []byte
			if err := dec(&req); err != nil {
				return nil, err
			}
			c.spans.Add(int64(fields(req, 1, func(rs []byte) int {
				return fields(rs, 2, func(ss []byte) int { return fields(ss, 2, func([]byte) int { return 1 }) })
			})))
			return &req, nil
		}}},
	}, c)
}

// fields sums count over the length-delimited fields numbered n of msg.
func fields(msg []byte, n protowire.Number, count func([]byte) int) int {
	total := 0
	for len(msg) > 0 {
		num, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return total
		}
		msg = msg[l:]
		if num == n && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg)
			if l < 0 {
				return total
			}
			total += count(v)
			msg = msg[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, msg)
		if l < 0 {
			return total
		}
		msg = msg[l:]
	}
	return total
}

// raw is a codec that hands the counter the request's bytes and answers
// with an empty message, as ExportTraceServiceResponse{} is.
type raw struct{}

func (raw) Marshal(any) (mem.BufferSlice, error) { return nil, nil }
func (raw) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}
func (raw) Name() string { return "proto" }

// stack is one Marketplace and its Recommendations, as processes.
type stack struct {
	name string
	url  string
	pids []int // recommendations, marketplace
	col  *counter
}

// loopbackAddr finds the address in the line a binary prints once it serves.
var loopbackAddr = regexp.MustCompile(`serving[^0-9]*(127\.0\.0\.1:\d+)`)

// What chapter 5 costs, under load: chapter 3's Marketplace and
// Recommendations beside chapter 5's with tracing off (and once more with
// every call logged), recording one trace in ten, and recording every
// trace, exporting the spans over OTLP to a collector that counts them.
// Every stack runs as processes on loopback, loaded by wrk in rounds that
// take turns, so all see the same machine. It reports the median pages a
// second, how that compares with chapter 3, the CPU each process spent a
// page, and the spans each stack exported.
//
//	go test ./ch05-observability/cmd -run TestHomepageThroughput -load 5s -load-rounds 10 -v
//
// The processes inherit the test's environment: GOGC=400 before the
// command gives every stack's garbage collector the same room.
func TestHomepageThroughput(t *testing.T) {
	if *loadFor == 0 {
		t.Skip("a load run: -load 10s runs it, loading each stack for 10s a round")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("a load run needs wrk on PATH (apt-get install wrk)")
	}
	start := func(name, chapter string, args []string, env ...string) stack {
		pkg := "github.com/gobookstore/grpc-microservices-go/" + chapter + "/cmd/"
		bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
		s := stack{name: name, col: &counter{}}
		extra := func(a ...string) []string {
			if chapter == "ch05-observability" {
				a = append(a, "-metrics-addr", "127.0.0.1:0")
			}
			return a
		}
		if strings.Contains(name, "traced") {
			endpoint := grpctest.ServeLoopback(t, s.col.register, grpc.ForceServerCodecV2(raw{}))
			env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+endpoint)
		}
		rec := proctest.Start(t, bins[0], append(extra("-addr", "127.0.0.1:0"), args...), env...)
		addr := rec.WaitFor(t, loopbackAddr)[1]
		mkt := proctest.Start(t, bins[1], extra("-addr", "127.0.0.1:0", "-recommendations", addr), env...)
		s.url = "http://" + mkt.WaitFor(t, loopbackAddr)[1] + "/"
		s.pids = []int{rec.Pid(), mkt.Pid()}
		return s
	}
	stacks := []stack{
		start("chapter 3", "ch03-server-client", nil),
		start("chapter 5, tracing off", "ch05-observability", nil),
		start("chapter 5, tracing off, every call logged", "ch05-observability", []string{"-log-level", "debug"}),
		start("chapter 5, 1 in 10 traced", "ch05-observability", nil, "OTEL_TRACES_SAMPLER_ARG=0.1"),
		start("chapter 5, every page traced", "ch05-observability", nil),
	}
	run := func(s stack, d time.Duration) float64 {
		ctx, cancel := context.WithTimeout(t.Context(), d+time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(*loadClients), "-d"+d.String(), s.url).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.NotContains(t, string(out), "Non-2xx", s.name)
		m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindSubmatch(out)
		require.NotNil(t, m, "%s", out)
		perSecond, err := strconv.ParseFloat(string(m[1]), 64)
		require.NoError(t, err)
		return perSecond
	}
	for _, s := range stacks { // warm up: connections, caches, the heap; and the page is whole
		r := pageload.Run(t.Context(), nil, s.url, 1000, 4, time.Minute)
		require.Zero(t, r.Failures, "%s: %v", s.name, r)
		run(s, time.Second)
	}

	perSecond := map[string][]float64{}
	cpu := map[string][][2]float64{} // µs a page: recommendations, marketplace
	spans := map[string]float64{}    // spans a page
	for range *loadRounds {
		for _, s := range stacks {
			before, spansBefore := pageload.CPUSeconds(t, s.pids...), s.col.spans.Load()
			r := run(s, *loadFor)
			after := pageload.CPUSeconds(t, s.pids...)
			pages := r * loadFor.Seconds()
			perSecond[s.name] = append(perSecond[s.name], r)
			cpu[s.name] = append(cpu[s.name], [2]float64{1e6 * (after[0] - before[0]) / pages, 1e6 * (after[1] - before[1]) / pages})
			spans[s.name] += float64(s.col.spans.Load()-spansBefore) / pages / float64(*loadRounds)
		}
	}

	base := pageload.Median(perSecond[stacks[0].name])
	var table strings.Builder
	table.WriteString("| stack | pages/s | vs chapter 3 | CPU µs a page: recommendations | marketplace | spans a page |\n")
	table.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, s := range stacks {
		m := pageload.Median(perSecond[s.name])
		var rec, mkt []float64
		for _, c := range cpu[s.name] {
			rec, mkt = append(rec, c[0]), append(mkt, c[1])
		}
		fmt.Fprintf(&table, "| %s | %.0f | %.0f%% | %.0f | %.0f | %.2f |\n",
			s.name, m, 100*m/base, pageload.Median(rec), pageload.Median(mkt), spans[s.name])
	}
	host, _ := os.Hostname()
	gogc := cmp.Or(os.Getenv("GOGC"), "100 (the default)") // every process inherits it
	t.Logf("%d rounds of %v a stack, wrk -t2 -c%d, GOGC=%s, on %s:\n%s", *loadRounds, *loadFor, *loadClients, gogc, host, table.String())
}
