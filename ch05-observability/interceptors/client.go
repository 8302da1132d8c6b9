package interceptors

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
)

// UnaryClientRequestID copies the request ID of the call's context (set by
// requestid.Middleware for a page request) into the call's metadata, where
// the server's logging interceptor finds it.
func UnaryClientRequestID() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if id := requestid.FromContext(ctx); id != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, requestid.MetadataKey, id)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
