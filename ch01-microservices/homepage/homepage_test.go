package homepage_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The page's landmarks, as the bookstore's contract states them, and the
// titles it may show, written out here so that a change to the catalog or
// the template is a change the tests notice.
const (
	title   = "<title>Online Books For You</title>"
	heading = "<h1>Mystery books you may like</h1>"
	notice  = "Recommendations are unavailable right now"
)

var mysteryTitles = []string{"The Maltese Falcon", "Murder on the Orient Express", "The Hound of the Baskervilles"}

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

// newLogger returns a logger that writes into a buffer the test can read.
func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

// assertDegraded checks the page shown when recommendations are
// unavailable: still a 200 and a whole page, no books, and the notice.
func assertDegraded(t *testing.T, status int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, status, "the store stays up")
	assert.Contains(t, body, title)
	assert.Contains(t, body, heading)
	assert.Empty(t, items(body), "no books on a degraded page")
	assert.Contains(t, body, notice)
}

// recommendFunc adapts a function to homepage.Recommender, so each test
// writes the fake it needs in one line.
type recommendFunc func(ctx context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error)

func (f recommendFunc) Recommend(ctx context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error) {
	return f(ctx, userID, c, maxResults)
}

func TestHomeShowsThreeMysteryBooks(t *testing.T) {
	logger, logs := newLogger()
	h := homepage.New(catalog.NewRecommender(rand.NewPCG(1, 2)), homepage.Options{Logger: logger})

	rec := serve(h, http.MethodGet, "/")
	page := rec.Body.String()

	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Contains(t, page, title)
	assert.Contains(t, page, heading)
	// Three items and each mystery title in an item: so each item is a
	// different mystery title.
	assert.Equal(t, 3, strings.Count(page, "<li>"), page)
	for _, book := range mysteryTitles {
		assert.Contains(t, page, "<li>"+book+"</li>")
	}
	assert.NotContains(t, page, notice)
	assert.Empty(t, logs.String(), "nothing to log on a healthy page")
}

func TestHomeAsksForThreeMysteryBooksForUserOne(t *testing.T) {
	type call struct {
		userID     int32
		category   catalog.Category
		maxResults int32
	}
	var calls []call
	h := homepage.New(recommendFunc(func(_ context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error) {
		calls = append(calls, call{userID, c, maxResults})
		return nil, nil
	}), homepage.Options{})

	rec := serve(h, http.MethodGet, "/")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, []call{{userID: 1, category: catalog.Mystery, maxResults: 3}}, calls)
}

func TestHomeDegradesWhenRecommenderFails(t *testing.T) {
	logger, logs := newLogger()
	h := homepage.New(recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		return nil, errors.New("recommendations exploded")
	}), homepage.Options{Logger: logger})

	rec := serve(h, http.MethodGet, "/")
	assertDegraded(t, rec.Code, rec.Body.String())
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "recommendations exploded")
}

func TestHomeDegradesWhenRecommenderIsSlow(t *testing.T) {
	// This recommender answers only when the handler gives up on it, by
	// cancelling its context. If the handler never does, the recommender
	// gives up itself after a generous wait, and the test fails.
	var hadDeadline bool
	slow := recommendFunc(func(ctx context.Context, _ int32, _ catalog.Category, _ int32) ([]catalog.Book, error) {
		_, hadDeadline = ctx.Deadline()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, errors.New("the handler never cancelled the call")
		}
	})
	logger, logs := newLogger()
	h := homepage.New(slow, homepage.Options{Timeout: 10 * time.Millisecond, Logger: logger})

	rec := serve(h, http.MethodGet, "/")
	assertDegraded(t, rec.Code, rec.Body.String())
	assert.True(t, hadDeadline, "the recommender's context has a deadline")
	assert.Contains(t, logs.String(), context.DeadlineExceeded.Error())
}

func TestHomeEscapesTitles(t *testing.T) {
	h := homepage.New(recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		return []catalog.Book{{ID: 1, Title: `<script>alert("hi")</script>`}}, nil
	}), homepage.Options{})

	page := serve(h, http.MethodGet, "/").Body.String()
	assert.Equal(t, 1, strings.Count(page, "<li>"))
	assert.NotContains(t, page, "<script>")
	assert.Contains(t, page, "&lt;script&gt;")
}

func TestHomeServesOnlyTheRoot(t *testing.T) {
	h := homepage.New(catalog.NewRecommender(nil), homepage.Options{})
	for _, path := range []string{"/books", "/index.html", "/favicon.ico"} {
		assert.Equal(t, http.StatusNotFound, serve(h, http.MethodGet, path).Code, path)
	}
}

func TestHomeAnswersOnlyGet(t *testing.T) {
	h := homepage.New(catalog.NewRecommender(nil), homepage.Options{})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := serve(h, method, "/")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Contains(t, rec.Header().Get("Allow"), http.MethodGet, method)
	}
}

func TestHomeServesConcurrentRequests(t *testing.T) {
	// One handler, one Recommender, many requests at once, as a server
	// runs it. Under -race, shared state without a lock is reported.
	h := homepage.New(catalog.NewRecommender(rand.NewPCG(1, 2)), homepage.Options{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				rec := serve(h, http.MethodGet, "/")
				assert.Equal(t, http.StatusOK, rec.Code)
				assert.Equal(t, 3, strings.Count(rec.Body.String(), "<li>"))
			}
		})
	}
	wg.Wait()
}

// An outage is logged when it starts and when it ends, not once per page:
// under load, a line per failed page would flood the log. Every page in the
// outage is still degraded, and none goes uncounted.
func TestHomeLogsAnOutageOnce(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	rec := recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		if failing.Load() {
			return nil, errors.New("connection refused")
		}
		return []catalog.Book{{ID: 1, Title: "The Maltese Falcon"}}, nil
	})
	logger, logs := newLogger()
	h := homepage.New(rec, homepage.Options{Logger: logger})

	// 100 page views at once, all during the outage.
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			rec := serve(h, http.MethodGet, "/")
			assertDegraded(t, rec.Code, rec.Body.String())
		})
	}
	wg.Wait()
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
	assert.Contains(t, logs.String(), `msg="recommendations unavailable" err="connection refused"`)

	failing.Store(false)
	for range 3 {
		assert.Len(t, items(serve(h, http.MethodGet, "/").Body.String()), 1)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "recommendations available again"), logs.String())
	assert.Contains(t, logs.String(), "pages_without_books=100")

	// The next outage is a new one, and is logged again.
	failing.Store(true)
	serve(h, http.MethodGet, "/")
	assert.Equal(t, 2, strings.Count(logs.String(), "level=ERROR"), logs.String())
}

// At debug level every failed call is still there, for whoever needs it.
func TestHomeLogsEachFailureAtDebugLevel(t *testing.T) {
	var logs strings.Builder // slog's handlers serialise their writes
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := homepage.New(recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		return nil, errors.New("connection refused")
	}), homepage.Options{Logger: logger})
	for range 5 {
		serve(h, http.MethodGet, "/")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"))
	assert.Equal(t, 4, strings.Count(logs.String(), `level=DEBUG msg="recommendations unavailable"`))
}

// A visitor who leaves before the page is ready cancels the request, and
// the call with it. That is no outage of recommendations: nothing is logged
// and the next page is not counted as one served without books.
func TestHomeVisitorLeavingIsNoOutage(t *testing.T) {
	called := make(chan struct{})
	rec := recommendFunc(func(ctx context.Context, _ int32, _ catalog.Category, _ int32) ([]catalog.Book, error) {
		close(called)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	logger, logs := newLogger()
	h := homepage.New(rec, homepage.Options{Logger: logger})

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
