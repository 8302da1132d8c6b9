package interceptors_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/echopb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/requestid"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// errEcho is what the echo service returns for the input "error".
var errEcho = status.Error(codes.Internal, "you asked for an error")

// echoServer echoes, except for two inputs: "error" returns errEcho, and
// "panic" panics.
type echoServer struct {
	echopb.UnimplementedEchoServer
}

func (echoServer) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error) {
	switch req.GetMessage() {
	case "error":
		return nil, errEcho
	case "panic":
		panic("the echo service panics")
	}
	return &echopb.EchoReply{Message: req.GetMessage()}, nil
}

func (echoServer) Chat(stream grpc.BidiStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.GetMessage() == "panic" {
			panic("the chat panics")
		}
		if err := stream.Send(&echopb.EchoReply{Message: req.GetMessage()}); err != nil {
			return err
		}
	}
}

func registerEcho(s grpc.ServiceRegistrar) { echopb.RegisterEchoServer(s, echoServer{}) }

// recorder is a slog.Handler that keeps every record, so a test can look
// at the values logged, not only at their text.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// attrs returns each record's message and attributes.
func (r *recorder) attrs() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, rec := range r.records {
		m := map[string]any{"msg": rec.Message, "level": rec.Level}
		rec.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, m)
	}
	return out
}

// The series' own interceptor test, ported: an echo service over bufconn
// with the error logger. An ordinary input is echoed and nothing is
// logged; the input "error" makes the client see the error, and the logger
// see exactly the error value the handler returned.
func TestErrorLogger(t *testing.T) {
	rec := &recorder{}
	client := echopb.NewEchoClient(grpctest.Start(t, registerEcho,
		grpc.UnaryInterceptor(interceptors.UnaryErrorLogger(slog.New(rec)))))

	reply, err := client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: "hello"})
	require.NoError(t, err)
	assert.Equal(t, "hello", reply.GetMessage())
	assert.Empty(t, rec.attrs(), "nothing to log")

	_, err = client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: "error"})
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, "you asked for an error", status.Convert(err).Message())
	logged := rec.attrs()
	require.Len(t, logged, 1)
	assert.Same(t, errEcho, logged[0]["err"], "the very error the handler returned")
	assert.Equal(t, "/echo.Echo/Echo", logged[0]["method"])
}

// gather returns the metric families of reg, by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// counts returns a counter family's values by its labels, joined with ",".
func counts(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetValue())
		}
		out[strings.Join(labels, ",")] = m.GetCounter().GetValue()
	}
	return out
}

// panicky is the Recommendations service, except that category 42 panics.
type panicky struct {
	*recommendations.Server
}

func (p panicky) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	if req.GetCategory() == 42 {
		panic("category 42")
	}
	return p.Server.Recommend(ctx, req)
}

// The whole chain on Recommendations, after a known mix of calls: the
// counts by method and code, the histogram's sample count, and the chain's
// order at work: the panic is counted (and logged) as the INTERNAL the
// caller got, because recovery sits inside metrics and logging; and the
// server keeps serving.
func TestServerChain(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, debug))
	client := pb.NewRecommendationsClient(grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, panicky{recommendations.NewServer(nil)})
	}, interceptors.ServerOptions(log, interceptors.NewServerMetrics(reg))...))

	for _, tc := range []struct {
		req  *pb.RecommendationRequest
		want codes.Code
	}{
		{&pb.RecommendationRequest{MaxResults: 3}, codes.OK},
		{&pb.RecommendationRequest{MaxResults: 1}, codes.OK},
		{&pb.RecommendationRequest{Category: 99, MaxResults: 3}, codes.NotFound},
		{&pb.RecommendationRequest{MaxResults: -1}, codes.InvalidArgument},
		{&pb.RecommendationRequest{Category: 42}, codes.Internal},
		{&pb.RecommendationRequest{}, codes.OK}, // still serving after the panic
	} {
		_, err := client.Recommend(grpctest.Context(t), tc.req)
		require.Equal(t, tc.want, status.Code(err), "%v: %v", tc.req, err)
	}

	families := gather(t, reg)
	assert.Equal(t, map[string]float64{
		"OK,/Recommendations/Recommend":              3,
		"NotFound,/Recommendations/Recommend":        1,
		"InvalidArgument,/Recommendations/Recommend": 1,
		"Internal,/Recommendations/Recommend":        1,
	}, counts(families["grpc_server_requests_total"]))
	hist := families["grpc_server_request_duration_seconds"].GetMetric()
	require.Len(t, hist, 1)
	assert.EqualValues(t, 6, hist[0].GetHistogram().GetSampleCount())

	out := logs.String()
	assert.Equal(t, 6, strings.Count(out, `msg=rpc method=/Recommendations/Recommend`), out)
	assert.Contains(t, out, "level=DEBUG msg=rpc method=/Recommendations/Recommend code=OK")
	assert.Contains(t, out, "level=ERROR msg=rpc method=/Recommendations/Recommend code=Internal")
	assert.Contains(t, out, "level=WARN msg=rpc method=/Recommendations/Recommend code=NotFound")
	assert.Contains(t, out, `panic="category 42" stack="goroutine `, "the panic is logged with its stack")
}

// debug logs every RPC; at the default level only failures are logged.
var debug = &slog.HandlerOptions{Level: slog.LevelDebug}

// At the default level a successful call leaves no line: its count and
// duration are in the metrics. A failure is always logged.
func TestSuccessesAreLoggedAtDebugOnly(t *testing.T) {
	var logs bytes.Buffer
	client := pb.NewRecommendationsClient(grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	}, grpc.UnaryInterceptor(interceptors.UnaryServerLogging(slog.New(slog.NewTextHandler(&logs, nil))))))
	_, err := client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{MaxResults: 1})
	require.NoError(t, err)
	assert.Empty(t, logs.String())
	_, err = client.Recommend(grpctest.Context(t), &pb.RecommendationRequest{Category: 99})
	require.Error(t, err)
	assert.Contains(t, logs.String(), "level=WARN msg=rpc method=/Recommendations/Recommend code=NotFound")
}

// The stream interceptors, on a bidirectional stream: the stream is logged
// and counted once, when it ends, and a panic inside it is recovered.
func TestStreamChain(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	client := echopb.NewEchoClient(grpctest.Start(t, registerEcho,
		interceptors.ServerOptions(slog.New(slog.NewTextHandler(&logs, debug)), interceptors.NewServerMetrics(reg))...))

	stream, err := client.Chat(grpctest.Context(t))
	require.NoError(t, err)
	for _, m := range []string{"one", "two"} {
		require.NoError(t, stream.Send(&echopb.EchoRequest{Message: m}))
		reply, err := stream.Recv()
		require.NoError(t, err)
		assert.Equal(t, m, reply.GetMessage())
	}
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)

	stream, err = client.Chat(grpctest.Context(t))
	require.NoError(t, err)
	require.NoError(t, stream.Send(&echopb.EchoRequest{Message: "panic"}))
	_, err = stream.Recv()
	assert.Equal(t, codes.Internal, status.Code(err))

	assert.Equal(t, map[string]float64{"OK,/echo.Echo/Chat": 1, "Internal,/echo.Echo/Chat": 1},
		counts(gather(t, reg)["grpc_server_requests_total"]))
	assert.Equal(t, 2, strings.Count(logs.String(), "msg=rpc method=/echo.Echo/Chat"), logs.String())
}

// The Marketplace's side: a page request's ID travels into the gRPC call's
// metadata and into the server's log line, and the client counts the call.
func TestRequestIDReachesTheServer(t *testing.T) {
	var serverLogs bytes.Buffer
	srv := grpctest.NewServer(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	}, grpc.UnaryInterceptor(interceptors.UnaryServerLogging(slog.New(slog.NewTextHandler(&serverLogs, debug)))))
	reg := prometheus.NewRegistry()
	conn := srv.NewClient(t, interceptors.DialOptions(interceptors.NewClientMetrics(reg))...)
	page := requestid.Middleware(marketplace.New(conn, homepage.Options{Timeout: 10 * time.Second}))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(requestid.Header, "page-7")
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, req)
	homepagetest.AssertHome(t, rec.Code, rec.Body.String())
	assert.Equal(t, "page-7", rec.Header().Get(requestid.Header))

	assert.Contains(t, serverLogs.String(), "request_id=page-7")
	assert.Equal(t, map[string]float64{"OK,/Recommendations/Recommend": 1},
		counts(gather(t, reg)["grpc_client_requests_total"]))
}
