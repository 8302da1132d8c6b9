package healthz_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/healthz"
)

func TestHealthzAnswersAndThePageIsUnchanged(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("page at " + r.URL.Path))
	})
	h := healthz.Mount(page)

	rec := homepagetest.Serve(h, http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "a probe must never see a cached answer")

	assert.Equal(t, "page at /", homepagetest.Serve(h, http.MethodGet, "/").Body.String())
	assert.Equal(t, "page at /books", homepagetest.Serve(h, http.MethodGet, "/books").Body.String(),
		"the page's own 404s are the page's business")
}
