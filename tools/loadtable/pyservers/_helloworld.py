"""What the series' benchmark servers share: their command line, the
Python code for helloworld.proto, and the line that says they listen.

The Python code is generated at start, with grpc_tools, from the
repository's helloworld.proto into a temporary directory: it is never
committed, so it can never drift from the proto the Go code is made from.
"""

import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=9999,
                        help="port to listen on; 0 lets the kernel choose")
    parser.add_argument("--proto", default=os.path.join(HERE, "..", "..", "..", "ch07-concurrency", "protobufs", "helloworld.proto"),
                        help="helloworld.proto, to generate the Python code from")
    parser.add_argument("--uvloop", action="store_true",
                        help="run asyncio on uvloop (asyncio servers only)")
    return parser.parse_args()


def load(args):
    """Generates helloworld_pb2 and helloworld_pb2_grpc and imports them."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="helloworld-py-")
    atexit.register(shutil.rmtree, out, True)
    proto = os.path.abspath(args.proto)
    code = protoc.main(["grpc_tools.protoc", "-I", os.path.dirname(proto),
                        "--python_out=" + out, "--grpc_python_out=" + out,
                        os.path.basename(proto)])
    if code != 0:
        sys.exit(f"grpc_tools.protoc failed on {proto} with exit code {code}")
    sys.path.insert(0, out)
    import helloworld_pb2
    import helloworld_pb2_grpc
    # Until a server installs its own way to stop, SIGTERM (how the load
    # table stops a server) ends the process the way Ctrl+C does, so the
    # temporary directory is removed on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return helloworld_pb2, helloworld_pb2_grpc


def listening(kind, host, port):
    """Prints the first line: the server is listening, and where."""
    print(f"{kind}: serving gRPC on {host}:{port}", flush=True)
