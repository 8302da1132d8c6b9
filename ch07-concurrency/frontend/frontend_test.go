package frontend_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/frontend"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// requests is how many visitors the tests send at once.
const requests = 20

// startGreeter serves a Go-mode greeter in memory whose waits meet a
// barrier of n: it answers only once n calls are inside it together.
func startGreeter(t *testing.T, n int) *grpctest.Server {
	t.Helper()
	var mu sync.Mutex
	arrived, open := 0, make(chan struct{})
	wait := func(ctx context.Context, _ time.Duration) error {
		mu.Lock()
		if arrived++; arrived == n {
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
	return grpctest.NewServer(t, g.Register)
}

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

// Many visitors at once share the front end's one connection: twenty calls
// are in the Greeter together (its barrier of twenty opens), over one
// accepted connection. After the front end stops, no goroutine of its own
// or of its gRPC client is left.
func TestConcurrentVisitorsShareOneConnectionClosedAtShutdown(t *testing.T) {
	s := startGreeter(t, requests)
	before := goleak.IgnoreCurrent()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	started, ran := make(chan struct{}), make(chan error, 1)
	go func() {
		ran <- frontend.Run(ctx, lis, "passthrough:///bufnet", func() { close(started) }, s.DialOption())
	}()
	testwait.Recv(t, started, "the front end to start")
	assert.Zero(t, s.Accepted(), "grpc.NewClient connects on the first call, not before")

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: requests}}
	url := "http://" + lis.Addr().String() + "/hello?name=Ann"
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			code, body := get(t, client, url)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "Hello, Ann!\n", body)
		})
	}
	wg.Wait()
	client.CloseIdleConnections()
	assert.EqualValues(t, 1, s.Accepted(), "every request used the one connection")

	stop()
	assert.NoError(t, testwait.Recv(t, ran, "the front end to stop"))
	goleak.VerifyNone(t, before)
}

func TestBadRequestsAndAnUnreachableGreeter(t *testing.T) {
	srv := httptest.NewServer(frontend.New(grpctest.Unreachable(t)))
	defer srv.Close()
	c := srv.Client()
	defer c.CloseIdleConnections()

	code, body := get(t, c, srv.URL+"/hello")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "say who to greet: /hello?name=Ann\n", body)
	code, _ = get(t, c, srv.URL+"/hello?name=Ann&sleep=soon")
	assert.Equal(t, http.StatusBadRequest, code)
	code, body = get(t, c, srv.URL+"/hello?name=Ann")
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
	srv := httptest.NewServer(frontend.New(grpctest.Start(t, g.Register)))
	defer srv.Close()
	c := srv.Client()
	defer c.CloseIdleConnections()

	code, body := get(t, c, srv.URL+"/hello?name=Bo&sleep=250")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Hello, Bo!\n", body)
	assert.Equal(t, 250*time.Millisecond, testwait.Recv(t, waits, "the greeter's wait"))
}

// A target grpc.NewClient refuses is an error that names the Greeter, not
// the backend of chapter 3's Connect, which this one is.
func TestConnectNamesTheGreeter(t *testing.T) {
	_, err := frontend.Connect("dns:///%zz")
	require.Error(t, err)
	assert.Regexp(t, `^connect to the greeter at "dns:///%zz": .*invalid URL escape`, err.Error())
	assert.NotContains(t, err.Error(), "recommendations")
}
