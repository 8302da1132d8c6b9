// Package booksuite is the series' behaviours written once, as tests that
// every chapter from 3 on runs against its own servers: what Recommend
// answers, and what the homepage shows when Recommendations is healthy,
// down or slow.
//
// A chapter calls Recommend from cmd/recommendations/main_test.go, with a
// client of the server its main builds, and Homepage from
// cmd/marketplace/main_test.go, with the handler its main builds. What a
// chapter adds (health, metrics, TLS...) its own tests cover.
package booksuite

import (
	"context"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// Catalog is the bookstore's catalog as DESIGN fixes it, written out here so
// that a change to a chapter's data is a change the suite notices.
func Catalog() map[pb.BookCategory][]*pb.BookRecommendation {
	book := func(id int32, title string) *pb.BookRecommendation {
		return &pb.BookRecommendation{Id: id, Title: title}
	}
	return map[pb.BookCategory][]*pb.BookRecommendation{
		pb.BookCategory_MYSTERY: {
			book(1, "The Maltese Falcon"),
			book(2, "Murder on the Orient Express"),
			book(3, "The Hound of the Baskervilles"),
		},
		pb.BookCategory_SCIENCE_FICTION: {
			book(4, "The Hitchhiker's Guide to the Galaxy"),
			book(5, "Ender's Game"),
			book(6, "The Dune Chronicles"),
		},
		pb.BookCategory_SELF_HELP: {
			book(7, "The 7 Habits of Highly Effective People"),
			book(8, "How to Win Friends and Influence People"),
			book(9, "Man's Search for Meaning"),
		},
	}
}

// Recommend runs the series' Recommend semantics (three distinct mystery
// books from the catalog, min(max,3), max 0 -> empty, negative ->
// INVALID_ARGUMENT, unknown category -> NOT_FOUND "Category not found")
// through clients of a chapter's server. newClient returns a client
// connected to a fresh server built as the chapter's cmd/recommendations
// builds it.
func Recommend(t *testing.T, newClient func(t *testing.T) pb.RecommendationsClient) {
	call := func(t *testing.T, c pb.RecommendationsClient, req *pb.RecommendationRequest) ([]*pb.BookRecommendation, error) {
		t.Helper()
		resp, err := c.Recommend(testwait.Context(t), req)
		return resp.GetRecommendations(), err
	}

	t.Run("three distinct mystery books", func(t *testing.T) {
		c := newClient(t)
		got, err := call(t, c, &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: 3})
		require.NoError(t, err)
		assertSameBooks(t, Catalog()[pb.BookCategory_MYSTERY], got)
	})

	t.Run("min of max_results and 3", func(t *testing.T) {
		c := newClient(t)
		for max := int32(1); max <= 5; max++ {
			got, err := call(t, c, &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: max})
			require.NoError(t, err, "max_results %d", max)
			assert.Len(t, got, int(min(max, 3)), "max_results %d", max)
			assertDistinctFrom(t, Catalog()[pb.BookCategory_MYSTERY], got)
		}
	})

	t.Run("max_results 0 or unset is an empty list", func(t *testing.T) {
		c := newClient(t)
		for _, req := range []*pb.RecommendationRequest{
			{UserId: 1, Category: pb.BookCategory_SELF_HELP, MaxResults: 0},
			{},
		} {
			got, err := call(t, c, req)
			require.NoError(t, err, "%v", req)
			assert.Empty(t, got, "%v", req)
		}
	})

	t.Run("negative max_results is INVALID_ARGUMENT", func(t *testing.T) {
		c := newClient(t)
		for _, max := range []int32{-1, -1 << 31} {
			got, err := call(t, c, &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: max})
			assert.Equal(t, codes.InvalidArgument, status.Code(err), "max_results %d: %v", max, err)
			assert.Empty(t, got)
		}
	})

	t.Run("unknown category is NOT_FOUND", func(t *testing.T) {
		c := newClient(t)
		for _, cat := range []pb.BookCategory{7, 3, -1} {
			got, err := call(t, c, &pb.RecommendationRequest{UserId: 1, Category: cat, MaxResults: 3})
			assert.Equal(t, codes.NotFound, status.Code(err), "category %d: %v", cat, err)
			assert.Equal(t, "Category not found", status.Convert(err).Message(), "category %d", cat)
			assert.Empty(t, got)
		}
	})

	t.Run("each category's books come from that category", func(t *testing.T) {
		c := newClient(t)
		for cat, want := range Catalog() {
			got, err := call(t, c, &pb.RecommendationRequest{UserId: 2, Category: cat, MaxResults: 10})
			require.NoError(t, err, "%v", cat)
			assertSameBooks(t, want, got)
			got, err = call(t, c, &pb.RecommendationRequest{UserId: 2, Category: cat, MaxResults: 1})
			require.NoError(t, err, "%v", cat)
			assert.Len(t, got, 1, "%v", cat)
			assertDistinctFrom(t, want, got)
		}
	})
}

// assertSameBooks checks that got holds exactly the books of want, each
// once, in any order.
func assertSameBooks(t *testing.T, want, got []*pb.BookRecommendation) {
	t.Helper()
	byID := func(a, b *pb.BookRecommendation) int { return int(a.GetId() - b.GetId()) }
	w := &pb.RecommendationResponse{Recommendations: slices.SortedFunc(slices.Values(want), byID)}
	g := &pb.RecommendationResponse{Recommendations: slices.SortedFunc(slices.Values(got), byID)}
	assert.True(t, proto.Equal(w, g), "want, in any order:\n%s\ngot:\n%s", prototext.Format(w), prototext.Format(g))
}

// assertDistinctFrom checks that every book of got is one of want, and
// that none comes twice.
func assertDistinctFrom(t *testing.T, want, got []*pb.BookRecommendation) {
	t.Helper()
	seen := map[int32]bool{}
	for _, b := range got {
		assert.True(t, slices.ContainsFunc(want, func(w *pb.BookRecommendation) bool { return proto.Equal(w, b) }),
			"%v is not one of %v", b, want)
		assert.False(t, seen[b.GetId()], "%v twice in %v", b, got)
		seen[b.GetId()] = true
	}
}

// Homepage runs the homepage behaviours (title, h1, one <li> per
// recommended title and no other, the degraded page with HTTP 200 when
// Recommendations is down or too slow, one shared connection across many
// concurrent pages) against a chapter's Marketplace. newPage returns the
// handler the chapter's cmd/marketplace builds, reaching Recommendations at
// target (a 127.0.0.1:port the suite serves, with its own
// contract-conforming Recommendations server).
func Homepage(t *testing.T, newPage func(t *testing.T, target string) http.Handler) {
	t.Run("three mystery books from Recommendations", func(t *testing.T) {
		backend := serve(t, &catalogServer{})
		h := newPage(t, backend.addr)

		code, body := get(t, h)
		assert.Equal(t, http.StatusOK, code)
		assertLandmarks(t, body)
		sent := backend.server.(*catalogServer).lastSent()
		require.Len(t, sent, 3, "the page asks for three books")
		assert.Equal(t, sent, Items(body), "one <li> per title Recommendations sent, in its order, and no other:\n%s", body)
		assert.NotContains(t, strings.ToLower(visibleText(body)), "unavailable")

		req := backend.server.(*catalogServer).lastRequest()
		assert.Equal(t, pb.BookCategory_MYSTERY, req.GetCategory())
		assert.Equal(t, int32(3), req.GetMaxResults())
	})

	t.Run("degraded when Recommendations is down", func(t *testing.T) {
		h := newPage(t, closedPort(t))
		code, body := get(t, h)
		assertDegraded(t, code, body)
	})

	t.Run("degraded when Recommendations is too slow", func(t *testing.T) {
		slow := &stuckServer{calls: make(chan stuckCall, 1)}
		backend := serve(t, slow)
		h := newPage(t, backend.addr)

		code, body := get(t, h)
		assertDegraded(t, code, body)
		// The call carried a deadline: the page does not wait on a slow
		// service for as long as the visitor would.
		call := testwait.Recv(t, slow.calls, "the call to reach Recommendations")
		require.True(t, call.hasDeadline, "the call has a deadline")
		assert.LessOrEqual(t, call.left, longestDeadline, "the deadline is about a second")
	})

	t.Run("pages share one connection", func(t *testing.T) {
		backend := serve(t, &catalogServer{})
		h := newPage(t, backend.addr)

		const pages = 20
		var wg sync.WaitGroup
		for range pages {
			wg.Go(func() {
				code, body := get(t, h)
				assert.Equal(t, http.StatusOK, code)
				assert.Len(t, Items(body), 3, body)
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), backend.accepted.Load(), "connections accepted for %d concurrent pages", pages)
	})
}

var (
	titleRE = regexp.MustCompile(`<title>\s*Online Books For You\s*</title>`)
	h1RE    = regexp.MustCompile(`<h1[^>]*>\s*Mystery books you may like\s*</h1>`)
	liRE    = regexp.MustCompile(`(?s)<li[\s>]`)
	itemRE  = regexp.MustCompile(`(?s)<li(?:\s[^>]*)?>(.*?)</li>`)
	tagRE   = regexp.MustCompile(`(?s)<!--.*?-->|<[^>]*>`)
)

// Items returns the text of every <li> on the page, in order, unescaped.
// A <li> without its </li> makes the count differ from the number of
// "<li" on the page, which assertLandmarks' callers check.
func Items(body string) []string {
	var items []string
	for _, m := range itemRE.FindAllStringSubmatch(body, -1) {
		items = append(items, html.UnescapeString(strings.TrimSpace(m[1])))
	}
	if n := len(liRE.FindAllString(body, -1)); n != len(items) {
		items = append(items, fmt.Sprintf("(%d <li> on the page, %d closed)", n, len(items)))
	}
	return items
}

// visibleText is the page without its tags and comments.
func visibleText(body string) string { return tagRE.ReplaceAllString(body, " ") }

func assertLandmarks(t *testing.T, body string) {
	t.Helper()
	assert.Regexp(t, titleRE, body)
	assert.Regexp(t, h1RE, body)
}

func assertDegraded(t *testing.T, code int, body string) {
	t.Helper()
	assert.Equal(t, http.StatusOK, code, "the store stays up")
	assertLandmarks(t, body)
	assert.Empty(t, Items(body), "no books on a degraded page:\n%s", body)
	assert.Contains(t, strings.ToLower(visibleText(body)), "unavailable", "a visible notice:\n%s", body)
}

// get loads the homepage from h, in a goroutine, and fails the test if it
// takes longer than testwait.Bound: a page that hangs on a slow service is
// a failure, not a hung test.
func get(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	type page struct {
		code int
		body string
	}
	done := make(chan page, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(testwait.Context(t), http.MethodGet, "/", nil))
		done <- page{rec.Code, rec.Body.String()}
	}()
	p := testwait.Recv(t, done, "the homepage")
	return p.code, p.body
}

// backend is a Recommendations server the suite runs on a loopback port.
type backend struct {
	addr     string
	server   pb.RecommendationsServer
	accepted *atomic.Int64
}

// serve serves srv on a free 127.0.0.1 port, counting the connections it
// accepts, until the test ends.
func serve(t *testing.T, srv pb.RecommendationsServer) backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := backend{addr: lis.Addr().String(), server: srv, accepted: new(atomic.Int64)}
	s := grpc.NewServer()
	pb.RegisterRecommendationsServer(s, srv)
	done := make(chan error, 1)
	go func() { done <- s.Serve(countingListener{Listener: lis, n: b.accepted}) }()
	t.Cleanup(func() {
		s.Stop() // cancels the stuck server's calls too
		if err := testwait.Recv(t, done, "Serve to return"); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("booksuite: Serve: %v", err)
		}
	})
	return b
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// catalogServer answers as the contract says, in a random order, and
// remembers the last request and the titles it sent.
type catalogServer struct {
	pb.UnimplementedRecommendationsServer
	mu   sync.Mutex
	req  *pb.RecommendationRequest
	sent []string
}

func (s *catalogServer) Recommend(_ context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	books, ok := Catalog()[req.GetCategory()]
	if !ok {
		return nil, status.Error(codes.NotFound, "Category not found")
	}
	if req.GetMaxResults() < 0 {
		return nil, status.Error(codes.InvalidArgument, "max_results must not be negative")
	}
	rand.Shuffle(len(books), func(i, j int) { books[i], books[j] = books[j], books[i] })
	books = books[:min(int(req.GetMaxResults()), len(books))]
	var titles []string
	for _, b := range books {
		titles = append(titles, b.GetTitle())
	}
	s.mu.Lock()
	s.req, s.sent = req, titles
	s.mu.Unlock()
	return &pb.RecommendationResponse{Recommendations: books}, nil
}

func (s *catalogServer) lastSent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *catalogServer) lastRequest() *pb.RecommendationRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.req
}

// stuckServer never answers: a call ends only when the caller gives up (or
// the server stops at the end of the test). It reports each call's
// deadline; a call without one, or with one far off, it fails at once, so
// that the test fails quickly rather than at its bound.
type stuckServer struct {
	pb.UnimplementedRecommendationsServer
	calls chan stuckCall
}

// longestDeadline is the most the suite accepts for the page's deadline of
// "about a second": generous, since it is measured on arrival.
const longestDeadline = 10 * time.Second

// stuckCall is what stuckServer saw of a call: whether it had a deadline,
// and how long it had left when it arrived.
type stuckCall struct {
	hasDeadline bool
	left        time.Duration
}

func (s *stuckServer) Recommend(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	var call stuckCall
	if deadline, ok := ctx.Deadline(); ok {
		call = stuckCall{hasDeadline: true, left: time.Until(deadline)}
	}
	select {
	case s.calls <- call:
	default:
	}
	if !call.hasDeadline || call.left > longestDeadline {
		return nil, status.Error(codes.Internal, "booksuite: the call has no deadline of about a second")
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}
