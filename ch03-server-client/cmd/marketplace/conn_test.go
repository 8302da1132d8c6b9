package main

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// The connection's settings are all in newConn: a service config offered
// by the name resolver (for DNS, a TXT record whoever runs the zone
// controls) is ignored. Here the resolver offers one that would give every
// call a deadline of a nanosecond.
func TestNewConnIgnoresTheResolversServiceConfig(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(catalog.NewRecommender(nil)))
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, testwait.Recv(t, served, "Serve to return"))
	})

	r := manual.NewBuilderWithScheme("test")
	r.BuildCallback = func(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) {
		r.InitialState(resolver.State{
			Addresses: []resolver.Address{{Addr: "bufnet"}},
			ServiceConfig: cc.ParseServiceConfig(`{"methodConfig": [{
				"name": [{"service": "Recommendations"}], "timeout": "0.000000001s"}]}`),
		})
	}
	conn, err := newConn("test:///recommendations", grpc.WithResolvers(r),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	resp, err := pb.NewRecommendationsClient(conn).Recommend(testwait.Context(t),
		&pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3})
	require.NoError(t, err)
	assert.Len(t, resp.GetRecommendations(), 3)
}
