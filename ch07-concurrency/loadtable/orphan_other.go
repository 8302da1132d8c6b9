//go:build !linux

package loadtable

import "os/exec"

// dieWithParent needs Linux's Pdeathsig; elsewhere stop does the cleanup.
func dieWithParent(*exec.Cmd) {}
