// Package recommendations serves the catalog's picks over gRPC with the
// chapter 2 contract and, beside it, its next version, recommendations.v1.
// It only translates: the logic stays in catalog, errors are typed (errors.go).
package recommendations

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/catalog"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
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
	books, err := recommend(ctx, s.books, req.GetUserId(), catalog.Category(req.GetCategory()), req.GetMaxResults())
	if err != nil {
		return nil, err // ErrorsToStatus turns it into a status
	}
	// A fresh response each call: gRPC owns it until it is sent.
	resp := &pb.RecommendationResponse{}
	for _, b := range books {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}

// V1Server implements recommendations.v1.RecommendationsService over the
// same catalog, so the two APIs cannot drift apart.
type V1Server struct {
	v1.UnimplementedRecommendationsServiceServer

	books *catalog.Recommender
}

// NewV1Server returns a V1Server that picks books with books.
func NewV1Server(books *catalog.Recommender) *V1Server { return &V1Server{books: books} }

// Recommend is v1's Recommend. v1's enum starts at UNSPECIFIED, so its
// numbers are the catalog's plus one, and a category left unset is the
// caller's mistake, not a request for mystery books.
func (s *V1Server) Recommend(ctx context.Context, req *v1.RecommendRequest) (*v1.RecommendResponse, error) {
	if req.GetCategory() == v1.BookCategory_BOOK_CATEGORY_UNSPECIFIED {
		return nil, InvalidArgument("category is required", "category", "must be set")
	}
	books, err := recommend(ctx, s.books, req.GetUserId(), catalog.Category(req.GetCategory()-1), req.GetMaxResults())
	if err != nil {
		return nil, err
	}
	resp := &v1.RecommendResponse{Books: make([]*v1.Book, 0, len(books))}
	for _, b := range books {
		resp.Books = append(resp.Books, &v1.Book{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}

// recommend asks the catalog, and says what went wrong with typed errors,
// in the service's own terms: it builds no gRPC status.
func recommend(ctx context.Context, books *catalog.Recommender, user int32, c catalog.Category, maxResults int32) ([]catalog.Book, error) {
	list, err := books.Recommend(ctx, user, c, maxResults)
	switch {
	case errors.Is(err, catalog.ErrCategoryNotFound):
		return nil, NotFound("Category not found")
	case errors.Is(err, catalog.ErrNegativeMaxResults):
		return nil, InvalidArgument(fmt.Sprintf("max_results must not be negative, got %d", maxResults), "max_results", "must not be negative")
	}
	return list, err // nil, or the context's error, which keeps its own code
}
