package greeter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/greeter"
	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

// The four shapes of a call, from the client's side.
func Example() {
	g, err := greeter.New(greeter.Options{})
	if err != nil {
		log.Fatal(err)
	}
	conn, stop := grpctest.Open(g.Register)
	defer stop()
	c := pb.NewGreeterClient(conn)
	ctx := context.Background()

	// Unary: one request, one reply.
	reply, err := c.SayHello(ctx, &pb.HelloRequest{Name: "Ann"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetMessage())

	// Server stream: read until io.EOF, which is the server returning.
	greetings, err := c.SayHelloStream(ctx, &pb.HelloRequest{Name: "Bo"})
	if err != nil {
		log.Fatal(err)
	}
	for {
		reply, err := greetings.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.GetMessage())
	}

	// Client stream: send, then close the sending side and get the answer.
	names, err := c.SayHelloToAll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"Alice", "Bob", "Charlie"} {
		if err := names.Send(&pb.HelloRequest{Name: name}); err != nil {
			log.Fatal(err)
		}
	}
	reply, err = names.CloseAndRecv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetMessage())

	// Bidirectional: a reply per message; CloseSend ends the server's loop.
	chat, err := c.Chat(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"Dee", "Eve"} {
		if err := chat.Send(&pb.HelloRequest{Name: name}); err != nil {
			log.Fatal(err)
		}
		reply, err := chat.Recv()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.GetMessage())
	}
	if err := chat.CloseSend(); err != nil {
		log.Fatal(err)
	}
	if _, err := chat.Recv(); !errors.Is(err, io.EOF) {
		log.Fatal(err)
	}
	// Output:
	// Hello, Ann!
	// Hello, Bo! (1 of 5)
	// Hello, Bo! (2 of 5)
	// Hello, Bo! (3 of 5)
	// Hello, Bo! (4 of 5)
	// Hello, Bo! (5 of 5)
	// Hello, Alice, Bob, Charlie!
	// Hello, Dee!
	// Hello, Eve!
}
