// Package proctest runs the workbook's binaries as real processes in tests.
//
// Some lessons are about processes, not functions: flags and environment,
// ports, signals, graceful exits. For those, tests build the real binaries
// into t.TempDir(), start them on loopback ports chosen by the kernel
// (-addr 127.0.0.1:0), learn the port from the line the binary prints once
// it listens, talk to them, and stop them with a signal.
package proctest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Timeout bounds every wait on a process: generous, because CI machines
// are small and busy, and only ever reached when something is broken.
const Timeout = 60 * time.Second

// built caches the binaries a test process has built, so a package with
// many tests (or -count=20) links each binary once.
var built struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// Build compiles each main package (an import path, or a ./relative pattern
// resolved from the module root) and returns the executables' paths in the
// same order. Binaries are built once per test process into a temporary
// directory; call Cleanup from TestMain to remove it.
func Build(t testing.TB, pkgs ...string) []string {
	t.Helper()
	TrackSources(t)
	built.Lock()
	defer built.Unlock()
	if built.dir == "" {
		sweepKilled()
		dir, err := os.MkdirTemp("", fmt.Sprintf("proctest-%d-", os.Getpid()))
		if err != nil {
			t.Fatalf("proctest: %v", err)
		}
		built.dir, built.paths = dir, map[string]string{}
	}
	root := ModuleRoot(t)
	paths := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		if path, ok := built.paths[pkg]; ok {
			paths[i] = path
			continue
		}
		path := filepath.Join(built.dir, fmt.Sprintf("%d-%s", len(built.paths), filepath.Base(pkg)))
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("proctest: go build %s: %v\n%s", pkg, err, out)
		}
		built.paths[pkg], paths[i] = path, path
	}
	return paths
}

// sweepKilled removes the binaries of earlier test processes that were
// killed before their Cleanup ran (go test's -timeout, a Ctrl+C): their
// directory names the process that made it, and that process is gone.
func sweepKilled() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "proctest-*-*"))
	for _, dir := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(dir), "proctest-%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH { // no such process
			_ = os.RemoveAll(dir)
		}
	}
}

// TrackSources makes `go test`'s cache depend on the repository's files.
// The cache keys a test's result on its own code and on the files the test
// opens; a test that builds binaries with the go command, or runs the
// docs' commands, depends on every source file without opening them, and
// would report a cached pass after a change that breaks it. Looking at
// each file (its size and time) puts it among the test's inputs.
func TrackSources(t testing.TB) {
	t.Helper()
	root := ModuleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
}

// VerifyTestMain is the TestMain of a package whose tests run processes:
// it runs the tests, checks with goleak that no goroutine (a pipe reader, an
// HTTP client) outlived them, removes the built binaries, and exits.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		Cleanup()
		os.Exit(code) // goleak.Cleanup replaces goleak's own os.Exit
	}))
}

// Cleanup removes the binaries Build made. VerifyTestMain calls it.
func Cleanup() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
		built.dir, built.paths = "", nil
	}
}

// Process is a running binary whose standard output and standard error
// are read line by line.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced whenever a line arrives
}

// Start runs bin with args and the current environment plus env
// ("KEY=value"). The process is killed when the test ends if it is still
// running.
func Start(t testing.TB, bin string, args []string, env ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...), done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	dieWithParent(p.cmd)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", bin, err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, s.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		_ = pw.Close()
		<-readDone // every line is recorded before done is closed
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitFor waits until a line of output matches re and returns its
// submatches. It fails the test if the process exits first or Timeout
// passes.
func (p *Process) WaitFor(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(Timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if m := re.FindStringSubmatch(lines[seen]); m != nil {
				return m
			}
		}
		select {
		case <-changed:
		case <-p.done:
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				t.Fatalf("proctest: process exited (%v) before printing a line matching %q; output:\n%s", p.err, re, p.Output())
			}
		case <-deadline:
			t.Fatalf("proctest: no line matching %q after %v; output:\n%s", re, Timeout, p.Output())
		}
	}
}

// Signal sends sig to the process and waits for it to exit, returning its
// exit code (-1 if a signal killed it).
func (p *Process) Signal(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	p.Send(t, sig)
	return p.Wait(t)
}

// Send sends sig to the process and returns at once, for a test that
// watches what the process does next.
func (p *Process) Send(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("proctest: signal: %v", err)
	}
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signaled reports whether a signal killed the process; call it after Wait.
func (p *Process) Signaled() bool {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// Wait waits for the process to exit on its own and returns its exit code.
func (p *Process) Wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(Timeout):
		t.Fatalf("proctest: process still running after %v; output:\n%s", Timeout, p.Output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Pid returns the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process has printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Run runs bin with args to completion, with the current environment plus
// env ("KEY=value"), and returns its standard output, standard error and
// exit code. It fails the test if bin runs longer than Timeout.
func Run(t testing.TB, bin string, args []string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var out, errOut strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("proctest: %s %q still running after %v", bin, args, Timeout)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("proctest: run %s: %v", bin, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// Get fetches url with a client of its own, closed afterwards (so goleak
// sees no idle connection left behind), and returns the status code and
// body.
func Get(t testing.TB, url string) (status int, body string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: Timeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("proctest: GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("proctest: GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(data)
}

// ModuleRoot returns the directory holding go.mod, walking up from the
// test's working directory (the package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("proctest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Need returns the path of the command name on PATH. Without it the test
// skips, saying how to install it, or fails under CI (CI set), which
// installs every tool the tests use.
func Need(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		why := name + " is not on PATH (" + install + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(why + "; CI installs it")
		}
		t.Skip(why)
	}
	return path
}
