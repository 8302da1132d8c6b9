package recommendations_test

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newConn serves a Recommendations server over bufconn, an in-memory
// listener, and returns a connection to it: a real gRPC server and client, with
// no port opened. t.Cleanup stops the server, closes the listener and the
// connection, and waits for Serve to return, so nothing leaks into the
// next test.
func newConn(t testing.TB, src rand.Source) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(src)))
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()

	// The "passthrough" scheme hands the target's name ("bufnet", which
	// means nothing) to the dialer untouched, and the dialer opens an
	// in-memory pipe to lis instead of a TCP connection.
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		_ = lis.Close()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return conn
}

func newClient(t *testing.T, src rand.Source) pb.RecommendationsClient {
	return pb.NewRecommendationsClient(newConn(t, src))
}

// Same seed, same books: the server only translates what the catalog picks.
func TestRecommendIsTheCatalogsPick(t *testing.T) {
	client := newClient(t, rand.NewPCG(7, 11))
	local := catalog.NewRecommender(rand.NewPCG(7, 11))
	for i := range 20 {
		c, n := catalog.Category(i%3), int32(i%4)
		resp, err := client.Recommend(testwait.Context(t), &pb.RecommendationRequest{
			UserId: 1, Category: pb.BookCategory(c), MaxResults: n,
		})
		require.NoError(t, err)
		want, err := local.Recommend(t.Context(), 1, c, n)
		require.NoError(t, err)
		got := []catalog.Book{}
		for _, b := range resp.GetRecommendations() {
			got = append(got, catalog.Book{ID: b.GetId(), Title: b.GetTitle()})
		}
		assert.Equal(t, want, got, "call %d: %v, max %d", i, c, n)
	}
}

// The method name on the wire is the Python series' own, with no proto
// package: a Python client calls exactly this.
func TestWireMethodNameMatchesPythonSeries(t *testing.T) {
	conn := newConn(t, nil)
	req := &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 1}
	resp := new(pb.RecommendationResponse)
	require.NoError(t, conn.Invoke(testwait.Context(t), "/Recommendations/Recommend", req, resp))
	assert.Len(t, resp.GetRecommendations(), 1)
}

// A call its caller has given up on (cancelled, or past its deadline) gets
// a status, not an answer nobody will read.
func TestRecommendHonoursTheCallersContext(t *testing.T) {
	srv := recommendations.NewServer(catalog.NewRecommender(nil))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := srv.Recommend(ctx, &pb.RecommendationRequest{MaxResults: 3})
	assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
}

// The handler builds new messages on every call: changing one response
// must not show up in the next. Called directly, without the wire, because
// the wire would copy the messages anyway and hide the bug.
func TestRecommendReturnsFreshMessages(t *testing.T) {
	srv := recommendations.NewServer(catalog.NewRecommender(rand.NewPCG(1, 1)))
	req := &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3}
	first, err := srv.Recommend(t.Context(), req)
	require.NoError(t, err)
	for _, b := range first.GetRecommendations() {
		b.Title = "changed"
	}
	second, err := srv.Recommend(t.Context(), req)
	require.NoError(t, err)
	for _, b := range second.GetRecommendations() {
		assert.NotEqual(t, "changed", b.GetTitle())
	}
}

// Many clients at once share one server and its random source; -race
// proves the mutex in catalog.Recommender does its job.
func TestRecommendConcurrentCalls(t *testing.T) {
	client := newClient(t, nil)
	ctx := testwait.Context(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := client.Recommend(ctx, &pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3})
			assert.NoError(t, err)
			assert.Len(t, resp.GetRecommendations(), 3)
		})
	}
	wg.Wait()
}
