// Package serve holds the workbook's one idiom for running a server until
// a context ends: the HTTP server of chapter 1 and the gRPC server of
// chapter 3 both use it, each with its own way to stop.
package serve

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
)

// ErrShutdownTimeout is what a stop returns when requests were still in
// flight at its time limit and were cut: the stop was asked for and it
// happened, so a binary logs it as a warning and exits 0.
var ErrShutdownTimeout = errors.New("requests still in flight at the shutdown timeout were cut")

// OnlyTimeout reports whether err is a stop that cut requests at its time
// limit and nothing else: err is not nil, and every leaf of its tree (an
// error that wraps nothing, reached through fmt.Errorf's %w and through
// errors.Join) is ErrShutdownTimeout. A binary exits 0 on such an error.
//
// errors.Is is not enough here: a stop joins the timeout with whatever
// else failed on the way out (a Close, a flush), and errors.Is finds the
// timeout among them, which would pass a real failure off as a warning.
func OnlyTimeout(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Unwrap() []error }:
		if errs := e.Unwrap(); len(errs) > 0 {
			for _, c := range errs {
				if !OnlyTimeout(c) {
					return false
				}
			}
			return true
		}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return OnlyTimeout(inner)
		}
	}
	// A leaf (or a wrapper of nothing): errors.Is also honours an Is
	// method the leaf may have.
	return errors.Is(err, ErrShutdownTimeout)
}

// Until calls run, which blocks while it serves, until ctx ends; then it
// calls stop, which must make run return. It returns the first error of
// either, or nil.
//
// An errgroup runs the two side by side. When run returns first, on its
// own or because its listener broke, its deferred cancel ends the context,
// so stop is called and the waiting goroutine never outlives Until. A plain
// cancel, because errgroup.WithContext's context ends only on an error,
// and run may return nil.
func Until(ctx context.Context, run, stop func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	g.Go(func() error {
		defer cancel()
		return run()
	})
	g.Go(func() error {
		<-ctx.Done()
		return stop()
	})
	return g.Wait()
}
