"""gametap chooses gRPC's I/O engine before grpcio loads (gametap.grpc_engine)."""
import os
import subprocess
import sys

from gametap import grpc_engine


def _python(code: str, timeout: int = 60, **env: str) -> str:
    """What a fresh interpreter prints running code, with GRPC_EXPERIMENTS only as env gives it."""
    clean = {k: v for k, v in os.environ.items() if k != grpc_engine.VARIABLE}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=timeout, check=True).stdout


def _experiments_seen(code: str, **env: str) -> str:
    """GRPC_EXPERIMENTS as a fresh interpreter has it after running code."""
    return _python(code + "\nimport os; print(repr(os.environ.get('GRPC_EXPERIMENTS')))", **env).strip()


def test_importing_gametap_chooses_the_poller():
    assert _experiments_seen("import gametap.client") == repr(grpc_engine.POLLER)


def test_a_users_own_setting_is_kept_even_an_empty_one():
    assert _experiments_seen("import gametap", GRPC_EXPERIMENTS="") == repr("")
    assert _experiments_seen("import gametap", GRPC_EXPERIMENTS="-event_engine_dns") == repr("-event_engine_dns")


def test_a_grpc_core_already_started_is_left_alone():
    """gRPC read the variable when it was imported: setting it afterwards would claim what is not so."""
    assert _experiments_seen("import grpc\nimport gametap") == "None"


_ROUND_TRIPS = """
import asyncio, os
import gametap, grpc

def engine_cpu_s():  # the CPU of gRPC's EventEngine threads (it names them event_engine)
    total = 0
    for t in os.listdir("/proc/self/task"):
        if open(f"/proc/self/task/{t}/comm").read().strip() == "event_engine":
            fields = open(f"/proc/self/task/{t}/stat").read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")

async def main():
    async def echo(requests, context):
        async for r in requests:
            yield r
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.E", {
        "S": grpc.stream_stream_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream("/t.E/S")()
        before = engine_cpu_s()
        for _ in range(3000):
            await call.write(b"x")
            await call.read()
        print(engine_cpu_s() - before)
        call.cancel()
    await server.stop(None)

asyncio.run(main())
"""


def _engine_cpu_s(**env: str) -> float:
    """CPU seconds gRPC's EventEngine threads spent on 3,000 grpc.aio round trips in one process."""
    return float(_python(_ROUND_TRIPS, timeout=120, **env).split()[-1])


def test_with_the_poller_grpc_does_its_io_off_the_event_engine():
    """The setting takes effect: with gRPC's defaults its EventEngine threads do the I/O (about
    0.2 s of CPU for these round trips on the 2-core VM); with the poller they do none."""
    assert _engine_cpu_s(GRPC_EXPERIMENTS="") > 0.05
    assert _engine_cpu_s() < 0.03
