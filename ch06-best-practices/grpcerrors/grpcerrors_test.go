package grpcerrors_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/echopb"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/grpcerrors"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failing is an echo service whose handler returns the error the test
// chose, as a handler returns what the code under it found.
type failing struct {
	echopb.UnimplementedEchoServer
	err error
}

func (f *failing) Echo(context.Context, *echopb.EchoRequest) (*echopb.EchoReply, error) {
	return nil, f.err
}

// call makes one call through the interceptor (with opts) to a handler
// that returns err, and returns the error the client sees.
func call(t *testing.T, err error, opts ...grpcerrors.Option) error {
	t.Helper()
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) { echopb.RegisterEchoServer(s, &failing{err: err}) },
		grpc.UnaryInterceptor(grpcerrors.UnaryServerInterceptor(opts...)))
	_, got := echopb.NewEchoClient(conn).Echo(grpctest.Context(t), &echopb.EchoRequest{})
	require.Error(t, got)
	return got
}

func TestEachTypeIsItsCode(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    codes.Code
		message string
	}{
		{grpcerrors.NotFound{Message: "Category not found"}, codes.NotFound, "Category not found"},
		{grpcerrors.InvalidArgument{Message: "bad"}, codes.InvalidArgument, "bad"},
		{grpcerrors.FailedPrecondition{Message: "not yet"}, codes.FailedPrecondition, "not yet"},
		{grpcerrors.Unavailable{Message: "later"}, codes.Unavailable, "later"},
		// Wrapped on its way up, as errors are: still found, and the
		// caller gets the error's own message, not the server's context.
		{fmt.Errorf("recommend: %w", grpcerrors.NotFound{Message: "Category not found"}), codes.NotFound, "Category not found"},
	} {
		got := call(t, tc.err)
		assert.Equal(t, tc.code, status.Code(got), "%v", tc.err)
		assert.Equal(t, tc.message, status.Convert(got).Message())
	}
}

func TestOtherErrorsAreUnknownUnlessConfigured(t *testing.T) {
	boom := errors.New("disk on fire")
	got := call(t, boom)
	assert.Equal(t, codes.Unknown, status.Code(got))
	assert.Equal(t, "disk on fire", status.Convert(got).Message())

	assert.Equal(t, codes.Internal, status.Code(call(t, boom, grpcerrors.WithCodeForUnknown(codes.Internal))))
}

func TestStatusesPassUnchanged(t *testing.T) {
	got := call(t, status.Error(codes.ResourceExhausted, "slow down"), grpcerrors.WithCodeForUnknown(codes.Internal))
	assert.Equal(t, codes.ResourceExhausted, status.Code(got))
	assert.Equal(t, "slow down", status.Convert(got).Message())
}

// okError is a broken error type: it claims the code of success.
type okError struct{}

func (okError) Error() string    { return "all is well, or is it" }
func (okError) Code() codes.Code { return codes.OK }

// okStatus is another: its GRPCStatus says OK.
type okStatus struct{}

func (okStatus) Error() string              { return "fine, says the status" }
func (okStatus) GRPCStatus() *status.Status { return status.New(codes.OK, "") }

func TestOKIsRefused(t *testing.T) {
	for _, err := range []error{okError{}, okStatus{}} {
		got := call(t, err)
		assert.Equal(t, codes.Internal, status.Code(got), "an error cannot be a success: %v", err)
		assert.Contains(t, status.Convert(got).Message(), "claimed to be OK")
	}
	assert.PanicsWithValue(t, "grpcerrors: WithCodeForUnknown(codes.OK): an error cannot be a success",
		func() { grpcerrors.WithCodeForUnknown(codes.OK) })
	assert.Equal(t, codes.Unknown, grpcerrors.ToStatus(errors.New("boom"), codes.OK).Code(),
		"ToStatus called directly with OK for unknown errors")
}

// A handler that returns its context's error, as code under it does when
// the call's deadline passes, gets the code gRPC itself would give.
func TestContextErrorsKeepTheirCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("catalog: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	} {
		assert.Equal(t, tc.code, status.Code(call(t, tc.err, grpcerrors.WithCodeForUnknown(codes.Internal))), "%v", tc.err)
	}
}

// An invalid argument carries a BadRequest detail that a program can read:
// which field, and what is wrong with it.
func TestViolationsReachTheClient(t *testing.T) {
	got := call(t, grpcerrors.InvalidArgument{
		Message:    "max_results must not be negative, got -1",
		Violations: []grpcerrors.FieldViolation{{Field: "max_results", Description: "must not be negative"}},
	})
	assert.Equal(t, codes.InvalidArgument, status.Code(got))
	assert.Equal(t, []grpcerrors.FieldViolation{{Field: "max_results", Description: "must not be negative"}}, grpcerrors.Violations(got))
}

// A detail travels as a google.protobuf.Any: a type name and bytes. A
// client can turn it back into a message only if that message's type is
// linked into it (registered); one that does not import errdetails gets
// "proto: not found", which is what this test shows with an empty registry.
func TestADetailNeedsItsTypeLinked(t *testing.T) {
	got := call(t, grpcerrors.InvalidArgument{Message: "bad", Violations: []grpcerrors.FieldViolation{{Field: "f", Description: "d"}}})
	details := status.Convert(got).Proto().GetDetails()
	require.Len(t, details, 1)
	assert.Equal(t, "type.googleapis.com/google.rpc.BadRequest", details[0].GetTypeUrl())

	// (protobuf varies the space in its error texts on purpose, so that
	// nobody compares them as strings: errors.Is is the way.)
	_, err := anypb.UnmarshalNew(details[0], proto.UnmarshalOptions{Resolver: new(protoregistry.Types)})
	assert.ErrorIs(t, err, protoregistry.NotFound, "proto: not found")
}

// outOfStock is the Go idiom beside the pattern: an error type that knows
// its own status. gRPC asks any error it is handed for a GRPCStatus method
// (through errors.As, so wrapping is fine, and the message is then the
// whole wrapped text); no interceptor is needed.
type outOfStock struct{ title string }

func (e outOfStock) Error() string { return e.title + " is out of stock" }
func (e outOfStock) GRPCStatus() *status.Status {
	return status.New(codes.FailedPrecondition, e.Error())
}

func Example_gRPCStatus() {
	// No interceptor on this server at all.
	conn, stop := grpctest.Open(func(s grpc.ServiceRegistrar) {
		echopb.RegisterEchoServer(s, &failing{err: fmt.Errorf("order: %w", outOfStock{"Ender's Game"})})
	})
	defer stop()
	_, err := echopb.NewEchoClient(conn).Echo(context.Background(), &echopb.EchoRequest{})
	st := status.Convert(err)
	fmt.Println(st.Code(), st.Message())
	// Output:
	// FailedPrecondition order: Ender's Game is out of stock
}
