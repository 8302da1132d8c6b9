package docscheck_test

// The parsers the checks are built on: Markdown (code blocks, inline code,
// links, headings, embedmd directives), shell command lines, go commands,
// and the usage text a Go binary prints for -h. The checks themselves are in
// docscheck_test.go; the parsers' own tests are in parse_unit_test.go.

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// ---------------------------------------------------------------------------
// Markdown

// mdDoc is one Markdown file, split into what the checks look at.
type mdDoc struct {
	Rel      string      // path relative to the repository root, with slashes
	Blocks   []codeBlock // fenced code blocks
	Inline   []codeSpan  // inline code spans outside code blocks
	Links    []link      // link and image targets outside code
	Headings []heading
	Embeds   []embed // [embedmd]:# directives
}

// codeBlock is a fenced code block.
type codeBlock struct {
	Lang  string   // first word of the info string, lower case ("" if none)
	Start int      // line number of the first content line (1-based)
	Lines []string // content lines, with the fence's indentation removed
}

// codeSpan is an inline code span.
type codeSpan struct {
	Line int
	Text string
}

// link is the target of [text](target), ![alt](target) or [label]: target.
type link struct {
	Line   int
	Target string
}

type heading struct {
	Line int
	Text string
}

// embed is an embedmd directive: [embedmd]:# (path [lang] [/start/ [/end/]]).
type embed struct {
	Line int
	Path string // "" when the directive does not parse
	Err  error
}

var (
	fenceRE   = regexp.MustCompile("^([ \t]*)(`{3,}|~{3,})(.*)$")
	headingRE = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	linkRE    = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)`)
	refDefRE  = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>]*>|\S+)`)
	anchorRE  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	schemeRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// parseMarkdown splits a Markdown file into code blocks, inline code,
// links, headings and embedmd directives. It follows CommonMark closely
// enough for docs: fenced blocks (``` or ~~~, at any indentation so that
// blocks in list items count), inline code spans on one line, inline links
// and reference definitions. HTML comments are treated as text.
func parseMarkdown(rel, content string) *mdDoc {
	doc := &mdDoc{Rel: rel}
	lines := strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n")
	var open *codeBlock
	var fence, indent string
	for i, line := range lines {
		n := i + 1
		if open != nil {
			if m := fenceRE.FindStringSubmatch(line); m != nil &&
				m[2][0] == fence[0] && len(m[2]) >= len(fence) && strings.TrimSpace(m[3]) == "" {
				doc.Blocks = append(doc.Blocks, *open)
				open = nil
				continue
			}
			open.Lines = append(open.Lines, strings.TrimPrefix(line, indent))
			continue
		}
		if m := fenceRE.FindStringSubmatch(line); m != nil && !(m[2][0] == '`' && strings.Contains(m[3], "`")) {
			info := strings.Fields(strings.NewReplacer("{", " ", "}", " ", ",", " ").Replace(m[3]))
			lang := ""
			if len(info) > 0 {
				lang = strings.ToLower(info[0])
			}
			open = &codeBlock{Lang: lang, Start: n + 1}
			fence, indent = m[2], m[1]
			continue
		}
		if strings.HasPrefix(line, "[embedmd]:#") {
			path, err := parseEmbedmd(line)
			doc.Embeds = append(doc.Embeds, embed{Line: n, Path: path, Err: err})
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			doc.Headings = append(doc.Headings, heading{Line: n, Text: m[2]})
		}
		for _, m := range anchorRE.FindAllStringSubmatch(line, -1) {
			doc.Headings = append(doc.Headings, heading{Line: n, Text: "\x00" + m[1]})
		}
		spans, prose := inlineCode(line)
		for _, s := range spans {
			doc.Inline = append(doc.Inline, codeSpan{Line: n, Text: s})
		}
		if m := refDefRE.FindStringSubmatch(prose); m != nil {
			doc.Links = append(doc.Links, link{Line: n, Target: strings.Trim(m[2], "<>")})
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(prose, -1) {
			doc.Links = append(doc.Links, link{Line: n, Target: strings.Trim(m[1], "<>")})
		}
	}
	if open != nil { // an unclosed fence runs to the end of the document
		doc.Blocks = append(doc.Blocks, *open)
	}
	return doc
}

// inlineCode returns the code spans of one line of prose, and the line with
// each span blanked out (so that links are not looked for inside code).
func inlineCode(line string) (spans []string, prose string) {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		run := 0
		for i+run < len(line) && line[i+run] == '`' {
			run++
		}
		ticks := line[i : i+run]
		end := -1
		for j := i + run; j < len(line); {
			k := strings.Index(line[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			after := k + run
			if (after == len(line) || line[after] != '`') && line[k-1] != '`' {
				end = k
				break
			}
			j = after
			for j < len(line) && line[j] == '`' {
				j++
			}
		}
		if end < 0 { // unmatched backticks are literal text
			b.WriteString(ticks)
			i += run
			continue
		}
		s := line[i+run : end]
		if len(s) >= 2 && s[0] == ' ' && s[len(s)-1] == ' ' && strings.Trim(s, " ") != "" {
			s = s[1 : len(s)-1]
		}
		spans = append(spans, s)
		b.WriteString(strings.Repeat(" ", end+run-i))
		i = end + run
	}
	return spans, b.String()
}

// parseEmbedmd returns the file an embedmd directive line names, parsing
// it as embedmd v1.0.0 does.
func parseEmbedmd(line string) (string, error) {
	args := strings.TrimSpace(line[strings.Index(line, "#")+1:])
	if len(args) < 2 || args[0] != '(' || args[len(args)-1] != ')' {
		return "", errors.New("argument list should be in parentheses: [embedmd]:# (path lang /start/ /end/)")
	}
	fields := strings.Fields(args[1 : len(args)-1])
	if len(fields) == 0 {
		return "", errors.New("missing file name")
	}
	return fields[0], nil
}

// slug is the anchor GitHub gives a heading: lower case, punctuation other
// than - and _ dropped, spaces turned into hyphens. Explicit anchors
// (<a id="x">) are stored with a leading NUL and kept as they are.
func slug(text string) string {
	if strings.HasPrefix(text, "\x00") {
		return text[1:]
	}
	text = linkRE.ReplaceAllStringFunc(text, func(m string) string {
		return m[strings.Index(m, "[")+1 : strings.Index(m, "]")]
	})
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a document's headings, numbered as GitHub
// numbers repeated ones (x, x-1, x-2).
func anchors(doc *mdDoc) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, h := range doc.Headings {
		s := slug(h.Text)
		if n := seen[s]; n > 0 && !strings.HasPrefix(h.Text, "\x00") {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// splitTarget splits a link target into its decoded path and its fragment.
// ok is false for targets that are not files of this repository (URLs with
// a scheme such as https: or mailto:).
func splitTarget(target string) (path, fragment string, ok bool) {
	if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
		return "", "", false
	}
	path, fragment, _ = strings.Cut(target, "#")
	path, _, _ = strings.Cut(path, "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	return path, fragment, true
}

// ---------------------------------------------------------------------------
// Command lines

// cmdLine is one command line as a reader would type it: continuation lines
// joined, the prompt removed.
type cmdLine struct {
	Line int // where it starts
	Text string
}

var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "zsh": true}

// outputLangs are the block languages in which a line that starts like a
// go command, but has no prompt, is reported as an unmarked command.
var outputLangs = map[string]bool{
	"": true, "text": true, "txt": true, "plaintext": true, "console": true,
	"terminal": true, "shell-session": true, "sh-session": true, "output": true,
}

// isPrompt reports whether a code line starts with the "$ " prompt, and
// returns the command after it.
func isPrompt(line string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	if t == "$" {
		return "", true
	}
	if rest, ok := strings.CutPrefix(t, "$ "); ok {
		return rest, true
	}
	return "", false
}

// continues reports whether a shell line goes on on the next line, and
// returns it without a trailing backslash.
func continues(line string) (string, bool) {
	t := strings.TrimRight(line, " \t")
	if strings.HasSuffix(t, `\`) && !strings.HasSuffix(t, `\\`) {
		return t[:len(t)-1], true
	}
	if code, _, _ := strings.Cut(t, " #"); strings.HasSuffix(code, "|") || strings.HasSuffix(code, "&&") {
		return code, true // "||" ends in "|" too
	}
	return t, false
}

// joinFrom joins lines[i] with its continuation lines and returns the
// joined text and the index of the last line used.
func joinFrom(lines []string, i int, first string) (string, int) {
	text, more := continues(first)
	for more && i+1 < len(lines) {
		i++
		next := strings.TrimLeft(lines[i], " \t")
		next = strings.TrimPrefix(next, "> ")
		var rest string
		rest, more = continues(next)
		text += " " + rest
	}
	return text, i
}

// blockCommands returns the commands of a code block, following the
// convention in the package documentation.
func blockCommands(b codeBlock) []cmdLine {
	prompted := false
	for _, l := range b.Lines {
		if _, ok := isPrompt(l); ok {
			prompted = true
			break
		}
	}
	if !prompted && !shellLangs[b.Lang] {
		return nil
	}
	var out []cmdLine
	for i := 0; i < len(b.Lines); i++ {
		l := b.Lines[i]
		start := i
		var first string
		if prompted {
			rest, ok := isPrompt(l)
			if !ok {
				continue
			}
			first = rest
		} else {
			t := strings.TrimSpace(l)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			first = l
		}
		text, last := joinFrom(b.Lines, i, first)
		i = last
		if strings.TrimSpace(text) != "" {
			out = append(out, cmdLine{Line: b.Start + start, Text: strings.TrimSpace(text)})
		}
	}
	return out
}

// allCodeLines returns every line of every code block (continuations
// joined, prompts removed) and every inline code span: everything in which
// a go command could be mentioned.
func allCodeLines(doc *mdDoc) []cmdLine {
	var out []cmdLine
	for _, b := range doc.Blocks {
		for i := 0; i < len(b.Lines); i++ {
			start := i
			first := b.Lines[i]
			if rest, ok := isPrompt(first); ok {
				first = rest
			}
			text, last := joinFrom(b.Lines, i, first)
			i = last
			out = append(out, cmdLine{Line: b.Start + start, Text: text})
		}
	}
	return append(out, inlineCommands(doc)...)
}

// docCommands returns the commands a document tells the reader to run:
// the command lines of its code blocks and its inline code spans.
func docCommands(doc *mdDoc) []cmdLine {
	var out []cmdLine
	for _, b := range doc.Blocks {
		out = append(out, blockCommands(b)...)
	}
	return append(out, inlineCommands(doc)...)
}

// inlineCommands returns the inline code spans of doc, a "$ " prompt
// removed: each may hold a single command.
func inlineCommands(doc *mdDoc) []cmdLine {
	var out []cmdLine
	for _, s := range doc.Inline {
		text := s.Text
		if rest, ok := isPrompt(text); ok {
			text = rest
		}
		out = append(out, cmdLine{Line: s.Line, Text: text})
	}
	return out
}

// unmarkedCommands returns the lines of untagged, text and console blocks
// that start like a go command but are not commands by the convention.
func unmarkedCommands(doc *mdDoc) []cmdLine {
	var out []cmdLine
	for _, b := range doc.Blocks {
		if !outputLangs[b.Lang] {
			continue
		}
		marked := map[int]bool{}
		for _, c := range blockCommands(b) {
			marked[c.Line] = true
		}
		for i := 0; i < len(b.Lines); i++ {
			n := b.Start + i
			if _, ok := isPrompt(b.Lines[i]); ok || marked[n] {
				// skip the command and its continuation lines
				_, i = joinFrom(b.Lines, i, b.Lines[i])
				continue
			}
			for _, seg := range segments(shellTokens(b.Lines[i])) {
				w := commandWords(seg)
				if len(w) >= 2 && w[0] == "go" && goSubcommands[w[1]] {
					out = append(out, cmdLine{Line: n, Text: strings.TrimSpace(b.Lines[i])})
					break
				}
			}
		}
	}
	return out
}

// token is a shell word, or an operator (op set) such as && or >.
type token struct {
	text string
	op   bool
}

// shellTokens splits a command line into words and operators, roughly as a
// POSIX shell does: quotes and backslashes, # comments, the operators
// ; & && | || ( ) (a "(" inside a word is part of it), and redirections (returned as the operator ">" followed
// by the target word). Variables and $(...) are left unexpanded.
func shellTokens(s string) []token {
	var toks []token
	var word strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			toks = append(toks, token{text: word.String()})
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '#' && !inWord:
			return toks
		case c == '\\':
			if i+1 < len(s) {
				i++
				word.WriteByte(s[i])
			}
			inWord = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			word.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			inWord = true
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			depth := 0
			for ; i < len(s); i++ {
				word.WriteByte(s[i])
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			inWord = true
		case c == '>' || c == '<':
			if w := word.String(); inWord && strings.Trim(w, "0123456789") == "" {
				word.Reset() // a file descriptor number: 2>&1
				inWord = false
			}
			flush()
			for i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '<') {
				i++
			}
			toks = append(toks, token{text: ">", op: true})
			if i+1 < len(s) && s[i+1] == '&' { // >&1, >&-: the target is attached
				i++
				j := i + 1
				for j < len(s) && (s[j] == '-' || s[j] >= '0' && s[j] <= '9') {
					j++
				}
				toks = append(toks, token{text: s[i+1 : j]})
				i = j - 1
			}
		case c == ';' || c == '&' || c == '|' || c == ')' || c == '(' && !inWord:
			flush()
			op := string(c)
			if (c == '&' || c == '|') && i+1 < len(s) && (s[i+1] == c || c == '|' && s[i+1] == '&') {
				op += string(s[i+1])
				i++
			}
			toks = append(toks, token{text: op, op: true})
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return toks
}

// segments splits tokens into simple commands (lists of words), dropping
// redirections and their targets.
func segments(toks []token) [][]string {
	var out [][]string
	var cur []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.op && t.text == ">":
			i++ // drop the target too
		case t.op:
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		default:
			cur = append(cur, t.text)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

var envAssignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// leadingWords are the words a command may follow: wrappers and (for
// scripts such as .ci/run) shell keywords.
var leadingWords = map[string]bool{
	"env": true, "time": true, "nohup": true, "exec": true, "command": true,
	"!": true, "if": true, "elif": true, "then": true, "else": true, "while": true, "until": true, "do": true,
}

// commandWords drops what stands before the command itself: environment
// assignments, the wrappers env, time, nohup, exec and command, and shell
// keywords (if ! go test ...; then).
func commandWords(words []string) []string {
	for len(words) > 0 {
		switch w := words[0]; {
		case envAssignRE.MatchString(w), leadingWords[w]:
			words = words[1:]
		default:
			return words
		}
	}
	return words
}

// ---------------------------------------------------------------------------
// go commands

// goSubcommands are the go commands whose package arguments are checked.
var goSubcommands = map[string]bool{"run": true, "test": true, "build": true, "vet": true, "generate": true}

// goValueFlags are the flags of go run/test/build/vet/generate that take a
// value as the next argument (when not written -flag=value).
var goValueFlags = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		C p o tags ldflags gcflags asmflags gccgoflags mod modfile overlay pgo pkgdir
		toolexec buildmode compiler installsuffix exec covermode coverpkg
		run skip bench benchtime count cpu parallel timeout fuzz fuzztime fuzzminimizetime
		list shuffle coverprofile cpuprofile memprofile memprofilerate blockprofile
		blockprofilerate mutexprofile mutexprofilefraction outputdir trace vet`) {
		goValueFlags[f] = true
	}
}

// goCmd is a parsed go command.
type goCmd struct {
	Sub  string   // run, test, build, vet or generate
	Pkgs []string // package arguments as written (for run: the one package)
	Args []string // for run: the program's arguments
}

// goCommands finds every go command in a line (anywhere in it, so that
// "cd x && go test ./..." and "//	go run ./cmd" count).
func goCommands(text string) []goCmd {
	var out []goCmd
	for _, seg := range segments(shellTokens(text)) {
		for i := 0; i+1 < len(seg); i++ {
			if seg[i] == "go" && goSubcommands[seg[i+1]] {
				out = append(out, parseGo(seg[i:]))
				break
			}
		}
	}
	return out
}

// parseGo parses words that start with "go SUB".
func parseGo(words []string) goCmd {
	c := goCmd{Sub: words[1]}
	for i := 2; i < len(words); i++ {
		w := words[i]
		if w == "-args" || w == "--args" {
			break // the rest goes to the test binary
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name := strings.TrimLeft(w, "-")
			if !strings.Contains(name, "=") && goValueFlags[name] {
				i++
			}
			continue
		}
		if c.Sub != "run" {
			c.Pkgs = append(c.Pkgs, w)
			continue
		}
		if strings.HasSuffix(w, ".go") { // go run file.go ...: no package to check
			for i+1 < len(words) && strings.HasSuffix(words[i+1], ".go") {
				i++
			}
			c.Args = words[i+1:]
			return c
		}
		c.Pkgs = []string{w}
		c.Args = words[i+1:]
		return c
	}
	return c
}

// ---------------------------------------------------------------------------
// Flags of a Go binary

// usageFlags reads the flags from the usage text flag.PrintDefaults writes:
// lines "  -name" (a bool flag) or "  -name type" (a flag that takes a
// value). The result maps each name to whether it takes a value.
func usageFlags(usage string) map[string]bool {
	flags := map[string]bool{}
	for _, l := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(l, "  -")
		if !ok || rest == "" || rest[0] == ' ' || rest[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(rest, "\t")
		name, typ, _ := strings.Cut(name, " ")
		flags[name] = strings.TrimSpace(typ) != ""
	}
	return flags
}

// checkArgs parses args as the flag package would for a binary with the
// given flags and returns a message for each flag the binary lacks.
func checkArgs(flags map[string]bool, args []string) []string {
	var bad []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			break // flag parsing stops at the first non-flag argument
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, hasValue := strings.Cut(name, "=")
		takesValue, ok := flags[name]
		switch {
		case name == "h" || name == "help":
		case !ok:
			bad = append(bad, fmt.Sprintf("flag -%s is not defined", name))
		case takesValue && !hasValue:
			if i+1 == len(args) {
				bad = append(bad, fmt.Sprintf("flag -%s needs a value", name))
			}
			i++
		}
	}
	return bad
}
