package docscheck_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// link matches an inline Markdown link or image, [text](target), and
// codeSpan a `code span`, which holds no links.
var (
	link     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan = regexp.MustCompile("`[^`]*`")
)

// Every relative link in README.md and docs/*.md points to a file that
// exists, and one to a heading (page.md#anchor, #anchor) to a heading that
// exists.
func TestRelativeLinksResolve(t *testing.T) {
	root, pages := readPages(t)
	anchors := map[string]map[string]bool{}
	for _, p := range pages {
		anchors[p.path] = headingAnchors(p)
	}
	for _, p := range pages {
		inCode := map[int]bool{}
		for _, s := range p.sections() {
			for _, b := range s.blocks {
				for i := b.start - 1; i <= b.end; i++ {
					inCode[i] = true
				}
			}
		}
		for i, line := range p.lines {
			if inCode[i] {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
				file, anchor, _ := strings.Cut(m[1], "#")
				if strings.Contains(file, ":") { // https://, mailto:
					continue
				}
				target := p.path
				if file != "" {
					target = path.Join(path.Dir(p.path), file)
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
						t.Errorf("%s:%d: link to %s: no such file", p.path, i+1, m[1])
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(target, ".md") && !anchors[target][anchor] {
					t.Errorf("%s:%d: link to %s: %s has no heading #%s", p.path, i+1, m[1], target, anchor)
				}
			}
		}
	}
}

// headingAnchors returns the anchors GitHub gives p's headings: lower case,
// spaces to hyphens, other punctuation dropped, -1, -2... on repeats.
func headingAnchors(p page) map[string]bool {
	anchors, seen := map[string]bool{}, map[string]int{}
	for _, s := range p.sections()[1:] {
		a := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, s.heading)
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// README is the way in: it links every chapter page, and the test command
// it gives is the one CI runs.
func TestReadmeLinksEveryChapterAndNamesCIsTestCommand(t *testing.T) {
	root, _ := readPages(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	require.NoError(t, err)
	chapters, err := filepath.Glob(filepath.Join(root, "docs", "[0-9][0-9]-*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, chapters)
	for _, c := range chapters {
		assert.Contains(t, string(readme), "](docs/"+filepath.Base(c)+")", "README links %s", filepath.Base(c))
	}
	const testCommand = "go test -race ./..."
	assert.Contains(t, string(readme), "\n"+testCommand+"\n", "README gives the test command on a line of its own")
	assert.Regexp(t, `(?m)^\s*(if ! )?`+regexp.QuoteMeta(testCommand)+`(;|$)`, string(ci), ".ci/run runs README's test command")
}
