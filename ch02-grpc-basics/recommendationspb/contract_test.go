package recommendationspb_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// The names on the wire are the ones the Python series uses, because the
// .proto has no package line. A Go client can then call a Python server,
// and a Python client a Go server.
func TestWireNamesMatchPython(t *testing.T) {
	file := pb.File_recommendations_proto
	assert.Equal(t, "recommendations.proto", file.Path())
	assert.Empty(t, file.Package(), "no package line, so no prefix on any name")

	svc := file.Services().ByName("Recommendations")
	require.NotNil(t, svc)
	method := svc.Methods().ByName("Recommend")
	require.NotNil(t, method)
	// gRPC sends every call as an HTTP/2 POST to /<service full name>/<method>.
	assert.Equal(t, "/"+string(svc.FullName())+"/"+string(method.Name()), pb.Recommendations_Recommend_FullMethodName)
	assert.Equal(t, "/Recommendations/Recommend", pb.Recommendations_Recommend_FullMethodName)
	assert.Equal(t, "Recommendations", pb.Recommendations_ServiceDesc.ServiceName)

	for _, tt := range []struct {
		msg  proto.Message
		name protoreflect.FullName
	}{
		{&pb.RecommendationRequest{}, "RecommendationRequest"},
		{&pb.BookRecommendation{}, "BookRecommendation"},
		{&pb.RecommendationResponse{}, "RecommendationResponse"},
	} {
		assert.Equal(t, tt.name, tt.msg.ProtoReflect().Descriptor().FullName())
		// The global registry knows each message by that name alone; this is
		// also why two .proto files with these names cannot be linked together.
		mt, err := protoregistry.GlobalTypes.FindMessageByName(tt.name)
		if assert.NoError(t, err, tt.name) {
			assert.Equal(t, tt.name, mt.Descriptor().FullName())
		}
	}
	assert.Equal(t, protoreflect.FullName("BookCategory"), pb.BookCategory_MYSTERY.Descriptor().FullName())
}

// compile builds one Go file that imports this package, and returns the
// compiler's output. The file lives in a temporary directory, but the go
// command runs in this package's directory, inside the module, so the import
// resolves to the generated code in this repository.
func compile(t *testing.T, goCmd, src string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "snippet.go")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o600))
	out, err := exec.Command(goCmd, "build", "-o", os.DevNull, file).CombinedOutput()
	return string(out), err
}

// snippet is a whole Go file that builds a request with the given fields.
const snippet = `package snippet

import pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"

var _ = &pb.RecommendationRequest{%s}
`

// Python accepts RecommendationRequest(max_results="3") and raises TypeError
// when the line runs; Go rejects the same mistake before anything runs.
func TestWrongFieldsDoNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}

	// The control: well-typed fields compile, so a failure below is the
	// compiler's verdict on the fields and not a broken set-up.
	out, err := compile(t, goCmd, fmt.Sprintf(snippet, `UserId: 1, MaxResults: 3`))
	require.NoError(t, err, out)

	out, err = compile(t, goCmd, fmt.Sprintf(snippet, `UserId: 1, MaxResults: "3", Title: "Dune"`))
	require.Error(t, err)
	assert.Contains(t, out, `cannot use "3" (untyped string constant) as int32 value`)
	assert.Contains(t, out, `unknown field Title in struct literal of type recommendationspb.RecommendationRequest`)
}
