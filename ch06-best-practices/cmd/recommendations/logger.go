package main

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// logCalls is go-grpc-middleware's logging interceptor writing to log: one
// line per call once it is over, with the trace ID when the call is traced.
// A success is logged at debug (a line per call costs a tenth of the
// throughput), a failure at the library's level for its code.
func logCalls(log *slog.Logger) grpc.UnaryServerInterceptor {
	return logging.UnaryServerInterceptor(logging.LoggerFunc(func(ctx context.Context, l logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(l), msg, fields...) // the two packages number their levels alike
	}), logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(func(c codes.Code) logging.Level {
		if c == codes.OK {
			return logging.LevelDebug
		}
		return logging.DefaultServerCodeToLevel(c)
	}), logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			return logging.Fields{"trace_id", sc.TraceID().String()}
		}
		return nil
	}))
}

// recoverPanics is go-grpc-middleware's recovery interceptor: a panic is
// logged with its stack, and the caller gets INTERNAL and none of it (the
// library's default would send the stack to the caller).
func recoverPanics(log *slog.Logger) grpc.UnaryServerInterceptor {
	return recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		// With the call's fields, which the logging interceptor, outside, put in ctx.
		log.ErrorContext(ctx, "panic", append(logging.ExtractFields(ctx), "panic", p, "stack", string(debug.Stack()))...)
		return status.Error(codes.Internal, "internal error")
	}))
}
