// Package pyservers runs the series' Python benchmark servers: the same
// helloworld.Greeter as cmd/greeter, written the ways the series compares
// (a thread pool, gevent, grpc.aio, grpc.aio on uvloop, grpclib, grpclib on
// uvloop). The scripts sit next to this file; each generates its Python
// code from ../protobufs/helloworld.proto when it starts, listens on
// --host (loopback) and --port (0: the kernel's choice) and prints
// "<name>: serving gRPC on host:port" once it listens.
//
// They run on Debian's /usr/bin/python3 with its packages:
//
//	apt-get install python3-grpcio python3-grpc-tools python3-protobuf python3-gevent python3-uvloop
//
// grpclib has no Debian package; its servers run only where it has been
// installed (pip install grpclib).
package pyservers

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Packages are the Debian packages the servers need, for messages and CI.
const Packages = "python3-grpcio python3-grpc-tools python3-protobuf python3-gevent python3-uvloop"

// Server is one of the series' Python servers.
type Server struct {
	Name    string   // as in the series' table
	Script  string   // in this directory
	Args    []string // before --port
	Modules []string // the Python modules it needs beyond grpc and grpc_tools
}

// Servers are the series' servers, in the order of its table.
var Servers = []Server{
	{Name: "threads", Script: "threads_server.py"},
	{Name: "gevent", Script: "gevent_server.py", Modules: []string{"gevent"}},
	{Name: "grpclib", Script: "grpclib_server.py", Modules: []string{"grpclib"}},
	{Name: "grpclib+uvloop", Script: "grpclib_server.py", Args: []string{"--uvloop"}, Modules: []string{"grpclib", "uvloop"}},
	{Name: "grpc.aio", Script: "aio_server.py"},
	{Name: "grpc.aio+uvloop", Script: "aio_server.py", Args: []string{"--uvloop"}, Modules: []string{"uvloop"}},
}

// Listening matches a server's first line (cmd/greeter's and the
// baseline's too); its group is host:port.
var Listening = regexp.MustCompile(`: serving gRPC on (\S+:\d+)`)

// ErrNoPython means no python3 with grpcio and grpc_tools was found.
var ErrNoPython = errors.New("no python3 with grpcio, grpc_tools and protobuf (apt-get install " + Packages + ")")

// Python finds an interpreter with grpcio, grpc_tools and protobuf.
// Debian's packages install for /usr/bin/python3, which may not be the
// first python3 on PATH, so it is tried first.
func Python() (string, error) {
	for _, candidate := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(candidate, "-c", "import grpc, grpc_tools, google.protobuf").Run() == nil {
			return candidate, nil
		}
	}
	return "", ErrNoPython
}

// Missing returns the modules s needs that python cannot import, nil when
// s can run.
func (s Server) Missing(python string) []string {
	var missing []string
	for _, m := range s.Modules {
		if exec.Command(python, "-c", "import "+m).Run() != nil {
			missing = append(missing, m)
		}
	}
	return missing
}

// Skip says why s cannot run with python, "" when it can.
func (s Server) Skip(python string) string {
	missing := s.Missing(python)
	if len(missing) == 0 {
		return ""
	}
	hint := "apt-get install " + Packages
	if strings.HasPrefix(s.Name, "grpclib") {
		hint = "pip install grpclib; Debian has no package"
	}
	return fmt.Sprintf("%s: skipped, python module %s not installed (%s)", s.Name, strings.Join(missing, ", "), hint)
}

// Command returns the command that runs s with python on port of
// loopback; dir is this package's directory (the scripts' and, through
// ../protobufs, the proto's).
func (s Server) Command(python, dir string, port int) *exec.Cmd {
	args := append([]string{filepath.Join(dir, s.Script)}, s.Args...)
	args = append(args, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	// -u: unbuffered, so the first line arrives as soon as it is printed
	// even when standard output is a pipe.
	return exec.Command(python, append([]string{"-u"}, args...)...)
}

// Dir is this package's directory inside the module rooted at root.
func Dir(root string) string { return filepath.Join(root, "ch07-concurrency", "pyservers") }
