package main

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The series' homepage behaviours, through the handler and connection main
// builds. Chapter 6's tests cover the rest of this copy of its Marketplace.
func TestHomepage(t *testing.T) {
	booksuite.Homepage(t, func(t *testing.T, target string) http.Handler {
		o := options{log: slog.New(slog.DiscardHandler), metrics: prometheus.NewRegistry(), tracer: noop.NewTracerProvider(), draining: new(atomic.Bool)}
		conn, err := newConn(target, insecure.NewCredentials(), o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return newHandler(conn, o)
	})
}
