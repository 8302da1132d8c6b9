// Package recommendationspb is the Go code protoc generates from
// ch02-grpc-basics/protobufs/recommendations.proto: the messages, the enum,
// and the Recommendations client and server interfaces.
//
// Do not edit the .pb.go files; change the .proto and run `go generate ./...`.
package recommendationspb

//go:generate go run github.com/gobookstore/grpc-microservices-go/internal/protogen -I ../protobufs recommendations.proto
