// Package cli is what both of chapter 6's services do the same way at the
// command line: parse their flags, make their logger, exit on a failure.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// Parse parses args into fs, then runs check if it is not nil. A stray
// argument is refused (the flags after it would be ignored); a mistake is
// one line and exit code 2; -h prints the flags and exits 0.
func Parse(fs *flag.FlagSet, args []string, check func() error) {
	fs.SetOutput(io.Discard) // Parse's error is printed below, in one line
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fs.Usage()
		os.Exit(0)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: flags only, and they come first", fs.Arg(0))
	}
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (%[1]s -h lists the flags)\n", fs.Name(), err)
		os.Exit(2)
	}
}

// NewLogger logs at level and above: key=value text to a person at a
// terminal, JSON lines otherwise (in a container, for a log collector).
func NewLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// ExitIf ends the process with status 1 if err is a failure, logging what
// failed. Neither nil nor http.ErrServerClosed is: an http.Server's Serve
// returns the latter once Shutdown or Close has stopped it.
func ExitIf(log *slog.Logger, what string, err error) {
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(what, "err", err)
		os.Exit(1)
	}
}

// NewHTTPServer serves h with bounds on a client's time over a request and
// a connection, and on its headers' size: the public page's and /metrics'.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}
