package recommendationspb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// assertProtoEqual checks two messages with proto.Equal, which compares
// field values (and unknown fields), never the unexported bookkeeping that
// generated structs carry. The messages print in text format on failure.
func assertProtoEqual(t *testing.T, want, got proto.Message) {
	t.Helper()
	assert.Truef(t, proto.Equal(want, got), "messages differ\nwant: %v\ngot:  %v", want, got)
}

// sciFiResponse is the answer Recommendations gives for three science
// fiction books: the message the tests encode in binary and in JSON.
func sciFiResponse() *pb.RecommendationResponse {
	return &pb.RecommendationResponse{
		Recommendations: []*pb.BookRecommendation{
			{Id: 4, Title: "The Hitchhiker's Guide to the Galaxy"},
			{Id: 5, Title: "Ender's Game"},
			{Id: 6, Title: "The Dune Chronicles"},
		},
	}
}

func TestUnsetFieldsReadAsZero(t *testing.T) {
	var req pb.RecommendationRequest
	assert.Equal(t, int32(0), req.GetUserId())
	assert.Equal(t, int32(0), req.GetMaxResults())
	assert.Equal(t, pb.BookCategory_MYSTERY, req.GetCategory(), "an unset enum reads as its value numbered 0")

	// Setting a scalar to its zero value is the same as not setting it:
	// proto3 keeps no "was it set?" bit for these fields.
	maxResults := req.ProtoReflect().Descriptor().Fields().ByName("max_results")
	require.NotNil(t, maxResults)
	explicit := &pb.RecommendationRequest{MaxResults: 0}
	assert.False(t, explicit.ProtoReflect().Has(maxResults))

	// Getters check for a nil receiver, so a chain of them never panics.
	var missing *pb.RecommendationRequest
	assert.Equal(t, int32(0), missing.GetUserId())
	assert.Equal(t, int32(0), missing.GetMaxResults())
	assert.Equal(t, pb.BookCategory_MYSTERY, missing.GetCategory())
	var noResponse *pb.RecommendationResponse
	assert.Empty(t, noResponse.GetRecommendations())
}

func TestBookCategoryNumbers(t *testing.T) {
	// The numbers and names written in recommendations.proto.
	tests := []struct {
		category pb.BookCategory
		number   int32
		name     string
	}{
		{pb.BookCategory_MYSTERY, 0, "MYSTERY"},
		{pb.BookCategory_SCIENCE_FICTION, 1, "SCIENCE_FICTION"},
		{pb.BookCategory_SELF_HELP, 2, "SELF_HELP"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.number, int32(tt.category), tt.name)
		assert.Equal(t, tt.name, tt.category.String())
		assert.Equal(t, tt.name, pb.BookCategory_name[tt.number])
		assert.Equal(t, tt.number, pb.BookCategory_value[tt.name])
	}
	assert.Len(t, pb.BookCategory_name, len(tests), "no category beyond the three in the contract")
	assert.Len(t, pb.BookCategory_value, len(tests))
}

// The catalog keeps its own Category type so that chapter 1 needs no
// protobuf. Chapter 3 converts between the two with a plain conversion,
// which is only right while every number means the same category in both.
func TestBookCategoryMatchesCatalog(t *testing.T) {
	catalogs := map[string]catalog.Category{
		"MYSTERY": catalog.Mystery, "SCIENCE_FICTION": catalog.ScienceFiction, "SELF_HELP": catalog.SelfHelp,
	}
	values := pb.BookCategory_MYSTERY.Descriptor().Values()
	require.Equal(t, len(catalogs), values.Len(), "a category in one and not the other")
	for i := range values.Len() {
		v := values.Get(i)
		c, ok := catalogs[string(v.Name())]
		if assert.True(t, ok, "the catalog has no %s", v.Name()) {
			assert.EqualValues(t, v.Number(), c, "%s", v.Name())
		}
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"request", &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 3}},
		{"response", sciFiResponse()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.msg)
			require.NoError(t, err)
			assert.Len(t, b, proto.Size(tt.msg), "proto.Size predicts the encoded length")

			got := tt.msg.ProtoReflect().New().Interface() // an empty message of the same type
			require.NoError(t, proto.Unmarshal(b, got))
			assertProtoEqual(t, tt.msg, got)
		})
	}
}

// A tag is one varint: the field number shifted left three bits, with the
// wire type in the low three bits. The hex values are the tags of the
// fields in recommendations.proto.
func TestTagIsFieldNumberAndWireType(t *testing.T) {
	tag := func(field protowire.Number, wire protowire.Type) uint64 {
		return uint64(field)<<3 | uint64(wire)
	}
	tests := []struct {
		field protowire.Number
		wire  protowire.Type
		want  uint64
	}{
		{1, protowire.VarintType, 0x08}, // user_id, id
		{2, protowire.VarintType, 0x10}, // category
		{3, protowire.VarintType, 0x18}, // max_results
		{1, protowire.BytesType, 0x0a},  // recommendations
		{2, protowire.BytesType, 0x12},  // title
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tag(tt.field, tt.wire))
		assert.Equal(t, tt.want, protowire.EncodeTag(tt.field, tt.wire))
	}
}

func TestWireBytes(t *testing.T) {
	const varint, lengthDelimited = 0, 2 // wire types
	t.Run("request", func(t *testing.T) {
		req := &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 3}
		b, err := proto.Marshal(req)
		require.NoError(t, err)
		want := []byte{
			1<<3 | varint, 1, // user_id = 1
			2<<3 | varint, 1, // category = SCIENCE_FICTION, whose number is 1
			3<<3 | varint, 3, // max_results = 3
		}
		assert.Equal(t, want, b, "got % x", b)
	})
	t.Run("zero values are not written", func(t *testing.T) {
		b, err := proto.Marshal(&pb.RecommendationRequest{})
		require.NoError(t, err)
		assert.Empty(t, b)

		b, err = proto.Marshal(&pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_MYSTERY, MaxResults: 0})
		require.NoError(t, err)
		assert.Equal(t, []byte{1<<3 | varint, 1}, b, "only user_id is on the wire; got % x", b)
	})
	t.Run("string is length-delimited", func(t *testing.T) {
		book := &pb.BookRecommendation{Id: 5, Title: "Ender's Game"}
		b, err := proto.Marshal(book)
		require.NoError(t, err)
		want := []byte{1<<3 | varint, 5, 2<<3 | lengthDelimited, byte(len(book.Title))}
		want = append(want, book.Title...)
		assert.Equal(t, want, b, "got % x", b)
	})
}

func TestOpenEnum(t *testing.T) {
	// 99 is no BookCategory, but the wire carries any int32 and proto3
	// keeps what it was sent instead of dropping it.
	in := &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory(99), MaxResults: 3}
	b, err := proto.Marshal(in)
	require.NoError(t, err)

	var out pb.RecommendationRequest
	require.NoError(t, proto.Unmarshal(b, &out))
	assert.Equal(t, pb.BookCategory(99), out.GetCategory())
	assert.Equal(t, "99", out.GetCategory().String(), "a number with no name prints as the number")
	assert.NotContains(t, pb.BookCategory_name, int32(99))
	assert.False(t, out.GetCategory().Descriptor().IsClosed(), "proto3 enums are open")
	assertProtoEqual(t, in, &out)
}
