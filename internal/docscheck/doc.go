// Package docscheck holds the tests that keep README.md and docs/*.md
// true: every console session they show is run, and every relative link
// resolves. (embedmd, run by .ci/run, keeps the code they show in step with
// the source files.)
//
// # Sessions
//
// A ```console block is a session, and the test runs it the way a reader
// would, in order, from a copy of the repository (so that what the
// commands write never lands in the working tree), each command in a terminal of
// its own (a pseudo-terminal, so programs behave as they do for a reader).
// Lines that start with "$ " are commands, run by bash; the lines after a
// command are what it prints, standard output and standard error together,
// as a terminal shows them. The output must match exactly, except for what
// changes from run to run although nothing is wrong: dates and times of
// day, timings (go test's "(0.00s)" and its time at the end of a line, a
// log's duration=), a certificate's random serial=, and the port after an
// IP address (127.0.0.1:53122), which match any other. So write what a real run prints; to keep it repeatable,
// give a command a flag a reader can use too, such as -seed.
//
// Words after "console" in the fence's info string change that:
//
//   - server: the block's one command keeps running, as a server does in a
//     reader's second terminal. The test starts it, waits for its first line
//     (the workbook's servers print only once they listen), runs the blocks
//     that follow, and at the next heading, once the server has printed the
//     lines the block shows before ^C, presses Ctrl+C. The block shows all
//     the server prints, the ^C the terminal echoes, and what it prints while
//     it stops.
//   - needs=NAME: the section (up to the next heading) needs NAME, a command
//     on PATH (grpcurl, docker), or python-grpc, a python3 on PATH with
//     grpcio and grpc_tools. Without it the section is skipped, or fails when
//     CI is set.
//
// Each section is a subtest, so `go test -v` says which ran and which were
// skipped, and why. Blocks in other languages (```sh, ```text) are shown,
// not run. After changing what a command prints, rewrite the pages from
// real runs with
//
//	go test ./internal/docscheck -run TestSessions -update
//
// The sessions use the default ports (the bookstore's 5000, 50051, 9090,
// 9091, and chapter 7's greeter on 9999 and front end on 8080), since they
// are the commands a reader types; if one is taken (by a bookstore you
// left running, say), they are skipped, with a message naming the port.
// -short skips them too.
//
// # Why not testscript
//
// The page itself is the transcript, as with mdox, which generates a doc's
// blocks from real runs: the test reads the commands from the page, runs
// them with the real shell, and compares their output with the page, or
// writes it there with -update. A testscript file would be a second copy
// of every session, in another language, kept in step with the page by
// hand; and a reader could not paste its lines into a terminal.
package docscheck
