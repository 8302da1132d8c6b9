package dockertest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// StandIn builds an image tagged tag that runs bin, an executable of this
// machine, with entrypoint as its arguments and env ("KEY=value") in its
// environment: the binary and the C library it links, on nothing else
// (FROM scratch), with an empty /tmp and the directories in dirs. It stands in for a registry's image of the same
// program (Debian's Prometheus for Prometheus', the Jaeger that
// tools/jaeger builds for Jaeger's), which this machine cannot pull. The
// image carries the run's label and goes with the run's cleanup.
func StandIn(t *testing.T, tag, bin string, entrypoint, env []string, dirs ...string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	copyFile := func(src, dst string) {
		t.Helper()
		data, err := os.ReadFile(src)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(dst), 0o755)
		}
		if err == nil {
			err = os.WriteFile(dst, data, 0o755)
		}
		if err != nil {
			t.Fatalf("dockertest: stand-in %s: %v", tag, err)
		}
	}
	name := "/bin/" + filepath.Base(bin)
	copyFile(bin, filepath.Join(root, name))
	// ldd names each shared library and the loader, by absolute path.
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("dockertest: ldd %s: %v", bin, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			copyFile(f, filepath.Join(root, f))
		}
	}
	for _, d := range append([]string{"/tmp"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o777); err != nil {
			t.Fatalf("dockertest: %v", err)
		}
	}
	argv, err := json.Marshal(append([]string{name}, entrypoint...))
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	dockerfile := "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT " + string(argv) + "\n"
	for _, kv := range env {
		dockerfile += "ENV " + kv + "\n"
	}
	if err := os.WriteFile(filepath.Join(root, "..", "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	Docker(t, "build", "--force-rm", "--label", Label+"="+runID(t), "-t", tag, filepath.Dir(root))
}
