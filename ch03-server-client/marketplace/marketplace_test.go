package marketplace_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recommendFunc adapts a function to pb.RecommendationsClient, the
// generated interface the page depends on, so each test writes the fake it
// needs in one line: the shared suite (internal/booksuite) runs the page
// against a real server, these tests cover the page's own decisions.
type recommendFunc func(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error)

func (f recommendFunc) Recommend(ctx context.Context, req *pb.RecommendationRequest, _ ...grpc.CallOption) (*pb.RecommendationResponse, error) {
	return f(ctx, req)
}

func books(titles ...string) recommendFunc {
	return func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		resp := &pb.RecommendationResponse{}
		for i, title := range titles {
			resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: int32(i + 1), Title: title})
		}
		return resp, nil
	}
}

var unavailable recommendFunc = func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	return nil, status.Error(codes.Unavailable, "connection refused")
}

// serve sends one request to h, in memory, and returns what h wrote.
func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// items returns the text of every <li> on the page, in order.
func items(body string) []string {
	var items []string
	for _, part := range strings.Split(body, "<li>")[1:] {
		text, _, _ := strings.Cut(part, "</li>")
		items = append(items, text)
	}
	return items
}

func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

// The page asks for what the series' Marketplace asks for: three mystery
// books for user 1.
func TestHomeAsksForThreeMysteryBooksForUserOne(t *testing.T) {
	var got *pb.RecommendationRequest
	h := marketplace.New(recommendFunc(func(_ context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		got = req
		return &pb.RecommendationResponse{}, nil
	}), marketplace.Options{})
	assert.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/").Code)
	require.NotNil(t, got)
	assert.Equal(t, int32(1), got.GetUserId())
	assert.Equal(t, pb.BookCategory_MYSTERY, got.GetCategory())
	assert.Equal(t, int32(3), got.GetMaxResults())
}

func TestHomeEscapesTitles(t *testing.T) {
	rec := serve(marketplace.New(books(`<script>alert("x")</script> & Co`), marketplace.Options{}), http.MethodGet, "/")
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.NotContains(t, rec.Body.String(), "<script>")
	assert.Equal(t, []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"}, items(rec.Body.String()))
}

func TestHomeServesOnlyGetOfTheRoot(t *testing.T) {
	h := marketplace.New(books("The Maltese Falcon"), marketplace.Options{})
	for _, path := range []string{"/books", "/index.html", "/favicon.ico"} {
		assert.Equal(t, http.StatusNotFound, serve(h, http.MethodGet, path).Code, path)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := serve(h, method, "/")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Contains(t, rec.Header().Get("Allow"), http.MethodGet, method)
	}
}

// Options.Timeout is the call's deadline: a service slower than that is an
// unavailable one. The fake answers only when the page gives up on it.
func TestHomeGivesUpAtTheTimeout(t *testing.T) {
	var left time.Duration
	slow := recommendFunc(func(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		deadline, ok := ctx.Deadline()
		require.True(t, ok, "the call has a deadline")
		left = time.Until(deadline)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	})
	logger, logs := newLogger()
	rec := serve(marketplace.New(slow, marketplace.Options{Timeout: 20 * time.Millisecond, Logger: logger}), http.MethodGet, "/")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, items(rec.Body.String()))
	assert.LessOrEqual(t, left, 20*time.Millisecond)
	assert.Contains(t, logs.String(), "DeadlineExceeded")
}

// An outage is logged when it starts and when it ends, not once per page:
// under load, a line per failed page would flood the log. Every page in the
// outage is still degraded, and none goes uncounted.
func TestHomeLogsAnOutageOnce(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	rec := recommendFunc(func(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		if failing.Load() {
			return unavailable(ctx, req)
		}
		return books("The Maltese Falcon")(ctx, req)
	})
	logger, logs := newLogger()
	h := marketplace.New(rec, marketplace.Options{Logger: logger})

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			rec := serve(h, http.MethodGet, "/")
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Empty(t, items(rec.Body.String()))
		})
	}
	wg.Wait()
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
	assert.Contains(t, logs.String(), `msg="recommendations unavailable"`)
	assert.Contains(t, logs.String(), "code = Unavailable")

	failing.Store(false)
	for range 3 {
		assert.Equal(t, []string{"The Maltese Falcon"}, items(serve(h, http.MethodGet, "/").Body.String()))
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "recommendations available again"), logs.String())
	assert.Contains(t, logs.String(), "pages_without_books=100")

	// The next outage is a new one, and is logged again.
	failing.Store(true)
	serve(h, http.MethodGet, "/")
	assert.Equal(t, 2, strings.Count(logs.String(), "level=ERROR"), logs.String())
}

// A visitor who leaves before the page is ready cancels the request, and
// the call with it. That is no outage of Recommendations: nothing is logged.
func TestHomeVisitorLeavingIsNoOutage(t *testing.T) {
	called := make(chan struct{})
	rec := recommendFunc(func(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		close(called)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	})
	logger, logs := newLogger()
	h := marketplace.New(rec, marketplace.Options{Logger: logger})

	ctx, leave := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-called
	leave()
	<-done
	assert.Empty(t, logs.String())
}

func TestURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:5000":      "http://localhost:5000/",
		"0.0.0.0:5000":   "http://localhost:5000/",
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		assert.Equal(t, want, marketplace.URL(a), addr)
	}
}

func TestTargetFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "localhost:50051"},
		{"host from env", map[string]string{"RECOMMENDATIONS_HOST": "recommendations"}, "recommendations:50051"},
		{"dotted name", map[string]string{"RECOMMENDATIONS_HOST": "recs.bookstore.svc.cluster.local"}, "recs.bookstore.svc.cluster.local:50051"},
		{"ipv4 host", map[string]string{"RECOMMENDATIONS_HOST": "127.0.0.2"}, "127.0.0.2:50051"},
		{"ipv6 host", map[string]string{"RECOMMENDATIONS_HOST": "::1"}, "[::1]:50051"},
		// Kubernetes sets this for a Service named recommendations; it is
		// not a port and must be ignored.
		{"RECOMMENDATIONS_PORT ignored", map[string]string{"RECOMMENDATIONS_PORT": "tcp://10.0.0.7:50051"}, "localhost:50051"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := marketplace.Target(func(k string) string { return tc.env[k] })
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// A RECOMMENDATIONS_HOST that is not a host would make every page degraded
// for good; Target refuses it and says what to write instead.
func TestTargetRejectsWhatIsNotAHost(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:15051":    `$RECOMMENDATIONS_HOST="127.0.0.1:15051" has a port: set it to the host alone (the port is always 50051)`,
		"recommendations:80": "has a port",
		"[::1]:50051":        "has a port",
		"http://recs":        `$RECOMMENDATIONS_HOST="http://recs": "http://recs" is not a host name or IP address`,
		"recs internal":      "is not a host name",
		"[::1]":              "write an IPv6 address without brackets: ::1",
	} {
		_, err := marketplace.Target(func(string) string { return host })
		if assert.Error(t, err, host) {
			assert.Contains(t, err.Error(), want, host)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"localhost:50051", "127.0.0.1:6000", "[::1]:50051", "recommendations:1", "a.b-c_d:65535"} {
		assert.NoError(t, marketplace.CheckTarget(ok), ok)
	}
	for bad, want := range map[string]string{
		"":                "want host:port",
		"localhost":       "missing port",
		":50051":          "the host is empty",
		"localhost:0":     `"0" is not a port number`,
		"localhost:65536": `"65536" is not a port number`,
		"localhost:grpc":  `"grpc" is not a port number`,
		"dns:///x:50051":  "want host:port",
		"a b:50051":       `"a b" is not a host name`,
	} {
		err := marketplace.CheckTarget(bad)
		if assert.Error(t, err, "%q", bad) {
			assert.Contains(t, err.Error(), want, "%q", bad)
		}
	}
}
