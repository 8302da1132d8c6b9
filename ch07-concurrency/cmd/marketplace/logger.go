package main

import (
	"log/slog"
	"os"
)

// newLogger logs at level and above: key=value text to a person at a
// terminal, JSON lines otherwise (in a container, for a log collector).
func newLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
