package main_test

import (
	"regexp"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const cmd = "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cmd/"

// binaries builds the greeter and the front end (once per test process).
func binaries(t *testing.T) (greeter, frontend string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, cmd+"greeter", cmd+"frontend")
	return bins[0], bins[1]
}

var (
	servingGRPC = regexp.MustCompile(`^greeter: serving gRPC on (\S+)`)
	servingHTTP = regexp.MustCompile(`^frontend: serving on (http://\S+)`)
)

// The front end greets through a real Greeter, and both stop cleanly on
// SIGTERM, the front end closing its connection on the way out.
func TestFrontendGreetsThroughTheGreeter(t *testing.T) {
	greeterBin, frontendBin := binaries(t)
	g := proctest.Start(t, greeterBin, []string{"-addr", "127.0.0.1:0"})
	addr := g.WaitFor(t, servingGRPC)[1]
	f := proctest.Start(t, frontendBin, []string{"-addr", "127.0.0.1:0", "-greeter", addr})
	url := f.WaitFor(t, servingHTTP)[1]
	assert.Equal(t, []string{"frontend: greeter at " + addr}, f.WaitFor(t, regexp.MustCompile(`^frontend: greeter at .*`)))

	status, body := proctest.Get(t, url)
	assert.Equal(t, 200, status)
	assert.Equal(t, "Hello, Ann!\n", body)

	assert.Equal(t, 0, f.Signal(t, syscall.SIGTERM), f.Output())
	assert.Regexp(t, `frontend: stopped\n?\z`, f.Output())
	assert.Equal(t, 0, g.Signal(t, syscall.SIGTERM), g.Output())
}

func TestBadFlagsAreNamed(t *testing.T) {
	_, frontendBin := binaries(t)
	stdout, stderr, code := proctest.Run(t, frontendBin, []string{"-greeter", "localhost"})
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Equal(t, `frontend: -greeter "localhost": want host:port, such as localhost:9999: address localhost: missing port in address`+"\n", stderr)
}
