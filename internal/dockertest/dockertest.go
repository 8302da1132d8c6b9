// Package dockertest runs the workbook's real Dockerfiles and compose files
// in tests, on a machine with a Docker engine but no image registry.
//
// The API, in the order a test calls it:
//
//	compose := dockertest.Engine(t)        // skips without an engine; sweeps a killed run's leftovers
//	args := dockertest.BaseImages(t, "chNN/Dockerfile") // test-only base images, as build args
//	dockertest.Build(t, "chNN/Dockerfile", "recommendations", "bookstore/recommendations:"+tag, args...)
//	s := dockertest.NewStack(t, compose, "chNN/docker-compose.yaml", "BOOKSTORE_TAG="+tag)
//	s.Run("up", "--detach", "--no-build")  // then s.Containers, s.IP, dockertest.WaitUntil
//
// or, for the same compose file as a Docker Swarm stack (swarm.go):
//
//	sw := dockertest.NewSwarm(t)           // swarm init; leaves the swarm at cleanup
//	st := sw.Deploy("chNN/docker-compose.yaml", "BOOKSTORE_TAG="+tag)
//
// The Dockerfiles name their base images in build arguments, GO_IMAGE (the
// build stage, golang:1.26 by default) and RUNTIME_IMAGE (what ships,
// gcr.io/distroless/static-debian12:nonroot by default). BaseImages makes
// stand-ins for both from this machine's own Go installation and CA
// certificates, under test-only names (dockertest/golang:RUN and
// dockertest/runtime:RUN), never the real names, and returns the build
// arguments that select them. Build adds GOPROXY, a module proxy served
// from this machine's module cache, so the build downloads nothing.
//
// Everything a run creates carries the label io.gobookstore.dockertest=RUN
// (the base images have it, so every image, intermediate image and
// container built on them inherits it) or belongs to a compose project
// named bookstoretestRUN. Cleanup removes it all. A run killed before its
// cleanup (go test's -timeout, Ctrl+C) leaves its things behind; the next
// Engine call removes those of every run whose process is gone, which a
// lock file per run tells. Runs of several packages may share the engine
// at once.
//
// Every docker command is bounded by the test's deadline (go test
// -timeout), keeping a minute for the cleanups.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

// Label is the label on everything a run creates; its value is the run.
const Label = "io.gobookstore.dockertest"

// projectPrefix starts the name of every compose project a run brings up.
const projectPrefix = "bookstoretest"

// cleanupTime is what a test keeps of its deadline for its cleanups.
const cleanupTime = time.Minute

// run is this test process's run: its name, and the lock that tells other
// runs it is alive.
var run struct {
	once sync.Once
	id   string
	lock *os.File // held open, and locked, for the life of the process
	err  error
}

// lockDir holds one lock file per run, held while the run's process lives.
func lockDir() string { return filepath.Join(os.TempDir(), "bookstore-dockertest") }

// runID returns this process's run, starting it on first use: it takes
// the run's lock for as long as the process lives.
func runID(t testing.TB) string {
	t.Helper()
	run.once.Do(func() {
		run.id = RandomSuffix()
		if run.err = os.MkdirAll(lockDir(), 0o700); run.err != nil {
			return
		}
		f, err := os.OpenFile(filepath.Join(lockDir(), run.id), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			run.err = err
			return
		}
		// Never unlocked nor closed (run.lock keeps the file from being
		// collected, which would close it): the kernel drops the lock when
		// the process ends, however it ends.
		run.lock = f
		run.err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	})
	if run.err != nil {
		t.Fatalf("dockertest: run lock: %v", run.err)
	}
	return run.id
}

// alive reports whether run's process still holds its lock.
func alive(id string) bool {
	f, err := os.Open(filepath.Join(lockDir(), id))
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return true
	}
	_ = os.Remove(f.Name())
	return false
}

// Engine returns the command that runs Compose (["docker", "compose"], or
// ["docker-compose"] where only the older tool is installed), after
// removing what killed runs left. It skips the test, saying exactly what
// is missing, without a docker command, an engine that answers, or
// Compose, and with -short.
func Engine(t *testing.T) (compose []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds images and runs containers")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command on PATH: the container tests need a Docker engine")
	}
	if out, err := command(t, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skip("no Docker engine answers `docker info`: " + strings.TrimSpace(out))
	}
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		compose = []string{"docker", "compose"}
	case exec.Command("docker-compose", "version").Run() == nil:
		compose = []string{"docker-compose"}
	default:
		t.Skip("neither `docker compose` nor `docker-compose` runs: install one of them")
	}
	me := runID(t)
	sweep(t, func(id string) bool { return id != me && !alive(id) })
	t.Cleanup(func() {
		sweep(t, func(id string) bool { return id == me })
		removeContext()
	})
	return compose
}

// sweep removes the containers, compose networks and volumes, and images
// of every run for which gone returns true.
func sweep(t testing.TB, gone func(run string) bool) {
	t.Helper()
	// list runs docker with args, which print "ID RUN" lines, or with
	// project, "ID PROJECT" lines, and returns the IDs of gone runs.
	list := func(project bool, args ...string) (ids []string) {
		out, _ := command(t, "docker", args...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			id, value, _ := strings.Cut(line, " ")
			if project {
				p, ok := strings.CutPrefix(value, projectPrefix)
				if !ok || len(p) < len(run.id) {
					continue // not a test's project
				}
				value = p[:len(run.id)]
			}
			if id != "" && value != "" && gone(value) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	byRun := `{{.ID}} {{.Label "` + Label + `"}}`
	byProject := `{{.Label "com.docker.compose.project"}}`
	if ids := list(false, "ps", "-a", "--filter", "label="+Label, "--format", byRun); len(ids) > 0 {
		_, _ = command(t, "docker", append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	if ids := list(true, "ps", "-a", "--filter", "label=com.docker.compose.project", "--format", "{{.ID}} "+byProject); len(ids) > 0 {
		_, _ = command(t, "docker", append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	if ids := list(true, "network", "ls", "--filter", "label=com.docker.compose.project", "--format", "{{.ID}} "+byProject); len(ids) > 0 {
		_, _ = command(t, "docker", append([]string{"network", "rm"}, ids...)...)
	}
	if ids := list(true, "volume", "ls", "--filter", "label=com.docker.compose.project", "--format", "{{.Name}} "+byProject); len(ids) > 0 {
		_, _ = command(t, "docker", append([]string{"volume", "rm", "-f"}, ids...)...)
	}
	// Lock files of runs that are gone (alive removes them).
	locks, _ := filepath.Glob(filepath.Join(lockDir(), "????????"))
	for _, l := range locks {
		if id := filepath.Base(l); id != run.id {
			alive(id)
		}
	}
	// Snapshots of the repository (see Build).
	dirs, _ := filepath.Glob(filepath.Join(lockDir(), "*-context-*"))
	for _, d := range dirs {
		if id, _, _ := strings.Cut(filepath.Base(d), "-"); gone(id) {
			_ = os.RemoveAll(d)
		}
	}
	// Images: `docker images` cannot print labels, so ask inspect, then
	// let prune remove each gone run's images, children before parents.
	out, _ := command(t, "docker", "images", "-a", "-q", "--no-trunc", "--filter", "label="+Label)
	if ids := strings.Fields(out); len(ids) > 0 {
		out, _ = command(t, "docker", append([]string{"image", "inspect", "--format", `{{index .Config.Labels "` + Label + `"}}`}, ids...)...)
		runs := map[string]bool{}
		for _, r := range strings.Fields(out) {
			runs[r] = true
		}
		for r := range runs {
			if gone(r) {
				_, _ = command(t, "docker", "image", "prune", "-a", "-f", "--filter", "label="+Label+"="+r)
			}
		}
	}
}

// Docker runs docker with args, fails the test on an error, and returns
// the combined output.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := command(t, "docker", args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// commandContext bounds one command by the test's deadline, less the time
// kept for cleanups (or, in a cleanup, by the deadline itself); with no
// deadline, by ten minutes.
func commandContext(t testing.TB) (context.Context, context.CancelFunc) {
	end := time.Now().Add(10 * time.Minute)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok {
			end = d.Add(-cleanupTime)
			if time.Until(end) < 10*time.Second {
				end = d.Add(-5 * time.Second) // cleaning up: use what is left
			}
		}
	}
	return context.WithDeadline(context.Background(), end)
}

// command runs name with args in the repository root, bounded by the
// test's deadline.
func command(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := commandContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = proctest.ModuleRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The build arguments that name the Dockerfiles' base images.
const (
	GoImageArg      = "GO_IMAGE"
	RuntimeImageArg = "RUNTIME_IMAGE"
)

// BaseImages makes this run's stand-ins for the base images of
// dockerfile (relative to the repository root), once per test process,
// and returns the build arguments that select them:
// "GO_IMAGE=dockertest/golang:RUN" and "RUNTIME_IMAGE=dockertest/runtime:RUN".
// Both go with the run's cleanup.
//
// The runtime stand-in holds, like distroless, CA certificates,
// /etc/passwd with user nonroot (65532) and /tmp. The golang stand-in holds
// this machine's Go installation, and a build cache warmed for the
// Dockerfile: BaseImages first runs the Dockerfile's own `RUN ["go",
// "build", ...]` steps here, with its ENV settings, into a cache kept
// between runs (in the user's cache directory), and the stand-in carries
// that cache. The build in the image then compiles only what changed since
// the last run, as on a CI runner with a warm cache; on a fresh machine it
// costs one cold build, here instead of in the image.
func BaseImages(t *testing.T, dockerfile string) []string {
	t.Helper()
	base.Do(func() { base.args, base.err = makeBaseImages(t, dockerfile) })
	if base.err != nil {
		t.Fatalf("dockertest: %v", base.err)
	}
	return base.args
}

var base struct {
	sync.Once
	args []string
	err  error
}

// warmCache runs dockerfile's go build steps on this machine, into a
// build cache of its own, and returns the cache's directory.
func warmCache(t *testing.T, dockerfile string) (string, error) {
	root := proctest.ModuleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, dockerfile))
	if err != nil {
		return "", err
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "bookstore-dockertest", strings.NewReplacer("/", "_", ".", "_").Replace(dockerfile))
	out := t.TempDir()
	// As in the image: no GOFLAGS but the Dockerfile's, the Dockerfile's ENV.
	env := append(os.Environ(), "GOCACHE="+dir, "GOFLAGS=")
	for _, line := range strings.Split(string(data), "\n") {
		if kv, ok := strings.CutPrefix(line, "ENV "); ok {
			env = append(env, strings.TrimSpace(kv))
		}
		step, ok := strings.CutPrefix(line, "RUN ")
		var argv []string
		if !ok || json.Unmarshal([]byte(step), &argv) != nil || len(argv) < 2 || argv[0] != "go" || argv[1] != "build" {
			continue
		}
		for i := range argv {
			if i > 0 && argv[i-1] == "-o" {
				argv[i] = out + "/"
			}
		}
		ctx, cancel := commandContext(t)
		cmd := exec.CommandContext(ctx, "go", argv[1:]...)
		cmd.Dir, cmd.Env = root, env
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, b)
		}
	}
	return dir, nil
}

func makeBaseImages(t *testing.T, dockerfile string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	start := time.Now()
	gocache, err := warmCache(t, dockerfile)
	if err != nil {
		return nil, fmt.Errorf("warming the build cache: %w", err)
	}
	t.Logf("warmed the build cache for %s in %v", dockerfile, time.Since(start).Round(time.Second))
	id := runID(t)
	images := []struct {
		arg, name string
		files     func(*tar.Writer) error
		changes   []string
	}{{
		GoImageArg, "dockertest/golang:" + id,
		func(tw *tar.Writer) error {
			return errors.Join(baseFiles(tw), dir(tw, "go", 0o755, 0), dir(tw, "usr", 0o755, 0),
				dir(tw, "usr/local", 0o755, 0), tree(tw, goroot, "usr/local/go"), tree(tw, gocache, "gocache"))
		},
		[]string{"ENV PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin", "ENV GOPATH=/go", "ENV GOCACHE=/gocache",
			"ENV GOTOOLCHAIN=local", "WORKDIR /go"},
	}, {
		RuntimeImageArg, "dockertest/runtime:" + id,
		func(tw *tar.Writer) error {
			return errors.Join(baseFiles(tw), dir(tw, "home", 0o755, 0), dir(tw, "home/nonroot", 0o700, 65532))
		},
		[]string{"USER 65532:65532", "WORKDIR /home/nonroot", "ENV PATH=/usr/local/bin:/usr/bin:/bin"},
	}}
	var args []string
	for _, img := range images {
		start := time.Now()
		cmdArgs := []string{"import", "--change", "LABEL " + Label + "=" + id}
		for _, c := range img.changes {
			cmdArgs = append(cmdArgs, "--change", c)
		}
		// The archive streams into docker import as it is written.
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			pw.CloseWithError(errors.Join(img.files(tw), tw.Close()))
		}()
		ctx, cancel := commandContext(t)
		cmd := exec.CommandContext(ctx, "docker", append(cmdArgs, "-", img.name)...)
		cmd.Stdin = pr
		out, err := cmd.CombinedOutput()
		cancel()
		_ = pr.CloseWithError(io.ErrClosedPipe) // ends the writer if import stopped early
		if err != nil {
			return nil, fmt.Errorf("docker import %s: %v\n%s", img.name, err, out)
		}
		t.Logf("made %s in %v", img.name, time.Since(start).Round(time.Second))
		args = append(args, img.arg+"="+img.name)
	}
	return args, nil
}

// baseFiles writes what both stand-ins share: /etc/passwd and /etc/group
// with root, nobody and nonroot (65532, as in distroless), the CA
// certificates, and a /tmp anyone may write.
func baseFiles(tw *tar.Writer) error {
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	return errors.Join(
		dir(tw, "etc", 0o755, 0), dir(tw, "etc/ssl", 0o755, 0), dir(tw, "etc/ssl/certs", 0o755, 0),
		dir(tw, "tmp", 0o1777, 0),
		file(tw, "etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		file(tw, "etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")),
		file(tw, "etc/ssl/certs/ca-certificates.crt", 0o644, certs),
	)
}

func dir(tw *tar.Writer, name string, mode int64, uid int) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid})
}

func file(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// tree writes the directory src into the archive under name, leaving out
// what no build of a module needs: the Go distribution's tests, docs and
// the sources of its own commands (which come compiled, in pkg/tool).
func tree(tw *tar.Writer, src, name string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (rel == "test" || rel == "doc" || rel == "api" || rel == "misc" || rel == filepath.Join("src", "cmd") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.ToSlash(filepath.Join(name, rel))
		switch {
		case d.IsDir():
			return dir(tw, target, int64(info.Mode().Perm()), 0)
		case info.Mode().IsRegular() && !strings.HasSuffix(rel, "_test.go"):
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(info.Mode().Perm()), Size: info.Size()}); err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			return err
		}
		return nil // no links in a Go distribution that a build needs
	})
}

// moduleProxy serves this machine's module cache as a Go module proxy on a
// loopback port until the test ends, and returns a GOPROXY value that asks
// it first and this machine's own GOPROXY for the rest.
func moduleProxy(t *testing.T) (string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	env := strings.Fields(string(out))
	if len(env) != 2 {
		return "", fmt.Errorf("go env GOMODCACHE GOPROXY: %q", out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	cache := filepath.Join(env[0], "cache", "download")
	srv := &http.Server{Handler: http.FileServer(http.Dir(cache)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	// The go command falls through to the next proxy on a 404.
	return "http://" + lis.Addr().String() + "," + env[1], nil
}

// snapshot is a copy of the repository (less .git), made at a test's
// first Build and removed with the test's Engine cleanup: all the images of
// a test are built from the same source, so the second finds the first
// one's build stage in Docker's cache even while files change in the
// working tree.
var snapshot struct {
	sync.Mutex
	dir string
}

func buildContext(t *testing.T) (string, error) {
	snapshot.Lock()
	defer snapshot.Unlock()
	if snapshot.dir != "" {
		return snapshot.dir, nil
	}
	dir, err := os.MkdirTemp(lockDir(), runID(t)+"-context-")
	if err != nil {
		return "", err
	}
	root := proctest.ModuleRoot(t)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
		}
		return nil // no links the builds need
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	snapshot.dir = dir
	return dir, nil
}

// removeContext removes the snapshot, if any.
func removeContext() {
	snapshot.Lock()
	defer snapshot.Unlock()
	if snapshot.dir != "" {
		_ = os.RemoveAll(snapshot.dir)
		snapshot.dir = ""
	}
}

// Build builds the stage target of dockerfile (relative to the repository
// root, which is the build context) into the image tag, on the host's
// network with GOPROXY set to a proxy of this machine's module cache, and
// with each of buildArgs ("NAME=value", such as BaseImages' results). The
// image, and every intermediate image, carries the run's label through
// the stand-in base images and goes with the run's cleanup. All the builds
// of a test process use one copy of the repository, taken at the first:
// building a second stage of the same Dockerfile reuses the first one's
// layers.
func Build(t *testing.T, dockerfile, target, tag string, buildArgs ...string) {
	t.Helper()
	proxy, err := moduleProxy(t)
	if err != nil {
		t.Fatalf("dockertest: module proxy: %v", err)
	}
	dir, err := buildContext(t)
	if err != nil {
		t.Fatalf("dockertest: copying the build context: %v", err)
	}
	start := time.Now()
	args := []string{"build", "--network", "host", "--force-rm", "--label", Label + "=" + runID(t),
		"--build-arg", "GOPROXY=" + proxy, "-f", dockerfile, "--target", target, "-t", tag}
	for _, a := range buildArgs {
		args = append(args, "--build-arg", a)
	}
	ctx, cancel := commandContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append(args, ".")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s (%s of %s) in %v, %d of %d steps from Docker's cache", tag, target, dockerfile,
		time.Since(start).Round(time.Second), bytes.Count(out, []byte("Using cache")), bytes.Count(out, []byte("\nStep ")))
}

// RandomSuffix returns eight random hex digits, for names and tags that
// must not collide with anyone else's.
func RandomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
