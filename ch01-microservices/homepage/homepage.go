// Package homepage renders the bookstore's front page: the mystery books a
// reader may like.
//
// The page does not know where recommendations come from. It asks a
// Recommender, a one-method interface: the monolith passes the catalog
// itself, the Marketplace service (chapter 3) passes a gRPC client. That
// interface is the seam along which the monolith splits into services.
package homepage

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
)

// Recommender is what the homepage needs from a recommendations provider.
// *catalog.Recommender satisfies it in-process.
type Recommender interface {
	Recommend(ctx context.Context, userID int32, category catalog.Category, maxResults int32) ([]catalog.Book, error)
}

// What the page asks for. The series' Marketplace asks for three mystery
// books for user 1, and so does this page.
const (
	UserID     int32 = 1
	Category         = catalog.Mystery
	MaxResults int32 = 3
)

// DefaultTimeout bounds each call to the Recommender when Options.Timeout is
// zero. About a second: long enough for a healthy service, short enough that
// a reader never waits long for a page whose recommendations are down.
const DefaultTimeout = time.Second

// Options tune the handler. The zero value is ready to use.
type Options struct {
	// Timeout bounds each Recommend call; a slow recommender is treated as
	// an unavailable one. Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger is told when recommendations become unavailable (with the
	// error) and when they are back (with the number of pages served
	// without them). The first failed call of an outage is logged at
	// error level, each further one at debug level only, so an outage
	// under load does not flood the log. Nil means slog.Default().
	Logger *slog.Logger
}

//go:embed templates/home.html
var templates embed.FS

// page is parsed once, at start-up; Must panics on a broken template, which
// is a bug in this repository, not a run-time condition.
var page = template.Must(template.ParseFS(templates, "templates/home.html"))

// pageData is what the template renders.
type pageData struct {
	Books       []catalog.Book
	Unavailable bool
}

// New returns the homepage handler. It serves GET / and answers 404 for any
// other path. When rec fails or is slower than the timeout, the page still
// renders, with HTTP 200, no books and a notice: a broken recommendations
// service must not take the whole store down. The log says when that
// starts and when it ends.
func New(rec Recommender, opts Options) http.Handler {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{rec: rec, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveHome)
	return mux
}

type handler struct {
	rec  Recommender
	opts Options

	// down is true from the first failed call until the next good one;
	// failed counts the pages served without books meanwhile.
	down   atomic.Bool
	failed atomic.Int64
}

func (h *handler) serveHome(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()

	var data pageData
	books, err := h.rec.Recommend(ctx, UserID, Category, MaxResults)
	if err != nil && r.Context().Err() != nil {
		return // the visitor left: no page to render, and no outage to report
	}
	if err != nil {
		h.failed.Add(1)
		// Only the request that sees the service go down logs it at
		// error level; during an outage under load, one line per page
		// would bury everything else in the log.
		if h.down.CompareAndSwap(false, true) {
			h.opts.Logger.ErrorContext(r.Context(), "recommendations unavailable", "err", err)
		} else {
			h.opts.Logger.DebugContext(r.Context(), "recommendations still unavailable", "err", err)
		}
		data.Unavailable = true
	} else {
		if h.down.CompareAndSwap(true, false) {
			h.opts.Logger.InfoContext(r.Context(), "recommendations available again",
				"pages_without_books", h.failed.Swap(0))
		}
		data.Books = books
	}

	// Render into a buffer first, so a template error becomes a clean 500
	// instead of half a page with a 200 status already sent.
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "render homepage", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}
