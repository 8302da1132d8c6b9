// Package protobufs_test proves what buf.yaml promises about the contract:
// `buf lint` holds version 1 to buf's STANDARD style, and `buf breaking`
// rejects every change to version 1 that would break its users, measured
// against the released baseline committed beside the module.
//
// Each case copies the repository's protos, buf.yaml and the baseline into
// a temporary directory, makes one change to a copy of a .proto, and runs
// the very commands .ci/run runs, with the buf pinned in tools/buf/go.mod.
// A rule that stopped working would let its case's change through, and the
// case would fail.
package protobufs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

// Paths from the repository root, as buf.yaml and .ci/run spell them.
const (
	v1Module   = "ch06-best-practices/protobufs"
	v1File     = v1Module + "/recommendations/v1/recommendations.proto"
	baseline   = v1Module + "/recommendations-v1.image.json"
	legacyFile = "ch02-grpc-basics/protobufs/recommendations.proto"
	bufModfile = "tools/buf/go.mod"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// edit replaces the one occurrence of old in file (a path from the root).
type edit struct{ file, old, new string }

// finding is one problem buf reports with --error-format=json.
type finding struct {
	Path    string `json:"path"`
	Line    int    `json:"start_line"`
	Rule    string `json:"type"`
	Message string `json:"message"`
}

// TestBuf runs every case with the buf tools/buf/go.mod pins.
func TestBuf(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building buf from tools/buf/go.mod takes about two minutes on a cold build cache")
	}
	root := proctest.ModuleRoot(t)
	buf := buildBuf(t, root)
	tree := readTree(t, root)

	t.Run("the committed protos pass lint and breaking", func(t *testing.T) {
		t.Parallel()
		dir := workspace(t, tree)
		code, found := buf.lint(t, dir)
		assert.Equal(t, 0, code, "buf lint: %v", found)
		code, found = buf.breaking(t, dir)
		assert.Equal(t, 0, code, "buf breaking: %v", found)
	})

	t.Run("breaking", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			edits []edit
			want  []string // the rules buf must name
		}{{
			name:  "delete a field without reserving its number",
			edits: []edit{{v1File, "  int32 max_results = 3;\n", ""}},
			want:  []string{"FIELD_NO_DELETE"},
		}, {
			// Safe on the wire, but the generated MaxResults getter
			// vanishes: FILE still says no (deprecate instead).
			name:  "delete a field, reserving its number and name",
			edits: []edit{{v1File, "int32 max_results = 3;", `reserved 3; reserved "max_results";`}},
			want:  []string{"FIELD_NO_DELETE"},
		}, {
			// A varint either way, so old and new bytes still decode; the
			// Go field's type changes from int32 to int64.
			name:  "change a field's type",
			edits: []edit{{v1File, "int32 user_id = 1;", "int64 user_id = 1;"}},
			want:  []string{"FIELD_SAME_TYPE"},
		}, {
			name:  "change a field's number",
			edits: []edit{{v1File, "int32 max_results = 3;", "int32 max_results = 4;"}},
			want:  []string{"FIELD_NO_DELETE"},
		}, {
			// Old clients' max_results would be read as a language.
			name:  "reuse a deleted field's number",
			edits: []edit{{v1File, "int32 max_results = 3;", "string language = 3;"}},
			want:  []string{"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME", "FIELD_SAME_TYPE"},
		}, {
			// Same bytes in binary, but JSON and generated code change.
			name:  "rename a field",
			edits: []edit{{v1File, "int32 max_results = 3;", "int32 limit = 3;"}},
			want:  []string{"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"},
		}, {
			name:  "delete an enum value",
			edits: []edit{{v1File, "  BOOK_CATEGORY_SELF_HELP = 3;\n", ""}},
			want:  []string{"ENUM_VALUE_NO_DELETE"},
		}, {
			// The bytes stay the same; the Go type's name does not.
			name: "rename a message",
			edits: []edit{
				{v1File, "message Book {", "message BookSummary {"},
				{v1File, "repeated Book books = 1;", "repeated BookSummary books = 1;"},
			},
			want: []string{"MESSAGE_NO_DELETE", "FIELD_SAME_TYPE"},
		}, {
			name:  "rename an RPC",
			edits: []edit{{v1File, "rpc Recommend(", "rpc GetRecommendations("}},
			want:  []string{"RPC_NO_DELETE"},
		}, {
			// Every Go file importing recommendationsv1 stops compiling.
			name:  "change the Go package",
			edits: []edit{{v1File, ";recommendationsv1\"", ";recommendations\""}},
			want:  []string{"FILE_SAME_GO_PACKAGE"},
		}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				dir := workspace(t, tree, tc.edits...)
				code, found := buf.breaking(t, dir)
				require.Equal(t, 100, code, "buf breaking must report a breaking change: %v", found)
				assert.ElementsMatch(t, tc.want, rules(found), "%v", found)
				for _, f := range found {
					assert.Equal(t, v1File, f.Path, "%v", f)
				}
			})
		}
	})

	t.Run("compatible", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			edits []edit
		}{{
			name: "add a field",
			edits: []edit{{v1File, "int32 max_results = 3;\n",
				"int32 max_results = 3;\n  // The reader's language (BCP 47); empty means any.\n  string language = 4;\n"}},
		}, {
			name:  "add an enum value",
			edits: []edit{{v1File, "BOOK_CATEGORY_SELF_HELP = 3;\n", "BOOK_CATEGORY_SELF_HELP = 3;\n  BOOK_CATEGORY_HISTORY = 4;\n"}},
		}, {
			name:  "deprecate a field",
			edits: []edit{{v1File, "int32 user_id = 1;", "int32 user_id = 1 [deprecated = true];"}},
		}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				dir := workspace(t, tree, tc.edits...)
				code, found := buf.breaking(t, dir)
				assert.Equal(t, 0, code, "buf breaking: %v", found)
				code, found = buf.lint(t, dir)
				assert.Equal(t, 0, code, "buf lint: %v", found)
			})
		}
	})

	t.Run("lint", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			edits []edit
			file  string // where buf must report it
			want  []string
		}{{
			name:  "v1: a field in camelCase",
			edits: []edit{{v1File, "int32 max_results = 3;", "int32 maxResults = 3;"}},
			file:  v1File,
			want:  []string{"FIELD_LOWER_SNAKE_CASE"},
		}, {
			// The cases below break rules the legacy module excepts: the
			// exceptions must not reach version 1.
			name:  "v1: no package",
			edits: []edit{{v1File, "package recommendations.v1;\n", ""}},
			file:  v1File,
			want:  []string{"PACKAGE_DEFINED"},
		}, {
			name:  "v1: an unprefixed enum value",
			edits: []edit{{v1File, "BOOK_CATEGORY_SELF_HELP = 3;", "SELF_HELP = 3;"}},
			file:  v1File,
			want:  []string{"ENUM_VALUE_PREFIX"},
		}, {
			name:  "v1: a zero value that means something",
			edits: []edit{{v1File, "BOOK_CATEGORY_UNSPECIFIED = 0;", "BOOK_CATEGORY_ANY = 0;"}},
			file:  v1File,
			want:  []string{"ENUM_ZERO_VALUE_SUFFIX"},
		}, {
			name:  "v1: a service without the Service suffix",
			edits: []edit{{v1File, "service RecommendationsService {", "service Recommendations {"}},
			file:  v1File,
			want:  []string{"SERVICE_SUFFIX"},
		}, {
			name: "v1: request and response not named after the RPC",
			edits: []edit{
				{v1File, "message RecommendRequest {", "message RecommendationRequest {"},
				{v1File, "message RecommendResponse {", "message RecommendationResponse {"},
				{v1File, "rpc Recommend(RecommendRequest) returns (RecommendResponse);",
					"rpc Recommend(RecommendationRequest) returns (RecommendationResponse);"},
			},
			file: v1File,
			want: []string{"RPC_REQUEST_STANDARD_NAME", "RPC_RESPONSE_STANDARD_NAME"},
		}, {
			// An exception goes in buf.yaml, where review sees it, not in
			// a comment (disallow_comment_ignores).
			name: "v1: a rule silenced by a comment",
			edits: []edit{{v1File, "  int32 max_results = 3;",
				"  // buf:lint:ignore FIELD_LOWER_SNAKE_CASE\n  int32 maxResults = 3;"}},
			file: v1File,
			want: []string{"FIELD_LOWER_SNAKE_CASE"},
		}, {
			// The legacy module's exceptions are the rules it breaks on
			// purpose, not a pass for everything.
			name:  "legacy: a field in camelCase",
			edits: []edit{{legacyFile, "int32 max_results = 3;", "int32 maxResults = 3;"}},
			file:  legacyFile,
			want:  []string{"FIELD_LOWER_SNAKE_CASE"},
		}, {
			name: "legacy: a rule silenced by a comment",
			edits: []edit{{legacyFile, "    int32 max_results = 3;",
				"    // buf:lint:ignore FIELD_LOWER_SNAKE_CASE\n    int32 maxResults = 3;"}},
			file: legacyFile,
			want: []string{"FIELD_LOWER_SNAKE_CASE"},
		}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				dir := workspace(t, tree, tc.edits...)
				code, found := buf.lint(t, dir)
				require.Equal(t, 100, code, "buf lint must report the violation: %v", found)
				assert.ElementsMatch(t, tc.want, rules(found), "%v", found)
				for _, f := range found {
					assert.Equal(t, tc.file, f.Path, "%v", f)
				}
			})
		}
	})
}

// bufBuildBound bounds the build of buf.
const bufBuildBound = 3 * time.Minute

// bufCmd runs one buf executable with a cache of its own.
type bufCmd struct{ bin, cache string }

// buildBuf returns the buf that `go tool -modfile=tools/buf/go.mod buf`
// runs: `go tool -n` builds it (once; Go's build cache keeps the linked
// executable, so later runs take a second) and prints its path instead of
// running it.
func buildBuf(t *testing.T, root string) bufCmd {
	t.Helper()
	// go test caches a result on the files the test looks at: looking at
	// the modfile makes a new buf version invalidate it.
	for _, f := range []string{bufModfile, strings.TrimSuffix(bufModfile, ".mod") + ".sum"} {
		_, err := os.Stat(filepath.Join(root, f))
		require.NoError(t, err)
	}
	// A cold build takes two minutes on a quiet two-core machine, and
	// longer beside the other packages' tests. It is bounded, so that this
	// package stays well within go test's limit: what it compiled stays in
	// the build cache, and the next run goes on from there. (CI builds buf
	// before the tests, for buf lint.)
	ctx, cancel := context.WithTimeout(t.Context(), bufBuildBound)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "-modfile="+filepath.Join(root, bufModfile), "buf")
	cmd.Dir = root
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil && os.Getenv("CI") == "" {
		t.Skipf("building buf from %s took over %v on a cold build cache; run the test again, it goes on where this build stopped", bufModfile, bufBuildBound)
	}
	require.NoError(t, err, "go tool -n buf:\n%s", &stderr)
	bin := strings.TrimSpace(string(out))
	info, err := os.Stat(bin)
	require.NoError(t, err, "go tool -n buf printed %q, not an executable", out)
	require.False(t, info.IsDir(), bin)
	return bufCmd{bin: bin, cache: t.TempDir()}
}

// lint runs .ci/run's `buf lint` in dir.
func (b bufCmd) lint(t *testing.T, dir string) (code int, found []finding) {
	t.Helper()
	return b.run(t, dir, "lint", "--error-format=json")
}

// breaking runs .ci/run's `buf breaking` in dir.
func (b bufCmd) breaking(t *testing.T, dir string) (code int, found []finding) {
	t.Helper()
	return b.run(t, dir, "breaking", v1Module, "--against", baseline, "--error-format=json")
}

// run runs buf in dir and decodes what it found. Exit code 100 means buf
// found problems; any other failure is a broken setup and fails the test.
func (b bufCmd) run(t *testing.T, dir string, args ...string) (code int, found []finding) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), proctest.Timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BUF_CACHE_DIR="+b.cache)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("buf %s: %v", strings.Join(args, " "), err)
	}
	code = cmd.ProcessState.ExitCode()
	if code != 0 && code != 100 {
		t.Fatalf("buf %s: exit code %d:\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
	}
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var f finding
		require.NoError(t, dec.Decode(&f), "buf %s printed:\n%s", strings.Join(args, " "), &stdout)
		found = append(found, f)
	}
	return code, found
}

// rules returns the distinct rules named in found, sorted.
func rules(found []finding) []string {
	var ids []string
	for _, f := range found {
		ids = append(ids, f.Rule)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// readTree reads what buf reads in CI: buf.yaml, the baseline and every
// .proto in the repository (the ones outside buf.yaml's modules too, so
// that buf skipping them is part of what is tested).
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	tree := map[string][]byte{}
	add := func(rel string) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		require.NoError(t, err)
		tree[rel] = data
	}
	add("buf.yaml")
	add(baseline)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".proto") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			add(filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, tree, v1File)
	require.Contains(t, tree, legacyFile)
	return tree
}

// workspace writes tree into a new temporary directory, with edits applied,
// and returns the directory. Each edit's old text must occur exactly once,
// so a case whose .proto moved on fails instead of testing nothing.
func workspace(t *testing.T, tree map[string][]byte, edits ...edit) string {
	t.Helper()
	files := make(map[string]string, len(tree))
	for rel, data := range tree {
		files[rel] = string(data)
	}
	for _, e := range edits {
		require.Contains(t, files, e.file)
		require.Equal(t, 1, strings.Count(files[e.file], e.old), "%s must contain %q once", e.file, e.old)
		files[e.file] = strings.Replace(files[e.file], e.old, e.new, 1)
	}
	dir := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return dir
}
