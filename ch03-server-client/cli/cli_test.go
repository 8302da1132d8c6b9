package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/cli"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseDefaults(t *testing.T) {
	cfg, err := cli.Parse(nil)
	require.NoError(t, err)
	assert.Equal(t, "localhost:50051", cfg.Addr)
	assert.Equal(t, 5*time.Second, cfg.Timeout)
	assert.Equal(t, int32(1), cfg.Request.GetUserId())
	assert.Equal(t, pb.BookCategory_MYSTERY, cfg.Request.GetCategory())
	assert.Equal(t, int32(3), cfg.Request.GetMaxResults())
}

func TestParseFlags(t *testing.T) {
	cfg, err := cli.Parse([]string{"-addr", "127.0.0.1:6000", "-category", "self_help", "-max", "2", "-user", "42", "-timeout", "1s"})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6000", cfg.Addr)
	assert.Equal(t, time.Second, cfg.Timeout)
	assert.Equal(t, pb.BookCategory_SELF_HELP, cfg.Request.GetCategory())
	assert.Equal(t, int32(2), cfg.Request.GetMaxResults())
	assert.Equal(t, int32(42), cfg.Request.GetUserId())
}

func TestParseCategory(t *testing.T) {
	for in, want := range map[string]pb.BookCategory{
		"MYSTERY": 0, "science_fiction": 1, "Self_Help": 2, "2": 2, "99": 99, "-1": -1,
	} {
		got, err := cli.ParseCategory(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "poetry", "1.5", "99999999999"} {
		_, err := cli.ParseCategory(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-category", "poetry"}, `unknown category "poetry"`},
		{[]string{"-max", "many"}, `invalid value "many" for flag -max`},
		{[]string{"-max", "4294967296"}, "-max 4294967296: the contract's field is an int32"},
		{[]string{"-user", "-4294967296"}, "-user -4294967296: the contract's field is an int32"},
		{[]string{"-timeout", "abc"}, `invalid value "abc" for flag -timeout: want a duration such as 5s or 500ms`},
		// Without a port gRPC would dial 443, far from any bookstore.
		{[]string{"-addr", "127.0.0.1"}, `-addr "127.0.0.1": want host:port`},
		{[]string{"-addr", "localhost:http"}, `"http" is not a port number`},
		{[]string{"-addr", ""}, "want host:port"},
		{[]string{"-timeout", "0"}, "-timeout 0s: a call needs a positive deadline"},
		{[]string{"-timeout", "-1s"}, "-timeout -1s: a call needs a positive deadline"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		_, err := cli.Parse(tc.args)
		if assert.Error(t, err, "%q", tc.args) {
			assert.Contains(t, err.Error(), tc.want, "%q", tc.args)
		}
	}
	_, err := cli.Parse([]string{"-h"})
	assert.True(t, errors.Is(err, flag.ErrHelp))
}

func TestDescribeShowsCodeAndMessage(t *testing.T) {
	assert.Equal(t, `Recommend failed: code = NotFound, message = "Category not found"`,
		cli.Describe(status.Error(codes.NotFound, "Category not found")))
}

func TestRecommendPrintsOneLinePerBook(t *testing.T) {
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(nil))
	})
	var out bytes.Buffer
	err := cli.Recommend(t.Context(), pb.NewRecommendationsClient(conn),
		&pb.RecommendationRequest{Category: pb.BookCategory_MYSTERY, MaxResults: 3}, &out)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"1  The Maltese Falcon",
		"2  Murder on the Orient Express",
		"3  The Hound of the Baskervilles",
	}, lines(out.String()))
}

func lines(s string) []string {
	var out []string
	for line := range bytes.Lines([]byte(s)) {
		out = append(out, string(bytes.TrimRight(line, "\n")))
	}
	return out
}

// The client against a server with a fixed random seed, so the picks, and
// this output, are the same on every run.
func ExampleRecommend() {
	conn, stop := grpctest.Open(func(s grpc.ServiceRegistrar) {
		pb.RegisterRecommendationsServer(s, recommendations.NewServer(rand.NewPCG(1, 2)))
	})
	defer stop()
	client := pb.NewRecommendationsClient(conn)
	ctx := context.Background()

	for _, req := range []*pb.RecommendationRequest{
		{UserId: 1, Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 2},
		{UserId: 1, Category: pb.BookCategory_SELF_HELP, MaxResults: 0},
		{UserId: 1, Category: 99, MaxResults: 3},
		{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: -1},
	} {
		fmt.Printf("category=%v max=%d\n", req.GetCategory(), req.GetMaxResults())
		if err := cli.Recommend(ctx, client, req, os.Stdout); err != nil {
			fmt.Println(cli.Describe(err))
		}
	}
	// Output:
	// category=SCIENCE_FICTION max=2
	// 6  The Dune Chronicles
	// 5  Ender's Game
	// category=SELF_HELP max=0
	// no recommendations
	// category=99 max=3
	// Recommend failed: code = NotFound, message = "Category not found"
	// category=MYSTERY max=-1
	// Recommend failed: code = InvalidArgument, message = "max_results must not be negative, got -1"
}
