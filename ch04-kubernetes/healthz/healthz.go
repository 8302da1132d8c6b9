// Package healthz is the Marketplace's health endpoint, which Kubernetes'
// probes and compose's healthcheck ask.
//
// It reports whether this process can serve pages, not whether
// Recommendations is up: the page works without recommendations (it says
// they are unavailable), so a Marketplace that reported itself unhealthy
// whenever Recommendations is down would turn a missing list of books
// into a missing website, on every replica at once.
package healthz

import (
	"io"
	"net/http"
)

// Path is where the endpoint answers.
const Path = "/healthz"

// Mount returns a handler that answers GET /healthz with 200 "ok" and
// passes every other request to page. The endpoint answers once the
// process listens, which it does only after it has everything a page
// needs; while the server shuts down it stops answering.
func Mount(page http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", page)
	return mux
}
