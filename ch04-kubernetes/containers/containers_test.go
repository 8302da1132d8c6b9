// Package containers_test runs the bookstore in real containers: both
// images built from the real Dockerfiles, the real compose file brought
// up with three Recommendations replicas, and everything checked from
// outside, as the series' integration test does and further. It needs a
// Docker engine and skips, saying so, without one, in CI too:
// dockertest.Engine only skips, and .ci/run prints beforehand whether an
// engine answers, so whether the container tests ran is in its output.
// Nothing it creates outlives it.
package containers_test

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/probe"
	"github.com/gobookstore/grpc-microservices-go/internal/dockertest"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

func TestComposeStack(t *testing.T) {
	compose := dockertest.Engine(t)
	dockertest.BaseImages(t)
	proxy := dockertest.ModuleProxy(t)
	tag := "test-" + dockertest.RandomSuffix()
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, "ch04-kubernetes/"+svc+".Dockerfile", "bookstore/"+svc+":"+tag, proxy)
	}
	port := dockertest.FreePort(t)
	s := dockertest.NewStack(t, compose, "ch04-kubernetes/docker-compose.yaml", "BOOKSTORE_TAG="+tag, "MARKETPLACE_PORT="+port)
	url := "http://127.0.0.1:" + port + "/"

	// Three replicas of Recommendations from the start; compose starts the
	// Marketplace once they are healthy.
	s.Run("up", "--detach", "--no-build", "--scale", "recommendations=3")
	dockertest.WaitUntil(t, "the Marketplace is healthy", func() bool {
		return probe.HTTP(grpctest.Context(t), url+"healthz") == nil
	})
	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	// The Marketplace found Recommendations by its service name.
	assert.Contains(t, s.Run("logs", "--no-color", "marketplace"), `"recommendations":"recommendations:50051"`)

	// Each replica reports SERVING, to compose's healthcheck and to us.
	replicas := s.Containers("recommendations")
	require.Len(t, replicas, 3)
	for _, id := range replicas {
		dockertest.WaitUntil(t, "replica "+id+" is healthy", func() bool {
			return strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.Health.Status}}", id)) == "healthy"
		})
		assert.NoError(t, probe.GRPC(grpctest.Context(t), net.JoinHostPort(s.IP(id), "50051"), ""))
	}

	// Round robin through the DNS name: every replica serves some of the
	// Marketplace's calls, which each one's channelz counts.
	mkt := s.Containers("marketplace")
	require.Len(t, mkt, 1)
	mktIP := s.IP(mkt[0])
	for range 30 {
		status, body = proctest.Get(t, url)
		homepagetest.AssertHome(t, status, body)
	}
	for _, id := range replicas {
		assert.Positive(t, callsFrom(t, s.IP(id), mktIP), "replica %s got none of the Marketplace's calls", id)
	}

	// One replica stops (SIGTERM, as a rolling update does): the others
	// carry the page, whole.
	dockertest.Docker(t, "stop", "--time", "10", replicas[0])
	for range 20 {
		status, body = proctest.Get(t, url)
		homepagetest.AssertHome(t, status, body)
	}

	// All of Recommendations stops: the page degrades, and stays up.
	s.Run("stop", "recommendations")
	status, body = proctest.Get(t, url)
	homepagetest.AssertDegraded(t, status, body)
}

// callsFrom asks the Recommendations server at ip, through channelz, how
// many calls it has served on connections from the address from.
func callsFrom(t *testing.T, ip, from string) int64 {
	t.Helper()
	conn, err := grpc.NewClient(net.JoinHostPort(ip, "50051"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	cz := channelzpb.NewChannelzClient(conn)
	ctx := grpctest.Context(t)
	servers, err := cz.GetServers(ctx, &channelzpb.GetServersRequest{})
	require.NoError(t, err)
	var calls int64
	for _, srv := range servers.GetServer() {
		sockets, err := cz.GetServerSockets(ctx, &channelzpb.GetServerSocketsRequest{ServerId: srv.GetRef().GetServerId()})
		require.NoError(t, err)
		for _, ref := range sockets.GetSocketRef() {
			sock, err := cz.GetSocket(ctx, &channelzpb.GetSocketRequest{SocketId: ref.GetSocketId()})
			require.NoError(t, err)
			remote := net.IP(sock.GetSocket().GetRemote().GetTcpipAddress().GetIpAddress())
			if remote.Equal(net.ParseIP(from)) {
				calls += sock.GetSocket().GetData().GetStreamsSucceeded()
			}
		}
	}
	return calls
}
