// Package recommendations is the Recommendations service: the catalog's
// picks served over gRPC with the chapter 2 contract.
//
// The business logic stays in the catalog package. This package only
// translates: protobuf request in, catalog call, status code or fresh
// protobuf response out.
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
	// Embedding the Unimplemented struct is what protoc-gen-go-grpc asks
	// for: a method added to the service later answers Unimplemented
	// instead of breaking the build.
	pb.UnimplementedRecommendationsServer

	books *catalog.Recommender
}

// NewServer returns a Server that picks books with books. Tests pass a
// recommender with a seeded source for repeatable answers.
func NewServer(books *catalog.Recommender) *Server {
	return &Server{books: books}
}

// Recommend answers with up to max_results distinct books of the requested
// category. An unknown category is NOT_FOUND ("Category not found", as in
// the Python original); a negative max_results is INVALID_ARGUMENT.
func (s *Server) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	books, err := s.books.Recommend(ctx, req.GetUserId(), catalog.Category(req.GetCategory()), req.GetMaxResults())
	switch {
	case errors.Is(err, catalog.ErrCategoryNotFound):
		return nil, status.Error(codes.NotFound, "Category not found")
	case errors.Is(err, catalog.ErrNegativeMaxResults):
		return nil, status.Errorf(codes.InvalidArgument, "max_results must not be negative, got %d", req.GetMaxResults())
	case err != nil:
		// Only a cancelled or expired request context gets here;
		// FromContextError maps it to CANCELLED or DEADLINE_EXCEEDED.
		return nil, status.FromContextError(err).Err()
	}
	// Build new messages on every call: a response is owned by gRPC until
	// it is sent, so sharing message values between calls would be a race.
	resp := &pb.RecommendationResponse{
		Recommendations: make([]*pb.BookRecommendation, 0, len(books)),
	}
	for _, b := range books {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}
