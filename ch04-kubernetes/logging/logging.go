// Package logging sets up the production binaries' structured logger
// (log/slog): one JSON object per line when the output is not a terminal,
// as in a container, whose output a log collector parses; and key=value
// text when a person watches a terminal.
package logging

import (
	"io"
	"log/slog"
	"os"
)

// New returns a logger writing to f, in JSON unless f is a terminal, at
// level Info and above.
func New(f *os.File) *slog.Logger {
	return NewTo(f, IsTerminal(f), slog.LevelInfo)
}

// NewTo returns a logger writing to w, as text for a terminal or as JSON,
// at level and above.
func NewTo(w io.Writer, terminal bool, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if terminal {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
