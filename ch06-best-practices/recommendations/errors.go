package recommendations

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
