// Package recommendations serves the catalog's picks over gRPC with the
// chapter 2 contract. It only translates: the logic stays in catalog.
package recommendations

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/catalog"
)

// Server implements pb.RecommendationsServer.
type Server struct {
	// Embedded, as protoc-gen-go-grpc asks: a method added to the service
	// later answers Unimplemented instead of breaking the build.
	pb.UnimplementedRecommendationsServer

	books *catalog.Recommender
}

// NewServer returns a Server that picks books with books.
func NewServer(books *catalog.Recommender) *Server {
	return &Server{books: books}
}

// Recommend answers with up to max_results distinct books of the category.
// An unknown category is NOT_FOUND "Category not found", as in Python; a
// negative max_results is INVALID_ARGUMENT.
func (s *Server) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	books, err := s.books.Recommend(ctx, req.GetUserId(), catalog.Category(req.GetCategory()), req.GetMaxResults())
	switch {
	case errors.Is(err, catalog.ErrCategoryNotFound):
		return nil, status.Error(codes.NotFound, "Category not found")
	case errors.Is(err, catalog.ErrNegativeMaxResults):
		return nil, status.Errorf(codes.InvalidArgument, "max_results must not be negative, got %d", req.GetMaxResults())
	case err != nil:
		return nil, status.FromContextError(err).Err() // CANCELLED or DEADLINE_EXCEEDED
	}
	// A fresh response each call: gRPC owns it until it is sent.
	resp := &pb.RecommendationResponse{}
	for _, b := range books {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}
