package greeter

import (
	"fmt"
	"strings"
)

// Mode selects how the Greeter runs its handlers: the names are the
// benchmark contract's values of cmd/greeter's -mode flag.
type Mode string

const (
	// Go is idiomatic grpc-go: every call runs on its own goroutine, and the
	// wait honours the call's context.
	Go Mode = "go"
	// EventLoop reproduces the asyncio pitfall: every call is handed to one
	// loop goroutine, which runs one step at a time, and whose wait blocks
	// (time.Sleep, like time.sleep inside an async def).
	EventLoop Mode = "eventloop"
	// OneStream is the Go mode behind grpc.MaxConcurrentStreams(1): a
	// connection carries one call at a time, so a client with one
	// connection is served one call after another.
	OneStream Mode = "onestream"
)

// Modes lists the modes in the order the flag's help names them.
func Modes() []Mode { return []Mode{Go, EventLoop, OneStream} }

// String returns the mode's name; with Set, it makes *Mode a flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set accepts one of the modes' names, and refuses anything else with an
// error that names the valid ones.
func (m *Mode) Set(s string) error {
	for _, v := range Modes() {
		if s == string(v) {
			*m = v
			return nil
		}
	}
	names := make([]string, 0, len(Modes()))
	for _, v := range Modes() {
		names = append(names, string(v))
	}
	return fmt.Errorf("unknown mode %q: want one of %s", s, strings.Join(names, ", "))
}
