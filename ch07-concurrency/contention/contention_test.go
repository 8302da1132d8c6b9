package contention_test

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/contention"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// callers is how many goroutines call at once.
const callers = 3

// profileEverything turns on the block and mutex profiles at their finest
// (every event). A server would sample instead: every event costs time.
// The mutex fraction is restored afterwards. The block rate is not: it has
// no getter, so the rate this test found cannot be read back, and it stays
// at 1, the rate `go test -blockprofile` sets, rather than being turned off
// under a command line that asked for the profile.
func profileEverything(t *testing.T) {
	runtime.SetBlockProfileRate(1)
	previous := runtime.SetMutexProfileFraction(1)
	t.Cleanup(func() { runtime.SetMutexProfileFraction(previous) })
}

// events sums the Count of the records in the block or mutex profile
// (read with runtime.BlockProfile or runtime.MutexProfile) whose stack
// has a frame of every one of fns. The profiles are process-wide and only
// grow, so a test compares events before and after its own work: under
// -count=20, the records of earlier runs would otherwise pass later ones.
func events(read func([]runtime.BlockProfileRecord) (int, bool), fns ...string) int64 {
	n, _ := read(nil)
	var records []runtime.BlockProfileRecord
	for ok := false; !ok; {
		records = make([]runtime.BlockProfileRecord, n+50) // room for records added meanwhile
		n, ok = read(records)
	}
	var sum int64
	for _, r := range records[:n] {
		if stackHas(r.Stack(), fns) {
			sum += r.Count
		}
	}
	return sum
}

// stackHas reports whether stack has a frame of every one of fns, inlined
// frames included.
func stackHas(stack []uintptr, fns []string) bool {
	seen := make([]bool, len(fns))
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		for i, fn := range fns {
			seen[i] = seen[i] || f.Function == fn
		}
		if !more {
			break
		}
	}
	return !slices.Contains(seen, false)
}

// waiting counts the goroutines blocked in state (as a goroutine dump
// names it, such as "sync.Mutex.Lock" or "chan send") inside fn.
func waiting(state, fn string) int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for g := range strings.SplitSeq(buf.String(), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "["+state) && strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// gatedSave is a store whose first save waits for release; it reports
// when it has begun.
func gatedSave(began chan<- struct{}, release <-chan struct{}) func(context.Context, string, int) error {
	var once sync.Once
	return func(ctx context.Context, _ string, _ int) error {
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		began <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// A lock held across I/O: while the first call saves, the others wait for
// the lock, not for their own I/O; the mutex profile names the function
// that held it, and the block profile the one that waited.
func TestLockHeldAcrossIOShowsInTheMutexAndBlockProfiles(t *testing.T) {
	profileEverything(t)
	const pkg = "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/contention."
	holder := func() int64 { return events(runtime.MutexProfile, pkg+"(*Guestbook).SignHoldingLock") }
	waiters := func() int64 {
		return events(runtime.BlockProfile, "sync.(*Mutex).Lock", pkg+"(*Guestbook).SignHoldingLock")
	}
	heldBefore, waitedBefore := holder(), waiters()
	began, release := make(chan struct{}, 1), make(chan struct{})
	g := contention.NewGuestbook(gatedSave(began, release))
	ctx := testwait.Context(t)

	var wg sync.WaitGroup
	wg.Go(func() { _, _ = g.SignHoldingLock(ctx, "Ann") })
	testwait.Recv(t, began, "the first call to begin its save")
	for range callers - 1 {
		wg.Go(func() { _, _ = g.SignHoldingLock(ctx, "Ann") })
	}
	testwait.Until(t, "the other calls to wait for the lock", func() bool {
		return waiting("sync.Mutex.Lock", "contention.(*Guestbook).SignHoldingLock") == callers-1
	})
	close(release)
	wg.Wait()

	assert.Greater(t, holder(), heldBefore, "mutex profile events of the holder, SignHoldingLock")
	assert.Greater(t, waiters(), waitedBefore, "block profile events of the waiters, in sync.(*Mutex).Lock under SignHoldingLock")
}

// With the lock around the map alone, all the calls save at once: the
// store's barrier opens only when every caller is inside it.
func TestLockAroundMemoryLetsCallsSaveTogether(t *testing.T) {
	var mu sync.Mutex
	arrived, open := 0, make(chan struct{})
	g := contention.NewGuestbook(func(ctx context.Context, _ string, _ int) error {
		mu.Lock()
		if arrived++; arrived == callers {
			close(open)
		}
		mu.Unlock()
		select {
		case <-open:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	ctx := testwait.Context(t)
	counts := make(chan int, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			n, err := g.Sign(ctx, "Ann")
			assert.NoError(t, err)
			counts <- n
		})
	}
	wg.Wait()
	close(counts)
	var got []int
	for n := range counts {
		got = append(got, n)
	}
	assert.ElementsMatch(t, []int{1, 2, 3}, got, "the counts are still exact")
}

// A single worker: while it runs one job, the other callers wait to hand
// it theirs, and the block profile shows them waiting in Do.
func TestSingleWorkerShowsInTheBlockProfile(t *testing.T) {
	profileEverything(t)
	queued := func() int64 {
		// In Do's select, handing the job over; not in its wait for the
		// job's end, which any caller of a busy worker would make.
		return events(runtime.BlockProfile, "runtime.selectgo", "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/contention.(*Worker).Do")
	}
	before := queued()
	w := contention.StartWorker()
	defer w.Stop()
	ctx := testwait.Context(t)
	began, release := make(chan struct{}, 1), make(chan struct{})
	open := sync.OnceFunc(func() { close(release) })
	defer open() // before Stop, which waits for the job, even if the test fails

	var wg sync.WaitGroup
	wg.Go(func() {
		assert.NoError(t, w.Do(ctx, func() { began <- struct{}{}; <-release }))
	})
	testwait.Recv(t, began, "the worker to begin the first job")
	for range callers - 1 {
		wg.Go(func() { assert.NoError(t, w.Do(ctx, func() {})) })
	}
	testwait.Until(t, "the other callers to queue for the worker", func() bool {
		return waiting("select", "contention.(*Worker).Do") == callers-1
	})
	open()
	wg.Wait()

	assert.Greater(t, queued(), before, "block profile events in (*Worker).Do's select")
}

func TestStoppedWorkerRefusesWork(t *testing.T) {
	w := contention.StartWorker()
	w.Stop()
	assert.ErrorIs(t, w.Do(context.Background(), func() {}), contention.ErrStopped)
}

// BenchmarkGuestbook signs from many goroutines at once with a store that
// takes 100 µs: run it with -blockprofile or -mutexprofile to see where
// the holding-lock version waits.
func BenchmarkGuestbook(b *testing.B) {
	// The store's I/O: a 100 µs wait that honours the call's context, as
	// a database client's does (the Go mode's wait, from package greeter).
	save := func(ctx context.Context, _ string, _ int) error {
		return greeter.ContextWait(ctx, 100*time.Microsecond)
	}
	for _, bc := range []struct {
		name string
		sign func(*contention.Guestbook, context.Context, string) (int, error)
	}{
		{"holding-lock", (*contention.Guestbook).SignHoldingLock},
		{"lock-around-memory", (*contention.Guestbook).Sign},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := contention.NewGuestbook(save)
			b.SetParallelism(8) // eight callers per CPU, as a busy server has
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.sign(g, context.Background(), "Ann"); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
