package recommendations_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient starts a Recommendations server over bufconn and returns a
// client of it, the way every test in this file talks to the service.
func newClient(t *testing.T, src rand.Source) pb.RecommendationsClient {
	t.Helper()
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(src))
	})
	return pb.NewRecommendationsClient(conn)
}

// The catalog as the contract fixes it, written out independently of the
// catalog package so a change there cannot silently change the answer here.
var wantTitles = map[pb.BookCategory]map[int32]string{
	pb.BookCategory_MYSTERY: {
		1: "The Maltese Falcon",
		2: "Murder on the Orient Express",
		3: "The Hound of the Baskervilles",
	},
	pb.BookCategory_SCIENCE_FICTION: {
		4: "The Hitchhiker's Guide to the Galaxy",
		5: "Ender's Game",
		6: "The Dune Chronicles",
	},
	pb.BookCategory_SELF_HELP: {
		7: "The 7 Habits of Highly Effective People",
		8: "How to Win Friends and Influence People",
		9: "Man's Search for Meaning",
	},
}

func TestRecommendReturnsOnlyBooksOfTheCategory(t *testing.T) {
	client := newClient(t, nil)
	for category, titles := range wantTitles {
		t.Run(category.String(), func(t *testing.T) {
			resp, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{
				UserId: 1, Category: category, MaxResults: 3,
			})
			require.NoError(t, err)
			require.Len(t, resp.GetRecommendations(), 3)
			for _, book := range resp.GetRecommendations() {
				assert.Equal(t, titles[book.GetId()], book.GetTitle(), "book %d", book.GetId())
			}
		})
	}
}

func TestRecommendCountsAndNoRepeats(t *testing.T) {
	client := newClient(t, nil)
	for _, tc := range []struct{ maxResults, want int32 }{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {10, 3},
	} {
		// Many rounds, because one lucky sample proves little about repeats.
		for range 50 {
			resp, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{
				Category: pb.BookCategory_SELF_HELP, MaxResults: tc.maxResults,
			})
			require.NoError(t, err)
			got := resp.GetRecommendations()
			require.Len(t, got, int(tc.want), "max_results %d", tc.maxResults)
			seen := map[int32]bool{}
			for _, b := range got {
				assert.False(t, seen[b.GetId()], "book %d repeated in %v", b.GetId(), got)
				seen[b.GetId()] = true
			}
		}
	}
}

func TestRecommendUnsetMaxResultsIsEmpty(t *testing.T) {
	resp, err := newClient(t, nil).Recommend(grpctest.Context(t), &pb.RecommendationRequest{})
	require.NoError(t, err)
	assert.Empty(t, resp.GetRecommendations())
}

func TestRecommendUnknownCategoryIsNotFound(t *testing.T) {
	client := newClient(t, nil)
	for _, category := range []pb.BookCategory{3, 99, -1} {
		_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{
			UserId: 1, Category: category, MaxResults: 3,
		})
		st, ok := status.FromError(err)
		require.True(t, ok, "want a gRPC status, got %v", err)
		assert.Equal(t, codes.NotFound, st.Code())
		assert.Equal(t, "Category not found", st.Message())
	}
}

func TestRecommendNegativeMaxResultsIsInvalidArgument(t *testing.T) {
	_, err := newClient(t, nil).Recommend(grpctest.Context(t), &pb.RecommendationRequest{
		Category: pb.BookCategory_MYSTERY, MaxResults: -1,
	})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "err: %v", err)
	assert.Contains(t, status.Convert(err).Message(), "max_results")
}

func TestRecommendWithoutServerIsUnavailable(t *testing.T) {
	client := pb.NewRecommendationsClient(grpctest.Unreachable(t))
	_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 3})
	assert.Equal(t, codes.Unavailable, status.Code(err), "err: %v", err)
}

// Same seed, same books: the server only translates what the catalog picks.
func TestRecommendIsDeterministicForASeed(t *testing.T) {
	client := newClient(t, rand.NewPCG(7, 11))
	local := catalog.NewRecommender(rand.NewPCG(7, 11))
	for range 20 {
		resp, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{
			Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 2,
		})
		require.NoError(t, err)
		want, err := local.Recommend(t.Context(), 0, catalog.ScienceFiction, 2)
		require.NoError(t, err)
		require.Len(t, resp.GetRecommendations(), len(want))
		for i, b := range want {
			assert.Equal(t, b.ID, resp.GetRecommendations()[i].GetId())
		}
	}
}

// The handler builds new messages on every call: changing one response
// must not show up in the next. Called directly, without the wire, because
// the wire would copy the messages anyway and hide the bug.
func TestRecommendReturnsFreshMessages(t *testing.T) {
	srv := recommendations.NewServer(rand.NewPCG(1, 1))
	req := &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3}
	first, err := srv.Recommend(t.Context(), req)
	require.NoError(t, err)
	for _, b := range first.GetRecommendations() {
		b.Title = "changed"
	}
	second, err := srv.Recommend(t.Context(), req)
	require.NoError(t, err)
	for _, b := range second.GetRecommendations() {
		assert.Equal(t, wantTitles[pb.BookCategory_MYSTERY][b.GetId()], b.GetTitle())
	}
}

// The method name on the wire is the Python series' own: no proto package.
func TestWireMethodNameMatchesPythonSeries(t *testing.T) {
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	})
	req := &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 1}
	resp := new(pb.RecommendationResponse)
	require.NoError(t, conn.Invoke(grpctest.Context(t), "/Recommendations/Recommend", req, resp))
	assert.Len(t, resp.GetRecommendations(), 1)
}

// Many clients at once share one server and its random source; -race
// proves the mutex in catalog.Recommender does its job.
func TestRecommendConcurrentCalls(t *testing.T) {
	client := newClient(t, nil)
	ctx := grpctest.Context(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			resp, err := client.Recommend(ctx, &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3})
			if err == nil && len(resp.GetRecommendations()) != 3 {
				err = status.Errorf(codes.Internal, "got %d books", len(resp.GetRecommendations()))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// closeNotifyingListener closes closed when the server closes it, which
// both GracefulStop and Stop do first: the test can wait for a stop to
// have begun.
type closeNotifyingListener struct {
	*bufconn.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *closeNotifyingListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func newListener() *closeNotifyingListener {
	return &closeNotifyingListener{Listener: bufconn.Listen(1 << 20), closed: make(chan struct{})}
}

// holdingServer returns a Recommendations server whose RPCs announce
// themselves on entered, then wait for release (or for their context to
// end) before the real handler runs.
func holdingServer(entered chan<- struct{}, release <-chan struct{}) *grpc.Server {
	hold := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		entered <- struct{}{}
		select {
		case <-release:
			return h(ctx, req)
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(hold))
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	return s
}

// call starts one Recommend on conn and returns where its result arrives.
func call(t *testing.T, conn *grpc.ClientConn) <-chan error {
	errc := make(chan error, 1)
	go func() {
		resp, err := pb.NewRecommendationsClient(conn).Recommend(grpctest.Context(t),
			&pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 2})
		if err == nil && len(resp.GetRecommendations()) != 2 {
			err = status.Errorf(codes.Internal, "got %d books, want 2", len(resp.GetRecommendations()))
		}
		errc <- err
	}()
	return errc
}

// Serve stops gracefully when its context ends: an RPC already inside the
// handler is allowed to finish, and Serve returns nil.
func TestServeStopsGracefully(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s, lis := holdingServer(entered, release), newListener()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- recommendations.Serve(ctx, s, lis) }()

	callErr := call(t, grpctest.NewClient(t, lis.Listener))
	testwait.Recv(t, entered, "the RPC to reach the handler")
	stop()
	testwait.Recv(t, lis.closed, "the graceful stop to begin")

	// The stop has begun and refuses new work, but must wait for the RPC
	// still in the handler.
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v while an RPC was in flight", err)
	case err := <-callErr:
		t.Fatalf("the RPC finished (%v) before it was released", err)
	default:
	}
	close(release)
	assert.NoError(t, testwait.Recv(t, callErr, "the RPC"))
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
}

// A client decides how long its RPC stays open, so a graceful stop alone
// could wait forever. Stop waits only up to its timeout, then cancels what
// is left: the handler sees its context end, the client sees the RPC fail,
// and Stop reports that it had to force the stop.
func TestStopCancelsRPCsLeftAtTheTimeout(t *testing.T) {
	entered := make(chan struct{}, 1)
	never := make(chan struct{})
	s, lis := holdingServer(entered, never), newListener()
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()

	callErr := call(t, grpctest.NewClient(t, lis.Listener))
	testwait.Recv(t, entered, "the RPC to reach the handler")

	assert.ErrorIs(t, recommendations.Stop(s, 20*time.Millisecond), serve.ErrShutdownTimeout, "the stop had to be forced")
	assert.Equal(t, codes.Unavailable, status.Code(testwait.Recv(t, callErr, "the RPC to fail")))
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
}

// With nothing in flight the stop is graceful, whatever the timeout.
func TestStopIsGracefulWhenIdle(t *testing.T) {
	open := make(chan struct{})
	close(open)
	s, lis := holdingServer(make(chan struct{}, 1), open), newListener()
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	require.NoError(t, testwait.Recv(t, call(t, grpctest.NewClient(t, lis.Listener)), "an RPC"), "serving before the stop")
	assert.NoError(t, recommendations.Stop(s, time.Hour))
	assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
}

// A stop asked for before the server even started is still a clean stop.
func TestServeStoppedAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, recommendations.Serve(ctx, grpc.NewServer(), newListener()))
}

// If the listener fails, Serve returns the error instead of waiting for a
// context that may never end.
func TestServeReturnsAListenerFailure(t *testing.T) {
	lis := newListener()
	require.NoError(t, lis.Close())
	s := grpc.NewServer()
	err := recommendations.Serve(context.Background(), s, lis)
	assert.Error(t, err)
}
