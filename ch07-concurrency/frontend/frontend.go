// Package frontend is a small web front end to the Greeter, for the
// client's side of chapter 7: one gRPC connection for the whole process.
//
// The series met this lesson as a bug: a grpc.aio channel created at
// import time belongs to the event loop running then, and a web server
// that starts its own loop later finds the channel unusable. Go has no
// event loop to belong to, so the bug has no counterpart; the rule behind
// the fix carries over unchanged: create the connection once, at start-up,
// share it between every request's goroutine (a *grpc.ClientConn is safe
// for concurrent use and multiplexes calls over one HTTP/2 connection),
// and close it once, at shutdown.
package frontend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// CallTimeout bounds each call to the Greeter: a page should fail fast,
// with a message, rather than hang on a Greeter that is blocked.
const CallTimeout = 5 * time.Second

// Connect creates the process's one client connection to the Greeter at
// target, with opts added last. It is chapter 3's marketplace.Connect: no
// transport security, no service config from DNS, and reconnection about
// every second after an outage (the capped backoff). grpc.NewClient does
// no I/O: it connects on the first call, and reconnects by itself, so the
// front end starts even while the Greeter is down.
func Connect(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := marketplace.Connect(target, opts...)
	if err != nil {
		// marketplace.Connect's message names its own backend,
		// Recommendations: keep grpc.NewClient's error, name the Greeter.
		return nil, fmt.Errorf("connect to the greeter at %q: %w", target, errors.Unwrap(err))
	}
	return conn, nil
}

// New returns the front end's handler, which calls the Greeter on conn:
//
//	GET /hello?name=Ann            → Hello, Ann!
//	GET /hello?name=Ann&sleep=100  → the same, after the Greeter waits 100 ms
//
// Every request's goroutine uses the same conn.
func New(conn grpc.ClientConnInterface) http.Handler {
	client := pb.NewGreeterClient(conn)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := q.Get("name")
		if name == "" {
			http.Error(w, "say who to greet: /hello?name=Ann", http.StatusBadRequest)
			return
		}
		var sleep int64
		if s := q.Get("sleep"); s != "" {
			var err error
			if sleep, err = strconv.ParseInt(s, 10, 32); err != nil || sleep < 0 {
				http.Error(w, "sleep is a number of milliseconds", http.StatusBadRequest)
				return
			}
		}
		// The request's context ends when the visitor goes away, and the
		// Greeter's work is cancelled with it.
		ctx, cancel := context.WithTimeout(r.Context(), CallTimeout)
		defer cancel()
		reply, err := client.SayHello(ctx, &pb.HelloRequest{Name: name, SleepMillisecond: int32(sleep)})
		if err != nil {
			s := status.Convert(err)
			http.Error(w, fmt.Sprintf("the greeter did not answer: %s: %s", s.Code(), s.Message()), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, reply.GetMessage())
	})
	return mux
}

// Run is the front end's whole life: it connects to the Greeter at
// target, serves HTTP on lis until ctx ends, stops gracefully (chapter 1's
// httpserver), and only then closes the connection, once no request can
// use it any more. started, if not nil, is called once it serves.
func Run(ctx context.Context, lis net.Listener, target string, started func(), opts ...grpc.DialOption) (err error) {
	conn, err := Connect(target, opts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	if started != nil {
		started()
	}
	return httpserver.Serve(ctx, httpserver.New(New(conn)), lis)
}
