package recommendations_test

import (
	"context"
	"math/rand/v2"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// BenchmarkRecommend measures what chapter 1's boundary costs: one Recommend
// of three mystery books per op, with the catalog in-process (the
// monolith), behind gRPC over an in-memory pipe, and behind gRPC over
// loopback TCP (the Marketplace and Recommendations on one machine).
func BenchmarkRecommend(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		books := catalog.NewRecommender(rand.NewPCG(1, 2))
		benchmarkRecommend(b, func(ctx context.Context) (int, error) {
			list, err := books.Recommend(ctx, 1, catalog.Mystery, 3)
			return len(list), err
		})
	})
	b.Run("grpc-bufconn", func(b *testing.B) {
		benchmarkGRPC(b, pb.NewRecommendationsClient(newConn(b, rand.NewPCG(1, 2))))
	})
	b.Run("grpc-loopback-tcp", func(b *testing.B) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := grpc.NewServer()
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(rand.NewPCG(1, 2))))
		go func() { _ = s.Serve(lis) }()
		b.Cleanup(s.Stop)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		benchmarkGRPC(b, pb.NewRecommendationsClient(conn))
	})
}

func benchmarkGRPC(b *testing.B, client pb.RecommendationsClient) {
	req := &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: 3}
	benchmarkRecommend(b, func(ctx context.Context) (int, error) {
		resp, err := client.Recommend(ctx, req)
		return len(resp.GetRecommendations()), err
	})
}

func benchmarkRecommend(b *testing.B, recommend func(context.Context) (int, error)) {
	ctx := context.Background()
	// One call before timing, so the connection is up and its setup is not
	// counted: a real client pays it once per process, not per call.
	if _, err := recommend(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := recommend(ctx); err != nil || n != 3 {
			b.Fatalf("Recommend = %d books, %v; want 3", n, err)
		}
	}
}
