package docscheck_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// g. the output shown for `go test ./X/...` lists the packages that exist

// testOutputRE matches go test's summary line for one package: "ok",
// "FAIL" or "?" (no test files), then the import path.
var testOutputRE = regexp.MustCompile(`^(ok|FAIL|\?)\s+(\S+)`)

// TestDocsGoTestOutputMatchesPackages re-reads the output the docs show
// under a `$ go test ... ./path/...` prompt: every package line must name a
// package that exists, "[no test files]" must be said of exactly the
// packages without tests, and when the output lists packages at all it must
// list every one the pattern matches. So adding tests to a package, or a
// package to a chapter, fails here until the page shows it.
func TestDocsGoTestOutputMatchesPackages(t *testing.T) {
	r := findRepo(t)
	listed := map[string]map[string]bool{} // pattern → import path → has tests
	for _, doc := range loadDocs(t, r).All {
		for _, b := range doc.Blocks {
			for _, shown := range goTestTranscripts(b) {
				pkgs, ok := listed[shown.pattern]
				if !ok {
					var err error
					if pkgs, err = listPackages(r.Root, shown.pattern); err != nil {
						t.Errorf("%s:%d: go list %s: %v", doc.Rel, shown.line, shown.pattern, err)
						continue
					}
					listed[shown.pattern] = pkgs
				}
				report(t, compareTestOutput(fmt.Sprintf("%s:%d", doc.Rel, shown.line), shown, pkgs))
			}
		}
	}
}

// transcript is one `go test` command shown with its output.
type transcript struct {
	line    int
	pattern string
	lines   []string // the output lines that follow the prompt
}

// goTestTranscripts finds `$ go test ... ./pattern` prompts in a block and
// the output lines after each, up to the next prompt.
func goTestTranscripts(b codeBlock) []transcript {
	var out []transcript
	var cur *transcript
	for i, l := range b.Lines {
		if cmd, ok := isPrompt(l); ok {
			cur = nil
			words := strings.Fields(cmd)
			if len(words) >= 3 && words[0] == "go" && words[1] == "test" {
				last := words[len(words)-1]
				if strings.HasPrefix(last, "./") {
					out = append(out, transcript{line: b.Start + i, pattern: last})
					cur = &out[len(out)-1]
				}
			}
			continue
		}
		if cur != nil {
			cur.lines = append(cur.lines, l)
		}
	}
	return out
}

// listPackages maps each package matching pattern to whether it has tests.
func listPackages(root, pattern string) (map[string]bool, error) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .TestGoFiles}} {{len .XTestGoFiles}}", pattern)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	pkgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			pkgs[f[0]] = f[1] != "0" || f[2] != "0"
		}
	}
	return pkgs, nil
}

func compareTestOutput(where string, shown transcript, pkgs map[string]bool) []string {
	var problems []string
	seen := map[string]bool{}
	for _, l := range shown.lines {
		m := testOutputRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		verdict, path := m[1], m[2]
		hasTests, exists := pkgs[path]
		switch {
		case !exists:
			problems = append(problems, fmt.Sprintf("%s: the output of `go test %s` shows package %s, which it does not match", where, shown.pattern, path))
		case verdict == "?" && hasTests:
			problems = append(problems, fmt.Sprintf("%s: the output says %s has no test files, but it has tests now: run the command again and paste its output", where, path))
		case verdict != "?" && !hasTests:
			problems = append(problems, fmt.Sprintf("%s: the output shows tests for %s, which has no test files", where, path))
		}
		seen[path] = true
	}
	if len(seen) == 0 {
		return problems // output without package lines (-v, -run): nothing to compare
	}
	var missing []string
	for path := range pkgs {
		if !seen[path] {
			missing = append(missing, path)
		}
	}
	sort.Strings(missing)
	for _, path := range missing {
		problems = append(problems, fmt.Sprintf("%s: the output of `go test %s` does not show package %s: run the command again and paste its output", where, shown.pattern, path))
	}
	return problems
}

func TestCompareTestOutput(t *testing.T) {
	pkgs := map[string]bool{"m/a": true, "m/b": false}
	good := transcript{pattern: "./...", lines: []string{"ok  \tm/a\t0.1s", "?   \tm/b\t[no test files]"}}
	if p := compareTestOutput("x", good, pkgs); len(p) != 0 {
		t.Errorf("good output reported: %q", p)
	}
	for name, lines := range map[string][]string{
		"stale no-test-files": {"ok  \tm/a\t0.1s", "?   \tm/a\t[no test files]", "?   \tm/b\t[no test files]"},
		"unknown package":     {"ok  \tm/a\t0.1s", "?   \tm/b\t[no test files]", "ok  \tm/gone\t0.1s"},
		"missing package":     {"ok  \tm/a\t0.1s"},
		"tests where none":    {"ok  \tm/a\t0.1s", "ok  \tm/b\t0.1s"},
	} {
		if p := compareTestOutput("x", transcript{pattern: "./...", lines: lines}, pkgs); len(p) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
	verbose := transcript{pattern: "./...", lines: []string{"=== RUN   TestX", "--- PASS: TestX (0.00s)", "PASS"}}
	if p := compareTestOutput("x", verbose, pkgs); len(p) != 0 {
		t.Errorf("output without package lines reported: %q", p)
	}
}
