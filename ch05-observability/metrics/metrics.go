// Package metrics serves a process's Prometheus metrics at /metrics, on an
// address of their own: operators' tools scrape it, readers of the
// bookstore never see it, and a busy public port cannot starve it.
package metrics

import (
	"context"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/httpserver"
)

// Path is where the metrics are served.
const Path = "/metrics"

// NewRegistry returns a registry with the Go runtime's and the process's
// metrics (goroutines, heap, CPU seconds, open files) already in it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics at Path in Prometheus' text format.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// Serve serves reg's metrics on lis until ctx ends, with chapter 1's
// httpserver (timeouts, graceful shutdown).
func Serve(ctx context.Context, lis net.Listener, reg *prometheus.Registry) error {
	return httpserver.Serve(ctx, httpserver.New(Handler(reg)), lis)
}
