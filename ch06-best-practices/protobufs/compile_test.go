package protobufs_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

// The series added mypy-protobuf so that mypy would catch what Python's
// generated messages let through until run time: a misspelled field, a
// value of the wrong type, one version's enum used for another's. Go's
// generated code is ordinary typed Go, so the compiler catches all three.
// This test compiles such code, as a reader's package would be, and reads
// the compiler's errors.
const mistakes = `package client

import (
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
)

func requests(n int32) []any {
	return []any{
		&pb.RecommendationRequest{MaxResult: 3},
		&pb.RecommendationRequest{MaxResults: "3"},
		&pb.RecommendationRequest{Category: v1.BookCategory_BOOK_CATEGORY_MYSTERY},
		&pb.RecommendationRequest{Category: n},
		(&v1.RecommendResponse{}).GetBooks()[0].GetTitle() + 1,
	}
}
`

// What the compiler cannot know: proto3 enums are open, so an untyped
// constant outside the enum compiles (the wire allows any int32), and the
// server answers NOT_FOUND.
const allowed = `package client

import pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"

var _ = &pb.RecommendationRequest{Category: 42}
`

func TestTheCompilerChecksWhatMypyChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go build")
	}
	out, err := build(t, mistakes)
	require.Error(t, err, "the mistakes compiled")
	for _, want := range []string{
		"unknown field MaxResult in struct literal",
		`cannot use "3" (untyped string constant) as int32 value`,
		"cannot use v1.BookCategory_BOOK_CATEGORY_MYSTERY (constant 1 of int32 type recommendationsv1.BookCategory) as recommendationspb.BookCategory value",
		"cannot use n (variable of type int32) as recommendationspb.BookCategory value",
		"mismatched types string and untyped int",
	} {
		assert.Contains(t, out, want)
	}

	out, err = build(t, allowed)
	assert.NoError(t, err, "%s", out)
}

// build compiles src as a package of the module, without writing it into
// the repository: go build's -overlay adds the file at a path of the
// module that does not exist on disk. It returns the compiler's output.
func build(t *testing.T, src string) (string, error) {
	t.Helper()
	root := proctest.ModuleRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "client.go")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, "ch06-best-practices", "protobufs", "compilecheck", "client.go"): file},
	})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), proctest.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayFile, "-o", os.DevNull, "./ch06-best-practices/protobufs/compilecheck")
	cmd.Dir = root
	output, err := cmd.CombinedOutput()
	return string(output), err
}
