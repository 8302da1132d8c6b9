// Package marketplace is the Marketplace web app: chapter 1's homepage,
// with its books now fetched from the Recommendations service over gRPC.
//
// The page and its template are chapter 1's. What changes is where the
// books come from, a pb.RecommendationsClient, and the rule for finding the
// service: RECOMMENDATIONS_HOST, on port 50051.
package marketplace

import (
	"bytes"
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

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// DefaultTimeout bounds each call to Recommendations when Options.Timeout
// is zero. About a second: long enough for a healthy service, short enough
// that a reader never waits long for a page whose recommendations are down.
const DefaultTimeout = time.Second

// Options tune the handler. The zero value is ready to use.
type Options struct {
	// Timeout bounds each Recommend call; a slow service is treated as an
	// unavailable one. Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger is told when recommendations become unavailable (with the
	// error) and when they are back (with the number of pages served
	// without them). The first failed call of an outage is logged at
	// error level, each further one at debug level only, so an outage
	// under load does not flood the log. Nil means slog.Default().
	Logger *slog.Logger
}

//go:embed templates/home.html
var templates embed.FS

// page is parsed once, at start-up; Must panics on a broken template, which
// is a bug in this repository, not a run-time condition.
var page = template.Must(template.ParseFS(templates, "templates/home.html"))

// pageData is what the template renders.
type pageData struct {
	Books       []*pb.BookRecommendation
	Unavailable bool
}

// New returns the homepage handler, which asks client for three mystery
// books for user 1 on every page. It serves GET / and answers 404 for any
// other path. When the call fails or is slower than the timeout, the page
// still renders, with HTTP 200, no books and a notice: a broken
// Recommendations must not take the whole store down. The log says when
// that starts and when it ends.
//
// client should be built on the process's one *grpc.ClientConn, which
// carries every page's call.
func New(client pb.RecommendationsClient, opts Options) http.Handler {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{client: client, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveHome)
	return mux
}

type handler struct {
	client pb.RecommendationsClient
	opts   Options

	// down is true from the first failed call until the next good one;
	// failed counts the pages served without books meanwhile.
	down   atomic.Bool
	failed atomic.Int64
}

func (h *handler) serveHome(w http.ResponseWriter, r *http.Request) {
	// gRPC sends the deadline with the request, so Recommendations gives up
	// on the call at the same moment the page does.
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()

	var data pageData
	resp, err := h.client.Recommend(ctx, &pb.RecommendationRequest{
		UserId:     1,
		Category:   pb.BookCategory_MYSTERY,
		MaxResults: 3,
	})
	if err != nil && r.Context().Err() != nil {
		return // the visitor left: no page to render, and no outage to report
	}
	if err != nil {
		h.failed.Add(1)
		// Only the request that sees the service go down logs it at
		// error level; during an outage under load, one line per page
		// would bury everything else in the log.
		if h.down.CompareAndSwap(false, true) {
			h.opts.Logger.ErrorContext(r.Context(), "recommendations unavailable", "err", err)
		} else {
			h.opts.Logger.DebugContext(r.Context(), "recommendations still unavailable", "err", err)
		}
		data.Unavailable = true
	} else {
		if h.down.CompareAndSwap(true, false) {
			h.opts.Logger.InfoContext(r.Context(), "recommendations available again",
				"pages_without_books", h.failed.Swap(0))
		}
		data.Books = resp.GetRecommendations()
	}

	// Render into a buffer first, so a template error becomes a clean 500
	// instead of half a page with a 200 status already sent.
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "render homepage", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

// HostEnv names the environment variable that holds the Recommendations
// host, as in the series. The port is always Port: RECOMMENDATIONS_PORT is
// never read, because Kubernetes sets it to tcp://ip:port for a Service
// named recommendations.
const (
	HostEnv     = "RECOMMENDATIONS_HOST"
	DefaultHost = "localhost"
	Port        = "50051"
)

// Target returns the host:port of the Recommendations service:
// $RECOMMENDATIONS_HOST (default localhost) on port 50051. getenv is
// os.Getenv in main and a map lookup in tests. A value that is not a bare
// host (it has a port, a scheme, a space) is an error that says what to
// write instead: left alone, it would make every page degraded for good.
func Target(getenv func(string) string) (string, error) {
	host := getenv(HostEnv)
	if host == "" {
		host = DefaultHost
	}
	if err := checkHost(host); err != nil {
		if CheckTarget(host) == nil {
			return "", fmt.Errorf("$%s=%q has a port: set it to the host alone (the port is always %s)", HostEnv, host, Port)
		}
		if inner, ok := strings.CutPrefix(host, "["); ok && net.ParseIP(strings.TrimSuffix(inner, "]")) != nil {
			return "", fmt.Errorf("$%s=%q: write an IPv6 address without brackets: %s", HostEnv, host, strings.TrimSuffix(inner, "]"))
		}
		return "", fmt.Errorf("$%s=%q: %w", HostEnv, host, err)
	}
	return net.JoinHostPort(host, Port), nil
}

// CheckTarget reports whether target is a usable host:port, such as
// localhost:50051 or [::1]:6000. Without a port, gRPC would quietly try 443.
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
	if net.ParseIP(host) != nil {
		return nil
	}
	for _, r := range host {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".-_", r)) {
			return fmt.Errorf("%q is not a host name or IP address", host)
		}
	}
	return nil
}

// URL is the address to open for a server listening on a: a wildcard
// address such as [::]:5000 becomes http://localhost:5000/.
func URL(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	return "http://" + a.String() + "/"
}
