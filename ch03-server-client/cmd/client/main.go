// Command client calls the Recommendations service once and prints what it
// answers: the books, or the status code and message. It stands in for the
// series' Python REPL session with the generated stub.
//
//	go run ./ch03-server-client/cmd/client -category SCIENCE_FICTION -max 2
//	go run ./ch03-server-client/cmd/client -category 99     # NotFound
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

func main() {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("addr", "localhost:50051", "host:port of the Recommendations service")
	category := fs.String("category", "MYSTERY", "MYSTERY, SCIENCE_FICTION, SELF_HELP, or any number (to try an unknown one)")
	maxResults := fs.Int("max", 3, "max_results: how many books to ask for")
	user := fs.Int("user", 1, "user_id")
	timeout := fs.Duration("timeout", 5*time.Second, "the deadline of the call")
	req := &pb.RecommendationRequest{}
	parseFlags(fs, os.Args[1:], func() error {
		if err := marketplace.CheckTarget(*addr); err != nil {
			return fmt.Errorf("-addr %q: %w", *addr, err)
		}
		cat, err := parseCategory(*category)
		if err != nil {
			return fmt.Errorf("-category: %w", err)
		}
		for name, v := range map[string]int{"-max": *maxResults, "-user": *user} {
			if v != int(int32(v)) {
				return fmt.Errorf("%s %d: the contract's field is an int32, from %d to %d", name, v, math.MinInt32, math.MaxInt32)
			}
		}
		if *timeout <= 0 {
			return fmt.Errorf("-timeout %v: a call needs a positive deadline, such as 5s", *timeout)
		}
		req.UserId, req.Category, req.MaxResults = int32(*user), cat, int32(*maxResults)
		return nil
	})

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := pb.NewRecommendationsClient(conn).Recommend(ctx, req)
	if err != nil {
		// A failed call is a status: a code and a message, which is all a
		// caller of a gRPC service gets to see.
		st := status.Convert(err)
		fmt.Fprintf(os.Stderr, "Recommend failed: code = %s, message = %q\n", st.Code(), st.Message())
		os.Exit(1)
	}
	if len(resp.GetRecommendations()) == 0 {
		fmt.Println("no recommendations")
	}
	for _, book := range resp.GetRecommendations() {
		fmt.Printf("%d  %s\n", book.GetId(), book.GetTitle())
	}
}

// parseCategory accepts a category name in any case (science_fiction) or a
// number. Numbers outside the enum are allowed on purpose: the wire carries
// any int32, and the server's NOT_FOUND answer is worth seeing.
func parseCategory(s string) (pb.BookCategory, error) {
	if v, ok := pb.BookCategory_value[strings.ToUpper(s)]; ok {
		return pb.BookCategory(v), nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("unknown category %q: want MYSTERY, SCIENCE_FICTION, SELF_HELP or a number", s)
	}
	return pb.BookCategory(n), nil
}

// parseFlags parses args into fs, then runs check. A stray argument is
// refused: the flags after it would be ignored. A mistake is one line and
// exit code 2; -h lists the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string, check func() error) {
	fs.SetOutput(io.Discard) // Parse's error is printed below, in one line
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fs.Usage()
		os.Exit(0)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: flags only, and they come first", fs.Arg(0))
	}
	if err == nil {
		err = check()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (%[1]s -h lists the flags)\n", fs.Name(), err)
		os.Exit(2)
	}
}
