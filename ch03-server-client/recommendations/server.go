// Package recommendations is the Recommendations service: the chapter 1
// catalog served over gRPC with the chapter 2 contract.
//
// The business logic stays in the catalog package. This package only
// translates: protobuf request in, catalog call, status code or fresh
// protobuf response out.
package recommendations

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// Server implements pb.RecommendationsServer.
type Server struct {
	// Embedding the Unimplemented struct is what protoc-gen-go-grpc asks
	// for: a method added to the service later answers Unimplemented
	// instead of breaking the build.
	pb.UnimplementedRecommendationsServer

	books *catalog.Recommender
}

// NewServer returns a Server that picks books with src. Tests pass a seeded
// source for repeatable answers; nil seeds one at random.
func NewServer(src rand.Source) *Server {
	return &Server{books: catalog.NewRecommender(src)}
}

// Register adds the Recommendations service, backed by srv, to s.
func Register(s grpc.ServiceRegistrar, srv *Server) {
	pb.RegisterRecommendationsServer(s, srv)
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

// Serve serves s on lis until ctx is done, then stops gracefully: it stops
// accepting new RPCs and waits for the ones in flight. It returns nil after
// a clean stop.
func Serve(ctx context.Context, s *grpc.Server, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		s.GracefulStop()
		return <-errc
	}
}
