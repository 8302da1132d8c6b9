package homepage_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// BenchmarkRecommend measures what the boundary costs: one Recommend of
// three mystery books per op, through the same homepage.Recommender
// interface, with the catalog in-process, behind gRPC over an in-memory
// pipe, and behind gRPC over loopback TCP.
func BenchmarkRecommend(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		benchmarkRecommend(b, catalog.NewRecommender(rand.NewPCG(1, 2)))
	})
	b.Run("grpc-bufconn", func(b *testing.B) {
		conn := grpctest.Start(b, registerPreview(catalog.NewRecommender(rand.NewPCG(1, 2))))
		benchmarkRecommend(b, newPreviewClient(conn))
	})
	b.Run("grpc-loopback-tcp", func(b *testing.B) {
		benchmarkRecommend(b, newPreviewClient(dialLoopback(b)))
	})
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

// dialLoopback serves the preview Recommendations service on a free
// loopback port and returns a client connection to it. Both are stopped
// when the benchmark ends.
func dialLoopback(b *testing.B) *grpc.ClientConn {
	b.Helper()
	addr := grpctest.ServeLoopback(b, registerPreview(catalog.NewRecommender(rand.NewPCG(1, 2))))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}
