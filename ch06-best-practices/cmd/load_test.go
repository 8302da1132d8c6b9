package cmd_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
	"github.com/gobookstore/grpc-microservices-go/internal/pageload"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

var (
	loadN       = flag.Int("load", 0, "calls and pages per round of TestTLSCost (0 skips it)")
	loadWorkers = flag.Int("load-workers", 16, "concurrent clients of TestTLSCost")
	loadRounds  = flag.Int("load-rounds", 5, "rounds of TestTLSCost")
)

// transport is one way the bookstore's processes talk: the flags each
// binary gets, and those of the test's own gRPC client.
type transport struct {
	name               string
	recArgs, mktArgs   []string
	client             tlsconfig.Files
	rec, mkt           *proctest.Process
	addr, target, page string
}

// The cost of TLS, measured: chapter 6's bookstore in plaintext, with TLS
// and with mutual TLS, side by side as processes on loopback, loaded in
// rounds that take turns so that all see the same machine. Each round
// measures Recommend calls a second on one long-lived connection (the
// Marketplace's case), new connections a second, each with one call (the
// handshake's cost), and homepages a second; and the CPU each process
// spent on each.
//
//	go test ./ch06-best-practices/cmd -run TestTLSCost -load 20000 -v
func TestTLSCost(t *testing.T) {
	if *loadN == 0 {
		t.Skip("a load run: -load N runs it, with N calls and N pages a round")
	}
	recBin, mktBin, genBin := binaries(t)
	dir := filepath.Join(t.TempDir(), "certs")
	gencerts(t, genBin, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	serverTLS := []string{"-tls-cert", f("recommendations.crt"), "-tls-key", f("recommendations.key")}
	clientTLS := []string{"-tls-ca", f("ca.crt")}
	clientCert := []string{"-tls-cert", f("marketplace.crt"), "-tls-key", f("marketplace.key")}
	transports := []*transport{
		{name: "plaintext"},
		{name: "TLS", recArgs: serverTLS, mktArgs: clientTLS, client: tlsconfig.Files{CA: f("ca.crt")}},
		{name: "mutual TLS", recArgs: append(serverTLS, "-tls-ca", f("ca.crt")), mktArgs: append(clientTLS, clientCert...),
			client: tlsconfig.Files{CA: f("ca.crt"), Cert: f("marketplace.crt"), Key: f("marketplace.key")}},
	}
	for _, tr := range transports {
		tr.rec, tr.addr = startRecommendations(t, recBin, tr.recArgs...)
		// The test's clients skip name resolution (its cost is not TLS's),
		// and ask for 127.0.0.1, an address in the server's certificate.
		tr.target = "passthrough:///" + tr.addr
		tr.mkt = proctest.Start(t, mktBin, append([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", tr.addr}, tr.mktArgs...))
		tr.page = page(tr.mkt.WaitFor(t, servingHTTP)[1])
	}

	type sample struct{ calls, conns, pages, recCall, recConn, recPage, mktPage float64 }
	samples := map[string][]sample{}
	for round := range *loadRounds + 1 { // round 0 warms up: connections, caches, the heap
		for _, tr := range transports {
			creds, err := tlsconfig.Client(tr.client, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			var s sample
			var cpu []float64
			s.calls, cpu = measure(t, tr, func(ctx context.Context) pageload.Result {
				conn, err := grpc.NewClient(tr.target, grpc.WithTransportCredentials(creds))
				require.NoError(t, err)
				defer conn.Close()
				client := pb.NewRecommendationsClient(conn)
				return pageload.Loop(ctx, *loadN, *loadWorkers, 5*time.Minute, func(ctx context.Context) bool {
					resp, err := client.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
					return err == nil && len(resp.GetRecommendations()) == 3
				})
			}, tr.rec.Pid())
			s.recCall = cpu[0]
			s.conns, cpu = measure(t, tr, func(ctx context.Context) pageload.Result {
				return pageload.Loop(ctx, *loadN/20, *loadWorkers, 5*time.Minute, func(ctx context.Context) bool {
					conn, err := grpc.NewClient(tr.target, grpc.WithTransportCredentials(creds))
					if err != nil {
						return false
					}
					defer conn.Close()
					_, err = pb.NewRecommendationsClient(conn).Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
					return err == nil
				})
			}, tr.rec.Pid())
			s.recConn = cpu[0]
			s.pages, cpu = measure(t, tr, func(ctx context.Context) pageload.Result {
				return pageload.Run(ctx, nil, tr.page, *loadN, *loadWorkers, 5*time.Minute)
			}, tr.rec.Pid(), tr.mkt.Pid())
			s.recPage, s.mktPage = cpu[0], cpu[1]
			if round > 0 {
				samples[tr.name] = append(samples[tr.name], s)
			}
		}
	}

	col := func(name string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range samples[name] {
			xs = append(xs, f(s))
		}
		return pageload.Median(xs)
	}
	var table strings.Builder
	table.WriteString("| transport | Recommend calls/s | new connections/s | pages/s | recommendations CPU µs: a call | a connection | a page | marketplace CPU µs a page |\n")
	table.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	base := transports[0].name
	for _, tr := range transports {
		rel := func(f func(sample) float64) string {
			v := col(tr.name, f)
			if tr.name == base {
				return fmt.Sprintf("%.0f", v)
			}
			return fmt.Sprintf("%.0f (%.0f%%)", v, 100*v/col(base, f))
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f |\n", tr.name,
			rel(func(s sample) float64 { return s.calls }), rel(func(s sample) float64 { return s.conns }), rel(func(s sample) float64 { return s.pages }),
			col(tr.name, func(s sample) float64 { return s.recCall }), col(tr.name, func(s sample) float64 { return s.recConn }),
			col(tr.name, func(s sample) float64 { return s.recPage }), col(tr.name, func(s sample) float64 { return s.mktPage }))
	}
	t.Logf("%d rounds of %d calls, %d connections and %d pages, %d clients, on %d CPUs:\n%s",
		*loadRounds, *loadN, *loadN/20, *loadN, *loadWorkers, runtime.NumCPU(), table.String())
}

// measure runs one load against tr and returns what it did a second, and
// the CPU µs each of pids spent on each thing it did.
func measure(t *testing.T, tr *transport, load func(context.Context) pageload.Result, pids ...int) (perSecond float64, cpuEach []float64) {
	t.Helper()
	before := pageload.CPUSeconds(t, pids...)
	r := load(t.Context())
	after := pageload.CPUSeconds(t, pids...)
	assert.Zero(t, r.Failures, "%s: %v", tr.name, r)
	for i := range pids {
		cpuEach = append(cpuEach, 1e6*(after[i]-before[i])/float64(r.Pages))
	}
	return r.PerSecond(), cpuEach
}
