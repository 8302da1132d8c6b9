// Package recommendationsv1 is the Go code protoc generates from
// recommendations.proto beside it: version 1 of the bookstore's contract.
//
// Do not edit the .pb.go files; change the .proto and run `go generate ./...`.
package recommendationsv1

//go:generate go run github.com/gobookstore/grpc-microservices-go/internal/protogen -C ../.. -I . recommendations/v1/recommendations.proto
