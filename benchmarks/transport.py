"""The transport's floor: a bare grpc.aio bidirectional echo between two Python processes on
loopback, no game: round-trip time, and the CPU each side spends per round trip. Run as a
script it is the echo server."""
from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

from gametap import grpc_engine

grpc_engine.choose()  # before grpc loads: the echo runs gRPC's core as gametap's processes do

import grpc  # noqa: E402

from procs import CpuMeter  # noqa: E402

METHOD = "/bench.Echo/PingPong"


def _identity(b: bytes) -> bytes:
    return b


async def _serve() -> None:
    async def echo(requests, context):
        async for request in requests:
            yield request

    async def echo_once(request, context):  # for benchmarks/transport_options.py
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {
        "PingPong": grpc.stream_stream_rpc_method_handler(echo, request_deserializer=_identity,
                                                          response_serializer=_identity),
        "Once": grpc.unary_unary_rpc_method_handler(echo_once, request_deserializer=_identity,
                                                    response_serializer=_identity)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


async def _ping(port: int, rounds: int, payload: bytes, meter: CpuMeter) -> list[float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(METHOD, request_serializer=_identity, response_deserializer=_identity)()
        for _ in range(500):  # warm-up
            await call.write(payload)
            await call.read()
        times = []
        meter.start()
        for _ in range(rounds):
            start = time.perf_counter()
            await call.write(payload)
            await call.read()
            times.append(time.perf_counter() - start)
        meter.stop()
        await call.done_writing()
        return times


def pingpong(rounds: int = 5000, payload_bytes: int = 600) -> dict:
    """Round-trip times in microseconds (p50, p99) and CPU per round trip on each side."""
    server = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        meter = CpuMeter(server=server.pid)
        times = asyncio.run(_ping(port, rounds, b"x" * payload_bytes, meter))
    finally:
        server.terminate()
        server.wait()
    us = sorted(t * 1e6 for t in times)
    return {"p50_us": statistics.median(us), "p99_us": us[int(len(us) * 0.99)], "rounds": rounds,
            "server_cpu_us": 1e6 * meter.used["server"] / rounds, "client_cpu_us": 1e6 * meter.used["client"] / rounds}


if __name__ == "__main__":
    asyncio.run(_serve())
