package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Flags are cmd/loadgen's flags. The defaults are ghz's (-c 50, -n 200,
// one connection, a 20 s deadline a call) with the series' request (name
// Joe, 10 ms), so `loadgen -c 100 -n 10000` is the series' ghz command.
type Flags struct {
	Addr    string
	MaxTime time.Duration // the whole run's limit: a load is bounded in time too
	Config
	sleepMS int
}

// NewFlags registers the flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:9999", "the Greeter's host:port")
	fs.IntVar(&f.Concurrency, "c", 50, "concurrent calls (workers)")
	fs.IntVar(&f.Total, "n", 200, "calls in all")
	fs.IntVar(&f.Connections, "connections", 1, "client connections, shared round-robin by the workers")
	fs.StringVar(&f.Name, "name", "Joe", "the name sent in each request")
	fs.IntVar(&f.sleepMS, "sleep", 10, "sleep_millisecond sent in each request")
	fs.DurationVar(&f.Timeout, "timeout", 20*time.Second, "each call's deadline (0: none)")
	fs.DurationVar(&f.MaxTime, "max-time", 10*time.Minute, "stop taking new calls after this long")
	return f
}

// Check completes the configuration from the flags and checks it: pass it
// to cmdline.Main.
func (f *Flags) Check() error {
	if f.Addr == "" {
		return fmt.Errorf("-addr is empty: the Greeter's host:port is needed")
	}
	if _, port, err := net.SplitHostPort(f.Addr); err != nil || port == "" {
		return fmt.Errorf("-addr %q: the Greeter's host:port is needed, such as 127.0.0.1:9999", f.Addr)
	}
	if f.sleepMS < 0 {
		return fmt.Errorf("-sleep %d: a non-negative number of milliseconds is needed", f.sleepMS)
	}
	if f.MaxTime <= 0 {
		return fmt.Errorf("-max-time %v: must be positive", f.MaxTime)
	}
	f.Sleep = time.Duration(f.sleepMS) * time.Millisecond
	return f.Config.Check()
}

// Main runs the load the flags describe against f.Addr and prints ghz's
// summary to w. ctx ending (an interrupt) stops it early, with a summary of
// the calls made. When no call succeeded (the server is down, or every call
// failed), Main still prints the summary and then returns an error that
// starts "no call succeeded" and carries the first call's error.
func Main(ctx context.Context, f *Flags, w io.Writer, opts ...grpc.DialOption) error {
	ctx, cancel := context.WithTimeout(ctx, f.MaxTime)
	defer cancel()
	r, err := RunAt(ctx, f.Addr, f.Config, opts...)
	if err != nil {
		return err
	}
	if err := r.WriteSummary(w); err != nil {
		return err
	}
	if r.Codes[codes.OK] == 0 {
		first := r.FirstError
		if first == nil { // ctx ended before any call was made
			first = errors.New("no call was made")
		}
		return fmt.Errorf("no call succeeded: %w", first)
	}
	return nil
}
