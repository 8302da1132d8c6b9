package dockertest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

// Stack is one Compose project of a compose file, named uniquely so that
// it never touches what a reader runs.
type Stack struct {
	t       *testing.T
	compose []string // the command that runs Compose, from Engine
	file    string   // the compose file, relative to the repository root
	env     []string
	// Project is the Compose project's name: bookstoretest, the run, and
	// a number.
	Project string
}

var stacks atomic.Int64

// NewStack returns a stack of file (relative to the repository root) run
// by compose (from Engine), with env added to Compose's environment. When
// the test ends it is brought down, and the test fails if a container or
// network of it is left.
func NewStack(t *testing.T, compose []string, file string, env ...string) *Stack {
	t.Helper()
	s := &Stack{t: t, compose: compose, file: file, env: env}
	s.Project = projectPrefix + runID(t) + "s" + strconv.FormatInt(stacks.Add(1), 10)
	t.Cleanup(func() {
		s.Run("down", "--volumes", "--remove-orphans", "--timeout", "10")
		filter := "label=com.docker.compose.project=" + s.Project
		if out := Docker(t, "ps", "-aq", "--filter", filter); out != "" {
			t.Errorf("containers of %s left after down: %s", s.Project, out)
		}
		if out := Docker(t, "network", "ls", "-q", "--filter", filter); out != "" {
			t.Errorf("networks of %s left after down: %s", s.Project, out)
		}
		if out := Docker(t, "volume", "ls", "-q", "--filter", filter); out != "" {
			t.Errorf("volumes of %s left after down: %s", s.Project, out)
		}
	})
	return s
}

// Run runs Compose with args for this project, bounded by the test's
// deadline, and returns its output, failing the test on an error.
func (s *Stack) Run(args ...string) string {
	s.t.Helper()
	args = append(slices.Clone(s.compose[1:]), append([]string{"-p", s.Project, "-f", s.file}, args...)...)
	ctx, cancel := commandContext(s.t)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.compose[0], args...)
	cmd.Dir = proctest.ModuleRoot(s.t)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", s.compose[0], strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Containers returns the IDs of service's running containers.
func (s *Stack) Containers(service string) []string {
	s.t.Helper()
	return strings.Fields(Docker(s.t, "ps", "-q",
		"--filter", "label=com.docker.compose.project="+s.Project,
		"--filter", "label=com.docker.compose.service="+service))
}

// IP returns a container's address on its network.
func (s *Stack) IP(id string) string {
	s.t.Helper()
	return strings.TrimSpace(Docker(s.t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
}

// FreePort returns a loopback TCP port nothing listens on right now, for a
// port a container publishes.
func FreePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	defer lis.Close()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

// WaitUntil polls ok until it holds, or fails the test after two minutes
// (containers start slowly on a small machine), or sooner if the test's
// deadline, less the time kept for cleanups, comes first.
func WaitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	bound := 2 * time.Minute
	if d, has := t.Deadline(); has {
		bound = min(bound, time.Until(d)-cleanupTime)
	}
	testwait.UntilWithin(t, max(bound, time.Second), what, ok)
}

// Certs runs a chapter's certificate maker, the main package gencerts (an
// import path), as a reader does, into a new folder, and makes the files
// named in readable readable by the containers' non-root user (0644), as
// the compose files' comments tell a reader to; the CA's key stays 0600.
// It returns the folder, for BOOKSTORE_CERTS.
func Certs(t *testing.T, gencerts string, readable ...string) string {
	t.Helper()
	bin := proctest.Build(t, gencerts)[0]
	dir := filepath.Join(t.TempDir(), "certs")
	if stdout, stderr, code := proctest.Run(t, bin, []string{"-dir", dir}); code != 0 {
		t.Fatalf("dockertest: %s exited %d: %s%s", gencerts, code, stdout, stderr)
	}
	for _, f := range readable {
		if err := os.Chmod(filepath.Join(dir, f), 0o644); err != nil {
			t.Fatalf("dockertest: %v", err)
		}
	}
	return dir
}
