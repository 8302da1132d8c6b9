// Package echopb is the Go code protoc generates from
// ch05-observability/protobufs/echo.proto: an echo service that chapter 5's
// tests run interceptors on.
//
// Do not edit the .pb.go files; change the .proto and run `go generate ./...`.
package echopb

//go:generate go run github.com/gobookstore/grpc-microservices-go/internal/protogen -I ../protobufs echo.proto
