// Package bookstore runs both services of chapter 3 in one process, for the
// quickest possible start: Recommendations on a gRPC listener and the
// Marketplace on an HTTP listener, the Marketplace still calling
// Recommendations over a real gRPC connection on loopback.
package bookstore

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// Run serves Recommendations on grpcLis and the Marketplace on httpLis until
// ctx is done or either server fails. It shuts down in dependency order:
// first the web server (no new page requests), then the client connection,
// then the gRPC server, which lets RPCs in flight finish. Run takes
// ownership of both listeners.
func Run(ctx context.Context, httpLis, grpcLis net.Listener, opts homepage.Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	grpcServer := grpc.NewServer()
	recommendations.Register(grpcServer, recommendations.NewServer(nil))
	grpcDone := make(chan error, 1)
	go func() {
		err := grpcServer.Serve(grpcLis)
		cancel() // if gRPC stops, take the web server down with it
		grpcDone <- err
	}()

	conn, err := marketplace.Connect(grpcLis.Addr().String())
	if err != nil {
		grpcServer.Stop()
		_ = httpLis.Close()
		return errors.Join(err, <-grpcDone)
	}
	httpErr := httpserver.Serve(ctx, httpLis, marketplace.New(conn, opts))
	closeErr := conn.Close()
	grpcServer.GracefulStop()
	if err := errors.Join(httpErr, closeErr, <-grpcDone); err != nil {
		return fmt.Errorf("bookstore: %w", err)
	}
	return nil
}
