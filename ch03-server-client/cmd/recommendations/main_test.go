package main

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The series' Recommend semantics, through a client of the server main
// serves, with a random seed as main's default.
func TestRecommend(t *testing.T) {
	booksuite.Recommend(t, func(t *testing.T) pb.RecommendationsClient {
		return pb.NewRecommendationsClient(serve(t, newServer(options{})))
	})
}

// -seed makes the picks repeatable: two servers with the same seed answer
// the same books in the same order, as the docs' sessions rely on.
func TestSeedRepeatsThePicks(t *testing.T) {
	var runs [2][]int32
	for i := range runs {
		client := pb.NewRecommendationsClient(serve(t, newServer(options{seed: 7})))
		for range 5 {
			resp, err := client.Recommend(testwait.Context(t), &pb.RecommendationRequest{MaxResults: 3})
			require.NoError(t, err)
			for _, b := range resp.GetRecommendations() {
				runs[i] = append(runs[i], b.GetId())
			}
		}
	}
	require.Len(t, runs[0], 15)
	assert.Equal(t, runs[0], runs[1])
}

// serve serves s over bufconn until the test ends and returns a connection
// to it.
func serve(t *testing.T, s *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		_ = lis.Close()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})
	return conn
}
