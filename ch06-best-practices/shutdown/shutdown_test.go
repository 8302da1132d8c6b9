package shutdown_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/shutdown"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// held is a Recommendations service whose calls for user 1 wait, inside the
// handler, until the test releases them (or their context ends); other
// users get an answer at once.
type held struct {
	pb.UnimplementedRecommendationsServer
	entered chan struct{}
	release chan struct{}
}

func newHeld() *held {
	return &held{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (h *held) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	if req.GetUserId() == 1 {
		h.entered <- struct{}{}
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return &pb.RecommendationResponse{Recommendations: []*pb.BookRecommendation{{Id: 1, Title: "The Maltese Falcon"}}}, nil
}

// signalled is a context the test ends as a SIGTERM would end OnSignal's.
func signalled() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	return ctx, func() { cancel(errors.New("terminated signal received")) }
}

// grpcRun is one server serving under a shutdown, its logs, and how it
// ended.
type grpcRun struct {
	lis  *bufconn.Listener
	logs *bytes.Buffer // read only after done
	done chan error
	term func() // sends the "signal"
}

func startGRPC(t *testing.T, svc pb.RecommendationsServer, timeout time.Duration) *grpcRun {
	t.Helper()
	s := grpcserver.New(svc, grpcserver.DefaultLimits())
	r := &grpcRun{lis: bufconn.Listen(1 << 20), logs: &bytes.Buffer{}, done: make(chan error, 1)}
	ctx, term := signalled()
	r.term = term
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		r.done <- s.ServeWith(ctx, r.lis, shutdown.GRPC(ctx, s, log, timeout))
	}()
	t.Cleanup(func() {
		term()
		testwait.Recv(t, stopped, "the server to stop")
	})
	return r
}

// The shutdown the chapter teaches, step by step: health goes NOT_SERVING,
// new calls are refused while a call in flight is still running, and that
// call then finishes with its answer.
func TestGRPCShutdownLetsTheCallInFlightFinish(t *testing.T) {
	svc := newHeld()
	r := startGRPC(t, svc, testwait.Bound)
	conn := grpctest.NewClient(t, r.lis)
	recs := pb.NewRecommendationsClient(conn)

	watchCtx, stopWatching := context.WithCancel(grpctest.Context(t))
	defer stopWatching()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	st, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, st.GetStatus())

	inFlight := make(chan error, 1)
	go func() {
		resp, err := recs.Recommend(grpctest.Context(t), &pb.RecommendationRequest{UserId: 1, MaxResults: 1})
		if err == nil && len(resp.GetRecommendations()) != 1 {
			err = fmt.Errorf("got %d books, want 1", len(resp.GetRecommendations()))
		}
		inFlight <- err
	}()
	testwait.Recv(t, svc.entered, "the call to reach the handler")

	r.term()
	// Whoever watches health hears first.
	st, err = watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, st.GetStatus())
	stopWatching() // a watch is a call in flight too: this one ends here

	// Then new calls are refused...
	var refused error
	testwait.Until(t, "a new call is refused", func() bool {
		_, refused = recs.Recommend(grpctest.Context(t), &pb.RecommendationRequest{UserId: 2, MaxResults: 1})
		return refused != nil
	})
	assert.Equal(t, codes.Unavailable, status.Code(refused), "%v", refused)
	// ...while the call in flight still runs, and the server still waits.
	select {
	case err := <-inFlight:
		t.Fatalf("the call in flight ended before it was released: %v", err)
	case err := <-r.done:
		t.Fatalf("the server stopped with a call in flight: %v", err)
	default:
	}

	close(svc.release)
	assert.NoError(t, testwait.Recv(t, inFlight, "the call in flight to finish"))
	require.NoError(t, testwait.Recv(t, r.done, "the server to stop"))
	assert.Contains(t, r.logs.String(), `msg="Received shutdown signal" cause="terminated signal received"`)
}

// A call that never finishes is cut at the cap, and the stop says so.
func TestGRPCShutdownCutsAStuckCallAtTheCap(t *testing.T) {
	svc := newHeld() // never released
	r := startGRPC(t, svc, 50*time.Millisecond)
	recs := pb.NewRecommendationsClient(grpctest.NewClient(t, r.lis))

	stuck := make(chan error, 1)
	go func() {
		_, err := recs.Recommend(grpctest.Context(t), &pb.RecommendationRequest{UserId: 1})
		stuck <- err
	}()
	testwait.Recv(t, svc.entered, "the call to reach the handler")
	r.term()

	err := testwait.Recv(t, r.done, "the server to stop at the cap")
	assert.ErrorIs(t, err, serve.ErrShutdownTimeout)
	assert.Equal(t, codes.Unavailable, status.Code(testwait.Recv(t, stuck, "the stuck call to be cut")))
}

// httpRun is an HTTP server serving under a shutdown.
type httpRun struct {
	url  string
	addr string
	done chan error
	term func()
}

// startHTTP serves h on a loopback port with the chapter's HTTP stop.
func startHTTP(t *testing.T, h http.Handler, timeout time.Duration) *httpRun {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, term := signalled()
	r := &httpRun{url: "http://" + lis.Addr().String() + "/", addr: lis.Addr().String(), done: make(chan error, 1), term: term}
	srv := httpserver.New(h)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		r.done <- httpserver.ServeWith(ctx, srv, lis, shutdown.HTTP(ctx, srv, log, timeout))
	}()
	t.Cleanup(func() {
		term()
		testwait.Recv(t, stopped, "the HTTP server to stop")
	})
	return r
}

// heldPage answers once the test releases it, or when its request ends.
func heldPage(entered, release chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
			_, _ = io.WriteString(w, "the whole page")
		case <-r.Context().Done():
		}
	})
}

// get fetches url with a client of its own, and returns the body or the
// error.
func get(t *testing.T, url string) (string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(grpctest.Context(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// The HTTP side: the listener closes, and a request in flight still gets
// its whole page.
func TestHTTPShutdownLetsTheRequestInFlightFinish(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	r := startHTTP(t, heldPage(entered, release), testwait.Bound)
	type result struct {
		body string
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		body, err := get(t, r.url)
		inFlight <- result{body, err}
	}()
	testwait.Recv(t, entered, "the request to reach the handler")

	r.term()
	testwait.Until(t, "the listener is closed", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case res := <-inFlight:
		t.Fatalf("the request in flight ended before it was released: %v", res.err)
	default:
	}

	close(release)
	res := testwait.Recv(t, inFlight, "the request in flight to finish")
	require.NoError(t, res.err)
	assert.Equal(t, "the whole page", res.body)
	assert.NoError(t, testwait.Recv(t, r.done, "the HTTP server to stop"))
}

// A request that never finishes is cut at the cap.
func TestHTTPShutdownCutsAStuckRequestAtTheCap(t *testing.T) {
	entered := make(chan struct{}, 1)
	r := startHTTP(t, heldPage(entered, make(chan struct{})), 50*time.Millisecond)
	inFlight := make(chan error, 1)
	go func() {
		_, err := get(t, r.url)
		inFlight <- err
	}()
	testwait.Recv(t, entered, "the request to reach the handler")
	r.term()
	assert.ErrorIs(t, testwait.Recv(t, r.done, "the HTTP server to stop at the cap"), serve.ErrShutdownTimeout)
	assert.Error(t, testwait.Recv(t, inFlight, "the stuck request to be cut"))
}

// Finish turns how the servers ended into a log line and an exit code.
func TestFinish(t *testing.T) {
	cut := fmt.Errorf("grpc: %w", serve.ErrShutdownTimeout)
	broken := errors.New("accept: too many open files")
	for _, tc := range []struct {
		name string
		err  error
		code int
		log  string
	}{
		{"graceful", nil, 0, `level=INFO msg="Shut down gracefully"`},
		{"cut at the cap", cut, 0, `level=WARN msg="Shut down at the cap, cutting calls still in flight"`},
		{"cut on both servers", errors.Join(cut, fmt.Errorf("http: %w", serve.ErrShutdownTimeout)), 0, `level=WARN`},
		{"a failure", broken, 1, `level=ERROR msg="Shut down after a failure"`},
		{"a failure beside a cut", errors.Join(cut, broken), 1, `level=ERROR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			code := shutdown.Finish(slog.New(slog.NewTextHandler(&logs, nil)), tc.err, time.Second)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, logs.String(), tc.log)
		})
	}
}

// A stop that no signal asked for (a server failed) says so.
func TestBeginWithoutASignal(t *testing.T) {
	var logs bytes.Buffer
	shutdown.Begin(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)))
	assert.Contains(t, logs.String(), `level=WARN msg="shutting down: a server stopped without a signal"`)
	assert.NotContains(t, logs.String(), "Received shutdown signal")
}

// SIGTERM ends OnSignal's context, and the cause names the signal. (That a
// second signal then ends the process is a process's lesson: see the
// chapter's binaries' tests.)
func TestOnSignal(t *testing.T) {
	ctx, stop := shutdown.OnSignal(context.Background())
	defer stop()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	testwait.Recv(t, ctx.Done(), "the signal to end the context")
	assert.EqualError(t, context.Cause(ctx), "terminated signal received")
}

func TestFlags(t *testing.T) {
	f := &shutdown.Flags{Timeout: shutdown.DefaultTimeout}
	assert.NoError(t, f.Check())
	f.Timeout = 0
	assert.EqualError(t, f.Check(), "-shutdown-timeout must be positive, got 0s")
}
