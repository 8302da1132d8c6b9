package main_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<h1>Mystery books you may like</h1>")
	assert.Equal(t, 3, strings.Count(string(body), "<li>"))

	assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
}
