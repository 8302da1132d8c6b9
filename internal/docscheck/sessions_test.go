//go:build unix

package docscheck_test

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

var update = flag.Bool("update", false, "rewrite the output in console blocks with what the commands print now")

// waitBound bounds every wait for a command: generous, since a first
// `go run` compiles, and only ever reached when something is broken;
// stopBound, the wait for a killed command to be gone.
const (
	waitBound = 3 * time.Minute
	stopBound = 10 * time.Second
)

func TestSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the docs' commands")
	}
	for _, port := range []string{"5000", "50051", "9090", "9091", "9999", "8080"} {
		lis, err := net.Listen("tcp", ":"+port)
		if err != nil {
			unavailable(t, "port "+port+" is in use, and the docs' commands use the bookstore's default ports: "+
				"stop what listens there (a bookstore left running?) to run them")
			return
		}
		require.NoError(t, lis.Close())
	}
	proctest.TrackSources(t)
	root, pages := readPages(t)
	work := scratchCopy(t, root)
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			var edits []edit
			for _, sec := range p.sections() {
				if !slices.ContainsFunc(sec.blocks, func(b block) bool { return len(b.info) > 0 && b.info[0] == "console" }) {
					continue
				}
				t.Run(sec.heading, func(t *testing.T) { edits = append(edits, runSection(t, work, p, sec)...) })
			}
			if *update && len(edits) > 0 {
				slices.SortFunc(edits, func(a, b edit) int { return b.start - a.start })
				lines := slices.Clone(p.lines)
				for _, e := range edits {
					lines = slices.Replace(lines, e.start, e.end, e.lines...)
				}
				require.NoError(t, os.WriteFile(filepath.Join(root, p.path), []byte(strings.Join(lines, "\n")), 0o644))
			}
		})
	}
}

// step is one command of a console block, and the lines [start, end) of
// the page that show its output.
type step struct {
	command    string
	start, end int
	where      string
}

// edit replaces the lines [start, end) of a page.
type edit struct {
	start, end int
	lines      []string
}

// scratchCopy copies the repository at root (less .git) to a directory of
// its own, where the sessions run: what their commands write (chapter 6's
// certificates, a binary built with go build) lands there, never in the
// working tree. The directory's name depends only on root, so that the go
// command's build cache, which keys a package on its directory too, still
// serves a second run; it is removed when the test ends, and at the start
// of the next run if a killed run left it behind.
func scratchCopy(t *testing.T, root string) string {
	t.Helper()
	work := filepath.Join(os.TempDir(), fmt.Sprintf("docscheck-%x", sha256.Sum256([]byte(root)))[:len("docscheck-")+12])
	require.NoError(t, os.RemoveAll(work))
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(work, rel), 0o755)
		case !d.Type().IsRegular():
			return nil // sockets, links: nothing a session reads
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(work, rel), data, info.Mode().Perm())
	})
	require.NoError(t, err, "copy the repository to %s for the sessions", work)
	return work
}

// runSection runs the console blocks of one section in dir, and returns the
// edits that would make the page show what the commands printed.
func runSection(t *testing.T, dir string, p page, sec section) (edits []edit) {
	var servers []*terminal
	var serverSteps []step
	defer func() {
		for i, term := range slices.Backward(servers) { // last started, first stopped
			// Press Ctrl+C once the server has printed what the page shows
			// before the ^C, as a reader would.
			before := 0
			for _, line := range p.lines[serverSteps[i].start:serverSteps[i].end] {
				if strings.HasPrefix(line, "^C") {
					break
				}
				before++
			}
			term.waitFor(func(out string) bool { return strings.Count(out, "\n") >= before })
			term.press("\x03") // Ctrl+C
			edits = append(edits, check(t, p, serverSteps[i], term)...)
		}
	}()
	for _, b := range sec.blocks {
		if len(b.info) == 0 || b.info[0] != "console" {
			continue
		}
		for _, word := range b.info[1:] {
			if name, ok := strings.CutPrefix(word, "needs="); ok {
				if missing := lack(name); missing != "" {
					unavailable(t, missing)
					return edits
				}
			}
		}
		var steps []step
		for i := b.start; i < b.end; i++ {
			where := fmt.Sprintf("%s:%d", p.path, i+1)
			if command, ok := strings.CutPrefix(p.lines[i], "$ "); ok {
				steps = append(steps, step{command, i + 1, i + 1, where})
			} else if len(steps) == 0 {
				t.Errorf("%s: a console block starts with a command, a line beginning with \"$ \"", where)
				return edits
			} else {
				steps[len(steps)-1].end = i + 1
			}
		}
		if slices.Contains(b.info, "server") {
			if len(steps) != 1 {
				t.Errorf("%s: a server block holds one command, not %d", p.path, len(steps))
				return edits
			}
			term := start(t, dir, steps[0].command)
			if !term.waitFor(func(out string) bool { return strings.Contains(out, "\n") }) {
				t.Errorf("%s: $ %s: printed no line; it printed:\n%s", steps[0].where, steps[0].command, term.output())
			}
			servers, serverSteps = append(servers, term), append(serverSteps, steps[0])
			continue
		}
		for _, st := range steps {
			edits = append(edits, check(t, p, st, start(t, dir, st.command))...)
		}
	}
	return edits
}

// check waits for a command to end, compares what it printed with what the
// page shows, and returns the edit that would show what it printed.
func check(t *testing.T, p page, st step, term *terminal) []edit {
	t.Helper()
	if !term.waitFor(nil) {
		t.Errorf("%s: $ %s: still running after %v (a server? mark its block ```console server)", st.where, st.command, waitBound)
		term.kill()
	}
	got := strings.TrimSuffix(term.output(), "\n")
	want := strings.Join(p.lines[st.start:st.end], "\n")
	if normalize(got) == normalize(want) {
		return nil
	}
	if *update {
		var lines []string
		if got != "" {
			lines = strings.Split(got, "\n")
		}
		return []edit{{st.start, st.end, lines}}
	}
	assert.Equal(t, want, got, "%s: $ %s\nprints something else than the page shows (-update shows what it prints)", st.where, st.command)
	return nil
}

// volatile matches what changes from run to run although nothing is wrong:
// dates and times of day; timings (go test's "(0.00s)" and "\t0.012s" at
// the end of a line, a log's duration=1.2ms or go-grpc-middleware's
// grpc.time_ms=0.143); a certificate's random
// serial=; and any digit or "]" followed by ":" and digits, which is meant
// for the port after an IP address (127.0.0.1:54321, [::1]:54321: a
// client's port, which the kernel picks) but masks every other
// digits:digits too, such as a time of day without a date or a host name
// ending in a digit and its port, the digit before the colon included.
var volatile = regexp.MustCompile(`\d{4}[/-]\d\d[/-]\d\d([ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?)?` +
	`|\(\d+\.\d\ds\)|\t\d+\.\d+s$|duration=\S+|grpc.time_ms=\S+|serial=\S+|(\d|\]):\d+\b`)

func normalize(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = volatile.ReplaceAllString(l, "<volatile>")
	}
	return strings.Join(lines, "\n")
}

// lack says what is missing for a needs= prerequisite, naming the program
// it looked at, or "" when the first program of that name on PATH (as the
// reader's shell would find it) is there and able.
func lack(name string) string {
	if name == "python-grpc" {
		py, err := exec.LookPath("python3")
		if err != nil {
			return "no python3 on PATH"
		}
		if out, err := exec.Command(py, "-c", "import grpc, grpc_tools").CombinedOutput(); err != nil {
			return fmt.Sprintf("%s (the python3 on PATH) cannot import grpc and grpc_tools: %s",
				py, strings.TrimSpace(string(out)))
		}
		return ""
	}
	if _, err := exec.LookPath(name); err != nil {
		return name + " is not on PATH"
	}
	return ""
}

// unavailable skips what cannot run here, except in CI, which must run all.
// (A skip ends the test only after the deferred stops of its servers.)
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Error(why)
		return
	}
	t.Skip(why)
}

// terminal is one command running in a pseudo-terminal of its own, as in a
// reader's terminal window: one stream of output, and Ctrl+C to stop it.
type terminal struct {
	cmd  *exec.Cmd
	pty  *os.File
	done chan struct{} // closed once the command has exited and its output is read

	mu      sync.Mutex
	out     bytes.Buffer
	arrived chan struct{} // closed and replaced when output arrives
}

// start runs command with bash in a new terminal in dir. The command and
// all it started are killed when the test ends, if still running.
func start(t *testing.T, dir, command string) *terminal {
	t.Helper()
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = dir
	// The reader's environment, less what would change what the commands
	// print: the bookstore's own variables, a collector, extra go flags.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "RECOMMENDATIONS_") || strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "GOFLAGS=")
	})
	f, err := pty.Start(cmd) // a new session: Ctrl+C reaches everything it starts
	require.NoError(t, err, "start a terminal for %q", command)
	term := &terminal{cmd: cmd, pty: f, done: make(chan struct{}), arrived: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		for buf := make([]byte, 4096); ; {
			n, err := f.Read(buf) // fails once nothing holds the terminal open
			term.mu.Lock()
			term.out.Write(buf[:n])
			close(term.arrived)
			term.arrived = make(chan struct{})
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		<-read
		_ = f.Close()
		close(term.done)
	}()
	t.Cleanup(term.kill)
	return term
}

// waitFor waits until ok(output) holds, or with a nil ok until the command
// has ended; false means it did not happen within waitBound.
func (term *terminal) waitFor(ok func(string) bool) bool {
	deadline := time.After(waitBound)
	for {
		term.mu.Lock()
		out, arrived := term.out.String(), term.arrived
		term.mu.Unlock()
		if ok != nil && ok(out) {
			return true
		}
		select {
		case <-arrived:
		case <-term.done:
			return ok == nil || ok(term.output())
		case <-deadline:
			return false
		}
	}
}

// press types keys into the terminal; "\x03" is Ctrl+C, which the terminal
// turns into SIGINT for the command and everything it started.
func (term *terminal) press(keys string) { _, _ = term.pty.WriteString(keys) }

// kill kills the command and everything it started, and waits, bounded,
// for them to be gone.
func (term *terminal) kill() {
	_ = syscall.Kill(-term.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-term.done:
	case <-time.After(stopBound):
	}
}

// output returns what the command printed, with the terminal's line
// endings (\r\n) turned back into \n.
func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return strings.ReplaceAll(term.out.String(), "\r\n", "\n")
}
