package interceptors

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
)

// UnaryServerLogging logs one line per RPC, once it is over: the method,
// the status code, how long it took, who called, and the request ID the
// caller sent (see requestid).
func UnaryServerLogging(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logRPC(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

// StreamServerLogging is UnaryServerLogging for streams: the line is
// written when the stream ends.
func StreamServerLogging(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logRPC(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

func logRPC(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	if !log.Enabled(ctx, level(code)) {
		return // nothing to format
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
	}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if id := requestid.FromIncoming(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	log.LogAttrs(ctx, level(code), "rpc", attrs...)
}

// level picks a log level for an RPC's outcome: errors of the server are
// errors, and a caller's mistakes warnings. A call that succeeded is debug:
// a line per call would cost a busy service a third of its throughput
// (measured in docs/05), and what they say, how many and how fast, the
// metrics say for far less. Turn debug on to see every call.
func level(code codes.Code) slog.Level {
	switch code {
	case codes.OK:
		return slog.LevelDebug
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.OutOfRange:
		return slog.LevelWarn
	}
	return slog.LevelError
}
