// Package containers_test runs the bookstore in real containers: both
// images built from the real Dockerfiles, the real compose file brought
// up with three Recommendations replicas, and everything checked from
// outside, as the series' integration test does and further. It needs a
// Docker engine and skips, saying so, without one (CI has one, and fails
// instead). Nothing it creates outlives it.
package containers_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

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

// stack is one compose project of the bookstore.
type stack struct {
	t       *testing.T
	compose []string // the compose command
	project string
	env     []string
	url     string // the Marketplace's page, on the published port
}

// run runs compose with args for this project, bounded, and returns its
// output, failing the test on an error.
func (s *stack) run(args ...string) string {
	s.t.Helper()
	args = append(slices.Clone(s.compose[1:]), append([]string{"-p", s.project, "-f", "ch04-kubernetes/docker-compose.yaml"}, args...)...)
	cmd := exec.Command(s.compose[0], args...)
	cmd.Dir = proctest.ModuleRoot(s.t)
	cmd.Env = append(os.Environ(), s.env...)
	timer := time.AfterFunc(dockertest.Timeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "%s %s:\n%s", s.compose[0], strings.Join(args, " "), out)
	return string(out)
}

// containers returns the IDs of service's running containers.
func (s *stack) containers(service string) []string {
	s.t.Helper()
	return strings.Fields(dockertest.Docker(s.t, "ps", "-q",
		"--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+service))
}

// ip returns a container's address on the project's network.
func (s *stack) ip(id string) string {
	s.t.Helper()
	return strings.TrimSpace(dockertest.Docker(s.t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
}

// page fetches the homepage.
func (s *stack) page() (int, string) {
	s.t.Helper()
	return proctest.Get(s.t, s.url)
}

func TestComposeStack(t *testing.T) {
	compose := dockertest.Engine(t)
	dockertest.BaseImages(t)
	proxy := dockertest.ModuleProxy(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tag := "test-" + hex.EncodeToString(suffix)
	for _, svc := range []string{"recommendations", "marketplace"} {
		dockertest.Build(t, "ch04-kubernetes/"+svc+".Dockerfile", "bookstore/"+svc+":"+tag, proxy)
	}

	s := &stack{t: t, compose: compose, project: "bookstore" + tag[5:],
		env: []string{"BOOKSTORE_TAG=" + tag, "MARKETPLACE_PORT=" + freePort(t)}}
	s.url = "http://127.0.0.1:" + strings.TrimPrefix(s.env[1], "MARKETPLACE_PORT=") + "/"
	t.Cleanup(func() {
		s.run("down", "--volumes", "--remove-orphans", "--timeout", "10")
		// down leaves nothing behind: no container, no network.
		assert.Empty(t, dockertest.Docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project))
		assert.Empty(t, dockertest.Docker(t, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project))
	})

	// Three replicas of Recommendations from the start; compose starts the
	// Marketplace once they are healthy.
	s.run("up", "--detach", "--no-build", "--scale", "recommendations=3")
	waitUntil(t, "the Marketplace is healthy", func() bool {
		return probe.HTTP(grpctest.Context(t), strings.TrimSuffix(s.url, "/")+"/healthz") == nil
	})
	status, body := s.page()
	homepagetest.AssertHome(t, status, body)

	// The Marketplace found Recommendations by its service name.
	assert.Contains(t, s.run("logs", "--no-color", "marketplace"), `"recommendations":"recommendations:50051"`)

	// Each replica reports SERVING, to compose's healthcheck and to us.
	replicas := s.containers("recommendations")
	require.Len(t, replicas, 3)
	for _, id := range replicas {
		waitUntil(t, "replica "+id+" is healthy", func() bool {
			return strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{.State.Health.Status}}", id)) == "healthy"
		})
		assert.NoError(t, probe.GRPC(grpctest.Context(t), net.JoinHostPort(s.ip(id), "50051"), ""))
	}

	// Round robin through the DNS name: every replica serves some of the
	// Marketplace's calls, which each one's channelz counts.
	mkt := s.containers("marketplace")
	require.Len(t, mkt, 1)
	mktIP := s.ip(mkt[0])
	for range 30 {
		status, body = s.page()
		homepagetest.AssertHome(t, status, body)
	}
	for _, id := range replicas {
		assert.Positive(t, callsFrom(t, s.ip(id), mktIP), "replica %s got none of the Marketplace's calls", id)
	}

	// One replica stops (SIGTERM, as a rolling update does): the others
	// carry the page, whole.
	dockertest.Docker(t, "stop", "--time", "10", replicas[0])
	for range 20 {
		status, body = s.page()
		homepagetest.AssertHome(t, status, body)
	}

	// All of Recommendations stops: the page degrades, and stays up.
	s.run("stop", "recommendations")
	status, body = s.page()
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

// waitUntil polls ok until it holds, or fails the test after a bound.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}
