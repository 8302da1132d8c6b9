// Package marketplace is chapter 1's homepage, its books now fetched over gRPC.
package marketplace

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// Options tune the handler. The zero value is ready to use.
type Options struct {
	Timeout time.Duration // bounds each call, so slow counts as down; 0 means 1s
	Logger  *slog.Logger  // hears when an outage starts and ends; nil: slog.Default()
	// Metrics is where the handler counts and times its requests, under
	// client_golang's names for HTTP (promhttp's): http_requests_total{code,
	// method} and http_request_duration_seconds. nil: nowhere, and the page
	// goes uninstrumented.
	Metrics prometheus.Registerer
}

//go:embed templates/home.html
var templates embed.FS

var page = template.Must(template.ParseFS(templates, "templates/home.html"))

type pageData struct {
	Books       []*pb.BookRecommendation
	Unavailable bool
}

// New returns the GET / handler. It asks client for three mystery books, and if
// that fails renders a notice instead: a broken service must not take the store down.
func New(client pb.RecommendationsClient, opts Options) http.Handler {
	opts.Timeout = cmp.Or(opts.Timeout, time.Second)
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", (&handler{client: client, opts: opts}).serveHome)
	if opts.Metrics == nil { // nowhere to count: the page alone, as benchmarks measure it
		return mux
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests, by method and code."}, []string{"method", "code"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "How long requests took."}, nil) // 5 ms to 10 s
	opts.Metrics.MustRegister(requests, seconds)
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(seconds, mux))
}

type handler struct {
	client pb.RecommendationsClient
	opts   Options
	failed atomic.Int64 // pages served without books since the last good call
}

func (h *handler) serveHome(w http.ResponseWriter, r *http.Request) {
	// gRPC sends the deadline along, so the server gives up when the page does.
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()

	resp, err := h.client.Recommend(ctx, &pb.RecommendationRequest{
		UserId:     1,
		Category:   pb.BookCategory_MYSTERY,
		MaxResults: 3,
	})
	switch {
	case err != nil && r.Context().Err() != nil:
		return // the visitor left: no page to render, and no outage to report
	case err != nil:
		// Only an outage's first failure logs an error: one per page would flood the log.
		level := slog.LevelDebug
		if h.failed.Add(1) == 1 {
			level = slog.LevelError
		}
		h.opts.Logger.Log(r.Context(), level, "recommendations unavailable", "err", err)
	default:
		if n := h.failed.Swap(0); n > 0 {
			h.opts.Logger.InfoContext(r.Context(), "recommendations available again", "pages_without_books", n)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// On error resp is nil, and its getter returns no books.
	_ = page.Execute(w, pageData{Books: resp.GetRecommendations(), Unavailable: err != nil})
}

// Recommendations is at $RECOMMENDATIONS_HOST:50051. RECOMMENDATIONS_PORT is
// never read: Kubernetes sets it to tcp://ip:port.
const (
	HostEnv = "RECOMMENDATIONS_HOST"
	Port    = "50051"
)

// Target returns host:port for Recommendations. A HostEnv that is not a bare
// host would degrade every page for good: the error says what to write.
func Target(getenv func(string) string) (string, error) {
	host := cmp.Or(getenv(HostEnv), "localhost")
	if err := checkHost(host); err != nil {
		if CheckTarget(host) == nil {
			return "", fmt.Errorf("$%s=%q has a port: set it to the host alone (the port is always %s)", HostEnv, host, Port)
		}
		if ip, ok := strings.CutPrefix(strings.TrimSuffix(host, "]"), "["); ok && net.ParseIP(ip) != nil {
			return "", fmt.Errorf("$%s=%q: write an IPv6 address without brackets: %s", HostEnv, host, ip)
		}
		return "", fmt.Errorf("$%s=%q: %w", HostEnv, host, err)
	}
	return net.JoinHostPort(host, Port), nil
}

// CheckTarget reports whether target is a usable host:port, such as
// localhost:50051. Without a port, gRPC would quietly try 443.
func CheckTarget(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err == nil {
		err = checkHost(host)
	}
	if err != nil {
		return fmt.Errorf("want host:port, such as localhost:%s: %w", Port, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("want host:port: %q is not a port number from 1 to 65535", port)
	}
	return nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if net.ParseIP(host) == nil && strings.ContainsFunc(host, notInHostName) {
		return fmt.Errorf("%q is not a host name or IP address", host)
	}
	return nil
}

func notInHostName(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".-_", r))
}

// URL is the page to open for a server on a; [::]:5000 gives localhost:5000.
func URL(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	return "http://" + a.String() + "/"
}
