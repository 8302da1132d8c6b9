package catalog_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wantCatalog is the bookstore's catalog as the design fixes it, written out
// by hand so that a change to the data is a change the tests notice.
var wantCatalog = map[catalog.Category][]catalog.Book{
	catalog.Mystery: {
		{ID: 1, Title: "The Maltese Falcon"},
		{ID: 2, Title: "Murder on the Orient Express"},
		{ID: 3, Title: "The Hound of the Baskervilles"},
	},
	catalog.ScienceFiction: {
		{ID: 4, Title: "The Hitchhiker's Guide to the Galaxy"},
		{ID: 5, Title: "Ender's Game"},
		{ID: 6, Title: "The Dune Chronicles"},
	},
	catalog.SelfHelp: {
		{ID: 7, Title: "The 7 Habits of Highly Effective People"},
		{ID: 8, Title: "How to Win Friends and Influence People"},
		{ID: 9, Title: "Man's Search for Meaning"},
	},
}

// categories lists wantCatalog's keys in a fixed order.
var categories = []catalog.Category{catalog.Mystery, catalog.ScienceFiction, catalog.SelfHelp}

func seeded() *catalog.Recommender { return catalog.NewRecommender(rand.NewPCG(1, 2)) }

func ids(books []catalog.Book) []int32 {
	out := make([]int32, 0, len(books))
	for _, b := range books {
		out = append(out, b.ID)
	}
	return out
}

func TestBooksIsTheDesignCatalog(t *testing.T) {
	for _, c := range categories {
		got, ok := catalog.Books(c)
		require.True(t, ok, "category %v", c)
		assert.Equal(t, wantCatalog[c], got, "category %v", c)
	}
	_, ok := catalog.Books(99)
	assert.False(t, ok, "category 99 is not in the catalog")
}

func TestCategoryMatchesTheContract(t *testing.T) {
	// Category is converted to and from pb.BookCategory with a plain
	// conversion, so the numbers and names must agree with chapter 2's enum.
	require.Len(t, pb.BookCategory_name, len(categories))
	for c, name := range map[catalog.Category]string{
		catalog.Mystery: "MYSTERY", catalog.ScienceFiction: "SCIENCE_FICTION", catalog.SelfHelp: "SELF_HELP",
	} {
		assert.Equal(t, name, pb.BookCategory(c).String())
	}
}

func TestRecommendReturnsOnlyBooksOfTheCategory(t *testing.T) {
	r := seeded()
	for _, c := range categories {
		for range 50 {
			got, err := r.Recommend(context.Background(), 1, c, 3)
			require.NoError(t, err)
			// All three books of the category, in some order, and nothing else.
			assert.ElementsMatch(t, wantCatalog[c], got, "category %v", c)
		}
	}
}

func TestRecommendReturnsMinOfMaxResultsAndThree(t *testing.T) {
	tests := []struct {
		maxResults int32
		want       int
	}{
		{maxResults: 0, want: 0},
		{maxResults: 1, want: 1},
		{maxResults: 2, want: 2},
		{maxResults: 3, want: 3},
		{maxResults: 10, want: 3},
		{maxResults: math.MaxInt32, want: 3},
	}
	r := seeded()
	for _, tt := range tests {
		for _, c := range categories {
			got, err := r.Recommend(context.Background(), 1, c, tt.maxResults)
			require.NoError(t, err, "max %d, category %v", tt.maxResults, c)
			assert.Len(t, got, tt.want, "max %d, category %v", tt.maxResults, c)

			gotIDs := ids(got)
			slices.Sort(gotIDs)
			assert.Len(t, slices.Compact(gotIDs), len(got), "repeats in %v", got)
			for _, b := range got {
				assert.Contains(t, wantCatalog[c], b, "max %d, category %v", tt.maxResults, c)
			}
		}
	}
}

func TestRecommendRejectsNegativeMaxResults(t *testing.T) {
	for _, n := range []int32{-1, math.MinInt32} {
		got, err := seeded().Recommend(context.Background(), 1, catalog.Mystery, n)
		require.ErrorIs(t, err, catalog.ErrNegativeMaxResults, "max %d", n)
		assert.Nil(t, got)
	}
}

func TestRecommendRejectsUnknownCategory(t *testing.T) {
	// The wire allows any int32 as a category. An unknown category is
	// reported before a bad max_results, as the Python original does.
	for _, tt := range []struct {
		category   catalog.Category
		maxResults int32
	}{{99, 3}, {-1, 3}, {3, 0}, {99, -1}} {
		got, err := seeded().Recommend(context.Background(), 1, tt.category, tt.maxResults)
		require.ErrorIs(t, err, catalog.ErrCategoryNotFound, "category %d, max %d", tt.category, tt.maxResults)
		assert.NotErrorIs(t, err, catalog.ErrNegativeMaxResults)
		assert.Nil(t, got)
	}
}

func TestRecommendHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := seeded().Recommend(ctx, 1, catalog.Mystery, 3)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, got)
}

func TestSameSeedSamePicks(t *testing.T) {
	a := catalog.NewRecommender(rand.NewPCG(7, 8))
	b := catalog.NewRecommender(rand.NewPCG(7, 8))
	for i := range 100 {
		c := categories[i%len(categories)]
		n := int32(i % 4)
		fromA, err := a.Recommend(context.Background(), 1, c, n)
		require.NoError(t, err)
		fromB, err := b.Recommend(context.Background(), 1, c, n)
		require.NoError(t, err)
		assert.Equal(t, fromA, fromB, "call %d", i)
	}
}

// A -seed flag makes a binary's picks repeatable; 0 means a random seed.
func TestSeeded(t *testing.T) {
	assert.Nil(t, catalog.Seeded(0), "0: let NewRecommender pick a random seed")
	a := catalog.NewRecommender(catalog.Seeded(42))
	b := catalog.NewRecommender(catalog.Seeded(42))
	other := catalog.NewRecommender(catalog.Seeded(43))
	differs := false
	for range 20 {
		fromA, err := a.Recommend(context.Background(), 1, catalog.Mystery, 3)
		require.NoError(t, err)
		fromB, err := b.Recommend(context.Background(), 1, catalog.Mystery, 3)
		require.NoError(t, err)
		assert.Equal(t, fromA, fromB, "one seed, one sequence")
		fromOther, err := other.Recommend(context.Background(), 1, catalog.Mystery, 3)
		require.NoError(t, err)
		differs = differs || !assert.ObjectsAreEqual(fromA, fromOther)
	}
	assert.True(t, differs, "seeds 42 and 43 picked the same 20 samples")
}

func TestEveryBookEventuallyComesFirst(t *testing.T) {
	// A sample stuck on one book (say, always the first of the list) passes
	// every count test above. Across many seeds, each book must be picked.
	seen := map[int32]bool{}
	for seed := range uint64(200) {
		r := catalog.NewRecommender(rand.NewPCG(seed, seed))
		for _, c := range categories {
			got, err := r.Recommend(context.Background(), 1, c, 1)
			require.NoError(t, err)
			require.Len(t, got, 1)
			seen[got[0].ID] = true
		}
	}
	for _, c := range categories {
		for _, b := range wantCatalog[c] {
			assert.True(t, seen[b.ID], "book %d %q was never picked", b.ID, b.Title)
		}
	}
}

func TestEveryOrderEventuallyAppears(t *testing.T) {
	// The order is part of the sample: all 3! = 6 orders of the mystery
	// books must show up from one recommender.
	r := seeded()
	orders := map[[3]int32]bool{}
	for range 300 {
		got, err := r.Recommend(context.Background(), 1, catalog.Mystery, 3)
		require.NoError(t, err)
		require.Len(t, got, 3)
		orders[[3]int32(ids(got))] = true
	}
	assert.Len(t, orders, 6, "orders seen: %v", orders)
}

func TestResultsAreCopies(t *testing.T) {
	r := seeded()
	got, err := r.Recommend(context.Background(), 1, catalog.Mystery, 3)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range got {
		got[i] = catalog.Book{ID: -1, Title: "mutated"}
	}

	list, ok := catalog.Books(catalog.Mystery)
	require.True(t, ok)
	assert.Equal(t, wantCatalog[catalog.Mystery], list, "Books after mutating a Recommend result")
	list[0].Title = "mutated too"

	for range 20 {
		next, err := r.Recommend(context.Background(), 1, catalog.Mystery, 3)
		require.NoError(t, err)
		require.ElementsMatch(t, wantCatalog[catalog.Mystery], next)
	}
	again, _ := catalog.Books(catalog.Mystery)
	assert.Equal(t, wantCatalog[catalog.Mystery], again, "Books after mutating a Books result")
}

func TestNilSourceIsUsable(t *testing.T) {
	got, err := catalog.NewRecommender(nil).Recommend(context.Background(), 1, catalog.SelfHelp, 3)
	require.NoError(t, err)
	assert.ElementsMatch(t, wantCatalog[catalog.SelfHelp], got)
}

func TestConcurrentUseIsSafe(t *testing.T) {
	// One Recommender shared by many goroutines, as a server shares it
	// between requests. Under -race, a missing lock around the random
	// source is reported here.
	r := seeded()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			c := categories[g%len(categories)]
			for range 100 {
				got, err := r.Recommend(context.Background(), int32(g), c, 3)
				if !assert.NoError(t, err) {
					return
				}
				assert.ElementsMatch(t, wantCatalog[c], got)
			}
		})
	}
	wg.Wait()
}
