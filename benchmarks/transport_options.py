"""How a blocking Python client can drive gRPC, and what each way costs, under either of gRPC's
I/O engines: the measured reasons the client library's blocking calls (VectorPlay, the envs)
run a grpc.aio stream on a private event loop, one run_until_complete() per step, and every
gametap process runs gRPC's poller rather than its EventEngine (gametap.grpc_engine).

Against transport.py's echo server (grpc.aio, its own process), each way makes the same round
trips of a 2 KB message (about a step's observations at M = 8); printed: round trip, and CPU
per round trip of the client (all its threads) and of the server:

  aio, loop running        a coroutine awaits write() and read() (transport.py's floor)
  aio, run_until_complete  a blocking call runs one round trip on the loop, as VectorPlay does
  sync stream              grpc's blocking stream: a gRPC thread takes the requests from a queue
  sync unary               one blocking unary call per round trip

Each engine runs in a process of its own (gRPC reads GRPC_EXPERIMENTS once, at import).

    .venv/bin/python benchmarks/transport_options.py [--rounds N] [--repeat R]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import grpc

import transport
from gametap import grpc_engine
from procs import CpuMeter

ENGINES = {"EventEngine (gRPC's default)": "", "poller (gametap's)": grpc_engine.POLLER}  # -> GRPC_EXPERIMENTS

PAYLOAD = b"x" * 2048
WARMUP = 300
_identity = transport._identity


def _per_round_trip(rounds: int, wall_s: float, used: dict[str, float]) -> dict:
    return {"round_trip_us": wall_s / rounds * 1e6, "client_cpu_us": used["client"] / rounds * 1e6,
            "server_cpu_us": used["server"] / rounds * 1e6}


def _timed(rounds: int, server_pid: int, round_trip: Callable[[], object]) -> dict:
    for _ in range(WARMUP):
        round_trip()
    meter = CpuMeter(server=server_pid).start()
    t0 = time.perf_counter()
    for _ in range(rounds):
        round_trip()
    wall = time.perf_counter() - t0
    return _per_round_trip(rounds, wall, meter.stop())


def aio_loop_running(address: str, rounds: int, server_pid: int) -> dict:
    """transport.py's own floor measurement: a coroutine in a running loop."""
    meter = CpuMeter(server=server_pid)
    times = asyncio.run(transport._ping(int(address.rpartition(":")[2]), rounds, PAYLOAD, meter))
    return _per_round_trip(rounds, sum(times), meter.used)


def aio_run_until_complete(address: str, rounds: int, server_pid: int) -> dict:
    loop = asyncio.new_event_loop()

    async def open_call():
        channel = grpc.aio.insecure_channel(address)
        return channel, channel.stream_stream(transport.METHOD, request_serializer=_identity,
                                              response_deserializer=_identity)()
    channel, call = loop.run_until_complete(open_call())

    async def once():
        await call.write(PAYLOAD)
        return await call.read()

    async def close():
        await call.done_writing()
        await call.code()  # the server's status: nothing of the call is left pending on the loop
        await channel.close()
    try:
        return _timed(rounds, server_pid, lambda: loop.run_until_complete(once()))
    finally:
        loop.run_until_complete(close())
        loop.close()


def sync_stream(address: str, rounds: int, server_pid: int) -> dict:
    with grpc.insecure_channel(address) as channel:
        requests: queue.Queue = queue.Queue()
        responses = channel.stream_stream(transport.METHOD, request_serializer=_identity,
                                          response_deserializer=_identity)(iter(requests.get, None))

        def once():
            requests.put(PAYLOAD)
            return next(responses)
        try:
            return _timed(rounds, server_pid, once)
        finally:
            requests.put(None)
            responses.cancel()


def sync_unary(address: str, rounds: int, server_pid: int) -> dict:
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary("/bench.Echo/Once", request_serializer=_identity, response_deserializer=_identity)
        return _timed(rounds, server_pid, lambda: call(PAYLOAD))


WAYS = {"aio, loop running": aio_loop_running, "aio, run_until_complete": aio_run_until_complete,
        "sync stream": sync_stream, "sync unary": sync_unary}


def compare(rounds: int = 4000, repeat: int = 3) -> dict[str, dict]:
    """Each way `repeat` times, interleaved (a VM's speed drifts); the medians."""
    server = subprocess.Popen([sys.executable, transport.__file__], stdout=subprocess.PIPE, text=True)
    try:
        address = f"127.0.0.1:{int(server.stdout.readline())}"
        runs: dict[str, list[dict]] = {name: [] for name in WAYS}
        for _ in range(repeat):
            for name, way in WAYS.items():
                runs[name].append(way(address, rounds, server.pid))
    finally:
        server.terminate()
        server.wait()
    return {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
            for name, results in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one engine, as this process's gRPC runs: JSON out")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(compare(args.rounds, args.repeat)))
        return
    print(f"{'':26s}{'round trip':>11}{'client CPU':>12}{'server CPU':>12}   (us, medians of {args.repeat})")
    for engine, experiments in ENGINES.items():
        child = subprocess.run([sys.executable, __file__, "--json", "--rounds", str(args.rounds), "--repeat", str(args.repeat)],
                               env={**os.environ, grpc_engine.VARIABLE: experiments}, capture_output=True, text=True,
                               check=True)
        print(f"gRPC's I/O on its {engine}:")
        for name, r in json.loads(child.stdout).items():
            print(f"  {name:24s}{r['round_trip_us']:>11.0f}{r['client_cpu_us']:>12.0f}{r['server_cpu_us']:>12.0f}")


if __name__ == "__main__":
    main()
