package booksuite

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The suite passes against its own contract-conforming server and a
// minimal homepage: it asks nothing beyond the contract.
func TestRecommendAgainstTheSuiteServer(t *testing.T) {
	Recommend(t, func(t *testing.T) pb.RecommendationsClient {
		return pb.NewRecommendationsClient(grpctest.Start(t, func(s grpc.ServiceRegistrar) {
			pb.RegisterRecommendationsServer(s, &catalogServer{})
		}))
	})
}

var page = template.Must(template.New("").Parse(`<title>Online Books For You</title>
<h1>Mystery books you may like</h1>
{{if .}}<ul>{{range .}}<li>{{.GetTitle}}</li>{{end}}</ul>{{else}}<p>Recommendations are unavailable.</p>{{end}}`))

func TestHomepageAgainstAMinimalPage(t *testing.T) {
	Homepage(t, func(t *testing.T, target string) http.Handler {
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		client := pb.NewRecommendationsClient(conn)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			resp, _ := client.Recommend(ctx, &pb.RecommendationRequest{UserId: 1, MaxResults: 3})
			var buf bytes.Buffer
			_ = page.Execute(&buf, resp.GetRecommendations())
			_, _ = buf.WriteTo(w)
		})
	})
}
