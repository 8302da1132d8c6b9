package frontend_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/frontend"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url with a client of its own, closed afterwards, so no idle
// connection outlives the test.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testwait.Context(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestBadRequestsAndAnUnreachableGreeter(t *testing.T) {
	url, c := serve(t, grpctest.Unreachable(t))

	code, body := get(t, c, url+"/hello")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "say who to greet, in at most 256 bytes: /hello?name=Ann\n", body)
	for _, query := range []string{
		"name=Ann&sleep=soon", "name=Ann&sleep=-1", "name=Ann&sleep=" + strconv.FormatInt(greeter.MaxSleep.Milliseconds()+1, 10), "name=Ann&sleep=2147483647",
		"name=" + strings.Repeat("x", frontend.MaxName+1),
	} {
		code, _ = get(t, c, url+"/hello?"+query)
		assert.Equal(t, http.StatusBadRequest, code, "%s: the visitor's mistake never reaches the Greeter", query)
	}
	code, body = get(t, c, url+"/hello?name=Ann")
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Contains(t, body, "the greeter did not answer: Unavailable")
}

// The sleep parameter reaches the Greeter: the call waits in it.
func TestSleepIsPassedToTheGreeter(t *testing.T) {
	waits := make(chan time.Duration, 1)
	g, err := greeter.New(greeter.Options{Wait: func(_ context.Context, d time.Duration) error {
		waits <- d
		return nil
	}})
	require.NoError(t, err)
	url, c := serve(t, grpctest.Start(t, g.Register))

	code, body := get(t, c, url+"/hello?name=Bo&sleep=250")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Hello, Bo!\n", body)
	assert.Equal(t, 250*time.Millisecond, testwait.Recv(t, waits, "the greeter's wait"))
}

// Visitors who ask the Greeter to wait take at most MaxSlow of its calls:
// one more gets 503 at once, and a visitor who does not wait is served.
func TestSlowRequestsLeaveRoomForOthers(t *testing.T) {
	entered, release := make(chan struct{}, frontend.MaxSlow+1), make(chan struct{})
	g, err := greeter.New(greeter.Options{Wait: func(ctx context.Context, d time.Duration) error {
		if d == 0 {
			return nil
		}
		entered <- struct{}{}
		select { // until the test releases the waits, or the call ends
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	require.NoError(t, err)
	url, c := serve(t, grpctest.Start(t, g.Register))

	codes := make(chan int, frontend.MaxSlow)
	for range frontend.MaxSlow {
		go func() { // not get: a goroutine other than the test's may not stop it
			resp, err := c.Get(url + "/hello?name=Slow&sleep=1000")
			if err != nil {
				codes <- 0
				return
			}
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range frontend.MaxSlow {
		testwait.Recv(t, entered, "the slow calls to wait in the Greeter")
	}
	code, body := get(t, c, url+"/hello?name=Late&sleep=1000")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	code, body = get(t, c, url+"/hello?name=Ann")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Hello, Ann!\n", body)

	close(release)
	for range frontend.MaxSlow {
		assert.Equal(t, http.StatusOK, testwait.Recv(t, codes, "the slow calls to end"))
	}
}

// A visitor who leaves cancels the Greeter's work for them: the call ends
// with the request, seconds before CallTimeout would have ended it.
func TestAVisitorWhoLeavesCancelsTheCall(t *testing.T) {
	entered, spare := make(chan struct{}, 1), make(chan time.Duration, 1)
	g, err := greeter.New(greeter.Options{Wait: func(ctx context.Context, _ time.Duration) error {
		entered <- struct{}{}
		<-ctx.Done()
		deadline, _ := ctx.Deadline()
		spare <- time.Until(deadline)
		return ctx.Err()
	}})
	require.NoError(t, err)
	url, c := serve(t, grpctest.Start(t, g.Register))

	ctx, cancel := context.WithCancel(testwait.Context(t))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/hello?name=Gone&sleep=10000", nil)
	require.NoError(t, err)
	failed := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		failed <- err
	}()
	testwait.Recv(t, entered, "the call to wait in the Greeter")
	cancel()
	assert.ErrorIs(t, testwait.Recv(t, failed, "the visitor to leave"), context.Canceled)
	assert.Greater(t, testwait.Recv(t, spare, "the Greeter's wait to end"), frontend.CallTimeout/2,
		"the call ended with the request, not at its timeout")
}

// serve serves the front end over conn on a loopback HTTP server, and
// returns its URL and a client; both close when the test ends.
func serve(t *testing.T, conn *grpc.ClientConn) (url string, c *http.Client) {
	t.Helper()
	srv := httptest.NewServer(frontend.New(conn))
	t.Cleanup(srv.Close)
	c = srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	return srv.URL, c
}
