package loadtable

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux kill a server if loadtable dies (a panic, a
// SIGKILL), so that no server is left behind holding a port.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
