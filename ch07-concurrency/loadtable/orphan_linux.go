package loadtable

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux kill a server if loadtable dies (a panic, a
// SIGKILL), so that no server is left behind holding a port. It repeats
// internal/proctest's: proctest imports testing, a test helper a command's
// engine should not link in, and two lines are cheaper than a package.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
