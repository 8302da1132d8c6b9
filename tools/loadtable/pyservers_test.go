package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/helloworldpb"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// Each installed Python server of the table answers the Go client as
// cmd/greeter does, on concurrent calls too, and stops cleanly on SIGTERM.
func TestPythonServersAnswerTheGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python processes")
	}
	proctest.TrackSources(t) // the scripts and the proto are inputs
	const python = "/usr/bin/python3"
	for _, s := range rows {
		if s.cmd[0] != "python" {
			continue
		}
		t.Run(s.key, func(t *testing.T) {
			imports := strings.Join(append([]string{"grpc", "grpc_tools"}, s.pkgs...), ", ")
			if err := exec.Command(python, "-c", "import "+imports).Run(); err != nil {
				why := fmt.Sprintf("%s cannot import %s: %v", python, imports, err)
				// CI installs Debian's packages; grpclib has none.
				if os.Getenv("CI") != "" && !strings.HasPrefix(s.key, "grpclib") {
					t.Fatal(why)
				}
				t.Skip(why)
			}
			tmp := t.TempDir() // the server's own, to see its generated code removed
			script := filepath.Join(proctest.ModuleRoot(t), "tools", "loadtable", "pyservers", s.cmd[1])
			p := proctest.Start(t, python, append([]string{"-u", script}, append(s.cmd[2:], "--port", "0")...), "TMPDIR="+tmp)
			addr := p.WaitFor(t, listening)[1]
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
			stream, err := client.SayHelloStream(ctx, &pb.HelloRequest{Name: "Joe"})
			if err == nil {
				_, err = stream.Recv()
			}
			assert.Equal(t, codes.Unimplemented, status.Code(err), "only the benchmark's method: %v", err)
			assert.Equal(t, 0, p.Signal(t, syscall.SIGTERM), "output:\n%s", p.Output())
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, left, "the generated code outlived the server")
		})
	}
}
