// Package docscheck holds no code: its tests check that README.md and
// docs/*.md agree with the repository, so that the docs cannot drift from
// the code (embedmd, run by .ci/run, checks the embedded snippets; these
// tests check everything else).
//
// Run them with
//
//	go test ./internal/docscheck/
//
// (-short skips the one check that builds binaries). They check:
//
//   - every `go run|test|build|vet|generate ./path` (or ./path/...) in a
//     code block or inline code names a directory that holds Go packages
//     (a main package for go run); a path with "..." anywhere but at its
//     end (./chNN-.../cmd/NAME) is a placeholder and is not checked;
//   - every flag given to a `go run ./path ...` command is a flag that
//     binary defines (the binary is built and run with -h);
//   - no code block shows a `go ...` command that does not follow the
//     command convention below (so no command escapes the flag check);
//   - every relative Markdown link points to a file that exists (and, for a
//     link to a .md file with #anchor, to a heading that exists);
//   - README.md shows the command `go test -race ./...` and .ci/run runs the
//     very same command; README links every docs/NN-*.md page;
//   - no .go file (except generated *.pb.go and the checker's own list) and
//     no fenced code block in the docs uses the deprecated gRPC dial API;
//   - every `[embedmd]:# (path ...)` directive names a file that exists;
//   - the output shown under a `$ go test ./path/...` prompt lists exactly
//     the packages that pattern matches, with "[no test files]" for exactly
//     those without tests.
//
// # The command convention for docs
//
// Every command in the docs runs from the repository root. In a fenced code
// block, a line is a command when
//
//   - it starts with "$ " (a prompt): in any block whose lines include such a
//     prompt, the lines without one are the output the commands print; or
//   - the block's language is sh, bash, shell or zsh and no line in it has a
//     "$ " prompt: then every line that is not blank and not a # comment is
//     a command (such a block shows no output).
//
// A command continues on the next line when it ends with a backslash (or
// with |, && or ||); a "> " prompt at the start of a continuation line is
// dropped. Environment assignments in front of a command
// (RECOMMENDATIONS_HOST=localhost go run ...) and the wrappers env, time,
// nohup, exec and command are skipped; ;, &&, ||, | and & separate commands
// on one line (so "go run ./x &" runs x in the background); redirections
// (2>&1, > out.txt) and # comments are ignored.
//
// So, to show commands with their output, write
//
//	```console
//	$ go run ./ch03-server-client/cmd/client -category SCIENCE_FICTION -max 2
//	4 The Hitchhiker's Guide to the Galaxy
//	```
//
// and to show commands alone, write a ```sh block with no prompts. Inline
// code that holds a single command (`go run ./ch03-server-client/cmd/client
// -max 2`) is checked too. A line in an untagged, text or console block that
// starts with `go run|test|build|vet|generate` but has no "$ " prompt is
// reported: it looks like a command but would escape the checks.
package docscheck
