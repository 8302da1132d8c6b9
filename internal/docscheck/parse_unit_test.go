package docscheck_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checks are only as good as their parsers: these tests pin down what
// counts as a command, a flag, a link and a package path.

const fakeDoc = "# Chapter 9: Try it\n" + // line 1
	"\n" +
	"Run `go run ./app/cmd/server -addr :9` or see [the code](../app/server.go#L3).\n" + // 3
	"\n" +
	"```sh\n" + // 5
	"# start the server first\n" + // 6
	"RECOMMENDATIONS_HOST=localhost go run ./app/cmd/server \\\n" + // 7
	"  -addr :5001 \\\n" + // 8
	"  -verbose &\n" + // 9
	"go test -race -count=1 ./app/...\n" + // 10
	"```\n" +
	"\n" +
	"```console\n" + // 13
	"$ go run ./app/cmd/client -max -1   # asks for nothing\n" + // 14
	"Category not found\n" + // 15
	"go run ./output/is/not/a/command -x\n" + // 16
	"```\n" +
	"\n" +
	"```go\n" + // 19
	"//\tgo run ./app/cmd/documented -flag\n" + // 20
	"go run(ctx)\n" + // 21
	"```\n" +
	"\n" +
	"[embedmd]:# (../app/server.go /func main/ /^}/)\n" + // 24
	"```go\n" +
	"func main() {}\n" +
	"```\n" +
	"\n" +
	"## Python → Go, `asyncio`\n" + // 29
	"![diagram](img/flow.png \"Flow\")\n" + // 30
	"[ref]: ./other.md#try-it\n" // 31

func TestParseMarkdown(t *testing.T) {
	doc := parseMarkdown("docs/09-x.md", fakeDoc)

	require.Len(t, doc.Blocks, 4)
	assert.Equal(t, "sh", doc.Blocks[0].Lang)
	assert.Equal(t, 6, doc.Blocks[0].Start)
	assert.Equal(t, "console", doc.Blocks[1].Lang)
	assert.Equal(t, "go", doc.Blocks[2].Lang)

	assert.Equal(t, []codeSpan{{3, "go run ./app/cmd/server -addr :9"}, {29, "asyncio"}}, doc.Inline)
	assert.Equal(t, []link{{3, "../app/server.go#L3"}, {30, "img/flow.png"}, {31, "./other.md#try-it"}}, doc.Links)
	assert.Equal(t, []embed{{Line: 24, Path: "../app/server.go"}}, doc.Embeds)
	assert.Equal(t, map[string]bool{"chapter-9-try-it": true, "python--go-asyncio": true}, anchors(doc))
}

func TestCommandsFollowTheConvention(t *testing.T) {
	doc := parseMarkdown("docs/09-x.md", fakeDoc)

	assert.Equal(t, []cmdLine{
		// the sh block: every non-comment line, continuations joined
		{7, "RECOMMENDATIONS_HOST=localhost go run ./app/cmd/server  -addr :5001  -verbose &"},
		{10, "go test -race -count=1 ./app/..."},
		// the console block: only the line with a prompt; output is not a command
		{14, "go run ./app/cmd/client -max -1   # asks for nothing"},
		// inline code
		{3, "go run ./app/cmd/server -addr :9"},
		{29, "asyncio"},
	}, docCommands(doc))

	assert.Equal(t, []cmdLine{{16, "go run ./output/is/not/a/command -x"}}, unmarkedCommands(doc),
		"an unprompted go command in a console block is reported, one in a go block is not")
}

func TestShellTokens(t *testing.T) {
	words := func(s string) [][]string { return segments(shellTokens(s)) }

	assert.Equal(t, [][]string{{"A=1", "go", "run", "./x", "-name", "two words", "-q", `it's`}},
		words(`A=1 go run ./x -name "two words" -q 'it'\''s'`))
	assert.Equal(t, [][]string{{"go", "run", "./x"}, {"curl", "-s", "localhost:5000"}, {"grep", "<li>"}},
		words(`go run ./x & curl -s localhost:5000 | grep '<li>'`))
	assert.Equal(t, [][]string{{"cd", "a"}, {"go", "test", "./..."}, {"echo", "ok"}},
		words(`(cd a && go test ./...) || echo ok`))
	assert.Equal(t, [][]string{{"go", "run", "./x", "-a"}},
		words(`go run ./x -a 2>&1 >/dev/null > out.txt # trailing comment`))
	assert.Equal(t, [][]string{{"ghz", "-d", `{"name":"Joe"}`, "127.0.0.1:9999"}},
		words(`ghz -d '{"name":"Joe"}' 127.0.0.1:9999`))
	assert.Equal(t, [][]string{{"echo", "$(go env GOPATH)/bin", "a#b"}},
		words(`echo $(go env GOPATH)/bin a#b`))

	assert.Equal(t, []string{"go", "run", "./x"}, commandWords([]string{"env", "A=1", "B=2", "time", "go", "run", "./x"}))
}

func TestParseGo(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []goCmd
	}{
		{"go test -race -count=1 ./ch03-server-client/...",
			[]goCmd{{Sub: "test", Pkgs: []string{"./ch03-server-client/..."}}}},
		{"go test -run TestX ./a ./b -v -coverprofile ./c.out",
			[]goCmd{{Sub: "test", Pkgs: []string{"./a", "./b"}}}},
		{"go test ./a -args -dir ./not/a/package",
			[]goCmd{{Sub: "test", Pkgs: []string{"./a"}}}},
		{"go run -race ./cmd/x -addr :1 ./positional",
			[]goCmd{{Sub: "run", Pkgs: []string{"./cmd/x"}, Args: []string{"-addr", ":1", "./positional"}}}},
		{"go run main.go helper.go -v",
			[]goCmd{{Sub: "run", Args: []string{"-v"}}}},
		{"X=1 go build -o bin/ ./cmd/... && ./bin/x",
			[]goCmd{{Sub: "build", Pkgs: []string{"./cmd/..."}}}},
		{"//\tgo generate ./ch02-grpc-basics/...  # regenerates",
			[]goCmd{{Sub: "generate", Pkgs: []string{"./ch02-grpc-basics/..."}}}},
		{"go mod tidy; go vet ./...",
			[]goCmd{{Sub: "vet", Pkgs: []string{"./..."}}}},
		{"go run(ctx)", nil}, // Go code, not a command
	} {
		assert.Equal(t, tc.want, goCommands(tc.line), tc.line)
	}
}

func TestUsageFlags(t *testing.T) {
	// The usage text of a real flag set, as a binary prints it for -h.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("addr", ":50051", "listen address")
	fs.Bool("v", false, "verbose")
	fs.Bool("verbose", false, "verbose")
	fs.String("I", ".", "include `dir`")
	fs.Int("max", 3, "max_results:\n  -not a flag, a second line of usage")
	fs.Duration("timeout", time.Second, "deadline")
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	require.ErrorIs(t, fs.Parse([]string{"-h"}), flag.ErrHelp)

	flags := usageFlags(usage.String())
	assert.Equal(t, map[string]bool{"addr": true, "v": false, "verbose": false, "I": true, "max": true, "timeout": true}, flags)

	assert.Empty(t, checkArgs(flags, []string{"-addr", ":1", "--v", "-max", "-1", "-timeout=2s", "-I", "x", "positional", "-nope"}),
		"a value that looks like a flag is a value; parsing stops at the first positional argument")
	assert.Empty(t, checkArgs(flags, []string{"-h"}))
	assert.Equal(t, []string{"flag -port is not defined", "flag -addr needs a value"},
		checkArgs(flags, []string{"-port=1", "-verbose", "-addr"}))
}

func TestInlineCode(t *testing.T) {
	spans, prose := inlineCode("a `b` c ``d ` e`` [x](`y`) `unclosed")
	assert.Equal(t, []string{"b", "d ` e", "y"}, spans)
	assert.Equal(t, "a     c           [x](   ) `unclosed", prose)
}

func TestSplitTarget(t *testing.T) {
	path, fragment, ok := splitTarget("docs/02%20x.md?plain=1#try-it")
	assert.True(t, ok)
	assert.Equal(t, "docs/02 x.md", path)
	assert.Equal(t, "try-it", fragment)
	for _, external := range []string{"https://grpc.io", "mailto:a@b.c", "//example.com/x"} {
		_, _, ok := splitTarget(external)
		assert.False(t, ok, external)
	}
}

// TestChecksOnAFakeRepo runs the file-level checks on a small repository
// made in a temporary directory, with one mistake of each kind.
func TestChecksOnAFakeRepo(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		path := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("go.mod", "module example.com/fake\n\ngo 1.26\n")
	write("app/cmd/server/main.go", "package main\n\nfunc main() {}\n")
	// The forbidden strings are built from the list, so that this file does
	// not hold them.
	dial, dialContext, withInsecure, withBlock := forbiddenAPI[0], forbiddenAPI[1], forbiddenAPI[2], forbiddenAPI[3]
	write("app/server.go", "package app\n\n// conn, _ := "+dial+"addr, "+withInsecure+"))\n")
	write("app/only_test.go", "package app_test\n")
	write("testsonly/x_test.go", "package testsonly\n")
	write("app/x.pb.go", "package app\n\n// "+withBlock+") in generated code is not ours\n")
	write("docs/01-one.md", "# One\n\n## Try it\n\n```sh\ngo run ./app/cmd/server\n```\n")
	write("docs/02-two.md", strings.Join([]string{
		"# Two",
		"```sh",
		"go run ./app/cmd/servr", // 3: typo
		"go run ./app",           // 4: not main
		"go test ./testsonly ./app/... ./missing/...",                               // 5: ./missing
		"go build example.com/fake/testsonly",                                       // 6: only tests
		"go vet example.com/fake/app ./docs/...",                                    // 7: no package under docs
		"go install golang.org/x/tools/cmd/goimports && go run ./chNN-.../cmd/NAME", // not checked: another module, a placeholder
		"conn, err := " + dialContext + "ctx, addr)",                                // 9
		"```",
		"[one](01-one.md#try-it) [bad anchor](01-one.md#nope) [gone](../nowhere.md) [web](https://go.dev)", // 11
		"[embedmd]:# (../app/server.go /package/)",
		"[embedmd]:# (../app/srv.go go)", // 13
		"[embedmd]:# ../app/server.go",   // 14
	}, "\n"))
	write("README.md", "# Fake\n\n```sh\ngo test ./...\n```\n\nSee [one](docs/01-one.md).\n")
	write(".ci/run", "#!/bin/bash\n# go test -race ./... in a comment does not count\ngo test ./...\n")

	r := repo{Root: root, Module: modulePath("module example.com/fake\n")}
	var all []*mdDoc
	for _, rel := range []string{"README.md", "docs/01-one.md", "docs/02-two.md"} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		require.NoError(t, err)
		all = append(all, parseMarkdown(rel, string(data)))
	}

	assert.Equal(t, []string{
		"docs/02-two.md:3: `go run ./app/cmd/servr`: app/cmd/servr does not exist",
		"docs/02-two.md:4: `go run ./app`: app is package app, not a main package: go run needs one",
		"docs/02-two.md:5: `go test ./missing/...`: missing does not exist",
		"docs/02-two.md:6: `go build example.com/fake/testsonly`: testsonly holds only tests: nothing to build",
		"docs/02-two.md:7: `go vet ./docs/...`: no Go package in docs or below it",
	}, checkGoPaths(r, all))

	runs := goRuns(r, all)
	assert.Len(t, runs, 1, "only existing main packages are built")
	assert.Len(t, runs["app/cmd/server"], 1)

	assert.Equal(t, []string{
		"docs/02-two.md:11: link (01-one.md#nope): docs/01-one.md has no heading with anchor #nope",
		"docs/02-two.md:11: link (../nowhere.md): nowhere.md does not exist",
	}, checkLinks(r, all))

	assert.Equal(t, []string{
		"README.md: does not show the command `go test -race ./...` (in a ```sh block, after a \"$ \" prompt, " +
			"or as inline code): it is how a reader runs every test, and what .ci/run runs",
		".ci/run: does not run `go test -race ./...`, the test command README.md shows",
	}, checkTestCommand(all[0], "#!/bin/bash\n# go test -race ./... in a comment does not count\ngo test ./...\n"))
	assert.Empty(t, checkTestCommand(parseMarkdown("README.md", "Run `go test -race ./...`."), "CI=true go test -race ./...\n"))
	assert.Empty(t, checkTestCommand(nil, "if ! go test -race ./...; then\n\tfail\nfi\n"))

	assert.Equal(t, []string{
		"README.md: does not link docs/02-two.md: add it to the chapter map, e.g. [02-two](docs/02-two.md)",
	}, checkChapterLinks(all[0], []string{"docs/01-one.md", "docs/02-two.md"}))

	goProblems, err := checkGoFilesAPI(root)
	require.NoError(t, err)
	require.Len(t, goProblems, 2)
	assert.Contains(t, goProblems[0], "app/server.go:3: uses "+strings.TrimSuffix(dial, "(")+", the deprecated dial API")
	assert.Contains(t, goProblems[1], "app/server.go:3: uses "+strings.TrimSuffix(withInsecure, "(")+", the deprecated dial API")
	docProblems := checkDocsAPI(all)
	require.Len(t, docProblems, 1)
	assert.Contains(t, docProblems[0], "docs/02-two.md:9: uses "+strings.TrimSuffix(dialContext, "("))

	embeds := checkEmbeds(r, all)
	require.Len(t, embeds, 2)
	assert.Contains(t, embeds[0], "docs/02-two.md:13: embedmd directive names ../app/srv.go, which does not exist (app/srv.go;")
	assert.Contains(t, embeds[1], "docs/02-two.md:14: embedmd directive: argument list should be in parentheses")
}
