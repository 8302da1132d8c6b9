// Package contention shows what still serializes a Go server that runs
// every call on a goroutine of its own: a lock held across I/O, and a
// single worker that every call waits for. Both turn concurrent calls into
// a queue, as surely as the blocked event loop does, and neither shows in
// a CPU profile, since the waiting goroutines use no CPU. The block and
// mutex profiles show them; the tests read those profiles.
package contention

import (
	"context"
	"errors"
	"sync"
)

// Guestbook counts each name's visits and saves every new count to a slow
// store: save stands for the I/O, a database write.
type Guestbook struct {
	mu     sync.Mutex
	visits map[string]int
	save   func(ctx context.Context, name string, visits int) error
}

// NewGuestbook returns an empty guestbook that saves with save.
func NewGuestbook(save func(ctx context.Context, name string, visits int) error) *Guestbook {
	return &Guestbook{visits: map[string]int{}, save: save}
}

// SignHoldingLock is the mistake: it holds the lock while it saves, so
// every other call waits for this one's I/O, and the server answers one
// call at a time.
func (g *Guestbook) SignHoldingLock(ctx context.Context, name string) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.visits[name]++
	n := g.visits[name]
	return n, g.save(ctx, name, n)
}

// Sign is the fix: the lock guards the map alone, and the I/O happens
// after it is released, so calls save side by side.
func (g *Guestbook) Sign(ctx context.Context, name string) (int, error) {
	g.mu.Lock()
	g.visits[name]++
	n := g.visits[name]
	g.mu.Unlock()
	return n, g.save(ctx, name, n)
}

// ErrStopped is what Do returns once the worker has stopped.
var ErrStopped = errors.New("contention: the worker has stopped")

// Worker is the other mistake: one goroutine does every caller's work, so
// callers queue on its channel. It is the event loop again, written in Go;
// a pool of them, or no worker at all, is the fix.
type Worker struct {
	jobs chan func()
	quit chan struct{}
	once sync.Once
	done chan struct{}
}

// StartWorker starts the worker's goroutine; Stop ends it.
func StartWorker() *Worker {
	w := &Worker{jobs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case job := <-w.jobs:
				job()
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

// Do runs job on the worker and waits for it; it gives up if ctx ends
// while the job is still queued.
func (w *Worker) Do(ctx context.Context, job func()) error {
	finished := make(chan struct{})
	select {
	case w.jobs <- func() { job(); close(finished) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return ErrStopped
	}
	<-finished
	return nil
}

// Stop ends the worker once its current job, if any, is done.
func (w *Worker) Stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}
