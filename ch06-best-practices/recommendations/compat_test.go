package recommendations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/catalog"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommendations"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// newerFile is recommendations.v1 as a later, compatible release might
// have it: one field more in RecommendRequest (string locale = 4) and one
// in Book (string author = 3). It is built from the real descriptor at test
// time, as a newer program's code would have been generated from a newer
// .proto.
func newerFile(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	added := map[string]*descriptorpb.FieldDescriptorProto{
		"RecommendRequest": {Name: proto.String("locale"), JsonName: proto.String("locale"), Number: proto.Int32(4)},
		"Book":             {Name: proto.String("author"), JsonName: proto.String("author"), Number: proto.Int32(3)},
	}
	fdp := protodesc.ToFileDescriptorProto(v1.File_recommendations_v1_recommendations_proto)
	for _, m := range fdp.GetMessageType() {
		if f, ok := added[m.GetName()]; ok {
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
			f.Type = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
			m.Field = append(m.Field, f)
		}
	}
	// A registry of its own: the newer file has the same names as the
	// linked one, which the global registry would refuse.
	fd, err := protodesc.NewFile(fdp, nil)
	require.NoError(t, err)
	return fd
}

// newerRequest is the newer RecommendRequest.
func newerRequest(t *testing.T) protoreflect.MessageDescriptor {
	return newerFile(t).Messages().ByName("RecommendRequest")
}

// A newer client sends a field an older server does not know: the server
// answers as before, and keeps the field's bytes as an unknown field.
func TestNewClientOldServer(t *testing.T) {
	var seen []byte
	keep := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen = req.(*v1.RecommendRequest).ProtoReflect().GetUnknown()
		return h(ctx, req)
	}
	conn := grpctest.Start(t, func(s grpc.ServiceRegistrar) {
		v1.RegisterRecommendationsServiceServer(s, recommendations.NewV1Server(catalog.NewRecommender(nil)))
	},
		grpc.UnaryInterceptor(keep))

	req := dynamicpb.NewMessage(newerRequest(t))
	req.Set(req.Descriptor().Fields().ByName("category"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(v1.BookCategory_BOOK_CATEGORY_MYSTERY)))
	req.Set(req.Descriptor().Fields().ByName("max_results"), protoreflect.ValueOfInt32(2))
	req.Set(req.Descriptor().Fields().ByName("locale"), protoreflect.ValueOfString("de"))
	resp := new(v1.RecommendResponse)
	require.NoError(t, conn.Invoke(grpctest.Context(t), v1.RecommendationsService_Recommend_FullMethodName, req, resp))
	assert.Len(t, resp.GetBooks(), 2, "the old server answered as before")
	assert.NotEmpty(t, seen, "and kept the new field as unknown bytes")
}

// An older client's request, read by newer code: the new field is simply
// unset, its zero value.
func TestOldClientNewServer(t *testing.T) {
	b, err := proto.Marshal(&v1.RecommendRequest{Category: v1.BookCategory_BOOK_CATEGORY_SELF_HELP, MaxResults: 1})
	require.NoError(t, err)
	newer := dynamicpb.NewMessage(newerRequest(t))
	require.NoError(t, proto.Unmarshal(b, newer))
	assert.Equal(t, "", newer.Get(newer.Descriptor().Fields().ByName("locale")).String())
	assert.EqualValues(t, 1, newer.Get(newer.Descriptor().Fields().ByName("max_results")).Int())
}

// Unknown fields survive a round trip through older code: a proxy or a
// store that reads and writes a message it is one version behind on
// loses nothing.
func TestUnknownFieldsSurviveARoundTrip(t *testing.T) {
	newer := dynamicpb.NewMessage(newerRequest(t))
	newer.Set(newer.Descriptor().Fields().ByName("locale"), protoreflect.ValueOfString("fr"))
	b, err := proto.Marshal(newer)
	require.NoError(t, err)

	var old v1.RecommendRequest
	require.NoError(t, proto.Unmarshal(b, &old))
	again, err := proto.Marshal(&old)
	require.NoError(t, err)

	back := dynamicpb.NewMessage(newerRequest(t))
	require.NoError(t, proto.Unmarshal(again, back))
	assert.Equal(t, "fr", back.Get(back.Descriptor().Fields().ByName("locale")).String())
}

// A newer server answers with a field an older client does not know (each
// book's author): the older client reads the books it knows, as before.
func TestNewServerOldClient(t *testing.T) {
	fd := newerFile(t)
	resp := dynamicpb.NewMessage(fd.Messages().ByName("RecommendResponse"))
	book := dynamicpb.NewMessage(fd.Messages().ByName("Book"))
	book.Set(book.Descriptor().Fields().ByName("id"), protoreflect.ValueOfInt32(5))
	book.Set(book.Descriptor().Fields().ByName("title"), protoreflect.ValueOfString("Ender's Game"))
	book.Set(book.Descriptor().Fields().ByName("author"), protoreflect.ValueOfString("Orson Scott Card"))
	books := resp.Mutable(resp.Descriptor().Fields().ByName("books")).List()
	books.Append(protoreflect.ValueOfMessage(book))
	b, err := proto.Marshal(resp) // what the newer server sends
	require.NoError(t, err)

	var old v1.RecommendResponse // what the older client decodes it into
	require.NoError(t, proto.Unmarshal(b, &old))
	require.Len(t, old.GetBooks(), 1)
	assert.True(t, proto.Equal(&v1.Book{Id: 5, Title: "Ender's Game"}, withoutUnknown(old.GetBooks()[0])))
}

// withoutUnknown returns a copy of m without the fields its type does not
// know, for comparing what a program can see.
func withoutUnknown(m *v1.Book) *v1.Book {
	c := proto.Clone(m).(*v1.Book)
	c.ProtoReflect().SetUnknown(nil)
	return c
}
