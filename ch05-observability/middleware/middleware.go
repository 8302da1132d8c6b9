// Package middleware is chapter 5's server chain again, built from
// go-grpc-middleware v2 instead of by hand: its logging interceptor (with a
// three-line adapter to log/slog), its recovery interceptor and its
// Prometheus provider. The order, and the reason for it, is the one of
// interceptors.ServerOptions.
package middleware

import (
	"context"
	"log/slog"
	"runtime/debug"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
)

// Logger adapts a *slog.Logger to go-grpc-middleware's logging.Logger.
func Logger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(level), msg, fields...)
	})
}

// ServerOptions chains logging (outermost), metrics, then recovery
// (innermost): a panic is logged and counted as the INTERNAL the caller
// gets. The metrics are go-grpc-middleware's: grpc_server_started_total,
// grpc_server_handled_total{grpc_code,...}, grpc_server_handling_seconds.
func ServerOptions(log *slog.Logger, reg prometheus.Registerer) []grpc.ServerOption {
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall), // one line per RPC, as ours
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			if id := requestid.FromIncoming(ctx); id != "" {
				return logging.Fields{"request_id", id}
			}
			return nil
		}),
	}
	recoverOpts := []recovery.Option{
		recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
			log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
			return status.Error(codes.Internal, "internal error")
		}),
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			logging.UnaryServerInterceptor(Logger(log), logOpts...),
			metrics.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(recoverOpts...),
		),
		grpc.ChainStreamInterceptor(
			logging.StreamServerInterceptor(Logger(log), logOpts...),
			metrics.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(recoverOpts...),
		),
	}
}
