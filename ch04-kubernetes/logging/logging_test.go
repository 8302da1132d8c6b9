package logging_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/logging"
)

// In a container the output is a pipe or a file: one JSON object a line,
// which a log collector parses without guessing.
func TestJSONWhenNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, logging.IsTerminal(f))
	logging.New(f).Info("serving gRPC", "addr", "[::]:50051")

	data, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	var line map[string]any
	require.NoError(t, json.Unmarshal(data, &line), "%s", data)
	assert.Equal(t, "INFO", line["level"])
	assert.Equal(t, "serving gRPC", line["msg"])
	assert.Equal(t, "[::]:50051", line["addr"])
	assert.Contains(t, line, "time")
}

// At a terminal, a person reads key=value text.
func TestTextAtATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	assert.True(t, logging.IsTerminal(tty))

	var out strings.Builder
	log := logging.NewTo(&out, true, slog.LevelInfo)
	log.Debug("not shown below the level")
	log.Info("serving gRPC", "addr", "[::]:50051")
	assert.Regexp(t, `^time=\S+ level=INFO msg="serving gRPC" addr=\[::\]:50051\n$`, out.String())
}
