package pyservers_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/ch07-concurrency/pyservers"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// Each installed Python server answers the Go client as cmd/greeter does,
// on concurrent calls too.
func TestServersAnswerTheGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python processes")
	}
	proctest.TrackSources(t) // the scripts and the proto are inputs
	python, err := pyservers.Python()
	if err != nil {
		// CI installs the packages: there a missing Python is a failure.
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI must install it", err)
		}
		t.Skip(err)
	}
	dir := pyservers.Dir(proctest.ModuleRoot(t))
	for _, s := range pyservers.Servers {
		t.Run(s.Name, func(t *testing.T) {
			if why := s.Skip(python); why != "" {
				// grpclib has no Debian package, so CI skips it too.
				if os.Getenv("CI") != "" && s.Name != "grpclib" && s.Name != "grpclib+uvloop" {
					t.Fatal(why)
				}
				t.Skip(why)
			}
			cmd := s.Command(python, dir, 0)
			// The server's own temporary directory, to see it cleaned up.
			tmp := t.TempDir()
			p := proctest.Start(t, cmd.Path, cmd.Args[1:], "TMPDIR="+tmp)
			addr := p.WaitFor(t, pyservers.Listening)[1]
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			defer conn.Close()
			client := pb.NewGreeterClient(conn)
			ctx := testwait.Context(t)

			errs := make(chan error, 5)
			for i := range 5 {
				go func() {
					name := fmt.Sprint("Joe", i)
					resp, err := client.SayHello(ctx, &pb.HelloRequest{Name: name, SleepMillisecond: 10})
					if err == nil && resp.GetMessage() != "Hello, "+name+"!" {
						err = fmt.Errorf("reply %q to %s", resp.GetMessage(), name)
					}
					errs <- err
				}()
			}
			for range 5 {
				assert.NoError(t, testwait.Recv(t, errs, "a reply"))
			}
			// Only the benchmark's method: the streaming ones are Go's.
			stream, err := client.SayHelloStream(ctx, &pb.HelloRequest{Name: "Joe"})
			if err == nil {
				_, err = stream.Recv()
			}
			assert.Equal(t, codes.Unimplemented, status.Code(err), "err: %v", err)

			// SIGTERM, loadtable's way to stop a server, ends it cleanly:
			// exit 0, and its generated code removed on the way out.
			assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), "output:\n%s", p.Output())
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, left, "the generated code outlived the server")
		})
	}
}
