// Command monolith is the whole bookstore in one process: the catalog, the
// recommendation logic and the homepage, joined by plain function calls.
// Chapter 1 starts here before splitting it into services.
//
//	go run ./ch01-microservices/cmd/monolith
//	open http://localhost:5000/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage"
)

// shutdownTimeout is how long requests in flight may take to finish once a
// stop is asked for.
const shutdownTimeout = 5 * time.Second

func main() {
	fs := flag.NewFlagSet("monolith", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "HTTP listen address")
	seed := fs.Uint64("seed", 0, "seed for the book picks, to make them repeatable (0 picks a random seed)")
	parseFlags(fs, os.Args[1:])

	// SIGINT (Ctrl+C) and SIGTERM (docker stop, kubectl delete) both end
	// ctx, which starts a graceful stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	// In the monolith the homepage calls the catalog directly: no network,
	// no serialisation, no partial failure.
	page := homepage.New(catalog.NewRecommender(catalog.Seeded(*seed)), homepage.Options{})
	srv := newServer(page)
	fmt.Println("monolith: serving the bookstore on", pageURL(lis.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served: // the listener broke: Serve never returns nil
		slog.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// Shutdown closes the listener and waits for requests in flight. A
	// client decides how long its request lasts, so after shutdownTimeout
	// Close cuts whatever is left: the stop was asked for, so that is a
	// warning, and the exit code is still 0.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		slog.Warn("stopped after the shutdown timeout", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	fmt.Println("monolith: stopped")
}

// newServer returns the http.Server for h. The zero http.Server has no
// timeouts at all: a client may take forever to send its headers, read its
// response or come back on a keep-alive connection, each such client holds
// a goroutine and a file descriptor, and enough of them lock everyone else
// out.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// Headers must arrive within 5 s: a client that trickles them
		// (Slowloris) is cut off.
		ReadHeaderTimeout: 5 * time.Second,
		// The whole request, which for the bookstore's pages has no body.
		ReadTimeout: 10 * time.Second,
		// From the end of the headers to the end of the response: a page
		// waits about a second for recommendations, so a response still
		// being written after ten goes to a client that stopped reading.
		WriteTimeout: 10 * time.Second,
		// A keep-alive connection with no new request for a minute is only
		// holding a descriptor.
		IdleTimeout: time.Minute,
		// Headers larger than this are refused (net/http's default, 1 MB,
		// written out so the bound is visible).
		MaxHeaderBytes: 1 << 20,
	}
}

// parseFlags parses args into fs. Go's flag package stops at the first
// argument that is not a flag, so "monolith extra -addr :8080" would serve
// on :5000 with -addr ignored: a stray argument is refused. A mistake is one
// line and exit code 2, as for any bad usage; -h lists the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string) {
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
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (%[1]s -h lists the flags)\n", fs.Name(), err)
		os.Exit(2)
	}
}

// pageURL is the address to open for a server listening on a: a wildcard
// address such as [::]:5000 becomes http://localhost:5000/.
func pageURL(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	return "http://" + a.String() + "/"
}
