package cmdline_test

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
)

// newFlags is a flag set like a binary's: one string and one duration.
func newFlags() (*flag.FlagSet, *string, *int) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "listen address")
	n := fs.Int("n", 1, "a number")
	return fs, addr, n
}

func TestParseAcceptsFlags(t *testing.T) {
	fs, addr, n := newFlags()
	require.NoError(t, cmdline.Parse(fs, []string{"-addr", "127.0.0.1:8080", "-n", "3"}))
	assert.Equal(t, "127.0.0.1:8080", *addr)
	assert.Equal(t, 3, *n)
}

func TestParseRejectsMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		// The flag after a stray argument would be silently ignored.
		{[]string{"extra", "-addr", "127.0.0.1:15000"}, `unexpected argument "extra": server takes flags only`},
		{[]string{"-addr", ":1", "extra"}, `unexpected argument "extra"`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-n", "many"}, `invalid value "many" for flag -n`},
		{[]string{"-addr"}, "flag needs an argument: -addr"},
	} {
		fs, _, _ := newFlags()
		var out strings.Builder
		fs.SetOutput(&out)
		err := cmdline.Parse(fs, tc.args)
		if assert.Error(t, err, "%q", tc.args) {
			assert.Contains(t, err.Error(), tc.want, "%q", tc.args)
		}
		assert.Empty(t, out.String(), "Parse prints nothing, so main prints the error once")
	}
}

func TestParseRunsChecksInOrder(t *testing.T) {
	fs, _, n := newFlags()
	var ran []string
	errTooSmall := errors.New("-n must be at least 2")
	err := cmdline.Parse(fs, []string{"-n", "1"},
		func() error { ran = append(ran, "first"); return nil },
		func() error {
			ran = append(ran, "second")
			if *n < 2 {
				return errTooSmall
			}
			return nil
		},
		func() error { ran = append(ran, "third"); return nil },
	)
	assert.ErrorIs(t, err, errTooSmall)
	assert.Equal(t, []string{"first", "second"}, ran, "the checks see parsed flags and stop at the first error")
}

func TestParseHelp(t *testing.T) {
	fs, _, _ := newFlags()
	assert.ErrorIs(t, cmdline.Parse(fs, []string{"-h"}), flag.ErrHelp)
}

func TestDescribeIsOneLine(t *testing.T) {
	fs, _, _ := newFlags()
	err := cmdline.Parse(fs, []string{"-n", "many"})
	line := cmdline.Describe(fs, err)
	assert.Equal(t, `server: invalid value "many" for flag -n: parse error (server -h lists the flags)`, line)
	assert.NotContains(t, line, "\n")
}
