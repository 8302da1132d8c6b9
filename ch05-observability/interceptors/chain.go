package interceptors

import (
	"log/slog"

	"google.golang.org/grpc"
)

// ServerOptions chains the server's interceptors. The order matters, and
// the first is the outermost:
//
//  1. logging sees every RPC from first to last, with its final status
//     code and its whole duration;
//  2. metrics count that same outcome;
//  3. recovery, innermost, turns a panic into INTERNAL before metrics and
//     logging see the result, so a panic is counted and logged as the
//     INTERNAL error the caller received, and the server keeps serving.
func ServerOptions(log *slog.Logger, metrics *Metrics) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryServerLogging(log), metrics.UnaryServer(), UnaryServerRecovery(log)),
		grpc.ChainStreamInterceptor(StreamServerLogging(log), metrics.StreamServer(), StreamServerRecovery(log)),
	}
}

// DialOptions chains the client's interceptors: the request ID first, so
// the metadata is in place whatever comes after; then metrics, which count
// each call as the Marketplace saw it.
func DialOptions(metrics *Metrics) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(UnaryClientRequestID(), metrics.UnaryClient()),
	}
}
