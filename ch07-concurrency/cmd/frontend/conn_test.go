package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/frontend"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// requests is how many visitors the test sends at once.
const requests = 20

// Many visitors at once share the front end's one connection, made by
// newConn as main makes it: twenty calls are in the Greeter together (a
// barrier of twenty opens only then), over one accepted connection.
func TestConcurrentVisitorsShareOneConnection(t *testing.T) {
	var mu sync.Mutex
	arrived, open := 0, make(chan struct{})
	wait := func(ctx context.Context, _ time.Duration) error {
		mu.Lock()
		if arrived++; arrived == requests {
			close(open)
		}
		mu.Unlock()
		select {
		case <-open:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g, err := greeter.New(greeter.Options{Wait: wait})
	require.NoError(t, err)
	s := grpctest.NewServer(t, g.Register)
	conn, err := newConn("passthrough:///bufnet", s.DialOption())
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close()) }()
	srv := httptest.NewServer(newServer(frontend.New(conn)).Handler)
	defer srv.Close()
	assert.Zero(t, s.Accepted(), "grpc.NewClient connects on the first call, not before")

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: requests}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(testwait.Context(t), http.MethodGet, srv.URL+"/hello?name=Ann", nil)
			if !assert.NoError(t, err) {
				return
			}
			resp, err := client.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "Hello, Ann!\n", string(body))
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, s.Accepted(), "every request used the one connection")
}

// The HTTP server newServer builds is bounded against slow and greedy
// visitors: a request whose headers never end is cut after
// ReadHeaderTimeout, and headers over MaxHeaderBytes are refused with 431.
func TestHTTPServerIsBounded(t *testing.T) {
	srv := newServer(frontend.New(grpctest.Unreachable(t)))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		require.NoError(t, srv.Close())
		assert.ErrorIs(t, testwait.Recv(t, served, "Serve to return"), http.ErrServerClosed)
		// After an error response, net/http lingers half a second before it
		// closes (closeWriteAndWait), past Close: wait it out for goleak.
		testwait.Until(t, "the refused connection's goroutine to end", func() bool {
			buf := make([]byte, 1<<20)
			return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "closeWriteAndWait")
		})
	}()

	big, err := net.Dial("tcp", lis.Addr().String())
	require.NoError(t, err)
	defer big.Close()
	require.NoError(t, big.SetDeadline(time.Now().Add(testwait.Bound)))
	_, err = fmt.Fprintf(big, "GET /hello?name=Ann HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n", strings.Repeat("x", 64<<10))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(big), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	if testing.Short() {
		t.Skip("the read timeouts are real time: 5 and 10 s")
	}
	var wg sync.WaitGroup
	for what, request := range map[string]string{
		"unfinished headers":      "GET /hello?name=Ann HTTP/1.1\r\nHost: x\r\n",                      // and never the end
		"a body that never comes": "GET /nonesuch HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx", // and never the other 9 bytes
	} {
		slow, err := net.Dial("tcp", lis.Addr().String())
		require.NoError(t, err)
		defer slow.Close()
		require.NoError(t, slow.SetDeadline(time.Now().Add(testwait.Bound)))
		_, err = io.WriteString(slow, request)
		require.NoError(t, err)
		wg.Go(func() {
			_, err := io.Copy(io.Discard, slow)
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: closed by the server, not by the test's bound: %v", what, err)
		})
	}
	wg.Wait()
}

// The zero http.Server waits for ever at every phase of a connection,
// and net/http falls back on ReadTimeout for the headers and for the wait
// between requests when they have no bound of their own. newServer, the
// server main runs, gives each phase its own. They take seconds to a
// minute to elapse, so this test reads them; the test above checks from
// outside that unfinished headers and a body that never comes are cut.
func TestHTTPServerBoundsEveryPhase(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	assert.Equal(t, 5*time.Second, srv.ReadHeaderTimeout, "the headers (Slowloris): unset, ReadTimeout's 10 s")
	assert.Equal(t, 10*time.Second, srv.ReadTimeout, "the whole request: unset, a body trickled byte by byte holds the connection for ever")
	assert.Equal(t, frontend.CallTimeout+5*time.Second, srv.WriteTimeout, "the answer: unset, a client that never reads holds the connection for ever")
	assert.Greater(t, srv.WriteTimeout, frontend.CallTimeout, "a page that waits its whole call for the Greeter is still written")
	assert.Equal(t, time.Minute, srv.IdleTimeout, "between a visitor's requests: unset, ReadTimeout's 10 s")
	assert.Equal(t, 16<<10, srv.MaxHeaderBytes)
}
