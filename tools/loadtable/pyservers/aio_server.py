"""The series' asyncio server: grpc.aio, every call a coroutine on one
event loop, the wait an `await asyncio.sleep` that lets the loop run the
other calls. With --uvloop the loop is uvloop's."""

import asyncio
import signal

import grpc

import _helloworld

args = _helloworld.parse_args(__doc__)
helloworld_pb2, helloworld_pb2_grpc = _helloworld.load(args)


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    async def SayHello(self, request, context):
        await asyncio.sleep(request.sleep_millisecond / 1000)
        return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")


async def serve():
    server = grpc.aio.server()
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    await server.start()
    # Stop inside the loop: a KeyboardInterrupt that tears the loop down
    # under grpc.aio leaves its poller thread spinning and the process alive.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.stop(None)))
    _helloworld.listening("grpc.aio+uvloop" if args.uvloop else "grpc.aio", args.host, port)
    await server.wait_for_termination()


if __name__ == "__main__":
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(serve())
