// Package interceptors holds chapter 5's interceptors, written by hand:
// logging, the series' error logger, Prometheus metrics and panic recovery
// on the server; request IDs and metrics on the client.
//
// An interceptor is a function that gRPC calls instead of the handler (or,
// on a client, instead of sending the call), with the handler as an
// argument: it can act before and after, change the context, or answer
// without calling the handler at all. It is the Go counterpart of the
// series' grpc-interceptor classes, and of a decorator applied to every
// method of every service at once. A unary interceptor sees one request
// and one response; a stream interceptor sees the stream, and runs for the
// stream's whole life.
package interceptors
