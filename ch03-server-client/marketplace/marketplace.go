// Package marketplace is the Marketplace web app: the chapter 1 homepage,
// with its recommendations now fetched from the Recommendations service
// over gRPC.
//
// The page itself is unchanged. What is new is the Recommendations type, a
// gRPC client that satisfies homepage.Recommender, and the rules for finding
// the service (RECOMMENDATIONS_HOST) and connecting to it once.
package marketplace

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// HostEnv names the environment variable that holds the Recommendations
// host, as in the series. The port is always RecommendationsPort: we never
// read RECOMMENDATIONS_PORT, because Kubernetes sets it to tcp://ip:port for
// a Service named recommendations.
const (
	HostEnv             = "RECOMMENDATIONS_HOST"
	DefaultHost         = "localhost"
	RecommendationsPort = "50051"
)

// Target returns the host:port of the Recommendations service:
// $RECOMMENDATIONS_HOST (default localhost) on port 50051. getenv is
// os.Getenv in main and a map lookup in tests. A value that is not a bare
// host (it has a port, a scheme, a space) is an error that says what to
// write instead: left alone, it would make every page degraded for good.
func Target(getenv func(string) string) (string, error) {
	host := getenv(HostEnv)
	if host == "" {
		host = DefaultHost
	}
	if err := checkHost(host); err != nil {
		if CheckTarget(host) == nil { // a host:port, as -recommendations takes it
			return "", fmt.Errorf("$%s=%q has a port: set it to the host alone (the port is always %s), or pass -recommendations %s",
				HostEnv, host, RecommendationsPort, host)
		}
		if inner, ok := strings.CutPrefix(host, "["); ok && net.ParseIP(strings.TrimSuffix(inner, "]")) != nil {
			return "", fmt.Errorf("$%s=%q: write an IPv6 address without brackets: %s", HostEnv, host, strings.TrimSuffix(inner, "]"))
		}
		return "", fmt.Errorf("$%s=%q: %w", HostEnv, host, err)
	}
	return net.JoinHostPort(host, RecommendationsPort), nil
}

// Flags are the Marketplace binary's flags, which every chapter's
// Marketplace shares.
type Flags struct {
	// Addr is the HTTP listen address (-addr).
	Addr string
	// Target is the host:port of Recommendations: -recommendations, or else
	// $RECOMMENDATIONS_HOST:50051. Check sets it.
	Target string

	flag   string
	getenv func(string) string
}

// NewFlags defines -addr and -recommendations on fs. After fs is parsed,
// Check validates them and reads the environment with getenv; main passes
// Check to cmdline.Main.
func NewFlags(fs *flag.FlagSet, getenv func(string) string) *Flags {
	f := &Flags{getenv: getenv}
	fs.StringVar(&f.Addr, "addr", ":5000", "HTTP listen address")
	fs.Func("recommendations", "`host:port` of the Recommendations service, instead of $"+HostEnv+":"+RecommendationsPort,
		func(s string) error {
			f.flag = s
			return CheckTarget(s)
		})
	return f
}

// Check sets Target from -recommendations or the environment, or returns
// why neither is usable.
func (f *Flags) Check() (err error) {
	f.Target = f.flag
	if f.Target == "" {
		f.Target, err = Target(f.getenv)
	}
	return err
}

// CheckTarget reports whether target is a usable host:port, such as
// localhost:50051 or [::1]:6000.
func CheckTarget(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("want host:port, such as localhost:%s: %w", RecommendationsPort, err)
	}
	if err := checkHost(host); err != nil {
		return fmt.Errorf("want host:port, such as localhost:%s: %w", RecommendationsPort, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("want host:port: %q is not a port number from 1 to 65535", port)
	}
	return nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	for _, r := range host {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".-_", r)) {
			return fmt.Errorf("%q is not a host name or IP address", host)
		}
	}
	return nil
}

// Connect creates the process's one client connection to target, without
// transport security (chapter 6 adds TLS) and with opts added last, so a
// later chapter can add interceptors, stats handlers or credentials.
// grpc.NewClient does no I/O: it connects on the first RPC and reconnects
// by itself after failures, so the Marketplace starts even while
// Recommendations is still down.
func Connect(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	// gRPC waits longer after each failed attempt to connect: 1 s, then
	// 1.6 times more each time, up to two minutes. After a long outage a
	// restarted Recommendations would wait that long for the page to come
	// back. A page should recover at once, and a refused connection costs
	// next to nothing, so the Marketplace retries about every second (the
	// cap, plus up to 20% of random jitter).
	params := grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  250 * time.Millisecond,
			Multiplier: backoff.DefaultConfig.Multiplier,
			Jitter:     backoff.DefaultConfig.Jitter,
			MaxDelay:   time.Second,
		},
		// An attempt that is neither accepted nor refused (packets
		// dropped) is given up after this long, not gRPC's default 20 s.
		MinConnectTimeout: 5 * time.Second,
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(params),
		// The client's settings are all here, in code. Without this, gRPC's
		// dns resolver (the default, for a target like localhost:50051)
		// would also ask DNS for a service config, a TXT record named
		// _grpc_config.<host>: a query that leaves the machine at every
		// lookup, for settings whoever runs the zone could change.
		grpc.WithDisableServiceConfig(),
	}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to recommendations at %q: %w", target, err)
	}
	return conn, nil
}

// Recommendations is a homepage.Recommender that asks the Recommendations
// service over gRPC.
type Recommendations struct {
	client pb.RecommendationsClient
}

// NewRecommendations returns a Recommender that calls the service on conn.
// conn is shared: create it once per process, not once per request.
func NewRecommendations(conn grpc.ClientConnInterface) *Recommendations {
	return &Recommendations{client: pb.NewRecommendationsClient(conn)}
}

// Recommend implements homepage.Recommender. Errors are the gRPC status
// errors of the call, wrapped, so status.Code still reads them.
func (r *Recommendations) Recommend(ctx context.Context, userID int32, category catalog.Category, maxResults int32) ([]catalog.Book, error) {
	resp, err := r.client.Recommend(ctx, &pb.RecommendationRequest{
		UserId:     userID,
		Category:   pb.BookCategory(category),
		MaxResults: maxResults,
	})
	if err != nil {
		return nil, fmt.Errorf("recommend %v: %w", category, err)
	}
	books := make([]catalog.Book, 0, len(resp.GetRecommendations()))
	for _, rec := range resp.GetRecommendations() {
		books = append(books, catalog.Book{ID: rec.GetId(), Title: rec.GetTitle()})
	}
	return books, nil
}

// New returns the Marketplace's HTTP handler: the homepage, fed by the
// Recommendations service on conn.
func New(conn grpc.ClientConnInterface, opts homepage.Options) http.Handler {
	return homepage.New(NewRecommendations(conn), opts)
}
