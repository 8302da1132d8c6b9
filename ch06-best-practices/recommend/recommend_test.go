package recommend_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/grpcerrors"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommend"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves both APIs, on one server, behind chapter 6's interceptor.
func start(t *testing.T, src rand.Source) *grpc.ClientConn {
	t.Helper()
	return grpctest.Start(t, func(s grpc.ServiceRegistrar) { recommend.Register(s, recommend.NewService(src)) },
		grpc.UnaryInterceptor(grpcerrors.UnaryServerInterceptor()))
}

// One server, both APIs, the same books: an old client and a new one ask
// the same thing with the same seed and get the same answer.
func TestBothAPIsOnOneServer(t *testing.T) {
	legacy := pb.NewRecommendationsClient(start(t, rand.NewPCG(1, 2)))
	current := v1.NewRecommendationsServiceClient(start(t, rand.NewPCG(1, 2)))
	for _, c := range []struct {
		old pb.BookCategory
		new v1.BookCategory
	}{
		{pb.BookCategory_MYSTERY, v1.BookCategory_BOOK_CATEGORY_MYSTERY},
		{pb.BookCategory_SCIENCE_FICTION, v1.BookCategory_BOOK_CATEGORY_SCIENCE_FICTION},
		{pb.BookCategory_SELF_HELP, v1.BookCategory_BOOK_CATEGORY_SELF_HELP},
	} {
		a, err := legacy.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: c.old, MaxResults: 3})
		require.NoError(t, err)
		b, err := current.Recommend(grpctest.Context(t), &v1.RecommendRequest{Category: c.new, MaxResults: 3})
		require.NoError(t, err)
		require.Len(t, b.GetBooks(), len(a.GetRecommendations()))
		for i, book := range b.GetBooks() {
			assert.Equal(t, a.GetRecommendations()[i].GetId(), book.GetId(), "%v", c.new)
			assert.Equal(t, a.GetRecommendations()[i].GetTitle(), book.GetTitle())
		}
	}
}

func TestErrorsCarryCodesAndDetails(t *testing.T) {
	conn := start(t, nil)
	legacy, current := pb.NewRecommendationsClient(conn), v1.NewRecommendationsServiceClient(conn)
	for _, tc := range []struct {
		name       string
		call       func() error
		code       codes.Code
		message    string
		violations []grpcerrors.FieldViolation
	}{
		{"legacy, unknown category", func() error {
			_, err := legacy.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: 99, MaxResults: 3})
			return err
		}, codes.NotFound, "Category not found", nil},
		{"legacy, negative max_results", func() error {
			_, err := legacy.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: -1})
			return err
		}, codes.InvalidArgument, "max_results must not be negative, got -1",
			[]grpcerrors.FieldViolation{{Field: "max_results", Description: "must not be negative"}}},
		{"v1, no category", func() error {
			_, err := current.Recommend(grpctest.Context(t), &v1.RecommendRequest{MaxResults: 3})
			return err
		}, codes.InvalidArgument, "category is required",
			[]grpcerrors.FieldViolation{{Field: "category", Description: "must be set"}}},
		{"v1, unknown category", func() error {
			_, err := current.Recommend(grpctest.Context(t), &v1.RecommendRequest{Category: 99, MaxResults: 3})
			return err
		}, codes.NotFound, "Category not found", nil},
		{"v1, negative max_results", func() error {
			_, err := current.Recommend(grpctest.Context(t), &v1.RecommendRequest{Category: v1.BookCategory_BOOK_CATEGORY_MYSTERY, MaxResults: -1})
			return err
		}, codes.InvalidArgument, "max_results must not be negative, got -1",
			[]grpcerrors.FieldViolation{{Field: "max_results", Description: "must not be negative"}}},
	} {
		err := tc.call()
		assert.Equal(t, tc.code, status.Code(err), tc.name)
		assert.Equal(t, tc.message, status.Convert(err).Message(), tc.name)
		assert.Equal(t, tc.violations, grpcerrors.Violations(err), tc.name)
	}
}
