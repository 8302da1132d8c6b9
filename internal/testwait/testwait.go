// Package testwait bounds the waits of tests. A test waits on a condition,
// never on the clock; but a broken program can make the condition never
// come true, and then the test must fail, not hang.
package testwait

import (
	"context"
	"testing"
	"time"
)

// Bound is how long a test waits for something that should happen at once:
// generous, because CI machines are small and busy, and only ever reached
// when something is broken.
const Bound = 30 * time.Second

// Recv returns the next value from ch, or fails the test, naming what it
// waited for, if none comes within Bound.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Bound)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", Bound, what)
		panic("unreachable")
	}
}

// Context returns a context that ends after Bound, or when the test ends:
// for a test that loops until a condition holds.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Bound)
	t.Cleanup(cancel)
	return ctx
}

// Until polls cond until it holds, or fails the test, naming what it waited
// for, if it still does not after Bound: for a condition no channel
// announces, such as a server that has stopped accepting.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	UntilWithin(t, Bound, what, cond)
}

// firstPoll is UntilWithin's first pause between two polls.
const firstPoll = 10 * time.Millisecond

// UntilWithin is Until with its own bound, for what is slow even when
// nothing is broken, such as containers starting on a small machine.
//
// It polls at once, then after 10 ms, and doubles the pause after each
// miss up to a 480th of bound (62 ms for Bound, 250 ms for two minutes): a
// condition about to hold is seen at once, and a slow one is not polled
// hundreds of times a second when each poll may run a command.
func UntilWithin(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	pause, longest := firstPoll, max(firstPoll, bound/480)
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", bound, what)
		}
		<-timer.C
		pause = min(2*pause, longest)
		timer.Reset(pause)
	}
}
