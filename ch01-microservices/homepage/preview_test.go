package homepage_test

// A preview of chapter 3, for tests only: the smallest gRPC server and
// client that carry the homepage's Recommender interface across a network
// boundary, using the chapter 2 contract. Chapter 3 builds the real ones
// (error codes, configuration, binaries); these exist so chapter 1 can show
// that the seam holds and measure what crossing it costs.

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// previewServer serves a *catalog.Recommender as the Recommendations
// service.
type previewServer struct {
	pb.UnimplementedRecommendationsServer
	rec *catalog.Recommender
}

// Recommend translates the request into a catalog call and the books into a
// response. Chapter 3 also gives each catalog error its own status code;
// here any error reaches the client as UNKNOWN.
func (s *previewServer) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	books, err := s.rec.Recommend(ctx, req.GetUserId(), catalog.Category(req.GetCategory()), req.GetMaxResults())
	if err != nil {
		return nil, err
	}
	resp := &pb.RecommendationResponse{}
	for _, b := range books {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}

// registerPreview returns a function that registers rec as the
// Recommendations service, in the shape grpctest.NewServer wants.
func registerPreview(rec *catalog.Recommender) func(grpc.ServiceRegistrar) {
	return func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, &previewServer{rec: rec})
	}
}

// previewClient is a homepage.Recommender that asks the Recommendations
// service over gRPC. The homepage cannot tell it from the catalog.
type previewClient struct {
	client pb.RecommendationsClient
}

func (c previewClient) Recommend(ctx context.Context, userID int32, category catalog.Category, maxResults int32) ([]catalog.Book, error) {
	resp, err := c.client.Recommend(ctx, &pb.RecommendationRequest{
		UserId:     userID,
		Category:   pb.BookCategory(category),
		MaxResults: maxResults,
	})
	if err != nil {
		return nil, fmt.Errorf("recommend: %w", err)
	}
	books := make([]catalog.Book, 0, len(resp.GetRecommendations()))
	for _, r := range resp.GetRecommendations() {
		books = append(books, catalog.Book{ID: r.GetId(), Title: r.GetTitle()})
	}
	return books, nil
}

// newPreviewClient returns a previewClient using conn.
func newPreviewClient(conn grpc.ClientConnInterface) previewClient {
	return previewClient{client: pb.NewRecommendationsClient(conn)}
}
