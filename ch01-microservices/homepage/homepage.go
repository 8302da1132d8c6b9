// Package homepage renders the bookstore's front page: the mystery books a
// reader may like.
//
// The page does not know where recommendations come from. It asks a
// Recommender, a one-method interface: the monolith passes the catalog
// itself, the Marketplace service (chapter 3) passes a gRPC client. That
// interface is the seam along which the monolith splits into services.
package homepage

import (
	"cmp"
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

// Options tune the handler. The zero value is ready to use.
type Options struct {
	Timeout time.Duration // bounds each call, so slow counts as down; 0 means 1s
	Logger  *slog.Logger  // hears when an outage starts and ends; nil: slog.Default()
}

//go:embed templates/home.html
var templates embed.FS

var page = template.Must(template.ParseFS(templates, "templates/home.html"))

type pageData struct {
	Books       []catalog.Book
	Unavailable bool
}

// New returns the GET / handler. It asks rec for three mystery books, and if
// that fails renders a notice instead: a broken service must not take the store down.
func New(rec Recommender, opts Options) http.Handler {
	opts.Timeout = cmp.Or(opts.Timeout, time.Second)
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	h := &handler{rec: rec, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveHome)
	return mux
}

type handler struct {
	rec    Recommender
	opts   Options
	failed atomic.Int64 // pages served without books since the last good call
}

func (h *handler) serveHome(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()

	books, err := h.rec.Recommend(ctx, UserID, Category, MaxResults)
	switch {
	case err != nil && r.Context().Err() != nil:
		return // the visitor left: no page to render, and no outage to report
	case err != nil:
		// Only an outage's first failure logs an error: one per page would flood the log.
		level := slog.LevelDebug
		if h.failed.Add(1) == 1 {
			level = slog.LevelError
		}
		h.opts.Logger.Log(r.Context(), level, "recommendations unavailable", "err", err)
	default:
		if n := h.failed.Swap(0); n > 0 {
			h.opts.Logger.InfoContext(r.Context(), "recommendations available again", "pages_without_books", n)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, pageData{Books: books, Unavailable: err != nil})
}
