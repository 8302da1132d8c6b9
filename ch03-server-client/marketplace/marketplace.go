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
	"fmt"
	"net"
	"net/http"

	"google.golang.org/grpc"
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
// os.Getenv in main and a map lookup in tests.
func Target(getenv func(string) string) string {
	host := getenv(HostEnv)
	if host == "" {
		host = DefaultHost
	}
	return net.JoinHostPort(host, RecommendationsPort)
}

// Connect creates the process's one client connection to target, without
// transport security (chapter 6 adds TLS). grpc.NewClient does no I/O: it
// connects on the first RPC and reconnects by itself after failures, so
// the Marketplace starts even while Recommendations is still down.
func Connect(target string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
