package proctest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux kill the process when the test binary dies, so
// that a test killed mid-run (a panic on go test's -timeout, a SIGQUIT)
// leaves no server behind holding ports and files.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
