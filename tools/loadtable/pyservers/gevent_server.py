"""The series' gevent server: the synchronous server of threads_server.py,
with the standard library monkey-patched by gevent before anything else is
imported, so that its threads are greenlets and time.sleep yields to the
other calls instead of blocking a thread."""

from gevent import monkey

monkey.patch_all()

import signal  # noqa: E402  (after patch_all, like every import)
import time  # noqa: E402
from concurrent import futures  # noqa: E402

import gevent  # noqa: E402
import grpc  # noqa: E402
from grpc.experimental import gevent as grpc_gevent  # noqa: E402

# grpc's core must poll through gevent's hub, not block the process.
grpc_gevent.init_gevent()

import _helloworld  # noqa: E402

args = _helloworld.parse_args(__doc__)
helloworld_pb2, helloworld_pb2_grpc = _helloworld.load(args)


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        time.sleep(request.sleep_millisecond / 1000)  # gevent.sleep, patched
        return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=100))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    # SIGTERM and Ctrl+C stop the server from a greenlet of its own, and
    # wait_for_termination returns: a KeyboardInterrupt thrown into the
    # hub can leave grpc's shutdown hanging.
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, lambda: gevent.spawn(server.stop, None))
    _helloworld.listening("gevent", args.host, port)
    server.wait_for_termination()


if __name__ == "__main__":
    serve()
