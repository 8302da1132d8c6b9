package probe_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/probe"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGRPC(t *testing.T) {
	hs := health.NewServer()
	addr := grpctest.ServeLoopback(t, func(s grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(s, hs) })
	assert.NoError(t, probe.GRPC(grpctest.Context(t), addr, ""), "a new health server is SERVING")

	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	assert.ErrorContains(t, probe.GRPC(grpctest.Context(t), addr, ""), "is NOT_SERVING")
	assert.ErrorContains(t, probe.GRPC(grpctest.Context(t), addr, "Nope"), "NotFound")
}

func TestGRPCWithoutAServer(t *testing.T) {
	assert.ErrorContains(t, probe.GRPC(grpctest.Context(t), closedAddr(t), ""), "Unavailable")
}

func TestHTTP(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	assert.NoError(t, probe.HTTP(grpctest.Context(t), srv.URL))
	status = http.StatusServiceUnavailable
	assert.ErrorContains(t, probe.HTTP(grpctest.Context(t), srv.URL), "503 Service Unavailable")
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}
