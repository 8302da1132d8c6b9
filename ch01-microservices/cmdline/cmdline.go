// Package cmdline gives every binary in the workbook the same command line:
// -h prints the flags and exits 0, and a mistake (an unknown flag, a value
// that does not parse, a stray argument, a value a check refuses) prints
// one line that names it and exits 2, the code Go's flag package uses for
// bad usage. A reader who mistypes a flag sees the mistake, not a wall of
// usage text, and a server never starts with half of its flags ignored.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Parse parses args (without the program name) into fs, refuses positional
// arguments, and then runs checks in order, stopping at the first error.
// Flags must come first: the flag package stops at the first argument that
// is not a flag, so "marketplace extra -addr :8080" would otherwise ignore
// -addr. Parse prints nothing; -h returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, checks ...func() error) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // errors are returned, not printed twice
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes flags only, and they come first", fs.Arg(0), fs.Name())
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// Main is Parse for a main function: on -h it prints the usage to standard
// error and exits 0; on any other error it prints one line,
// "name: problem (name -h lists the flags)", and exits 2.
func Main(fs *flag.FlagSet, args []string, checks ...func() error) {
	err := Parse(fs, args, checks...)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		fs.Usage()
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, Describe(fs, err))
		os.Exit(2)
	}
}

// Describe formats a usage error the way Main prints it.
func Describe(fs *flag.FlagSet, err error) string {
	return fmt.Sprintf("%s: %v (%s -h lists the flags)", fs.Name(), err, fs.Name())
}
