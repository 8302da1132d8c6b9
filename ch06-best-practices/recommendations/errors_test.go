package recommendations_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommendations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// intercept runs ErrorsToStatus around a handler that returns err, and
// returns the error gRPC would send.
func intercept(err error) error {
	_, got := recommendations.ErrorsToStatus()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/test"},
		func(context.Context, any) (any, error) { return nil, err })
	return got
}

func TestErrorsToStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		code    codes.Code
		message string
	}{
		{"a typed error", recommendations.NotFound("Category not found"), codes.NotFound, "Category not found"},
		// Wrapped on its way up, as errors are: still found, and the caller
		// gets the error's own message, not the server's context.
		{"wrapped", fmt.Errorf("recommend: %w", recommendations.NotFound("Category not found")), codes.NotFound, "Category not found"},
		{"unmapped", errors.New("disk on fire"), codes.Unknown, "disk on fire"},
		{"a status", status.Error(codes.ResourceExhausted, "slow down"), codes.ResourceExhausted, "slow down"},
		{"the deadline", fmt.Errorf("catalog: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "catalog: context deadline exceeded"},
		{"cancelled", context.Canceled, codes.Canceled, context.Canceled.Error()},
		{"an error that claims OK", &recommendations.Error{Code: codes.OK, Message: "fine?"}, codes.Unknown, "fine?"},
	} {
		got := intercept(tc.err)
		assert.Equal(t, tc.code, status.Code(got), tc.name)
		assert.Equal(t, tc.message, status.Convert(got).Message(), tc.name)
	}
	assert.NoError(t, intercept(nil))
}

// Only an invalid argument carries a BadRequest detail: a NOT_FOUND names
// no field, and sends no (empty) detail.
func TestNotFoundHasNoDetail(t *testing.T) {
	got := intercept(recommendations.NotFound("Category not found"))
	assert.Equal(t, codes.NotFound, status.Code(got))
	assert.Empty(t, status.Convert(got).Details(), "%v", status.Convert(got).Proto())
	assert.Len(t, status.Convert(intercept(recommendations.InvalidArgument("bad", "f", "d"))).Details(), 1)
}

// An invalid argument carries a BadRequest detail, which a program reads
// back with status.Details.
func TestBadRequestDetail(t *testing.T) {
	got := intercept(recommendations.InvalidArgument("max_results must not be negative, got -1", "max_results", "must not be negative"))
	details := status.Convert(got).Details()
	require.Len(t, details, 1)
	want := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "max_results", Description: "must not be negative"}}}
	assert.True(t, proto.Equal(want, details[0].(proto.Message)), "%v", details[0])
}

// A detail travels as a google.protobuf.Any: a type name and bytes. A
// client can turn it back into a message only if that message's type is
// linked into it; one that does not import errdetails gets "proto: not
// found", as this empty registry shows.
func TestADetailNeedsItsTypeLinked(t *testing.T) {
	got := intercept(recommendations.InvalidArgument("bad", "f", "d"))
	details := status.Convert(got).Proto().GetDetails()
	require.Len(t, details, 1)
	assert.Equal(t, "type.googleapis.com/google.rpc.BadRequest", details[0].GetTypeUrl())
	_, err := anypb.UnmarshalNew(details[0], proto.UnmarshalOptions{Resolver: new(protoregistry.Types)})
	assert.ErrorIs(t, err, protoregistry.NotFound)
}

// outOfStock is the Go idiom beside the interceptor: an error type that
// knows its own status. gRPC asks any error a handler returns for a
// GRPCStatus method, through errors.As; no interceptor is needed.
type outOfStock struct{ title string }

func (e outOfStock) Error() string { return e.title + " is out of stock" }
func (e outOfStock) GRPCStatus() *status.Status {
	return status.New(codes.FailedPrecondition, e.Error())
}

func Example_gRPCStatus() {
	st := status.Convert(fmt.Errorf("order: %w", outOfStock{"Ender's Game"}))
	fmt.Println(st.Code(), st.Message())
	// Output:
	// FailedPrecondition order: Ender's Game is out of stock
}
