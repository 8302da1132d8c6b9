package main_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// loadgen builds the binary (once per test process).
func loadgen(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	return proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cmd/loadgen")[0]
}

// An -addr that is not host:port is a flag mistake: one line, exit 2.
func TestAddrMustBeHostPort(t *testing.T) {
	stdout, stderr, code := proctest.Run(t, loadgen(t), []string{"-addr", "9999"})
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Equal(t, `loadgen: -addr "9999": the Greeter's host:port is needed, such as 127.0.0.1:9999 (loadgen -h lists the flags)`+"\n", stderr)
}

// With nothing listening, every call fails: the summary still prints, and
// stderr says why in one line, with exit 1.
func TestNoCallSucceededExits1(t *testing.T) {
	bin := loadgen(t)
	// A loopback port that was free a moment ago and is closed now.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	stdout, stderr, code := proctest.Run(t, bin, []string{"-addr", addr, "-c", "2", "-n", "4"})
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "  [Unavailable]   4 responses   \n")
	assert.Regexp(t, `\Aloadgen: no call succeeded: rpc error: code = Unavailable desc = .+\n\z`, stderr)
}
