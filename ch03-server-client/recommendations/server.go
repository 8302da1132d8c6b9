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
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
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

// Flags are the Recommendations binary's flags, which every chapter's
// Recommendations shares.
type Flags struct {
	// Addr is the gRPC listen address (-addr).
	Addr string
	// Seed makes the picks repeatable (-seed); 0 picks a random seed.
	Seed uint64
}

// NewFlags defines -addr and -seed on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "addr", ":50051", "gRPC listen address")
	fs.Uint64Var(&f.Seed, "seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	return f
}

// ShutdownTimeout is how long Serve lets RPCs in flight finish once its
// context ends, before it cancels them.
const ShutdownTimeout = 5 * time.Second

// Serve serves s on lis until ctx is done, then stops it with Stop and
// ShutdownTimeout. It returns nil after a graceful stop,
// serve.ErrShutdownTimeout (wrapped) after a forced one, or the error that
// stopped the server.
func Serve(ctx context.Context, s *grpc.Server, lis net.Listener) error {
	return ServeWith(ctx, s, lis, func() error { return Stop(s, ShutdownTimeout) })
}

// ServeWith serves s on lis until ctx is done, then calls stop, which must
// stop s; with chapter 1's serve.Until. Later chapters stop differently.
func ServeWith(ctx context.Context, s *grpc.Server, lis net.Listener, stop func() error) error {
	run := func() error {
		// s.Serve returns nil once stopped, or ErrServerStopped if the stop
		// came first; either way the stop was asked for.
		if err := s.Serve(lis); !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
	return serve.Until(ctx, run, stop)
}

// Stop stops s gracefully: it refuses new connections and RPCs and waits
// for those in flight. GracefulStop alone has no bound, and a client
// decides how long an RPC stays open (a stream it never finishes stays open
// forever), so after timeout Stop cancels what is left, and says it had to
// by returning serve.ErrShutdownTimeout (wrapped): the error every stop of
// the workbook returns for that, so a binary logs it as a warning. It
// returns nil after a graceful stop.
func Stop(s *grpc.Server, timeout time.Duration) error {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		s.Stop() // closes every connection, which also ends GracefulStop
		<-done
		return fmt.Errorf("grpc: %w", serve.ErrShutdownTimeout)
	}
}
