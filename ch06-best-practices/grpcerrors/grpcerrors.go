// Package grpcerrors is the series' exception-to-status pattern in Go: an
// error type per gRPC status code, returned from wherever the problem is
// found, and one interceptor that turns them into the status the caller
// gets. The handlers and everything under them say what went wrong in
// their own terms; how that reads on the wire is decided in one place.
//
// It follows grpc-interceptor's ExceptionToStatusInterceptor: each type
// maps to its code; an error no type claims becomes UNKNOWN, or the code
// an option chooses; and an error that claims OK is refused, since an error
// cannot be a success.
package grpcerrors

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is what the error types have in common: the code each stands for.
type Error interface {
	error
	Code() codes.Code
}

// NotFound means something asked for does not exist.
type NotFound struct{ Message string }

// Error returns the message the caller gets.
func (e NotFound) Error() string { return e.Message }

// Code returns codes.NotFound.
func (NotFound) Code() codes.Code { return codes.NotFound }

// InvalidArgument means the request itself is wrong, whatever the state of
// the system. Violations say which fields, and are sent to the caller as a
// google.rpc.BadRequest detail, which a program can read.
type InvalidArgument struct {
	Message    string
	Violations []FieldViolation
}

// FieldViolation names a field of the request and what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// Error returns the message the caller gets.
func (e InvalidArgument) Error() string { return e.Message }

// Code returns codes.InvalidArgument.
func (InvalidArgument) Code() codes.Code { return codes.InvalidArgument }

// FailedPrecondition means the request is fine, but the system is not in a
// state to carry it out.
type FailedPrecondition struct{ Message string }

// Error returns the message the caller gets.
func (e FailedPrecondition) Error() string { return e.Message }

// Code returns codes.FailedPrecondition.
func (FailedPrecondition) Code() codes.Code { return codes.FailedPrecondition }

// Unavailable means the service cannot answer now; trying again later may
// work.
type Unavailable struct{ Message string }

// Error returns the message the caller gets.
func (e Unavailable) Error() string { return e.Message }

// Code returns codes.Unavailable.
func (Unavailable) Code() codes.Code { return codes.Unavailable }

// Option configures the interceptor.
type Option func(*config)

type config struct{ unknown codes.Code }

// WithCodeForUnknown sets the code of an error that is neither one of the
// types nor a gRPC status already (default UNKNOWN, as in gRPC itself).
// It panics on codes.OK, as grpc-interceptor refuses it: an error that
// became OK would reach the caller as a success with no reply.
func WithCodeForUnknown(c codes.Code) Option {
	if c == codes.OK {
		panic("grpcerrors: WithCodeForUnknown(codes.OK): an error cannot be a success")
	}
	return func(cfg *config) { cfg.unknown = c }
}

// UnaryServerInterceptor turns the error a handler returns into a status:
// an Error (found with errors.As, so it may be wrapped) becomes its code,
// its own message (not the context the server wrapped around it) and its
// details; a gRPC status passes unchanged; anything else gets the code for
// unknown errors and its message.
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	cfg := config{unknown: codes.Unknown}
	for _, o := range opts {
		o(&cfg)
	}
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			return resp, nil
		}
		return nil, ToStatus(err, cfg.unknown).Err()
	}
}

// ToStatus is the interceptor's mapping, for code that needs it elsewhere.
// A non-nil err never maps to OK: an error that claims OK (by its Code or
// its GRPCStatus) becomes INTERNAL, and so does an unknown code of OK.
func ToStatus(err error, unknown codes.Code) *status.Status {
	var e Error
	if errors.As(err, &e) {
		if e.Code() == codes.OK {
			return claimedOK(err)
		}
		st := status.New(e.Code(), e.Error())
		var invalid InvalidArgument
		if errors.As(err, &invalid) && len(invalid.Violations) > 0 {
			br := &errdetails.BadRequest{}
			for _, v := range invalid.Violations {
				br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
			}
			if withDetails, err := st.WithDetails(br); err == nil {
				st = withDetails
			}
		}
		return st
	}
	if st, ok := status.FromError(err); ok {
		if st.Code() == codes.OK {
			return claimedOK(err)
		}
		return st // a status, or an error with a GRPCStatus method
	}
	// The context's own errors (the call's deadline passed, the client went
	// away) keep the codes gRPC gives them when a handler returns them
	// without this interceptor: DEADLINE_EXCEEDED and CANCELED.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return status.FromContextError(err)
	}
	if unknown == codes.OK {
		unknown = codes.Unknown
	}
	return status.New(unknown, err.Error())
}

func claimedOK(err error) *status.Status {
	return status.New(codes.Internal, fmt.Sprintf("an error claimed to be OK: %v", err))
}

// Violations returns the field violations a caller received with err, from
// its google.rpc.BadRequest details. A program can only read a detail whose
// message type it links: this package imports errdetails, so its callers do.
func Violations(err error) []FieldViolation {
	var out []FieldViolation
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}
