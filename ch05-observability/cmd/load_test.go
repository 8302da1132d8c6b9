package cmd_test

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/pageload"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

var (
	loadPages   = flag.Int("load", 0, "pages per round of TestHomepageThroughput (0 skips it)")
	loadWorkers = flag.Int("load-workers", 16, "concurrent clients of TestHomepageThroughput")
	loadRounds  = flag.Int("load-rounds", 5, "rounds of TestHomepageThroughput")
	loadGOGC    = flag.String("load-gogc", "", "GOGC for every server process of TestHomepageThroughput (empty: Go's default, 100)")
)

// sink is an OTLP collector that keeps nothing, for a load run that pays
// for exporting spans as production does.
type sink struct {
	coltracepb.UnimplementedTraceServiceServer
}

// stack is one Marketplace and its Recommendations, as processes.
type stack struct {
	name string
	url  string
	pids []int // recommendations, marketplace
}

// The cost of chapter 5 under load: chapter 3's Marketplace and
// Recommendations against chapter 4's and against chapter 5's, fully
// instrumented: with every call logged (-log-level debug), with tracing
// off, exporting every tenth trace, and exporting every trace, over OTLP
// to a collector. All run as processes on
// loopback, loaded in rounds that take turns, so all see the same machine;
// the load generator is this test. It reports pages a second and the CPU
// each process spent a page.
//
//	go test ./ch05-observability/cmd -run TestHomepageThroughput -load 20000 -v
//	go test ./ch05-observability/cmd -run TestHomepageThroughput -load 20000 -load-gogc 400 -v
func TestHomepageThroughput(t *testing.T) {
	if *loadPages == 0 {
		t.Skip("a load run: -load N runs it, with N pages a round")
	}
	var env []string
	if *loadGOGC != "" {
		env = append(env, "GOGC="+*loadGOGC)
	}
	collector := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) { coltracepb.RegisterTraceServiceServer(s, sink{}) })
	start := func(chapter string, recArgs []string, rest ...string) stack {
		pkg := "github.com/gobookstore/grpc-microservices-go/" + chapter + "/cmd/"
		bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
		args := func(a ...string) []string {
			if chapter == "ch05-observability" {
				a = append(a, "-metrics-addr", "127.0.0.1:0")
			}
			return a
		}
		e := append(slices.Clone(env), rest...)
		rec := proctest.Start(t, bins[0], append(args("-addr", "127.0.0.1:0"), recArgs...), e...)
		addr := rec.WaitFor(t, regexp.MustCompile(`serving gRPC on (\S+)|"msg":"serving gRPC","addr":"([^"]+)"`))
		mkt := proctest.Start(t, bins[1], args("-addr", "127.0.0.1:0", "-recommendations", addr[1]+addr[2]), e...)
		url := mkt.WaitFor(t, regexp.MustCompile(`serving on (\S+)|"msg":"serving HTTP",.*"url":"([^"]+)"`))
		return stack{url: url[1] + url[2], pids: []int{rec.Pid(), mkt.Pid()}}
	}
	otlp := "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + collector
	stacks := []stack{
		start("ch03-server-client", nil),
		start("ch04-kubernetes", nil),
		start("ch05-observability", []string{"-log-level", "debug"}),
		start("ch05-observability", nil),
		start("ch05-observability", nil, otlp, "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"),
		start("ch05-observability", nil, otlp),
	}
	for i, name := range []string{"chapter 3", "chapter 4", "chapter 5, every call logged", "chapter 5, tracing off", "chapter 5, 10% traced", "chapter 5, all traced"} {
		stacks[i].name = name
	}
	for _, s := range stacks { // warm up: connections, caches, the heap
		pageload.Run(t.Context(), nil, s.url, 2000, *loadWorkers, time.Minute)
	}

	perSecond := map[string][]float64{}
	cpuPerPage := map[string][]float64{} // µs: recommendations, marketplace, load generator
	for range *loadRounds {
		for _, s := range stacks {
			before, self := pageload.CPUSeconds(t, s.pids...), pageload.CPUSeconds(t, os.Getpid())
			r := pageload.Run(t.Context(), nil, s.url, *loadPages, *loadWorkers, 5*time.Minute)
			after, selfAfter := pageload.CPUSeconds(t, s.pids...), pageload.CPUSeconds(t, os.Getpid())
			assert.Zero(t, r.Failures, "%s: %v", s.name, r)
			perSecond[s.name] = append(perSecond[s.name], r.PerSecond())
			per := func(a, b float64) float64 { return 1e6 * (b - a) / float64(r.Pages) }
			cpuPerPage[s.name] = append(cpuPerPage[s.name], per(before[0], after[0]), per(before[1], after[1]), per(self[0], selfAfter[0]))
		}
	}

	median := pageload.Median
	base := median(perSecond[stacks[0].name])
	var table strings.Builder
	table.WriteString("| stack | pages/s (median) | vs chapter 3 | CPU µs a page: recommendations | marketplace | load generator |\n")
	table.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, s := range stacks {
		m := median(perSecond[s.name])
		c := cpuPerPage[s.name]
		var col [3][]float64
		for i, v := range c {
			col[i%3] = append(col[i%3], v)
		}
		fmt.Fprintf(&table, "| %s | %.0f | %.0f%% | %.0f | %.0f | %.0f |\n", s.name, m, 100*m/base, median(col[0]), median(col[1]), median(col[2]))
	}
	t.Logf("%d rounds of %d pages, %d clients, GOGC=%s:\n%s", *loadRounds, *loadPages, *loadWorkers, cmp.Or(*loadGOGC, "100"), table.String())
}
