// Package swarm_test runs chapter 6's bookstore on a real orchestrator,
// Docker Swarm: the compose file the containers test brings up with
// Compose, deployed as a stack, then rolled over to a new image and one of
// its replicas killed, under a steady load of pages that must all have
// their books. It needs a Docker engine that is in no swarm, makes a
// one-node swarm of it for the test, and leaves it when done; without
// one, it skips, saying why. A package of its own so that each of
// chapter 6's container packages runs in a few minutes.
package swarm_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
	"github.com/gobookstore/grpc-microservices-go/internal/pageload"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const (
	composeFile = "ch06-best-practices/docker-compose.yaml"
	dockerfile  = "ch06-best-practices/Dockerfile"
	gencertsPkg = "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/gencerts"
)

// The load: a few clients that fetch the page in turn, at most one page
// every tick between them: steady, and light enough that the update and
// the load share the machine's two cores.
const (
	workers  = 4
	tick     = 20 * time.Millisecond // at most 50 pages a second
	maxPages = 100_000
)

// A rolling update under load, on Docker Swarm: the compose file's
// update_config (one replica at a time, the new one healthy before the
// old one stops, 20 s apart) and the Marketplace's client (round robin
// over what DNS says, re-resolved at most every 30 s) together lose no
// page, neither while the three replicas are replaced nor when one is
// killed and Swarm replaces it; and every replica that ran gets calls.
func TestSwarmRollingUpdate(t *testing.T) {
	began := time.Now()
	dockertest.Engine(t)
	sw := dockertest.NewSwarm(t)
	args := dockertest.BaseImages(t, dockerfile)
	certs := dockertest.Certs(t, gencertsPkg, "recommendations.key", "marketplace.key")
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, dockerfile, svc, "bookstore/"+svc+":"+tag, args...)
	}
	// What the update rolls out: the same image under a new tag, as if a
	// build had pushed a new version.
	newImage := "bookstore/recommendations:" + tag + "-next"
	dockertest.Docker(t, "tag", "bookstore/recommendations:"+tag, newImage)
	phase := phases(t, began, "build the images")

	port := dockertest.FreePort(t)
	s := sw.Deploy(composeFile, "BOOKSTORE_TAG="+tag, "MARKETPLACE_PORT="+port, "BOOKSTORE_CERTS="+certs,
		// Every call a line in the replica's log: how the test counts
		// each replica's calls, even once it has stopped.
		"BOOKSTORE_LOG_LEVEL=debug")
	url := "http://127.0.0.1:" + port + "/"
	within(t, 3*time.Minute, "three Recommendations replicas run and the page has three books", func() bool {
		return len(running(s.Tasks("recommendations"))) == 3 && books(url) == 3
	})
	phase("deploy the stack")

	l := startLoad(t, url)
	everyReplicaServes(t, s)
	phase("every replica serves (load running)")
	before := l.counts()

	// Only Recommendations: a new BOOKSTORE_TAG for the stack would also
	// replace the Marketplace, which publishes a host port, so stops
	// before its successor starts.
	dockertest.Docker(t, "service", "update", "--detach", "--no-resolve-image", "--image", newImage, s.Service("recommendations"))
	within(t, 5*time.Minute, "the rolling update completes", func() bool {
		state := s.UpdateState("recommendations")
		require.NotContains(t, []string{"paused", "rollback_started", "rollback_paused", "rollback_completed"}, state,
			"the update failed: %+v", s.Tasks("recommendations"))
		return state == "completed"
	})
	phase("rolling update (start-first, 3 replicas)")
	afterUpdate := l.counts()
	for _, task := range running(s.Tasks("recommendations")) {
		assert.Equal(t, newImage, strings.TrimSpace(dockertest.Docker(t, "inspect", "--format", "{{.Config.Image}}", task.Container)))
	}
	everyReplicaServes(t, s)
	phase("every new replica serves")

	victim := running(s.Tasks("recommendations"))[0]
	dockertest.Docker(t, "kill", victim.Container)
	within(t, 3*time.Minute, "Swarm replaces the killed replica", func() bool {
		tasks := running(s.Tasks("recommendations"))
		for _, task := range tasks {
			if task.ID == victim.ID {
				return false
			}
		}
		return len(tasks) == 3
	})
	phase("kill a replica; Swarm replaces it")
	everyReplicaServes(t, s)
	phase("the new replica serves")
	result, total := l.stop()

	t.Logf("pages: %d served, %d failed, %d degraded, in %v (at most %d a second), p50 %v, p99 %v", total.served, total.failed, total.degraded,
		result.Elapsed.Round(time.Second), time.Second/tick, result.P50.Round(time.Millisecond), result.P99.Round(time.Millisecond))
	for _, p := range []struct {
		name     string
		from, to counts
	}{{"before the update", counts{}, before}, {"during the update", before, afterUpdate}, {"after it, the kill included", afterUpdate, total}} {
		d := p.to.minus(p.from)
		t.Logf("  %s: %d served, %d failed, %d degraded", p.name, d.served, d.failed, d.degraded)
		assert.Positive(t, d.served, "the load ran %s", p.name) // else zero failures would prove nothing
	}
	require.Positive(t, total.served)
	assert.Zero(t, total.failed, "pages that failed (an error, or not 200): %s", l.samples())
	assert.Zero(t, total.degraded, "pages without their three books: %s", l.samples())
	if total.failed+total.degraded > 0 {
		logUnavailable(t, s)
	}

	// Every replica that ran got calls: the three first, the three the
	// update started (the killed one among them) and its replacement.
	tasks := s.Tasks("recommendations")
	assert.Len(t, tasks, 7, "%+v", tasks)
	for _, task := range tasks {
		n := calls(t, task.Container)
		t.Logf("  replica %d, task %.12s (%s, container %.12s): %d calls", task.Slot, task.ID, task.State, task.Container, n)
		assert.Positive(t, n, "task %s got no calls", task.ID)
		if task.State == "shutdown" { // replaced by the update: stopped gracefully
			assert.Equal(t, "0", strings.TrimSpace(dockertest.Docker(t, "inspect", "--format", "{{.State.ExitCode}}", task.Container)), task.ID)
		}
	}
	t.Logf("the test took %v", time.Since(began).Round(time.Second))
}

// phases logs how long each phase took, from began: call the function it
// returns at the end of each.
func phases(t *testing.T, began time.Time, first string) func(name string) {
	last := began
	f := func(name string) {
		t.Logf("phase %q took %v", name, time.Since(last).Round(100*time.Millisecond))
		last = time.Now()
	}
	f(first)
	return f
}

// within polls cond until it holds, failing the test after bound or when
// the test's deadline, less a minute and a half for the cleanups, comes
// first.
func within(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	if d, ok := t.Deadline(); ok {
		bound = min(bound, time.Until(d)-90*time.Second)
	}
	testwait.UntilWithin(t, max(bound, time.Second), what, cond)
}

// running returns the tasks that run, healthy, and are meant to.
func running(tasks []dockertest.Task) []dockertest.Task {
	var r []dockertest.Task
	for _, task := range tasks {
		if task.Running() {
			r = append(r, task)
		}
	}
	return r
}

// everyReplicaServes waits until each running replica of Recommendations
// has served a call: the Marketplace knows it (the proof that it found the
// new ones in DNS, and that a replica the test stops next leaves others it
// knows).
func everyReplicaServes(t *testing.T, s *dockertest.SwarmStack) {
	t.Helper()
	within(t, 3*time.Minute, "every running Recommendations replica has served a call", func() bool {
		tasks := running(s.Tasks("recommendations"))
		for _, task := range tasks {
			if calls(t, task.Container) == 0 {
				return false
			}
		}
		return len(tasks) == 3
	})
}

// calls counts the Recommend calls a replica served, OK, from its log at
// debug: one line for each.
func calls(t *testing.T, container string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(dockertest.Docker(t, "logs", container), "\n") {
		if strings.Contains(line, `"msg":"finished call"`) && strings.Contains(line, `"grpc.method":"Recommend"`) &&
			strings.Contains(line, `"grpc.code":"OK"`) {
			n++
		}
	}
	return n
}

// logUnavailable logs what the Marketplace said of Recommendations'
// outages, for a failure's diagnosis.
func logUnavailable(t *testing.T, s *dockertest.SwarmStack) {
	t.Helper()
	for _, task := range s.Tasks("marketplace") {
		lines := 0
		for _, line := range strings.Split(dockertest.Docker(t, "logs", task.Container), "\n") {
			if strings.Contains(line, "recommendations unavailable") || strings.Contains(line, "available again") {
				if lines++; lines <= 20 {
					t.Logf("marketplace: %s", line)
				}
			}
		}
		t.Logf("marketplace: %d lines about outages", lines)
	}
}

// books returns how many books the page at url lists, or -1 if it did not
// answer 200.
func books(url string) int {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return -1
	}
	return len(booksuite.Items(string(body)))
}

// counts are pages by outcome.
type counts struct{ served, failed, degraded int64 }

func (c counts) minus(d counts) counts {
	return counts{c.served - d.served, c.failed - d.failed, c.degraded - d.degraded}
}

// load is a steady load of pages, running until stop.
type load struct {
	served, failed, degraded atomic.Int64
	began                    time.Time
	stop                     func() (pageload.Result, counts)
	mu                       sync.Mutex
	bad                      []string // the first pages that failed or lacked books, and when
}

// startLoad starts workers clients fetching url, each page counted served
// (200 with three books), degraded (200 with fewer) or failed (an error,
// or another status), until stop, a count or a time limit ends it.
func startLoad(t *testing.T, url string) *load {
	l := &load{began: time.Now()}
	limit := 10 * time.Minute
	if d, ok := t.Deadline(); ok {
		limit = min(limit, time.Until(d)-90*time.Second)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ticker := time.NewTicker(tick)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	done := make(chan pageload.Result, 1)
	go func() {
		done <- pageload.Loop(ctx, maxPages, workers, limit, func(ctx context.Context) bool {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return false
			}
			return l.fetch(ctx, client, url)
		})
	}()
	var once sync.Once
	var result pageload.Result
	l.stop = func() (pageload.Result, counts) {
		once.Do(func() {
			cancel()
			result = <-done
			ticker.Stop()
			client.CloseIdleConnections()
		})
		return result, l.counts()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// fetch fetches one page and counts it; a page the stop cut short counts
// as nothing.
func (l *load) fetch(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		l.note(&l.failed, err.Error())
	case resp.StatusCode != http.StatusOK:
		l.note(&l.failed, resp.Status)
	case len(booksuite.Items(string(body))) != 3:
		l.note(&l.degraded, fmt.Sprintf("%d books", len(booksuite.Items(string(body)))))
	default:
		l.served.Add(1)
		return true
	}
	return false
}

// note counts a bad page and keeps the first few, with when they came.
func (l *load) note(counter *atomic.Int64, what string) {
	counter.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) < 20 {
		l.bad = append(l.bad, fmt.Sprintf("%v: %s", time.Since(l.began).Round(time.Millisecond), what))
	}
}

func (l *load) counts() counts {
	return counts{l.served.Load(), l.failed.Load(), l.degraded.Load()}
}

func (l *load) samples() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.bad, "; ")
}
