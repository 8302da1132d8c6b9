// Package dockertest runs the workbook's real Dockerfiles and compose files
// in tests, on a machine with a Docker engine but no image registry.
//
// Two things make that work. The base images the Dockerfiles name
// (golang:1.26 and gcr.io/distroless/static-debian12:nonroot) are made
// locally when the engine lacks them: the first from this machine's own Go
// installation, the second from its CA certificates and a passwd file with
// the nonroot user, each turned into an image with `docker import`. They
// are stand-ins with the same names, so the Dockerfiles build unchanged,
// and they are removed again when the test ends. And `go mod download`
// inside the build is given a module proxy served from this machine's
// module cache (the build runs on the host's network to reach it), so the
// build needs no network and no second download.
//
// Every docker command has a time limit, and everything a test creates
// (containers, networks, image tags) is removed when it ends. Tests of
// different packages take turns through a lock file, because they share
// the base images.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

// The base images the workbook's Dockerfiles build from.
const (
	GolangImage     = "golang:1.26"
	DistrolessImage = "gcr.io/distroless/static-debian12:nonroot"
)

// Timeout bounds one docker command: an image build that downloads
// nothing takes a minute or two on a small machine.
const Timeout = 10 * time.Minute

// Engine returns the command that runs Compose (["docker", "compose"], or
// ["docker-compose"] where only the older tool is installed), after
// taking the lock that serialises Docker tests across packages. It skips
// the test, saying why, where no engine or Compose is available, or with
// -short. (.ci/run says beforehand whether an engine answers.)
func Engine(t *testing.T) (compose []string) {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		t.Skip(why)
	}
	if testing.Short() {
		skip("builds images and runs containers")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("no docker command: the container tests need a Docker engine")
	}
	if out, err := command(t, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		skip("no Docker engine answers (docker info: " + strings.TrimSpace(out) + ")")
	}
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		compose = []string{"docker", "compose"}
	case exec.Command("docker-compose", "version").Run() == nil:
		compose = []string{"docker-compose"}
	default:
		skip("no Compose: install the docker compose plugin or docker-compose")
	}
	lock(t)
	return compose
}

// lock takes an exclusive lock on a file shared by every test process of
// this machine, until the test ends.
func lock(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "bookstore-dockertest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("dockertest: lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
}

// Docker runs docker with args, fails the test on an error, and returns
// the combined output.
func Docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := command(t, "docker", args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// contextWithTimeout bounds one docker command.
func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), Timeout)
}

// command runs name with args in the repository root, bounded by Timeout.
func command(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = proctest.ModuleRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// BaseImages makes sure the Dockerfiles' base images exist, making local
// stand-ins for those the engine lacks, and removes the stand-ins when the
// test ends.
func BaseImages(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("dockertest: go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	stand := map[string]struct {
		files   func(*tar.Writer) error
		changes []string
	}{
		GolangImage: {
			files: func(tw *tar.Writer) error {
				if err := baseFiles(tw); err != nil {
					return err
				}
				for _, d := range []string{"go", "go/bin", "usr", "usr/local"} {
					if err := dir(tw, d, 0o755, 0); err != nil {
						return err
					}
				}
				return tree(tw, goroot, "usr/local/go")
			},
			changes: []string{"ENV PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin", "ENV GOPATH=/go",
				"ENV GOTOOLCHAIN=local", "WORKDIR /go"},
		},
		DistrolessImage: {
			files: func(tw *tar.Writer) error {
				if err := baseFiles(tw); err != nil {
					return err
				}
				return errors.Join(dir(tw, "home", 0o755, 0), dir(tw, "home/nonroot", 0o700, 65532))
			},
			changes: []string{"USER 65532:65532", "WORKDIR /home/nonroot", "ENV PATH=/usr/local/bin:/usr/bin:/bin"},
		},
	}
	for image, s := range stand {
		if _, err := command(t, "docker", "image", "inspect", image); err == nil {
			continue // a real one, or someone else's: leave it be
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := errors.Join(s.files(tw), tw.Close()); err != nil {
			t.Fatalf("dockertest: stand-in for %s: %v", image, err)
		}
		args := []string{"import"}
		for _, c := range s.changes {
			args = append(args, "--change", c)
		}
		args = append(args, "-", image)
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Stdin = &buf
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("dockertest: docker import %s: %v\n%s", image, err, out)
		}
		t.Logf("made a local stand-in for %s", image)
		t.Cleanup(func() { _, _ = command(t, "docker", "rmi", image) })
	}
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
// the Go distribution's tests and docs, which no build needs.
func tree(tw *tar.Writer, src, name string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (rel == "test" || rel == "doc" || rel == "api" || rel == "misc") {
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
		case info.Mode().IsRegular():
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

// ModuleProxy serves this machine's module cache as a Go module proxy on
// a loopback port until the test ends, and returns a GOPROXY value that
// asks it first and this machine's own GOPROXY for what it lacks.
func ModuleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("dockertest: go env: %v", err)
	}
	env := strings.Fields(string(out))
	if len(env) != 2 {
		t.Fatalf("dockertest: go env GOMODCACHE GOPROXY: %q", out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dockertest: %v", err)
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
	return "http://" + lis.Addr().String() + "," + env[1]
}

// Build builds dockerfile (relative to the repository root, which is the
// build context) into the image tag, on the host's network with the module
// proxy from ModuleProxy. The tag is removed when the test ends, and with
// it every intermediate image the build made: the build stage is tagged
// too (as tag-build), since `docker rmi` removes only the untagged
// ancestors of what it removes, and the build stage is no ancestor of the
// final image. Each of buildArgs ("NAME=value") is passed with
// --build-arg.
func Build(t *testing.T, dockerfile, tag, proxy string, buildArgs ...string) {
	t.Helper()
	start := time.Now()
	for _, target := range [][]string{{"--target", "build", "-t", tag + "-build"}, {"-t", tag}} {
		t.Cleanup(func() { _, _ = command(t, "docker", "rmi", target[len(target)-1]) })
		args := []string{"build", "--network", "host", "--build-arg", "GOPROXY=" + proxy, "--force-rm", "-f", dockerfile}
		for _, a := range buildArgs {
			args = append(args, "--build-arg", a)
		}
		Docker(t, append(append(args, target...), ".")...)
	}
	t.Logf("built %s from %s in %v", tag, dockerfile, time.Since(start).Round(time.Second))
}
