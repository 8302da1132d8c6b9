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
// and close it once, at shutdown. cmd/frontend does all three.
package frontend

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
)

// CallTimeout bounds each call to the Greeter: a page should fail fast,
// with a message, rather than hang on a Greeter that is blocked.
const CallTimeout = 5 * time.Second

// MaxName is the longest name, in bytes, the front end passes on.
const MaxName = 256

// MaxSlow is how many requests that ask the Greeter to wait may call it at
// once: half the 100 calls its connection carries. Beyond that a visitor
// gets 503 at once, so that visitors who hold calls for seconds cannot
// take every call and make everyone else queue behind them.
const MaxSlow = 50

// New returns the front end's handler, which calls the Greeter on conn:
//
//	GET /hello?name=Ann            → Hello, Ann!
//	GET /hello?name=Ann&sleep=100  → the same, after the Greeter waits 100 ms
//
// A missing or too long name, or a sleep that is not a number of
// milliseconds from 0 to the Greeter's greeter.MaxSleep, is a 400: the
// visitor's mistake never reaches the Greeter. Every request's goroutine
// uses the same conn.
func New(conn grpc.ClientConnInterface) http.Handler {
	client := pb.NewGreeterClient(conn)
	slow := make(chan struct{}, MaxSlow) // a token for each waiting call
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := q.Get("name")
		if name == "" || len(name) > MaxName {
			http.Error(w, fmt.Sprintf("say who to greet, in at most %d bytes: /hello?name=Ann", MaxName), http.StatusBadRequest)
			return
		}
		var sleep int64
		if s := q.Get("sleep"); s != "" {
			var err error
			sleep, err = strconv.ParseInt(s, 10, 32)
			if err != nil || sleep < 0 || sleep > greeter.MaxSleep.Milliseconds() {
				http.Error(w, fmt.Sprintf("sleep is a number of milliseconds from 0 to %d", greeter.MaxSleep.Milliseconds()), http.StatusBadRequest)
				return
			}
		}
		if sleep > 0 {
			select {
			case slow <- struct{}{}:
				defer func() { <-slow }()
			default:
				http.Error(w, fmt.Sprintf("%d requests that sleep are in flight: try again later", MaxSlow), http.StatusServiceUnavailable)
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
