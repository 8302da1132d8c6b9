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

// Until calls run, which blocks while it serves, until ctx ends; then it
// calls stop, which must make run return. It returns the first error of
// either, or nil.
//
// An errgroup runs the two side by side. When run returns first, on its
// own or because its listener broke, the group's context ends too, so stop
// is called and the waiting goroutine never outlives Until.
func Until(ctx context.Context, run, stop func() error) error {
	g, gctx := errgroup.WithContext(ctx)
	gctx, cancel := context.WithCancel(gctx)
	defer cancel()
	g.Go(func() error {
		defer cancel()
		return run()
	})
	g.Go(func() error {
		<-gctx.Done()
		return stop()
	})
	return g.Wait()
}
