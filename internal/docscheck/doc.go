// Package docscheck holds the tests that keep README.md and docs/*.md
// true: every console session they show is run, and every relative link
// resolves. (embedmd, run by .ci/run, keeps the code they show in step with
// the source files.)
//
// # Sessions
//
// A ```console block is a session, and the test runs it the way a reader
// would, in order, from the repository root, each command in a terminal of
// its own (a pseudo-terminal, so programs behave as they do for a reader).
// Lines that start with "$ " are commands, run by bash; the lines after a
// command are what it prints, standard output and standard error together,
// as a terminal shows them. The output must match exactly, except that times
// of day and durations (2026/11/21 10:00:00, 0.012s) match any others. So
// write what a real run prints; to keep it repeatable, give a command a flag
// a reader can use too, such as -seed, and show no port the kernel picks.
//
// Words after "console" in the fence's info string change that:
//
//   - server: the block's one command keeps running, as a server does in a
//     reader's second terminal. The test starts it, waits for its first line
//     (the workbook's servers print only once they listen), runs the blocks
//     that follow, and at the next heading presses Ctrl+C. The block shows
//     all the server prints, the ^C the terminal echoes, and what it prints
//     while it stops.
//   - needs=NAME: the section (up to the next heading) needs NAME, a command
//     looked up on PATH (grpcurl, docker), or python-grpc, a python3 with
//     grpcio and grpc_tools. Without it the section is skipped, or fails when
//     CI is set.
//
// Blocks in other languages (```sh, ```text) are shown, not run. After
// changing what a command prints, rewrite the pages from real runs with
//
//	go test ./internal/docscheck -run TestSessions -update
//
// The sessions use the bookstore's default ports (5000, 50051), since they
// are the commands a reader types; if one is taken (by a bookstore you left
// running, say), they are skipped, with a message naming the port. -short
// skips them too.
package docscheck
