// Package recommend is chapter 6's Recommendations service: one domain
// layer, which says what went wrong with chapter 6's typed errors, and two
// APIs on top of it, the series' unversioned Recommendations and
// recommendations.v1. One server serves both, so old clients keep working
// while new ones move to v1.
package recommend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/grpcerrors"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
)

// Service is the domain layer: chapter 1's catalog, with its errors said
// as chapter 6's typed errors. It knows nothing of either API.
type Service struct {
	books *catalog.Recommender
}

// NewService returns a Service that picks books with src (nil: a random
// seed).
func NewService(src rand.Source) *Service {
	return &Service{books: catalog.NewRecommender(src)}
}

// Recommend returns up to maxResults distinct books of category c.
func (s *Service) Recommend(ctx context.Context, userID int32, c catalog.Category, maxResults int32) ([]catalog.Book, error) {
	books, err := s.books.Recommend(ctx, userID, c, maxResults)
	switch {
	case errors.Is(err, catalog.ErrCategoryNotFound):
		return nil, grpcerrors.NotFound{Message: "Category not found"}
	case errors.Is(err, catalog.ErrNegativeMaxResults):
		return nil, grpcerrors.InvalidArgument{
			Message:    fmt.Sprintf("max_results must not be negative, got %d", maxResults),
			Violations: []grpcerrors.FieldViolation{{Field: "max_results", Description: "must not be negative"}},
		}
	}
	return books, err // nil, or the context's error, which keeps its own code
}

// Register serves svc on s under both APIs.
func Register(s grpc.ServiceRegistrar, svc *Service) {
	pb.RegisterRecommendationsServer(s, NewLegacy(svc))
	v1.RegisterRecommendationsServiceServer(s, NewV1(svc))
}

// NewLegacy returns the unversioned API over svc.
func NewLegacy(svc *Service) *Legacy { return &Legacy{svc: svc} }

// NewV1 returns recommendations.v1 over svc.
func NewV1(svc *Service) *V1 { return &V1{svc: svc} }

// Legacy is the series' unversioned API, /Recommendations/Recommend.
type Legacy struct {
	pb.UnimplementedRecommendationsServer
	svc *Service
}

// Recommend implements pb.RecommendationsServer. The legacy enum's numbers
// are the catalog's.
func (l *Legacy) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	books, err := l.svc.Recommend(ctx, req.GetUserId(), catalog.Category(req.GetCategory()), req.GetMaxResults())
	if err != nil {
		return nil, err // the interceptor turns it into a status
	}
	resp := &pb.RecommendationResponse{Recommendations: make([]*pb.BookRecommendation, 0, len(books))}
	for _, b := range books {
		resp.Recommendations = append(resp.Recommendations, &pb.BookRecommendation{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}

// V1 is recommendations.v1.RecommendationsService.
type V1 struct {
	v1.UnimplementedRecommendationsServiceServer
	svc *Service
}

// Recommend implements v1.RecommendationsServiceServer. v1's enum starts at
// UNSPECIFIED, so its numbers are the catalog's plus one; an unspecified
// category is the caller's mistake.
func (v *V1) Recommend(ctx context.Context, req *v1.RecommendRequest) (*v1.RecommendResponse, error) {
	if req.GetCategory() == v1.BookCategory_BOOK_CATEGORY_UNSPECIFIED {
		return nil, grpcerrors.InvalidArgument{
			Message:    "category is required",
			Violations: []grpcerrors.FieldViolation{{Field: "category", Description: "must be set"}},
		}
	}
	books, err := v.svc.Recommend(ctx, req.GetUserId(), catalog.Category(req.GetCategory()-1), req.GetMaxResults())
	if err != nil {
		return nil, err
	}
	resp := &v1.RecommendResponse{Books: make([]*v1.Book, 0, len(books))}
	for _, b := range books {
		resp.Books = append(resp.Books, &v1.Book{Id: b.ID, Title: b.Title})
	}
	return resp, nil
}
