"""The series' grpclib server: grpclib is a pure-Python gRPC on asyncio
(pip install grpclib; Debian has no package). Its generated stubs need
grpclib's own protoc plugin; the one mapping they generate is written out
here instead, so that grpc_tools' helloworld_pb2 is all it needs. With
--uvloop the loop is uvloop's."""

import asyncio
import signal
import sys

try:
    from grpclib.const import Cardinality, Handler
    from grpclib.server import Server
except ImportError:
    sys.exit("grpclib is not installed (pip install grpclib): skipping the grpclib server")

import _helloworld

args = _helloworld.parse_args(__doc__)
helloworld_pb2, _ = _helloworld.load(args)


class Greeter:
    async def SayHello(self, stream):
        request = await stream.recv_message()
        await asyncio.sleep(request.sleep_millisecond / 1000)
        await stream.send_message(helloworld_pb2.HelloReply(message=f"Hello, {request.name}!"))

    def __mapping__(self):
        # What grpclib's plugin would generate for SayHello; the streaming
        # methods are left out, so they answer UNIMPLEMENTED.
        return {
            "/helloworld.Greeter/SayHello": Handler(
                self.SayHello, Cardinality.UNARY_UNARY,
                helloworld_pb2.HelloRequest, helloworld_pb2.HelloReply),
        }


async def serve():
    server = Server([Greeter()])
    await server.start(args.host, args.port)
    port = server._server.sockets[0].getsockname()[1]  # the kernel's choice for --port 0
    # Stop inside the loop, as aio_server.py does.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.close)
    _helloworld.listening("grpclib+uvloop" if args.uvloop else "grpclib", args.host, port)
    await server.wait_closed()


if __name__ == "__main__":
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(serve())
