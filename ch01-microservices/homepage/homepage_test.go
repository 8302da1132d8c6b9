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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The page's fixed landmarks, as the design states them.
const (
	title  = "<title>Online Books For You</title>"
	h1     = "<h1>Mystery books you may like</h1>"
	notice = "Recommendations are unavailable right now"
)

var mysteryTitles = []string{
	"The Maltese Falcon",
	"Murder on the Orient Express",
	"The Hound of the Baskervilles",
}

// recommendFunc adapts a function to homepage.Recommender, so each test
// writes the fake it needs in one line.
type recommendFunc func(ctx context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error)

func (f recommendFunc) Recommend(ctx context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error) {
	return f(ctx, userID, c, maxResults)
}

// get serves one request to h and returns the response.
func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

// body reads the whole response body.
func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return buf.String()
}

// newLogger returns a logger that writes into a buffer the test can read.
func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

// assertDegraded checks the page shown when recommendations are
// unavailable: still a 200 and a whole page, no books, a notice.
func assertDegraded(t *testing.T, resp *http.Response) {
	t.Helper()
	page := body(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, title)
	assert.Contains(t, page, h1)
	assert.Zero(t, strings.Count(page, "<li>"), "no books on a degraded page")
	assert.Contains(t, page, notice)
}

func TestHomeShowsThreeMysteryBooks(t *testing.T) {
	logger, logs := newLogger()
	h := homepage.New(catalog.NewRecommender(rand.NewPCG(1, 2)), homepage.Options{Logger: logger})

	resp := get(t, h, http.MethodGet, "/")
	page := body(t, resp)

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, page, title)
	assert.Contains(t, page, h1)
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

	resp := get(t, h, http.MethodGet, "/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []call{{userID: 1, category: catalog.Mystery, maxResults: 3}}, calls)
}

func TestHomeDegradesWhenRecommenderFails(t *testing.T) {
	logger, logs := newLogger()
	h := homepage.New(recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		return nil, errors.New("recommendations exploded")
	}), homepage.Options{Logger: logger})

	assertDegraded(t, get(t, h, http.MethodGet, "/"))
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

	assertDegraded(t, get(t, h, http.MethodGet, "/"))
	assert.True(t, hadDeadline, "the recommender's context has a deadline")
	assert.Contains(t, logs.String(), context.DeadlineExceeded.Error())
}

func TestHomeEscapesTitles(t *testing.T) {
	h := homepage.New(recommendFunc(func(context.Context, int32, catalog.Category, int32) ([]catalog.Book, error) {
		return []catalog.Book{{ID: 1, Title: `<script>alert("hi")</script>`}}, nil
	}), homepage.Options{})

	page := body(t, get(t, h, http.MethodGet, "/"))
	assert.Equal(t, 1, strings.Count(page, "<li>"))
	assert.NotContains(t, page, "<script>")
	assert.Contains(t, page, "&lt;script&gt;")
}

func TestHomeServesOnlyTheRoot(t *testing.T) {
	h := homepage.New(catalog.NewRecommender(nil), homepage.Options{})
	for _, path := range []string{"/books", "/index.html", "/favicon.ico"} {
		assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, path).StatusCode, path)
	}
}

func TestHomeAnswersOnlyGet(t *testing.T) {
	h := homepage.New(catalog.NewRecommender(nil), homepage.Options{})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp := get(t, h, method, "/")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Contains(t, resp.Header.Get("Allow"), http.MethodGet, method)
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
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				assert.Equal(t, http.StatusOK, rec.Code)
				assert.Equal(t, 3, strings.Count(rec.Body.String(), "<li>"))
			}
		})
	}
	wg.Wait()
}
