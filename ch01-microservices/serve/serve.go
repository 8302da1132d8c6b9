// Package serve holds the workbook's one idiom for running a server until
// a context ends: the HTTP server of chapter 1 and the gRPC server of
// chapter 3 both use it, each with its own way to stop.
package serve

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Until calls run, which blocks while it serves, until ctx ends; then it
// calls stop, which must make run return. It returns the first error of
// either, or nil.
//
// An errgroup runs the two side by side. If run fails first (its listener
// broke), the group's context ends too, so stop is called and the waiting
// goroutine never outlives Until.
func Until(ctx context.Context, run, stop func() error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(run)
	g.Go(func() error {
		<-gctx.Done()
		return stop()
	})
	return g.Wait()
}
