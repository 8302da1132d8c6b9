// Package catalog is the bookstore's data and its one piece of business
// logic: picking books a reader may like.
//
// In chapter 1 it runs inside the monolith; from chapter 3 on the
// Recommendations service serves exactly this logic over gRPC. It knows
// nothing about HTTP or gRPC, which is what lets it move between the two.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// Category is a kind of book. Its numbers match the BookCategory enum of the
// chapter 2 contract, so converting between the two is a plain conversion.
type Category int32

// The categories the bookstore sells.
const (
	Mystery        Category = 0
	ScienceFiction Category = 1
	SelfHelp       Category = 2
)

// String returns the category's name as the contract spells it.
func (c Category) String() string {
	switch c {
	case Mystery:
		return "MYSTERY"
	case ScienceFiction:
		return "SCIENCE_FICTION"
	case SelfHelp:
		return "SELF_HELP"
	}
	return fmt.Sprintf("Category(%d)", int32(c))
}

// Book is one title in the catalog.
type Book struct {
	ID    int32
	Title string
}

// books is the whole catalog. It is never handed out: Books and Recommend
// return copies, so no caller can change what the next caller sees.
var books = map[Category][]Book{
	Mystery: {
		{ID: 1, Title: "The Maltese Falcon"},
		{ID: 2, Title: "Murder on the Orient Express"},
		{ID: 3, Title: "The Hound of the Baskervilles"},
	},
	ScienceFiction: {
		{ID: 4, Title: "The Hitchhiker's Guide to the Galaxy"},
		{ID: 5, Title: "Ender's Game"},
		{ID: 6, Title: "The Dune Chronicles"},
	},
	SelfHelp: {
		{ID: 7, Title: "The 7 Habits of Highly Effective People"},
		{ID: 8, Title: "How to Win Friends and Influence People"},
		{ID: 9, Title: "Man's Search for Meaning"},
	},
}

// Books returns a copy of every book in category c, in catalog order, and
// false if the catalog has no such category.
func Books(c Category) ([]Book, bool) {
	list, ok := books[c]
	if !ok {
		return nil, false
	}
	return append([]Book(nil), list...), true
}

// Errors returned by Recommender.Recommend. Callers tell them apart with
// errors.Is; the gRPC server turns each into its own status code.
var (
	// ErrCategoryNotFound means the category is not one the catalog has.
	ErrCategoryNotFound = errors.New("category not found")
	// ErrNegativeMaxResults means a negative number of books was asked for.
	ErrNegativeMaxResults = errors.New("max results must not be negative")
)

// Recommender picks books at random from a category, without repeats: the
// Go counterpart of Python's random.sample. It is safe for concurrent use.
type Recommender struct {
	// mu guards rng: a *rand.Rand is not safe for concurrent use, and a
	// server calls Recommend from many goroutines at once.
	mu  sync.Mutex
	rng *rand.Rand
}

// NewRecommender returns a Recommender that draws from src. Pass a seeded
// source (rand.NewPCG(1, 2)) for repeatable picks in tests and examples, or
// nil for a source seeded at random, as a real service wants.
func NewRecommender(src rand.Source) *Recommender {
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &Recommender{rng: rand.New(src)}
}

// Seeded returns the random source for a -seed flag: a fixed sequence for
// any seed but 0, so a reader's run prints the same books as the docs; and
// nil for 0, which NewRecommender replaces with a random seed.
func Seeded(seed uint64) rand.Source {
	if seed == 0 {
		return nil
	}
	return rand.NewPCG(seed, seed)
}

// Recommend returns min(maxResults, books in the category) distinct books of
// category c, in random order. userID is accepted, as in the contract, but
// the bookstore does not personalise yet. maxResults 0 gives an empty list.
func (r *Recommender) Recommend(ctx context.Context, userID int32, c Category, maxResults int32) ([]Book, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, ok := Books(c)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrCategoryNotFound, c)
	}
	if maxResults < 0 {
		return nil, fmt.Errorf("%w: got %d", ErrNegativeMaxResults, maxResults)
	}
	n := min(int(maxResults), len(list))
	r.mu.Lock()
	defer r.mu.Unlock()
	// A partial Fisher-Yates shuffle: after step i, list[:i+1] is a uniform
	// sample without repeats, so we stop after n steps.
	for i := range n {
		j := i + r.rng.IntN(len(list)-i)
		list[i], list[j] = list[j], list[i]
	}
	return list[:n:n], nil
}
