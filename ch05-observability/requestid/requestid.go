// Package requestid gives every page request an ID that follows it from
// the browser's request, through the Marketplace, into the gRPC call to
// Recommendations, and into both services' log lines, so that one grep
// finds everything a request did.
//
// The Marketplace takes the ID from the request's X-Request-Id header (a
// proxy in front may have set it) or makes one, returns it in the
// response, and puts it in the request's context; the gRPC client
// interceptor copies it into the call's metadata as x-request-id, where
// the server's logging interceptor reads it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// Header is the HTTP header, and MetadataKey the gRPC metadata key (gRPC
// keys are lower case), that carry the ID.
const (
	Header      = "X-Request-Id"
	MetadataKey = "x-request-id"
)

type key struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// FromContext returns the ID ctx carries, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// FromIncoming returns the ID a gRPC server's incoming call carries in its
// metadata, or "".
func FromIncoming(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, MetadataKey); len(v) > 0 && Valid(v[0]) {
		return v[0]
	}
	return ""
}

// Middleware gives each request an ID, from its X-Request-Id header if that
// is a valid one, or a new random one, and sets it on the response.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !Valid(id) {
			id = New()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// New returns a random ID: 16 hex digits.
func New() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand's contract)
	return hex.EncodeToString(b)
}

// Valid reports whether id may be used as it is: 1 to 64 letters, digits,
// dashes, dots or underscores. Anything else, which a client could use to
// forge log lines, is replaced.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}
