package homepage_test

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// The seam tests: the homepage's Recommender interface is where the
// monolith splits. The same seed must give the same answers whether the
// catalog is called in-process or across gRPC, and when the far side fails
// the page must degrade, not break.

func TestSeamSameBooksAcrossGRPC(t *testing.T) {
	var local homepage.Recommender = catalog.NewRecommender(rand.NewPCG(1, 2))

	conn := grpctest.Start(t, registerPreview(catalog.NewRecommender(rand.NewPCG(1, 2))))
	var remote homepage.Recommender = newPreviewClient(conn)

	ctx := grpctest.Context(t)
	for i := range 30 {
		category, maxResults := catalog.Category(i%3), int32(i%5)
		want, err := local.Recommend(ctx, 1, category, maxResults)
		require.NoError(t, err)
		got, err := remote.Recommend(ctx, 1, category, maxResults)
		require.NoError(t, err)
		assert.Equal(t, want, got, "call %d: %v, max %d", i, category, maxResults)
	}
}

func TestSeamSamePageAcrossGRPC(t *testing.T) {
	local := homepage.New(catalog.NewRecommender(rand.NewPCG(1, 2)), homepage.Options{})

	conn := grpctest.Start(t, registerPreview(catalog.NewRecommender(rand.NewPCG(1, 2))))
	remote := homepage.New(newPreviewClient(conn), homepage.Options{Timeout: 10 * time.Second})

	for i := range 10 {
		want := homepagetest.Serve(local, http.MethodGet, "/").Body.String()
		require.Equal(t, 3, strings.Count(want, "<li>"))
		got := homepagetest.Serve(remote, http.MethodGet, "/").Body.String()
		assert.Equal(t, want, got, "page %d", i)
	}
}

func TestSeamRemoteDownPageDegrades(t *testing.T) {
	logger, logs := homepagetest.Logger()
	h := homepage.New(newPreviewClient(grpctest.Unreachable(t)),
		homepage.Options{Timeout: 10 * time.Second, Logger: logger})

	rec := homepagetest.Serve(h, http.MethodGet, "/")
	homepagetest.AssertDegraded(t, rec.Code, rec.Body.String())
	assert.Contains(t, logs.String(), "Unavailable")
}

func TestSeamRemoteStopsPageDegrades(t *testing.T) {
	srv := grpctest.NewServer(t, registerPreview(catalog.NewRecommender(rand.NewPCG(1, 2))))
	logger, logs := homepagetest.Logger()
	h := homepage.New(newPreviewClient(srv.NewClient(t)),
		homepage.Options{Timeout: 10 * time.Second, Logger: logger})

	page := homepagetest.Serve(h, http.MethodGet, "/").Body.String()
	require.Equal(t, 3, strings.Count(page, "<li>"), "healthy before the stop")

	srv.Stop() // Recommendations goes away mid-session.

	rec := homepagetest.Serve(h, http.MethodGet, "/")
	homepagetest.AssertDegraded(t, rec.Code, rec.Body.String())
	assert.Contains(t, logs.String(), "Unavailable")
}
