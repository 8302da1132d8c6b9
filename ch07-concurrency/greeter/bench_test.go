package greeter_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// The benchmarks measure what a call costs gRPC itself: the Go-mode
// server with sleep_millisecond 0, in memory (bufconn) and over loopback
// TCP, one caller at a time and, in the "-parallel" sub-benchmarks (b.RunParallel),
// GOMAXPROCS callers.

func benchClient(b *testing.B, over string) pb.GreeterClient {
	b.Helper()
	g := must(greeter.New(greeter.Options{}))
	if over == "bufconn" {
		return pb.NewGreeterClient(grpctest.Start(b, g.Register))
	}
	addr := grpctest.ServeLoopback(b, g.Register)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return pb.NewGreeterClient(conn)
}

func BenchmarkSayHello(b *testing.B) {
	for _, over := range []string{"bufconn", "tcp"} {
		b.Run(over, func(b *testing.B) {
			c := benchClient(b, over)
			ctx := context.Background()
			req := &pb.HelloRequest{Name: "Joe"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.SayHello(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(over+"-parallel", func(b *testing.B) {
			c := benchClient(b, over)
			req := &pb.HelloRequest{Name: "Joe"}
			b.ReportAllocs()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if _, err := c.SayHello(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSayHelloStream: one call, five greetings, to the end of the
// stream.
func BenchmarkSayHelloStream(b *testing.B) {
	c := benchClient(b, "bufconn")
	ctx := context.Background()
	req := &pb.HelloRequest{Name: "Joe"}
	b.ReportAllocs()
	for b.Loop() {
		stream, err := c.SayHelloStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := stream.Recv(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSayHelloToAll: one call, three names in, one greeting out.
func BenchmarkSayHelloToAll(b *testing.B) {
	c := benchClient(b, "bufconn")
	ctx := context.Background()
	names := []*pb.HelloRequest{{Name: "Alice"}, {Name: "Bob"}, {Name: "Charlie"}}
	b.ReportAllocs()
	for b.Loop() {
		stream, err := c.SayHelloToAll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range names {
			if err := stream.Send(n); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := stream.CloseAndRecv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChat: one message and its reply on a stream that stays open,
// the cost of a round trip once the call exists.
func BenchmarkChat(b *testing.B) {
	c := benchClient(b, "bufconn")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.Chat(ctx)
	if err != nil {
		b.Fatal(err)
	}
	req := &pb.HelloRequest{Name: "Joe"}
	b.ReportAllocs()
	for b.Loop() {
		if err := stream.Send(req); err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := stream.CloseSend(); err != nil {
		b.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		b.Fatal(err)
	}
}
