package layout_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	module   = "github.com/gobookstore/grpc-microservices-go/"
	contract = module + "ch02-grpc-basics/recommendationspb"
)

// chapters returns the repository root and each chapter's Go files, not
// tests, in the folders the go command reads (not testdata, _x or .x), each
// marked generated or not (ast.IsGenerated: Go's "Code generated ... DO NOT
// EDIT." line before the package clause).
func chapters(t *testing.T) (string, map[string]map[string]bool) {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	dirs, err := filepath.Glob(filepath.Join(root, "ch0*"))
	require.NoError(t, err)
	require.Len(t, dirs, 7, "seven chapter folders")
	files := map[string]map[string]bool{}
	for _, dir := range dirs {
		chapter := filepath.Base(dir)
		files[chapter] = map[string]bool{}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != dir && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")):
				return filepath.SkipDir
			case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
				return nil
			}
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
			if err == nil {
				files[chapter][path] = ast.IsGenerated(file)
			}
			return err
		})
		require.NoError(t, err)
	}
	return root, files
}

// codeLines counts the lines of Go that are neither blank nor only a
// comment, as cloc counts code: comments that say why cost a chapter nothing.
func codeLines(t *testing.T, path string) int {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	n, inBlock := 0, false
	for sc := bufio.NewScanner(bytes.NewReader(src)); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case inBlock:
			inBlock = !strings.Contains(line, "*/")
		case strings.HasPrefix(line, "/*"):
			inBlock = !strings.Contains(line, "*/")
		case line != "" && !strings.HasPrefix(line, "//"):
			n++
		}
	}
	return n
}

// Each chapter reads in a sitting: at most 1,000 lines of lesson code,
// and no main.go over 150 lines, comments included. Chapter 7's copy of
// chapter 6's bookstore is not its lesson: chapter 6 is where it is read.
func TestChaptersAreSmall(t *testing.T) {
	root, chapterFiles := chapters(t)
	copies, _ := bookstoreCopy(t, root) // an edited copy counts as lesson code
	for chapter, files := range chapterFiles {
		total, lesson, copied := 0, 0, 0
		for f, generated := range files {
			if generated {
				continue
			}
			if copies[f] {
				copied += codeLines(t, f)
				continue
			}
			lesson++
			total += codeLines(t, f)
			if filepath.Base(f) == "main.go" {
				src, err := os.ReadFile(f)
				require.NoError(t, err)
				assert.LessOrEqual(t, bytes.Count(src, []byte("\n")), 150, "%s: lines", f)
			}
		}
		t.Logf("%s: %d lines of lesson code in %d files", chapter, total, lesson)
		if copied > 0 {
			t.Logf("%s: and %d lines of chapter 6's bookstore, unchanged", chapter, copied)
		}
		assert.LessOrEqual(t, total, 1000, "%s: lines of lesson code", chapter)
	}
}

// sixToSeven rewrites a chapter 6 file's paths and image tags as chapter 7's copy has them.
func sixToSeven(src []byte) []byte {
	src = bytes.ReplaceAll(src, []byte("ch06-best-practices"), []byte("ch07-concurrency"))
	return regexp.MustCompile(`\bch06\b`).ReplaceAll(src, []byte("ch07"))
}

// bookstore reports whether a file under a chapter folder is part of the
// program (Go, its .proto, template, Dockerfile, compose file): not a test,
// nor buf's baseline, nor what a reader's run leaves there (certs/, say).
func bookstore(path string) bool {
	name := filepath.Base(path)
	return !strings.HasSuffix(name, "_test.go") && (name == "Dockerfile" ||
		slices.Contains([]string{".go", ".proto", ".html", ".yaml"}, filepath.Ext(name)))
}

// bookstoreCopy compares chapter 7 with chapter 6's whole bookstore, which
// chapter 7 holds unchanged but for paths and image tags: its lesson is the
// greeter beside it, and Go's bookstore needs no change to serve
// concurrently. A generated file counts as a copy if it is there: CI
// regenerates it from the copied .proto and fails if anything changes. It
// returns chapter 7's files that are copies, and what differs, including
// files of its own in the folders that hold the copies. (Both copies of
// recommendations.v1 register the same protobuf names, so no binary may
// link both: TestChaptersStandAlone keeps each chapter's imports apart.)
func bookstoreCopy(t *testing.T, root string) (copies map[string]bool, differences []string) {
	t.Helper()
	six, seven := filepath.Join(root, "ch06-best-practices"), filepath.Join(root, "ch07-concurrency")
	copies, folders := map[string]bool{}, map[string]bool{}
	walk := func(dir string, f func(path, rel string) error) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !bookstore(path) {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			return f(path, rel)
		})
		require.NoError(t, err)
	}
	walk(six, func(path, rel string) error {
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		folders[filepath.Dir(rel)] = true
		switch got, err := os.ReadFile(filepath.Join(seven, rel)); {
		case err != nil:
			differences = append(differences, fmt.Sprintf("chapter 7 lacks chapter 6's %s: %v", rel, err))
		case strings.HasSuffix(path, ".pb.go") || bytes.Equal(sixToSeven(want), got):
			copies[filepath.Join(seven, rel)] = true
		default:
			differences = append(differences, fmt.Sprintf("ch07-concurrency/%s differs from chapter 6's", rel))
		}
		return nil
	})
	walk(seven, func(path, rel string) error {
		if dir := filepath.Dir(rel); dir != "." && folders[dir] && !copies[path] {
			differences = append(differences, fmt.Sprintf("ch07-concurrency/%s is not chapter 6's, in a folder of chapter 6's bookstore", rel))
		}
		return nil
	})
	return copies, differences
}

// Chapter 7's folder holds chapter 6's bookstore, unchanged.
func TestChapterSevenHoldsTheBookstore(t *testing.T) {
	root, _ := chapters(t)
	copies, differences := bookstoreCopy(t, root)
	assert.Empty(t, differences)
	assert.NotEmpty(t, copies)
}

// Each docs page reads in a sitting too: at most 600 lines.
func TestPagesAreShort(t *testing.T) {
	root, _ := chapters(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	for _, p := range pages {
		src, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.LessOrEqual(t, bytes.Count(src, []byte("\n")), 600, "%s: lines", p)
	}
}

// A chapter's code, generated or not, imports its own packages, chapter
// 2's contract and libraries: no other chapter's packages, nothing from
// internal/ or tools/.
func TestChaptersStandAlone(t *testing.T) {
	_, chapterFiles := chapters(t)
	for chapter, files := range chapterFiles {
		for f := range files {
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			require.NoError(t, err)
			for _, imp := range file.Imports {
				path, err := strconv.Unquote(imp.Path.Value)
				require.NoError(t, err)
				if strings.HasPrefix(path, module) && path != contract {
					assert.True(t, strings.HasPrefix(path, module+chapter+"/"), "%s imports %s", f, path)
				}
			}
		}
	}
}
