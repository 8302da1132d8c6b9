package interceptors_test

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/echopb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// library is the server chain of cmd/recommendations again, built from
// go-grpc-middleware v2 instead of by hand, in the same order: logging
// (outermost, with a three-line adapter to log/slog), metrics, then
// recovery (innermost), so a panic is logged and counted as the INTERNAL
// the caller gets. Its metrics are the ones gRPC dashboards know:
// grpc_server_started_total, grpc_server_handled_total{grpc_code,...},
// grpc_server_handling_seconds.
func library(log *slog.Logger, reg prometheus.Registerer) []grpc.ServerOption {
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)
	logger := logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(level), msg, fields...)
	})
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)} // one line per RPC, as ours
	recoverOpts := []recovery.Option{
		recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
			log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
			return status.Error(codes.Internal, "internal error")
		}),
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			logging.UnaryServerInterceptor(logger, logOpts...),
			metrics.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(recoverOpts...),
		),
		grpc.ChainStreamInterceptor(
			logging.StreamServerInterceptor(logger, logOpts...),
			metrics.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(recoverOpts...),
		),
	}
}

// go-grpc-middleware's chain, given the same calls as the hand-written
// one gets in cmd/recommendations' tests: the counts by code under the
// provider's names, the panic counted as the INTERNAL the caller got and
// logged with its stack, and the server still serving after it.
func TestLibrary(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := &recorder{level: slog.LevelDebug}
	client := echopb.NewEchoClient(grpctest.Start(t, registerEcho, library(slog.New(rec), reg)...))
	for _, tc := range []struct {
		msg  string
		want codes.Code
	}{{"hello", codes.OK}, {"missing", codes.NotFound}, {"panic", codes.Internal}, {"again", codes.OK}} {
		_, err := client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: tc.msg})
		require.Equal(t, tc.want, status.Code(err), "%s: %v", tc.msg, err)
	}
	assert.Equal(t, map[string]float64{"OK": 2, "NotFound": 1, "Internal": 1},
		counts(gather(t, reg)["grpc_server_handled_total"], "grpc_code"))
	var panics int
	for _, a := range rec.attrs() {
		if a["msg"] == "panic" {
			panics++
			assert.Contains(t, a["stack"], "goroutine ")
		}
	}
	assert.Equal(t, 1, panics)
}
