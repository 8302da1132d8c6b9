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

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
)

// Options extend the bookstore the way later chapters extend the two
// services: server options for Recommendations, dial options for the
// Marketplace's connection, and the homepage's options.
type Options struct {
	Homepage homepage.Options
	Server   []grpc.ServerOption
	Dial     []grpc.DialOption
}

// Run serves recs as the Recommendations service on grpcLis and the
// Marketplace on httpLis until ctx is done or either server fails. Run takes
// ownership of both listeners. A stop may take each server's shutdown
// timeout in turn: ten seconds at most.
func Run(ctx context.Context, httpLis, grpcLis net.Listener, recs pb.RecommendationsServer, opts Options) error {
	grpcServer := grpc.NewServer(opts.Server...)
	pb.RegisterRecommendationsServer(grpcServer, recs)
	conn, err := marketplace.Connect(grpcLis.Addr().String(), opts.Dial...)
	if err != nil {
		return fmt.Errorf("bookstore: %w", errors.Join(err, httpLis.Close(), grpcLis.Close()))
	}

	// The two servers run in one errgroup, each with chapter 1's "serve
	// until the context ends" function. They stop in dependency order: the
	// web server first, so no page is left asking a stopped service; then
	// the client connection; then gRPC, whose context ends only after the
	// web server's. If either fails, the group's context ends and takes
	// the other down too.
	g, gctx := errgroup.WithContext(ctx)
	grpcCtx, stopGRPC := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGRPC()
	g.Go(func() error {
		defer stopGRPC()
		err := httpserver.Serve(gctx, httpserver.New(marketplace.New(conn, opts.Homepage)), httpLis)
		return errors.Join(err, conn.Close())
	})
	g.Go(func() error {
		err := recommendations.Serve(grpcCtx, grpcServer, grpcLis)
		if err == nil && grpcCtx.Err() == nil {
			err = errors.New("gRPC server stopped on its own")
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("bookstore: %w", err)
	}
	return nil
}
