// Package homepagetest checks the bookstore's homepage the way a reader
// sees it. Chapter 1 tests the page in the monolith; chapter 3 tests the
// same page served by the Marketplace, and a process's page over HTTP, with
// these same checks, so "the same page" means the same assertions.
package homepagetest

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The page's fixed landmarks, as the bookstore's contract states them.
const (
	Title   = "<title>Online Books For You</title>"
	Heading = "<h1>Mystery books you may like</h1>"
	Notice  = "Recommendations are unavailable right now"
)

// MysteryTitles returns the titles the page may show, in catalog order.
// They are written out here, not read from the catalog, so a change to the
// catalog cannot silently change what the tests expect.
func MysteryTitles() []string {
	return []string{
		"The Maltese Falcon",
		"Murder on the Orient Express",
		"The Hound of the Baskervilles",
	}
}

// Serve sends one request to h, in memory, and returns what h wrote.
func Serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// Items returns the text of every <li> on the page, in order.
func Items(body string) []string {
	var items []string
	for _, part := range strings.Split(body, "<li>")[1:] {
		text, _, _ := strings.Cut(part, "</li>")
		items = append(items, text)
	}
	return items
}

// Logger returns a logger that writes into a buffer the test can read.
func Logger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

// AssertHome checks a healthy page: 200, the title and heading, three
// distinct mystery books, and no notice.
func AssertHome(t testing.TB, status int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, Title)
	assert.Contains(t, body, Heading)
	assert.ElementsMatch(t, MysteryTitles(), Items(body), "three distinct mystery books:\n%s", body)
	assert.NotContains(t, body, Notice)
}

// AssertDegraded checks the page shown when recommendations are
// unavailable: still a 200 and a whole page, no books, and the notice.
func AssertDegraded(t testing.TB, status int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, status, "the store stays up")
	assert.Contains(t, body, Title)
	assert.Contains(t, body, Heading)
	assert.Empty(t, Items(body), "no books on a degraded page")
	assert.Contains(t, body, Notice)
}
