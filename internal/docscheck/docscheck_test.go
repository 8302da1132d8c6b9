package docscheck_test

import (
	"bufio"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

// testCommand is the command that runs every test: README.md shows it and
// .ci/run runs it.
const testCommand = "go test -race ./..."

// forbiddenAPI is the deprecated gRPC dial API (DESIGN §6: grpc.NewClient
// and insecure.NewCredentials() only). The package qualifier is joined on
// at run time, so that no file, this one included, holds the forbidden
// strings and the check needs no exception for itself.
var forbiddenAPI = qualify("grpc.", "Dial(", "DialContext(", "WithInsecure(", "WithBlock(", "FailOnNonTempDialError")

func qualify(pkg string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pkg + n
	}
	return out
}

// TestMain removes the binaries TestDocsGoRunFlagsExist builds.
func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// repo is the repository the tests run in.
type repo struct {
	Root   string // absolute path of the directory holding go.mod
	Module string // module path from go.mod
}

// findRepo finds the repository root (proctest.ModuleRoot) and reads the
// module path from its go.mod.
func findRepo(t *testing.T) repo {
	t.Helper()
	root := proctest.ModuleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	r := repo{Root: root, Module: modulePath(string(data))}
	require.NotEmpty(t, r.Module, "%s: no module line", filepath.Join(root, "go.mod"))
	return r
}

// modulePath returns the path on go.mod's module line.
func modulePath(gomod string) string {
	for _, l := range strings.Split(gomod, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// docs are the Markdown files the checks read.
type docs struct {
	Readme *mdDoc   // nil when README.md is missing
	All    []*mdDoc // README.md (if present) and docs/*.md
	Pages  []string // docs/*.md, relative to the root
}

// loadDocs reads README.md and docs/*.md. A missing README.md, or no page
// in docs/, fails the test (with a message saying so) but the checks still
// run on the files that exist.
func loadDocs(t *testing.T, r repo) docs {
	t.Helper()
	var d docs
	data, err := os.ReadFile(filepath.Join(r.Root, "README.md"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Errorf("README.md: missing at the repository root (%s). It is checked here: it must show the command "+
			"`%s` and link every docs/NN-*.md page.", r.Root, testCommand)
	case err != nil:
		t.Errorf("README.md: %v", err)
	default:
		d.Readme = parseCached("README.md", string(data))
		d.All = append(d.All, d.Readme)
	}
	pages, err := filepath.Glob(filepath.Join(r.Root, "docs", "*.md"))
	require.NoError(t, err)
	if len(pages) == 0 {
		t.Errorf("docs/: no *.md page found in %s (one docs/NN-name.md per chapter)", filepath.Join(r.Root, "docs"))
	}
	sort.Strings(pages)
	for _, p := range pages {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		rel := "docs/" + filepath.Base(p)
		d.Pages = append(d.Pages, rel)
		d.All = append(d.All, parseCached(rel, string(data)))
	}
	return d
}

// parsed caches parseMarkdown's results by file and content: the race
// detector makes regular expressions slow, and -count=20 reads the same
// files a hundred times.
var parsed sync.Map // rel + "\x00" + content → *mdDoc

func parseCached(rel, content string) *mdDoc {
	key := rel + "\x00" + content
	if d, ok := parsed.Load(key); ok {
		return d.(*mdDoc)
	}
	d, _ := parsed.LoadOrStore(key, parseMarkdown(rel, content))
	return d.(*mdDoc)
}

// report fails the test once for each problem.
func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// ---------------------------------------------------------------------------
// a. go run/test/build/vet/generate paths exist and hold Go packages

func TestDocsGoCommandPathsExist(t *testing.T) {
	r := findRepo(t)
	report(t, checkGoPaths(r, loadDocs(t, r).All))
}

// checkGoPaths checks the package arguments of every go command in the
// code of docs.
func checkGoPaths(r repo, all []*mdDoc) []string {
	var problems []string
	seen := map[string]bool{}
	for _, doc := range all {
		for _, l := range allCodeLines(doc) {
			for _, c := range goCommands(l.Text) {
				for _, p := range c.Pkgs {
					msg := packageProblem(r, c.Sub, p)
					if msg == "" {
						continue
					}
					line := fmt.Sprintf("%s:%d: `go %s %s`: %s", doc.Rel, l.Line, c.Sub, p, msg)
					if !seen[line] {
						seen[line] = true
						problems = append(problems, line)
					}
				}
			}
		}
	}
	return problems
}

// localPackage maps a package argument to a directory of the repository:
// ./x, ../x, . and import paths in this module, each with an optional
// /... suffix. ok is false for anything else (another module's package).
func localPackage(r repo, pkg string) (rel string, recursive, ok bool) {
	switch {
	case pkg == "..." || pkg == "./...":
		return ".", true, true
	case strings.HasSuffix(pkg, "/..."):
		rel, _, ok = localPackage(r, strings.TrimSuffix(pkg, "/..."))
		return rel, true, ok
	case pkg == r.Module:
		return ".", false, true
	case strings.HasPrefix(pkg, r.Module+"/"):
		return strings.TrimPrefix(pkg, r.Module+"/"), false, true
	case pkg == "." || pkg == ".." || strings.HasPrefix(pkg, "./") || strings.HasPrefix(pkg, "../"):
		return filepath.Clean(pkg), false, true
	}
	return "", false, false
}

// pkgProblems caches packageProblem's answers for the test process.
var pkgProblems sync.Map // root, sub and package → string

// packageProblem says what is wrong with a go command's package argument,
// or returns "" when there is nothing wrong (or nothing to check).
func packageProblem(r repo, sub, pkg string) string {
	key := r.Root + "\x00" + sub + "\x00" + pkg
	if p, ok := pkgProblems.Load(key); ok {
		return p.(string)
	}
	p := findPackageProblem(r, sub, pkg)
	pkgProblems.Store(key, p)
	return p
}

func findPackageProblem(r repo, sub, pkg string) string {
	rel, recursive, ok := localPackage(r, pkg)
	if !ok {
		return ""
	}
	if strings.Contains(rel, "...") {
		return "" // a placeholder such as ./chNN-.../cmd/NAME, not a path
	}
	dir := filepath.Join(r.Root, filepath.FromSlash(rel))
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist", rel)
	case err != nil:
		return err.Error()
	case !info.IsDir():
		return fmt.Sprintf("%s is a file, not a package directory", rel)
	}
	if recursive {
		found := false
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || found {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				return nil
			}
			name := d.Name()
			if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			if path != r.Root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			if _, err := build.ImportDir(path, 0); err == nil {
				found = true
			}
			return nil
		})
		if !found {
			return fmt.Sprintf("no Go package in %s or below it", rel)
		}
		return ""
	}
	p, err := build.ImportDir(dir, 0)
	var noGo *build.NoGoError
	switch {
	case errors.As(err, &noGo):
		return fmt.Sprintf("%s holds no Go package", rel)
	case err != nil:
		return fmt.Sprintf("%s: %v", rel, err)
	case (sub == "run" || sub == "build") && len(p.GoFiles)+len(p.CgoFiles) == 0:
		return fmt.Sprintf("%s holds only tests: nothing to %s", rel, sub)
	case sub == "run" && p.Name != "main":
		return fmt.Sprintf("%s is package %s, not a main package: go run needs one", rel, p.Name)
	}
	return ""
}

// ---------------------------------------------------------------------------
// b. flags of go run commands are flags the binary defines

func TestDocsCommandsFollowTheConvention(t *testing.T) {
	r := findRepo(t)
	var problems []string
	for _, doc := range loadDocs(t, r).All {
		for _, c := range unmarkedCommands(doc) {
			problems = append(problems, fmt.Sprintf("%s:%d: %q looks like a command but is not one by the docs' "+
				"convention, so it escapes the checks: start it with \"$ \" or put it in a ```sh block "+
				"(see go doc ./internal/docscheck)", doc.Rel, c.Line, c.Text))
		}
	}
	report(t, problems)
}

// runUse is a go run command in the docs.
type runUse struct {
	Where string // file:line
	Text  string // the command line
	Dir   string // the main package's directory, relative to the root
	Args  []string
}

// goRuns returns the go run commands of the docs whose package is a main
// package of this repository, grouped by package directory.
func goRuns(r repo, all []*mdDoc) map[string][]runUse {
	runs := map[string][]runUse{}
	for _, doc := range all {
		for _, l := range docCommands(doc) {
			for _, seg := range segments(shellTokens(l.Text)) {
				w := commandWords(seg)
				if len(w) < 2 || w[0] != "go" || w[1] != "run" {
					continue
				}
				c := parseGo(w)
				if len(c.Pkgs) != 1 {
					continue
				}
				rel, recursive, ok := localPackage(r, c.Pkgs[0])
				if !ok || recursive || strings.Contains(rel, "...") || packageProblem(r, "run", c.Pkgs[0]) != "" {
					continue // not ours, a placeholder, or reported by TestDocsGoCommandPathsExist
				}
				rel = filepath.ToSlash(rel)
				runs[rel] = append(runs[rel], runUse{
					Where: fmt.Sprintf("%s:%d", doc.Rel, l.Line), Text: l.Text, Dir: rel, Args: c.Args,
				})
			}
		}
	}
	return runs
}

func TestDocsGoRunFlagsExist(t *testing.T) {
	r := findRepo(t)
	runs := goRuns(r, loadDocs(t, r).All)
	if testing.Short() {
		t.Skip("-short: skipping the check that builds each binary the docs run")
	}
	dirs := make([]string, 0, len(runs))
	for dir := range runs {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			t.Parallel()
			flags := binaryFlags(t, dir)
			for _, use := range runs[dir] {
				for _, msg := range checkArgs(flags, use.Args) {
					t.Errorf("%s: `%s`: %s; `go run ./%s -h` lists: %s", use.Where, use.Text, msg, dir, flagList(flags))
				}
			}
		})
	}
}

func flagList(flags map[string]bool) string {
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, "-"+n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "(no flags)"
	}
	return strings.Join(names, " ")
}

// binaryFlags builds the main package in dir (once per test process, by
// proctest.Build), runs it with -h and reads its flags from the usage text.
func binaryFlags(t *testing.T, dir string) map[string]bool {
	t.Helper()
	exe := proctest.Build(t, "./"+dir)[0]
	require.NoError(t, touchSources(proctest.ModuleRoot(t), dir))
	stdout, stderr, code := proctest.Run(t, exe, []string{"-h"})
	// package flag prints usage to stderr; ExitOnError exits 2 after -h.
	require.Contains(t, []int{0, 2}, code, "./%s -h: %s%s", dir, stdout, stderr)
	return usageFlags(stdout + stderr)
}

// touchSources stats every file of this module that the binary in dir is
// built from. go test caches a passing result until a file the test looked
// at changes: the binary's flags live in those files (a flag may be defined
// in another package), and the go build above reads them in another
// process, which go test does not see.
func touchSources(root, dir string) error {
	list := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}`+
			`{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`, "./"+dir)
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list -deps ./%s: %w", dir, err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if rel, err := filepath.Rel(root, f); err == nil && !strings.HasPrefix(rel, "..") {
			_, _ = os.Stat(f)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// c. relative links point to files that exist

func TestDocsRelativeLinksResolve(t *testing.T) {
	r := findRepo(t)
	report(t, checkLinks(r, loadDocs(t, r).All))
}

func checkLinks(r repo, all []*mdDoc) []string {
	var problems []string
	parsed := map[string]*mdDoc{}
	for _, doc := range all {
		parsed[doc.Rel] = doc
	}
	docAt := func(rel string) *mdDoc {
		if d, ok := parsed[rel]; ok {
			return d
		}
		data, err := os.ReadFile(filepath.Join(r.Root, filepath.FromSlash(rel)))
		if err != nil {
			return nil
		}
		parsed[rel] = parseMarkdown(rel, string(data))
		return parsed[rel]
	}
	for _, doc := range all {
		for _, l := range doc.Links {
			path, fragment, ok := splitTarget(l.Target)
			if !ok {
				continue
			}
			target := doc.Rel
			if path != "" {
				base := filepath.Dir(filepath.FromSlash(doc.Rel))
				if strings.HasPrefix(path, "/") {
					base = "."
				}
				target = filepath.ToSlash(filepath.Clean(filepath.Join(base, filepath.FromSlash(path))))
				if _, err := os.Stat(filepath.Join(r.Root, filepath.FromSlash(target))); err != nil {
					problems = append(problems, fmt.Sprintf("%s:%d: link (%s): %s does not exist", doc.Rel, l.Line, l.Target, target))
					continue
				}
			}
			if fragment == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			if d := docAt(target); d != nil && !anchors(d)[fragment] {
				problems = append(problems, fmt.Sprintf("%s:%d: link (%s): %s has no heading with anchor #%s",
					doc.Rel, l.Line, l.Target, target, fragment))
			}
		}
	}
	return problems
}

// ---------------------------------------------------------------------------
// d. README and CI run the same test command; README links every page

func TestReadmeTestCommandIsWhatCIRuns(t *testing.T) {
	r := findRepo(t)
	d := loadDocs(t, r)
	ci, err := os.ReadFile(filepath.Join(r.Root, ".ci", "run"))
	require.NoError(t, err, ".ci/run must exist: CI runs `bash .ci/run`")
	report(t, checkTestCommand(d.Readme, string(ci)))
}

// isTestCommand reports whether words are exactly the test command.
func isTestCommand(words []string) bool {
	return strings.Join(commandWords(words), " ") == testCommand
}

func checkTestCommand(readme *mdDoc, ciRun string) []string {
	var problems []string
	if readme != nil {
		found := false
		for _, l := range docCommands(readme) {
			for _, seg := range segments(shellTokens(l.Text)) {
				found = found || isTestCommand(seg)
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("README.md: does not show the command `%s` (in a ```sh block, "+
				"after a \"$ \" prompt, or as inline code): it is how a reader runs every test, and what .ci/run runs", testCommand))
		}
	}
	found := false
	for _, l := range strings.Split(ciRun, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, seg := range segments(shellTokens(l)) {
			found = found || isTestCommand(seg)
		}
	}
	if !found {
		problems = append(problems, fmt.Sprintf(".ci/run: does not run `%s`, the test command README.md shows", testCommand))
	}
	return problems
}

func TestReadmeLinksEveryChapterPage(t *testing.T) {
	r := findRepo(t)
	d := loadDocs(t, r)
	if d.Readme == nil {
		return // loadDocs has reported it
	}
	report(t, checkChapterLinks(d.Readme, d.Pages))
}

func checkChapterLinks(readme *mdDoc, pages []string) []string {
	linked := map[string]bool{}
	for _, l := range readme.Links {
		if path, _, ok := splitTarget(l.Target); ok {
			linked[filepath.ToSlash(filepath.Clean(strings.TrimPrefix(path, "/")))] = true
		}
	}
	var problems []string
	for _, p := range pages {
		if !linked[p] {
			problems = append(problems, fmt.Sprintf("README.md: does not link %s: add it to the chapter map, e.g. [%s](%s)",
				p, strings.TrimSuffix(filepath.Base(p), ".md"), p))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------
// e. the current gRPC API only

func TestNoDeprecatedDialAPIInGoFiles(t *testing.T) {
	r := findRepo(t)
	problems, err := checkGoFilesAPI(r.Root)
	require.NoError(t, err)
	report(t, problems)
}

func checkGoFilesAPI(root string) ([]string, error) {
	var problems []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, ".pb.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		s.Buffer(nil, 1<<20)
		for n := 1; s.Scan(); n++ {
			problems = append(problems, forbiddenIn(fmt.Sprintf("%s:%d", rel, n), s.Text())...)
		}
		return s.Err()
	})
	return problems, err
}

func forbiddenIn(where, line string) []string {
	var problems []string
	for _, f := range forbiddenAPI {
		if strings.Contains(line, f) {
			problems = append(problems, fmt.Sprintf("%s: uses %s, the deprecated dial API: use grpc.NewClient "+
				"with grpc.WithTransportCredentials(insecure.NewCredentials()), and wait for readiness "+
				"by calling the service, not with a blocking dial", where, strings.TrimSuffix(f, "(")))
		}
	}
	return problems
}

func TestNoDeprecatedDialAPIInDocs(t *testing.T) {
	r := findRepo(t)
	report(t, checkDocsAPI(loadDocs(t, r).All))
}

// checkDocsAPI looks at the fenced code blocks: prose and inline code may
// name the old API to warn against it.
func checkDocsAPI(all []*mdDoc) []string {
	var problems []string
	for _, doc := range all {
		for _, b := range doc.Blocks {
			for i, l := range b.Lines {
				problems = append(problems, forbiddenIn(fmt.Sprintf("%s:%d", doc.Rel, b.Start+i), l)...)
			}
		}
	}
	return problems
}

// ---------------------------------------------------------------------------
// f. embedmd directives name files that exist

func TestDocsEmbedmdFilesExist(t *testing.T) {
	r := findRepo(t)
	report(t, checkEmbeds(r, loadDocs(t, r).All))
}

func checkEmbeds(r repo, all []*mdDoc) []string {
	var problems []string
	for _, doc := range all {
		for _, e := range doc.Embeds {
			if e.Err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: embedmd directive: %v", doc.Rel, e.Line, e.Err))
				continue
			}
			if strings.HasPrefix(e.Path, "http://") || strings.HasPrefix(e.Path, "https://") {
				problems = append(problems, fmt.Sprintf("%s:%d: embedmd directive fetches %s: embed files of this repository", doc.Rel, e.Line, e.Path))
				continue
			}
			// embedmd resolves paths from the Markdown file's directory.
			target := filepath.ToSlash(filepath.Join(filepath.Dir(filepath.FromSlash(doc.Rel)), filepath.FromSlash(e.Path)))
			info, err := os.Stat(filepath.Join(r.Root, filepath.FromSlash(target)))
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s:%d: embedmd directive names %s, which does not exist "+
					"(%s; paths are relative to the Markdown file's directory)", doc.Rel, e.Line, e.Path, target))
			case info.IsDir():
				problems = append(problems, fmt.Sprintf("%s:%d: embedmd directive names %s, a directory", doc.Rel, e.Line, e.Path))
			}
		}
	}
	return problems
}
