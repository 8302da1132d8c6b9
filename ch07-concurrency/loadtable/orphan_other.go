//go:build !linux

package loadtable

import "os/exec"

// dieWithParent needs Linux's Pdeathsig; elsewhere stop does the cleanup.
// See orphan_linux.go for why it repeats internal/proctest's.
func dieWithParent(*exec.Cmd) {}
