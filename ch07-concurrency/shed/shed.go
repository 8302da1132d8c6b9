// Package shed keeps a gRPC server at its capacity under overload: it
// admits a set number of calls at once and answers the rest at once with
// RESOURCE_EXHAUSTED, instead of queueing them until every caller's
// deadline has passed.
package shed

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Limit returns a grpc.InTapHandle that admits at most limit calls at once
// (limit 0: all of them), and counts the calls it refuses in reg as
// grpc_server_shed_total. It runs as a call's headers arrive, before
// grpc-go starts a goroutine for the call or reads its request: a refusal
// costs the server little, where an interceptor would run only once the
// overloaded server got round to the call. It runs under the transport's
// lock, so it must never block: it only counts. A call's place is freed a
// moment after its answer, as its stream ends: grpc-go cancels the
// stream's context then, and the release runs in a goroutine of its own.
//
// gRPC's own services (health, reflection) are not counted: a probe must
// get an answer from a busy server, and their streams stay open for as long
// as a client likes.
func Limit(limit uint, reg prometheus.Registerer) tap.ServerInHandle {
	shed := prometheus.NewCounter(prometheus.CounterOpts{Name: "grpc_server_shed_total", Help: "Calls refused over the limit."})
	reg.MustRegister(shed) // no method label: any client can send any method name, and the tap sees it unchecked
	var inFlight atomic.Int64
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if limit == 0 || strings.HasPrefix(info.FullMethodName, "/grpc.") { // health, reflection
			return ctx, nil
		}
		if inFlight.Add(1) > int64(limit) {
			inFlight.Add(-1)
			shed.Inc()
			return nil, status.Errorf(codes.ResourceExhausted, "over capacity: %d calls in flight", limit)
		}
		context.AfterFunc(ctx, func() { inFlight.Add(-1) })
		return ctx, nil
	}
}
