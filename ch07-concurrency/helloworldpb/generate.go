// Package helloworldpb is the Go code protoc generates from
// ch07-concurrency/protobufs/helloworld.proto: the Greeter that chapter 7
// serves in several concurrency models and measures under load.
//
// Do not edit the .pb.go files; change the .proto and run `go generate ./...`.
package helloworldpb

//go:generate go run github.com/gobookstore/grpc-microservices-go/internal/protogen -I ../protobufs helloworld.proto
