package marketplace_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func registerRecommendations(s grpc.ServiceRegistrar) {
	recommendations.Register(s, recommendations.NewServer(nil))
}

// get serves GET / from h in memory and returns the status and body.
func get(h http.Handler) (int, string) {
	rec := homepagetest.Serve(h, http.MethodGet, "/")
	return rec.Code, rec.Body.String()
}

func TestTargetFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "localhost:50051"},
		{"host from env", map[string]string{"RECOMMENDATIONS_HOST": "recommendations"}, "recommendations:50051"},
		{"ipv6 host", map[string]string{"RECOMMENDATIONS_HOST": "::1"}, "[::1]:50051"},
		// Kubernetes sets this for a Service named recommendations; it is
		// not a port and must be ignored.
		{"RECOMMENDATIONS_PORT ignored", map[string]string{"RECOMMENDATIONS_PORT": "tcp://10.0.0.7:50051"}, "localhost:50051"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			assert.Equal(t, tc.want, marketplace.Target(getenv))
		})
	}
}

// grpc.NewClient does no I/O, so the Marketplace starts even when
// Recommendations is not up yet.
func TestConnectDoesNotNeedTheServer(t *testing.T) {
	conn, err := marketplace.Connect("localhost:1")
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, connectivity.Idle, conn.GetState())
}

func TestConnectRejectsABadTarget(t *testing.T) {
	_, err := marketplace.Connect("dns:///a b:50051\x00")
	assert.Error(t, err)
}

func TestHomepageShowsThreeMysteryBooks(t *testing.T) {
	h := marketplace.New(grpctest.Start(t, registerRecommendations), homepage.Options{})
	code, body := get(h)
	homepagetest.AssertHome(t, code, body)
	assert.NotContains(t, body, "unavailable")
}

// fakeRecommendations is a Recommendations server whose answer the test
// controls, and which records the requests it receives.
type fakeRecommendations struct {
	pb.UnimplementedRecommendationsServer
	handle func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error)

	mu   sync.Mutex
	reqs []*pb.RecommendationRequest
}

func (f *fakeRecommendations) Recommend(ctx context.Context, req *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.handle(ctx, req)
}

func (f *fakeRecommendations) requests() []*pb.RecommendationRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.RecommendationRequest(nil), f.reqs...)
}

func (f *fakeRecommendations) start(t *testing.T) *grpc.ClientConn {
	return grpctest.Start(t, func(s grpc.ServiceRegistrar) { pb.RegisterRecommendationsServer(s, f) })
}

func TestHomepageAsksForThreeMysteryBooksForUserOne(t *testing.T) {
	fake := &fakeRecommendations{handle: func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		return &pb.RecommendationResponse{}, nil
	}}
	code, _ := get(marketplace.New(fake.start(t), homepage.Options{}))
	require.Equal(t, http.StatusOK, code)
	reqs := fake.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, int32(1), reqs[0].GetUserId())
	assert.Equal(t, pb.BookCategory_MYSTERY, reqs[0].GetCategory())
	assert.Equal(t, int32(3), reqs[0].GetMaxResults())
}

func TestHomepageEscapesTitles(t *testing.T) {
	fake := &fakeRecommendations{handle: func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		return &pb.RecommendationResponse{Recommendations: []*pb.BookRecommendation{
			{Id: 1, Title: `<script>alert("x")</script> & Co`},
		}}, nil
	}}
	_, body := get(marketplace.New(fake.start(t), homepage.Options{}))
	assert.NotContains(t, body, "<script>")
	assert.Equal(t, []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"}, homepagetest.Items(body))
}

func TestHomepageDegradesWhenRecommendationsIsDown(t *testing.T) {
	logger, logs := homepagetest.Logger()
	h := marketplace.New(grpctest.Unreachable(t), homepage.Options{Logger: logger})
	code, body := get(h)
	homepagetest.AssertDegraded(t, code, body)
	assert.Contains(t, logs.String(), "recommendations unavailable")
	assert.Contains(t, logs.String(), "Unavailable")
}

// A slow service is as bad as a dead one: the Marketplace's deadline cuts
// the call short, and the deadline travels over the wire, so the server
// sees it too and can stop working on an answer nobody will read.
func TestHomepageDegradesWhenRecommendationsIsSlow(t *testing.T) {
	serverSawDeadline := make(chan bool, 1)
	fake := &fakeRecommendations{handle: func(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		_, ok := ctx.Deadline()
		serverSawDeadline <- ok
		<-ctx.Done() // never answer in time
		return nil, status.FromContextError(ctx.Err()).Err()
	}}
	logger, logs := homepagetest.Logger()
	h := marketplace.New(fake.start(t), homepage.Options{
		Timeout: 50 * time.Millisecond,
		Logger:  logger,
	})
	code, body := get(h)
	homepagetest.AssertDegraded(t, code, body)
	assert.True(t, <-serverSawDeadline, "the deadline propagates to the server")
	assert.Contains(t, logs.String(), "DeadlineExceeded")
}

func TestHomepageRecoversWhenRecommendationsComesBack(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	fake := &fakeRecommendations{handle: func(context.Context, *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		if down.Load() {
			return nil, status.Error(codes.Unavailable, "restarting")
		}
		return &pb.RecommendationResponse{Recommendations: []*pb.BookRecommendation{{Id: 1, Title: "The Maltese Falcon"}}}, nil
	}}
	h := marketplace.New(fake.start(t), homepage.Options{Logger: slog.New(slog.DiscardHandler)})
	code, body := get(h)
	homepagetest.AssertDegraded(t, code, body)

	down.Store(false)
	code, body = get(h)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{"The Maltese Falcon"}, homepagetest.Items(body), "the same connection works again")
}

// One long-lived connection per process: a hundred page views, twenty at a
// time, reach the server over a single accepted connection.
func TestHomepageRequestsShareOneConnection(t *testing.T) {
	srv := grpctest.NewServer(t, registerRecommendations)
	h := marketplace.New(srv.NewClient(t), homepage.Options{})
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 5 {
		for range 20 {
			wg.Go(func() {
				code, body := get(h)
				if len(homepagetest.Items(body)) != 3 {
					code = -1
				}
				codes <- code
			})
		}
		wg.Wait()
	}
	close(codes)
	for code := range codes {
		assert.Equal(t, http.StatusOK, code)
	}
	assert.EqualValues(t, 1, srv.Accepted())
}

func TestRecommendationsAdapterKeepsTheStatusCode(t *testing.T) {
	rec := marketplace.NewRecommendations(grpctest.Unreachable(t))
	_, err := rec.Recommend(t.Context(), 1, 0, 3)
	assert.Equal(t, codes.Unavailable, status.Code(err), "status.Code sees through the wrapping: %v", err)
}
