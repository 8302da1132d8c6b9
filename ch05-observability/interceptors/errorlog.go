package interceptors

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
)

// UnaryErrorLogger is the series' error logger: it calls the handler, logs
// the error if the handler returns one, and passes the result on exactly as
// it was. It shows an interceptor at its smallest.
func UnaryErrorLogger(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			log.ErrorContext(ctx, "handler failed", "method", info.FullMethod, "err", err)
		}
		return resp, err
	}
}
