package proccpu_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proccpu"
)

// /proc/<pid>/stat: utime and stime after the command's name, which may
// hold spaces and parentheses; a short or odd line is an error, not a panic.
func TestParse(t *testing.T) {
	cpu, err := proccpu.Parse("4242 (python3 (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 3 0 100 0 0\n")
	require.NoError(t, err)
	assert.InDelta(t, 2.87, cpu, 1e-9)
	for _, stat := range []string{"", "4242 python3", "4242 (python3) S 1 4242", "4242 (python3) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 37"} {
		_, err := proccpu.Parse(stat)
		assert.Error(t, err, "%q", stat)
	}
}

func TestSeconds(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: not Linux")
	}
	cpu, err := proccpu.Seconds(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cpu, 0.0)

	_, err = proccpu.Seconds(-1)
	assert.ErrorContains(t, err, "CPU time of process -1")
}
