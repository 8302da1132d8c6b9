package marketplace_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"math/rand/v2"
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

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func registerRecommendations(s grpc.ServiceRegistrar) {
	pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
}

// patient is the homepage's options for a test that expects books: the
// one-second deadline of production, on a loaded machine, could turn a
// working page into a degraded one.
var patient = homepage.Options{Timeout: 10 * time.Second}

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
		{"dotted name", map[string]string{"RECOMMENDATIONS_HOST": "recs.bookstore.svc.cluster.local"}, "recs.bookstore.svc.cluster.local:50051"},
		{"ipv4 host", map[string]string{"RECOMMENDATIONS_HOST": "127.0.0.2"}, "127.0.0.2:50051"},
		{"ipv6 host", map[string]string{"RECOMMENDATIONS_HOST": "::1"}, "[::1]:50051"},
		// Kubernetes sets this for a Service named recommendations; it is
		// not a port and must be ignored.
		{"RECOMMENDATIONS_PORT ignored", map[string]string{"RECOMMENDATIONS_PORT": "tcp://10.0.0.7:50051"}, "localhost:50051"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := marketplace.Target(func(k string) string { return tc.env[k] })
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// A RECOMMENDATIONS_HOST that is not a host would make every page degraded
// for good; Target refuses it and says what to write instead.
func TestTargetRejectsWhatIsNotAHost(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:15051":    `$RECOMMENDATIONS_HOST="127.0.0.1:15051" has a port: set it to the host alone (the port is always 50051), or pass -recommendations 127.0.0.1:15051`,
		"recommendations:80": "has a port",
		"[::1]:50051":        "has a port",
		"http://recs":        `$RECOMMENDATIONS_HOST="http://recs": "http://recs" is not a host name or IP address`,
		"recs internal":      "is not a host name",
		"[::1]":              "write an IPv6 address without brackets: ::1",
	} {
		_, err := marketplace.Target(func(string) string { return host })
		if assert.Error(t, err, host) {
			assert.Contains(t, err.Error(), want, host)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"localhost:50051", "127.0.0.1:6000", "[::1]:50051", "recommendations:1", "a.b-c_d:65535"} {
		assert.NoError(t, marketplace.CheckTarget(ok), ok)
	}
	for bad, want := range map[string]string{
		"":                "want host:port",
		"localhost":       "missing port",
		":50051":          "the host is empty",
		"localhost:0":     `"0" is not a port number`,
		"localhost:65536": `"65536" is not a port number`,
		"localhost:grpc":  `"grpc" is not a port number`,
		"dns:///x:50051":  "want host:port",
		"a b:50051":       `"a b" is not a host name`,
	} {
		err := marketplace.CheckTarget(bad)
		if assert.Error(t, err, "%q", bad) {
			assert.Contains(t, err.Error(), want, "%q", bad)
		}
	}
}

func TestFlags(t *testing.T) {
	env := func(k string) string { return map[string]string{"RECOMMENDATIONS_HOST": "recs"}[k] }
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{nil, "recs:50051", ""},
		{[]string{"-recommendations", "127.0.0.1:6000"}, "127.0.0.1:6000", ""},
		{[]string{"-recommendations", ""}, "", `invalid value "" for flag -recommendations: want host:port`},
		{[]string{"-recommendations", "recs"}, "", "missing port in address"},
	} {
		fs := flag.NewFlagSet("marketplace", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags := marketplace.NewFlags(fs, env)
		err := fs.Parse(tc.args)
		if err == nil {
			err = flags.Check()
			assert.Equal(t, tc.want, flags.Target, "%q", tc.args)
			assert.Equal(t, ":5000", flags.Addr)
		}
		if tc.wantErr == "" {
			assert.NoError(t, err, "%q", tc.args)
		} else if assert.Error(t, err, "%q", tc.args) {
			assert.Contains(t, err.Error(), tc.wantErr)
		}
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

// Connect's extra options are how later chapters add interceptors, stats
// handlers and credentials to the one connection: they are applied.
func TestConnectAppliesExtraOptions(t *testing.T) {
	srv := grpctest.NewServer(t, registerRecommendations)
	var methods []string
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		methods = append(methods, method)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	conn, err := marketplace.Connect("passthrough:///bufnet", srv.DialOption(), grpc.WithUnaryInterceptor(record))
	require.NoError(t, err)
	defer conn.Close()
	code, body := get(marketplace.New(conn, patient))
	homepagetest.AssertHome(t, code, body)
	assert.Equal(t, []string{"/Recommendations/Recommend"}, methods)
}

func TestHomepageShowsThreeMysteryBooks(t *testing.T) {
	h := marketplace.New(grpctest.Start(t, registerRecommendations), patient)
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
	code, _ := get(marketplace.New(fake.start(t), patient))
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
	_, body := get(marketplace.New(fake.start(t), patient))
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
// the call short and the page degrades. The fake never answers; only the
// deadline can end its wait, so the test passes only if the deadline works.
func TestHomepageDegradesWhenRecommendationsIsSlow(t *testing.T) {
	fake := &fakeRecommendations{handle: func(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
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
	assert.Contains(t, logs.String(), "DeadlineExceeded")
}

// The deadline travels with the request, so the server sees it too and can
// stop working on an answer nobody will read. The deadline here is long, so
// the request always arrives in time for the server to see it.
func TestDeadlineReachesTheServer(t *testing.T) {
	deadlines := make(chan time.Time, 1)
	fake := &fakeRecommendations{handle: func(ctx context.Context, _ *pb.RecommendationRequest) (*pb.RecommendationResponse, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return nil, status.Error(codes.FailedPrecondition, "no deadline")
		}
		deadlines <- d
		return &pb.RecommendationResponse{}, nil
	}}
	rec := marketplace.NewRecommendations(fake.start(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, err := rec.Recommend(ctx, homepage.UserID, homepage.Category, homepage.MaxResults)
	require.NoError(t, err)
	want, _ := ctx.Deadline()
	got := testwait.Recv(t, deadlines, "the server's deadline")
	// gRPC sends the time left, not the instant, so the server's deadline
	// is a little later than the client's: never earlier, never by much.
	assert.WithinDuration(t, want, got, time.Minute)
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
	h := marketplace.New(fake.start(t), homepage.Options{Timeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
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
	h := marketplace.New(srv.NewClient(t), patient)
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

// The seam from chapter 1 holds across the network: with the same seed, the
// Marketplace's gRPC client gives the homepage the very books the catalog
// gives it in-process, in the same order, for every category and count.
func TestSameBooksInProcessAndOverGRPC(t *testing.T) {
	var local homepage.Recommender = catalog.NewRecommender(rand.NewPCG(1, 2))
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(rand.NewPCG(1, 2)))
	})
	var remote homepage.Recommender = marketplace.NewRecommendations(conn)

	ctx := grpctest.Context(t)
	for i := range 30 {
		category, maxResults := catalog.Category(i%3), int32(i%5)
		want, err := local.Recommend(ctx, 1, category, maxResults)
		require.NoError(t, err)
		got, err := remote.Recommend(ctx, 1, category, maxResults)
		require.NoError(t, err)
		assert.Equal(t, want, got, "call %d: %v, max %d", i, category, maxResults)
	}
}

// And so the page is the same page, byte for byte: chapter 1's monolith
// and chapter 3's Marketplace differ only behind the interface.
func TestSamePageInProcessAndOverGRPC(t *testing.T) {
	monolith := homepage.New(catalog.NewRecommender(rand.NewPCG(1, 2)), homepage.Options{})
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(rand.NewPCG(1, 2)))
	})
	mkt := marketplace.New(conn, homepage.Options{Timeout: 10 * time.Second})
	for i := range 10 {
		_, want := get(monolith)
		require.Len(t, homepagetest.Items(want), 3)
		_, got := get(mkt)
		assert.Equal(t, want, got, "page %d", i)
	}
}

// Recommendations going away mid-session degrades the next page.
func TestHomepageDegradesWhenRecommendationsStops(t *testing.T) {
	srv := grpctest.NewServer(t, registerRecommendations)
	logger, logs := homepagetest.Logger()
	h := marketplace.New(srv.NewClient(t), homepage.Options{Timeout: 10 * time.Second, Logger: logger})
	code, body := get(h)
	homepagetest.AssertHome(t, code, body)

	srv.Stop()
	code, body = get(h)
	homepagetest.AssertDegraded(t, code, body)
	assert.Contains(t, logs.String(), "Unavailable")
}

func TestRecommendationsAdapterKeepsTheStatusCode(t *testing.T) {
	rec := marketplace.NewRecommendations(grpctest.Unreachable(t))
	_, err := rec.Recommend(t.Context(), 1, 0, 3)
	assert.Equal(t, codes.Unavailable, status.Code(err), "status.Code sees through the wrapping: %v", err)
}
