package middleware_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/middleware"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// panicky is the Recommendations service, except that category 42 panics.
type panicky struct{ *recommendations.Server }

func (p panicky) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	if req.GetCategory() == 42 {
		panic("category 42")
	}
	return p.Server.Recommend(ctx, req)
}

// The same mix of calls as the hand-written chain's test, through
// go-grpc-middleware: the same outcome, under the provider's metric names.
func TestServerChain(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	client := pb.NewRecommendationsClient(grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, panicky{recommendations.NewServer(nil)})
	}, middleware.ServerOptions(slog.New(slog.NewTextHandler(&logs, nil)), reg)...))

	ctx := metadata.AppendToOutgoingContext(grpctest.Context(t), requestid.MetadataKey, "page-9")
	for _, tc := range []struct {
		req  *pb.RecommendationRequest
		want codes.Code
	}{
		{&pb.RecommendationRequest{MaxResults: 3}, codes.OK},
		{&pb.RecommendationRequest{MaxResults: 1}, codes.OK},
		{&pb.RecommendationRequest{Category: 99, MaxResults: 3}, codes.NotFound},
		{&pb.RecommendationRequest{MaxResults: -1}, codes.InvalidArgument},
		{&pb.RecommendationRequest{Category: 42}, codes.Internal},
		{&pb.RecommendationRequest{}, codes.OK},
	} {
		_, err := client.Recommend(ctx, tc.req)
		require.Equal(t, tc.want, status.Code(err), "%v: %v", tc.req, err)
	}

	const expected = `
# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="Internal",grpc_method="Recommend",grpc_service="Recommendations",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Recommend",grpc_service="Recommendations",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="NotFound",grpc_method="Recommend",grpc_service="Recommendations",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Recommend",grpc_service="Recommendations",grpc_type="unary"} 3
`
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "grpc_server_handled_total"))
	families, err := reg.Gather()
	require.NoError(t, err)
	var samples uint64
	for _, f := range families {
		if f.GetName() == "grpc_server_handling_seconds" {
			for _, m := range f.GetMetric() {
				samples += m.GetHistogram().GetSampleCount()
			}
		}
	}
	assert.EqualValues(t, 6, samples, "every RPC timed")
	out := logs.String()
	assert.Equal(t, 6, strings.Count(out, `msg="finished call"`), out)
	assert.Contains(t, out, "grpc.code=Internal")
	assert.Contains(t, out, "request_id=page-9")
	assert.Contains(t, out, `panic="category 42" stack="goroutine `)
}
