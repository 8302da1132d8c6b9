package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The zero http.Server waits for ever at every phase of a connection; the
// monolith's bounds each one, so that slow or idle clients cannot hold
// connections open until the process runs out of them.
func TestServerBoundsEveryPhase(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	assert.Positive(t, srv.ReadHeaderTimeout, "ReadHeaderTimeout")
	assert.Positive(t, srv.ReadTimeout, "ReadTimeout")
	assert.Positive(t, srv.WriteTimeout, "WriteTimeout")
	assert.Positive(t, srv.IdleTimeout, "IdleTimeout")
	assert.Positive(t, srv.MaxHeaderBytes, "MaxHeaderBytes")
	// A page waits about a second for its books: writing it may take
	// longer than that, or every page would be cut.
	assert.Greater(t, srv.WriteTimeout.Seconds(), 1.0)
}
