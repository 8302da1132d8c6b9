package marketplace_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// BenchmarkRecommend measures what chapter 1's boundary costs: one Recommend
// of three mystery books per op, through the same homepage.Recommender
// interface, with the catalog in-process (the monolith), behind gRPC over an
// in-memory pipe, and behind gRPC over loopback TCP (the Marketplace and
// Recommendations on one machine).
func BenchmarkRecommend(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		benchmarkRecommend(b, catalog.NewRecommender(rand.NewPCG(1, 2)))
	})
	b.Run("grpc-bufconn", func(b *testing.B) {
		conn := grpctest.Start(b, registerSeeded)
		benchmarkRecommend(b, marketplace.NewRecommendations(conn))
	})
	b.Run("grpc-loopback-tcp", func(b *testing.B) {
		conn, err := marketplace.Connect(grpctest.ServeLoopback(b, registerSeeded))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		benchmarkRecommend(b, marketplace.NewRecommendations(conn))
	})
}

func registerSeeded(s grpc.ServiceRegistrar) {
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(rand.NewPCG(1, 2)))
}

func benchmarkRecommend(b *testing.B, rec homepage.Recommender) {
	ctx := context.Background()
	// One call before timing, so the connection is up and its setup is not
	// counted: a real client pays it once per process, not per call.
	if _, err := rec.Recommend(ctx, 1, catalog.Mystery, 3); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		books, err := rec.Recommend(ctx, 1, catalog.Mystery, 3)
		if err != nil || len(books) != 3 {
			b.Fatalf("Recommend = %v, %v; want 3 books", books, err)
		}
	}
}
