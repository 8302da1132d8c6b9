package main_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// The baseline has none of the Greeter's bounds, so it listens on loopback
// unless told otherwise: its -h says so.
func TestListensOnLoopbackByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cmd/baseline")[0]
	_, stderr, code := proctest.Run(t, bin, []string{"-h"})
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, `(default "127.0.0.1:9999")`)
}
