package main_test

import (
	"regexp"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/homepage/homepagetest"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// The monolith as a real process: it serves the homepage on the address
// given with -addr and exits cleanly on SIGTERM.
func TestMonolithServesTheHomepage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	bin := proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmd/monolith")[0]
	p := proctest.Start(t, bin, []string{"-addr", "127.0.0.1:0"})
	url := p.WaitFor(t, regexp.MustCompile(`serving the bookstore on (http://\S+)`))[1]

	status, body := proctest.Get(t, url)
	homepagetest.AssertHome(t, status, body)

	assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
}
