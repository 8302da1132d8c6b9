// Command protogen runs protoc with the code generators pinned in go.mod.
//
// It exists so that `go generate ./...` works the same on every machine:
// protoc comes from the system (Debian's protobuf-compiler), while
// protoc-gen-go and protoc-gen-go-grpc are the exact versions named by the
// `tool` directives in go.mod, found with `go tool -n`. Output is written to
// the current directory with paths=source_relative.
//
// Usage (from a //go:generate line):
//
//	go run github.com/gobookstore/grpc-microservices-go/internal/protogen -I ../protobufs recommendations.proto
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	include := flag.String("I", ".", "directory that holds the .proto files")
	dir := flag.String("C", ".", "directory to run protoc in: the root of the output, and of -I and the files")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "protogen: name at least one .proto file")
		os.Exit(2)
	}
	if err := run(*dir, *include, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(dir, include string, files []string) error {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		return errors.New("protoc not found on PATH; install it with `apt-get install protobuf-compiler` (Debian/Ubuntu) or `brew install protobuf` (macOS)")
	}
	args := []string{"-I", include}
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		path, err := toolPath(plugin)
		if err != nil {
			return err
		}
		args = append(args, "--plugin="+plugin+"="+path)
	}
	args = append(args,
		"--go_out=.", "--go_opt=paths=source_relative",
		"--go-grpc_out=.", "--go-grpc_opt=paths=source_relative",
	)
	args = append(args, files...)
	cmd := exec.Command(protoc, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("protoc %s: %w", strings.Join(files, " "), err)
	}
	return nil
}

// toolPath builds (or finds in the build cache) a tool pinned in go.mod and
// returns the path of its executable.
func toolPath(name string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n %s: %w: %s", name, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
