// Package catalog holds the books and picks some a reader may like. It knows
// nothing of HTTP or gRPC, so it moves unchanged from monolith to service.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// Category is a kind of book, numbered as the contract's BookCategory enum.
type Category int32

// The categories the bookstore sells.
const (
	Mystery        Category = 0
	ScienceFiction Category = 1
	SelfHelp       Category = 2
)

// Book is one title in the catalog.
type Book struct {
	ID    int32
	Title string
}

// books is never handed out: callers get copies, so none can change it.
var books = map[Category][]Book{
	Mystery: {{1, "The Maltese Falcon"}, {2, "Murder on the Orient Express"},
		{3, "The Hound of the Baskervilles"}},
	ScienceFiction: {{4, "The Hitchhiker's Guide to the Galaxy"}, {5, "Ender's Game"},
		{6, "The Dune Chronicles"}},
	SelfHelp: {{7, "The 7 Habits of Highly Effective People"},
		{8, "How to Win Friends and Influence People"}, {9, "Man's Search for Meaning"}},
}

// Books returns a copy of category c's books, and false for an unknown c.
func Books(c Category) ([]Book, bool) {
	list, ok := books[c]
	return append([]Book(nil), list...), ok
}

// Errors from Recommend, for errors.Is: the gRPC server maps each to a code.
var (
	ErrCategoryNotFound   = errors.New("category not found")
	ErrNegativeMaxResults = errors.New("max results must not be negative")
)

// Recommender samples without repeats, like Python's random.sample; it is
// safe for concurrent use.
type Recommender struct {
	mu  sync.Mutex // a *rand.Rand is not safe for concurrent use
	rng *rand.Rand
}

// NewRecommender draws from src: seeded for repeatable picks, nil for random.
func NewRecommender(src rand.Source) *Recommender {
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &Recommender{rng: rand.New(src)}
}

// Seeded is the source for a -seed flag: fixed picks, or nil (random) for 0.
func Seeded(seed uint64) rand.Source {
	if seed == 0 {
		return nil
	}
	return rand.NewPCG(seed, seed)
}

// Recommend returns min(maxResults, books in c) distinct books of category
// c, in random order. userID is in the contract but not used yet.
func (r *Recommender) Recommend(ctx context.Context, userID int32, c Category, maxResults int32) ([]Book, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, ok := Books(c)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrCategoryNotFound, c)
	}
	if maxResults < 0 {
		return nil, fmt.Errorf("%w: got %d", ErrNegativeMaxResults, maxResults)
	}
	n := min(int(maxResults), len(list))
	r.mu.Lock()
	defer r.mu.Unlock()
	// A partial Fisher-Yates shuffle: after n steps, list[:n] is a uniform sample.
	for i := range n {
		j := i + r.rng.IntN(len(list)-i)
		list[i], list[j] = list[j], list[i]
	}
	return list[:n:n], nil
}
