package interceptors_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/interceptors"
)

var info = &grpc.UnaryServerInfo{FullMethod: "/Recommendations/Recommend"}

func handler(err error) grpc.UnaryHandler {
	return func(context.Context, any) (any, error) { return nil, err }
}

// A panic is INTERNAL for the caller, logged with its stack.
func TestRecovery(t *testing.T) {
	var logs bytes.Buffer
	_, err := interceptors.UnaryServerRecovery(slog.New(slog.NewTextHandler(&logs, nil)))(context.Background(), nil, info,
		func(context.Context, any) (any, error) { panic("category 42") })
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Contains(t, logs.String(), `panic="category 42" stack="goroutine `)
}

// A caller's mistake is a warning, the server's failure an error, a
// success debug only.
func TestLoggingLevels(t *testing.T) {
	var logs bytes.Buffer
	log := interceptors.UnaryServerLogging(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, err := range []error{nil, status.Error(codes.NotFound, "Category not found"), errors.New("disk on fire")} {
		_, _ = log(context.Background(), nil, info, handler(err))
	}
	out := logs.String()
	assert.Equal(t, 2, strings.Count(out, "msg=rpc"), out)
	assert.Contains(t, out, "level=WARN msg=rpc method=/Recommendations/Recommend code=NotFound")
	assert.Contains(t, out, "level=ERROR msg=rpc method=/Recommendations/Recommend code=Unknown")
}

// Each call is counted by method and code, on both sides.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := interceptors.NewServerMetrics(reg)
	for _, err := range []error{nil, nil, status.Error(codes.NotFound, "")} {
		_, _ = m.UnaryServer()(context.Background(), nil, info, handler(err))
	}
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP grpc_server_requests_total RPCs, by method and status code.
# TYPE grpc_server_requests_total counter
grpc_server_requests_total{code="NotFound",method="/Recommendations/Recommend"} 1
grpc_server_requests_total{code="OK",method="/Recommendations/Recommend"} 2
`), "grpc_server_requests_total"))
	assert.Equal(t, 1, testutil.CollectAndCount(reg, "grpc_server_request_duration_seconds"))
}
