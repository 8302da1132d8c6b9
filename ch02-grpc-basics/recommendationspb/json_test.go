package recommendationspb_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
)

// protojson changes its whitespace at random between builds so that nobody
// compares its output as a string. assert.JSONEq compares parsed values
// instead, so these tests check content and ignore spacing.

func TestJSONNames(t *testing.T) {
	req := &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 3}

	camel, err := protojson.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"userId": 1, "category": "SCIENCE_FICTION", "maxResults": 3}`, string(camel))

	snake, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"user_id": 1, "category": "SCIENCE_FICTION", "max_results": 3}`, string(snake))
}

func TestJSONOmitsZeroValues(t *testing.T) {
	req := &pb.RecommendationRequest{UserId: 1} // category MYSTERY and max_results 0 are zero values

	b, err := protojson.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"userId": 1}`, string(b))

	all, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"userId": 1, "category": "MYSTERY", "maxResults": 0}`, string(all))

	empty, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(&pb.RecommendationResponse{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"recommendations": []}`, string(empty))
}

func TestJSONParsing(t *testing.T) {
	want := &pb.RecommendationRequest{UserId: 1, Category: pb.BookCategory_SCIENCE_FICTION, MaxResults: 3}
	tests := []struct {
		name, json string
	}{
		{"JSON names", `{"userId": 1, "category": "SCIENCE_FICTION", "maxResults": 3}`},
		{"proto names", `{"user_id": 1, "category": "SCIENCE_FICTION", "max_results": 3}`},
		{"enum as a number", `{"userId": 1, "category": 1, "maxResults": 3}`},
		{"numbers as strings", `{"userId": "1", "category": "SCIENCE_FICTION", "maxResults": "3"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got pb.RecommendationRequest
			require.NoError(t, protojson.Unmarshal([]byte(tt.json), &got))
			assertProtoEqual(t, want, &got)
		})
	}

	t.Run("unknown enum name", func(t *testing.T) {
		var got pb.RecommendationRequest
		err := protojson.Unmarshal([]byte(`{"category": "FANTASY"}`), &got)
		assert.ErrorContains(t, err, "FANTASY")
	})
	t.Run("unknown enum number", func(t *testing.T) {
		// The enum is open in JSON too: a number without a name is kept,
		// and written back as a number.
		var got pb.RecommendationRequest
		require.NoError(t, protojson.Unmarshal([]byte(`{"category": 99}`), &got))
		assert.Equal(t, pb.BookCategory(99), got.GetCategory())

		b, err := protojson.Marshal(&got)
		require.NoError(t, err)
		assert.JSONEq(t, `{"category": 99}`, string(b))
	})
}

// compactJSON encodes m with protojson and strips the whitespace protojson
// adds at random, giving the smallest JSON for m and a stable length.
func compactJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestBinaryIsSmallerThanJSON(t *testing.T) {
	resp := sciFiResponse()
	bin, err := proto.Marshal(resp)
	require.NoError(t, err)
	js, err := compactJSON(resp)
	require.NoError(t, err)

	// Both carry the same three titles; binary saves the field names, the
	// quotes and the punctuation JSON needs around every value.
	assert.Less(t, len(bin), len(js))
	var parsed pb.RecommendationResponse
	require.NoError(t, protojson.Unmarshal(js, &parsed))
	assertProtoEqual(t, resp, &parsed) // nothing was lost in compacting
}

// The same three-book response, measured in both encodings. The JSON is
// compacted first: protojson's spacing varies on purpose, and compact
// JSON is the smallest JSON can be, so the comparison is fair to it.
func ExampleRecommendationResponse_size() {
	resp := sciFiResponse()
	js, err := compactJSON(resp)
	if err != nil {
		panic(err)
	}
	fmt.Println("binary:", proto.Size(resp), "bytes")
	fmt.Println("JSON:  ", len(js), "bytes")
	fmt.Printf("%s\n", js)
	// Output:
	// binary: 85 bytes
	// JSON:   148 bytes
	// {"recommendations":[{"id":4,"title":"The Hitchhiker's Guide to the Galaxy"},{"id":5,"title":"Ender's Game"},{"id":6,"title":"The Dune Chronicles"}]}
}
