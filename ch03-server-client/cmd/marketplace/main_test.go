package main

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The series' homepage behaviours, on the connection and handler main
// builds: three books, the degraded page when Recommendations is down or
// slow, and one connection for every page.
func TestHomepage(t *testing.T) {
	booksuite.Homepage(t, func(t *testing.T, target string) http.Handler {
		conn, err := newConn(target)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return newHandler(conn, slog.New(slog.DiscardHandler))
	})
}
