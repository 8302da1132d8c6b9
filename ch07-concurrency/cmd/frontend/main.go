// Command frontend is a small web front end to the Greeter: every request
// shares the one gRPC connection the process opens at start-up and closes
// at shutdown.
//
//	go run ./ch07-concurrency/cmd/greeter &
//	go run ./ch07-concurrency/cmd/frontend            # serves on :8080, greeter at localhost:9999
//	curl 'localhost:8080/hello?name=Ann'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/frontend"
)

// newConn creates the process's one connection to the Greeter at target,
// with extra options last (tests add a dialer). grpc.NewClient does no
// I/O: it connects on the first call and reconnects by itself, so the
// front end starts even while the Greeter is down.
func newConn(target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Retry about every second after an outage, not up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		// The settings are all here, in code, not in a DNS TXT record.
		grpc.WithDisableServiceConfig(),
	}, extra...)...)
}

// newServer is the HTTP server around the handler, bounded so that slow or
// idle visitors cannot hold it.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      frontend.CallTimeout + 5*time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

func main() {
	addr := flag.String("addr", ":8080", "HTTP listen address")
	target := flag.String("greeter", "localhost:9999", "host:port of the Greeter")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(2, "unexpected argument %q: frontend takes flags only", flag.Arg(0))
	}
	// Without a port, gRPC would quietly try 443.
	if _, _, err := net.SplitHostPort(*target); err != nil {
		fail(2, "-greeter %q: want host:port, such as localhost:9999: %v", *target, err)
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(1, "%v", err)
	}
	// One connection for the whole process, shared by every request.
	conn, err := newConn(*target)
	if err != nil {
		fail(1, "connect to the greeter at %q: %v", *target, err)
	}
	srv := newServer(frontend.New(conn))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	host, port, _ := net.SplitHostPort(lis.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	fmt.Printf("frontend: serving on http://%s/hello?name=Ann\n", net.JoinHostPort(host, port))
	fmt.Println("frontend: greeter at", *target)

	select {
	case err := <-served:
		fail(1, "%v", err)
	case <-ctx.Done():
	}
	// Finish the requests under way, for a few seconds at most, and only
	// then close the connection they use.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); errors.Is(err, context.DeadlineExceeded) {
		slog.Warn("requests still running at the shutdown bound were cut")
		_ = srv.Close()
	}
	if err := conn.Close(); err != nil {
		fail(1, "%v", err)
	}
	fmt.Println("frontend: stopped")
}

// fail prints one line that says what went wrong, and exits with code.
func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "frontend: "+format+"\n", args...)
	os.Exit(code)
}
