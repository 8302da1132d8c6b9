// Package cli is the logic of the Recommendations command-line client, the
// Go stand-in for the series' Python REPL session: build a request, call
// the service, print the books or the status.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

// Config is what the command line asks for.
type Config struct {
	// Addr is the host:port of the Recommendations service.
	Addr string
	// Timeout is the deadline of the call.
	Timeout time.Duration
	// Request is sent as it is.
	Request *pb.RecommendationRequest
}

// Flags defines the client's flags on fs: -addr, -category, -max, -user
// and -timeout. Once fs is parsed, config checks their values and builds
// the Config; main passes it to cmdline.Main as a check.
func Flags(fs *flag.FlagSet) (config func() (Config, error)) {
	addr := fs.String("addr", "localhost:50051", "host:port of the Recommendations service")
	category := fs.String("category", "MYSTERY", "MYSTERY, SCIENCE_FICTION, SELF_HELP, or any number (to try an unknown one)")
	maxResults := fs.Int("max", 3, "max_results: how many books to ask for")
	user := fs.Int("user", 1, "user_id")
	timeout := 5 * time.Second
	fs.Func("timeout", "the deadline of the call, a `duration` such as 5s or 500ms (default 5s)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 5s or 500ms")
		}
		timeout = d
		return nil
	})
	return func() (Config, error) {
		// Without a port, gRPC would quietly try port 443.
		if err := marketplace.CheckTarget(*addr); err != nil {
			return Config{}, fmt.Errorf("-addr %q: %w", *addr, err)
		}
		cat, err := ParseCategory(*category)
		if err != nil {
			return Config{}, fmt.Errorf("-category: %w", err)
		}
		for name, v := range map[string]int{"-max": *maxResults, "-user": *user} {
			if v != int(int32(v)) {
				return Config{}, fmt.Errorf("%s %d: the contract's field is an int32, from %d to %d", name, v, math.MinInt32, math.MaxInt32)
			}
		}
		if timeout <= 0 {
			return Config{}, fmt.Errorf("-timeout %v: a call needs a positive deadline, such as 5s", timeout)
		}
		return Config{
			Addr:    *addr,
			Timeout: timeout,
			Request: &pb.RecommendationRequest{
				UserId:     int32(*user),
				Category:   cat,
				MaxResults: int32(*maxResults),
			},
		}, nil
	}
}

// Parse parses args (without the program name) the way the client does,
// with chapter 1's cmdline rules, and returns the Config. It prints
// nothing; -h returns flag.ErrHelp.
func Parse(args []string) (Config, error) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	config := Flags(fs)
	var cfg Config
	err := cmdline.Parse(fs, args, func() (err error) {
		cfg, err = config()
		return err
	})
	return cfg, err
}

// ParseCategory accepts a category name in any case (science_fiction) or a
// number. Numbers outside the enum are allowed on purpose: the wire carries
// any int32, and the server's NOT_FOUND answer is worth seeing.
func ParseCategory(s string) (pb.BookCategory, error) {
	if v, ok := pb.BookCategory_value[strings.ToUpper(s)]; ok {
		return pb.BookCategory(v), nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("unknown category %q: want MYSTERY, SCIENCE_FICTION, SELF_HELP or a number", s)
	}
	return pb.BookCategory(n), nil
}

// Recommend sends req on client and prints one line per book, "id  title",
// to w. On failure it prints nothing and returns the gRPC status error.
func Recommend(ctx context.Context, client pb.RecommendationsClient, req *pb.RecommendationRequest, w io.Writer) error {
	resp, err := client.Recommend(ctx, req)
	if err != nil {
		return err
	}
	if len(resp.GetRecommendations()) == 0 {
		_, err := fmt.Fprintln(w, "no recommendations")
		return err
	}
	for _, book := range resp.GetRecommendations() {
		if _, err := fmt.Fprintf(w, "%d  %s\n", book.GetId(), book.GetTitle()); err != nil {
			return err
		}
	}
	return nil
}

// Describe formats a failed call the way the CLI prints it: the status code
// and message, which is what a caller of a gRPC service gets to see.
func Describe(err error) string {
	st := status.Convert(err)
	return fmt.Sprintf("Recommend failed: code = %s, message = %q", st.Code(), st.Message())
}
