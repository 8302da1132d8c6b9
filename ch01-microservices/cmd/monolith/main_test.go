package main_test

import (
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

func monolith(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	return proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmd/monolith")[0]
}

// items returns the text of every <li> on the page, in order.
func items(body string) []string {
	var items []string
	for _, part := range strings.Split(body, "<li>")[1:] {
		text, _, _ := strings.Cut(part, "</li>")
		items = append(items, text)
	}
	return items
}

var serving = regexp.MustCompile(`serving the bookstore on (http://\S+)`)

// The monolith as a real process: it serves the homepage on the address
// given with -addr and exits cleanly on SIGTERM.
func TestMonolithServesTheHomepage(t *testing.T) {
	p := proctest.Start(t, monolith(t), []string{"-addr", "127.0.0.1:0"})
	url := p.WaitFor(t, serving)[1]

	status, body := proctest.Get(t, url)
	assert.Equal(t, 200, status)
	assert.Contains(t, body, "<title>Online Books For You</title>")
	assert.Contains(t, body, "<h1>Mystery books you may like</h1>")
	assert.ElementsMatch(t, []string{"The Maltese Falcon", "Murder on the Orient Express", "The Hound of the Baskervilles"}, items(body))

	assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), p.Output())
	assert.Contains(t, p.Output(), "monolith: stopped")
}

// With -seed, two runs pick the same books in the same order.
func TestMonolithSeedRepeatsThePicks(t *testing.T) {
	bin := monolith(t)
	var pages []string
	for range 2 {
		p := proctest.Start(t, bin, []string{"-addr", "127.0.0.1:0", "-seed", "7"})
		url := p.WaitFor(t, serving)[1]
		_, body := proctest.Get(t, url)
		_, second := proctest.Get(t, url)
		pages = append(pages, strings.Join(items(body), "|")+" then "+strings.Join(items(second), "|"))
		assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM))
	}
	assert.Equal(t, pages[0], pages[1])
}

// Bad usage gets one line naming the mistake and exit code 2; nothing is
// served with a flag silently ignored.
func TestMonolithRejectsBadUsage(t *testing.T) {
	bin := monolith(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"extra-arg", "-addr", "127.0.0.1:0"}, `monolith: unexpected argument "extra-arg"`},
		{[]string{"-seed", "-1"}, `monolith: invalid value "-1" for flag -seed`},
		{[]string{"-port", "5000"}, "monolith: flag provided but not defined: -port"},
	} {
		stdout, stderr, code := proctest.Run(t, bin, tc.args)
		assert.Equal(t, 2, code, "%q", tc.args)
		assert.Empty(t, stdout, "%q", tc.args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		assert.True(t, strings.HasPrefix(stderr, tc.want), "%q: %q", tc.args, stderr)
	}
	stdout, stderr, code := proctest.Run(t, bin, []string{"-h"})
	assert.Equal(t, 0, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "-addr string")
}
