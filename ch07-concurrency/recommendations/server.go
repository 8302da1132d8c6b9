// Package recommendations serves the catalog's picks over gRPC with the
// chapter 2 contract and, beside it, its next version, recommendations.v1.
// It only translates: the logic stays in catalog, and its errors are typed,
// made a status in one place, ErrorsToStatus.
package recommendations

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/catalog"
	v1 "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/protobufs/recommendations/v1"
)

// Server implements pb.RecommendationsServer.
type Server struct {
	// Embedded, as protoc-gen-go-grpc asks: a method added to the service
	// later answers Unimplemented instead of breaking the build.
	pb.UnimplementedRecommendationsServer

	books *catalog.Recommender
}

// NewServer returns a Server that picks books with books.
func NewServer(books *catalog.Recommender) *Server { return &Server{books: books} }

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

// Error is a failure that knows its gRPC code, the counterpart of the
// series' exception classes: code returns one where the problem is found,
// and ErrorsToStatus alone decides how it reads on the wire.
type Error struct {
	Code    codes.Code
	Message string
	// Violations name the request's wrong fields; they reach the caller
	// as a google.rpc.BadRequest detail, which a program can read.
	Violations []*errdetails.BadRequest_FieldViolation
}

func (e *Error) Error() string { return e.Message }

// NotFound is an Error for something asked for that does not exist.
func NotFound(message string) *Error { return &Error{Code: codes.NotFound, Message: message} }

// InvalidArgument is an Error for a request wrong whatever the system's
// state: field is the one at fault, and why says how.
func InvalidArgument(message, field, why string) *Error {
	return &Error{Code: codes.InvalidArgument, Message: message,
		Violations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: why}}}
}

// ErrorsToStatus is the series' ExceptionToStatusInterceptor: an *Error
// (even wrapped) becomes its code, message and details; the context's
// errors DEADLINE_EXCEEDED or CANCELED; a status passes; the rest is UNKNOWN.
func ErrorsToStatus() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		var e *Error
		switch {
		case err == nil:
			return resp, nil
		case errors.As(err, &e) && e.Code != codes.OK: // an error is never a success
			st := status.New(e.Code, e.Message)
			if withDetails, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: e.Violations}); len(e.Violations) > 0 && derr == nil {
				st = withDetails
			}
			return nil, st.Err()
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return nil, status.FromContextError(err).Err()
		}
		if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
			return nil, st.Err()
		}
		return nil, status.Error(codes.Unknown, err.Error())
	}
}
