package pageload_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/internal/pageload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunCountsWholePagesAndFailures(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if served.Add(1)%10 == 0 {
			_, _ = w.Write([]byte("<p>no books</p>")) // every tenth page is degraded
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("<li>book</li>", 3)))
	}))
	defer srv.Close()

	r := pageload.Run(context.Background(), nil, srv.URL, 200, 4, time.Minute)
	assert.Equal(t, 180, r.Pages)
	assert.Equal(t, 20, r.Failures)
	assert.EqualValues(t, 200, served.Load(), "exactly the pages asked for")
	assert.Positive(t, r.PerSecond())
	assert.LessOrEqual(t, r.P50, r.P99)
}

func TestRunStopsAtTheLimit(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	r := pageload.Run(context.Background(), nil, srv.URL, 1000, 2, 10*time.Millisecond)
	assert.Zero(t, r.Pages)
	assert.Equal(t, 2, r.Failures, "each worker's one request was cut by the limit")
}
