package docscheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// page is README.md or a docs/*.md file, split into lines.
type page struct {
	path  string // relative to the repository root, with slashes
	lines []string
}

// block is a fenced code block: its info string's words, and the page's
// lines [start, end) that it holds.
type block struct {
	info       []string
	start, end int
}

// section is the part of a page under one heading, with its blocks.
type section struct {
	heading string
	blocks  []block
}

// readPages reads README.md and docs/*.md.
func readPages(t *testing.T) (root string, pages []page) {
	root = proctest.ModuleRoot(t)
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	for _, name := range append([]string{filepath.Join(root, "README.md")}, names...) {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, name)
		pages = append(pages, page{filepath.ToSlash(rel), strings.Split(string(data), "\n")})
	}
	return root, pages
}

// sections splits p at its headings (lines starting with #, outside code
// blocks) and finds each one's fenced code blocks (``` or ~~~, unindented).
func (p page) sections() []section {
	secs := []section{{heading: p.path}}
	for i := 0; i < len(p.lines); i++ {
		line := p.lines[i]
		if strings.HasPrefix(line, "#") {
			secs = append(secs, section{heading: strings.TrimSpace(strings.TrimLeft(line, "#"))})
			continue
		}
		fence := line[:len(line)-len(strings.TrimLeft(line, "`"))]
		if len(fence) < 3 {
			fence = line[:len(line)-len(strings.TrimLeft(line, "~"))]
		}
		if len(fence) < 3 {
			continue
		}
		b := block{info: strings.Fields(line[len(fence):]), start: i + 1, end: len(p.lines)}
		for i++; i < len(p.lines); i++ {
			if strings.HasPrefix(p.lines[i], fence) && strings.Trim(p.lines[i], fence[:1]) == "" {
				b.end = i
				break
			}
		}
		secs[len(secs)-1].blocks = append(secs[len(secs)-1].blocks, b)
	}
	return secs
}
