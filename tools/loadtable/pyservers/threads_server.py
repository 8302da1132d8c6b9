"""The series' first server: grpc's synchronous server, one call per
thread of a pool of 100, each call blocking its thread in time.sleep."""

import signal
import time
from concurrent import futures

import grpc

import _helloworld

args = _helloworld.parse_args(__doc__)
helloworld_pb2, helloworld_pb2_grpc = _helloworld.load(args)


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        time.sleep(request.sleep_millisecond / 1000)
        return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=100))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    # SIGTERM and Ctrl+C stop the server, and wait_for_termination returns:
    # an exception thrown into grpc's shutdown can leave it hanging.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop(None))
    _helloworld.listening("threads", args.host, port)
    server.wait_for_termination()


if __name__ == "__main__":
    serve()
