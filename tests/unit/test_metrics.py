"""gametap.core.metrics: the hot path's lean histograms, the gRPC call metrics (on a real grpc.aio
server) and the merge of every process's exposition into one."""
from __future__ import annotations

import asyncio

import grpc
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from gametap.core import metrics


def test_a_lean_histogram_counts_like_prometheus():
    h = metrics.LeanHistogram((0.001, 0.01, 0.1))
    for v in (0.0005, 0.001, 0.005, 0.05, 3.0):
        h.observe(v)
    h.observe(0.02, times=3)
    assert h.buckets() == [("0.001", 2), ("0.01", 3), ("0.1", 7), ("+Inf", 8)]  # le: 0.001 is in the first
    assert abs(h.sum - (0.0565 + 3.0 + 0.06)) < 1e-9


def test_frame_times_spread_a_batch_over_its_frames():
    m = metrics.MatchMetrics()
    m.frames(100, now=10.0)   # the first batch: no time to measure from
    m.frames(104, now=10.02)  # 4 frames in 20 ms
    m.frames(104, now=10.5)   # no new frame: nothing
    m.frames(105, now=10.55)
    assert m.frame_seconds.buckets()[-1] == ("+Inf", 5)
    assert abs(m.frame_seconds.sum - 0.07) < 1e-9  # 0.02 + 0.05 (since the last batch with frames)


def test_merged_exposition_has_each_family_once_with_its_process():
    registry = prometheus_client.CollectorRegistry()
    counter = prometheus_client.Counter("things", "Things done.", ["kind"], registry=registry)
    counter.labels("a").inc(2)
    text = prometheus_client.generate_latest(registry).decode()
    counter.labels("a").inc(3)
    other = prometheus_client.generate_latest(registry).decode()
    out = metrics.merged([("daemon", text), ("worker-0", other)]).decode()
    assert out.count("# TYPE things_total counter") + out.count("# TYPE things counter") == 1
    values = {s.labels["process"]: s.value for f in text_string_to_metric_families(out) for s in f.samples}
    assert values == {"daemon": 2.0, "worker-0": 5.0}


def test_match_statuses_counts_every_status():
    from gametap.v1 import match_pb2 as mpb
    text = metrics.match_statuses([mpb.Match(status=mpb.RUNNING), mpb.Match(status=mpb.RUNNING),
                                   mpb.Match(status=mpb.FAILED)])
    got = {s.labels["status"]: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert got["RUNNING"] == 2 and got["FAILED"] == 1 and got["STOPPED"] == 0 and "MATCH_STATUS_UNSPECIFIED" not in got


def _count(method: str, code: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(
        "gametap_grpc_server_handling_seconds_count", {"method": method, "code": code}) or 0.0


def test_rpc_metrics_count_calls_by_method_and_code():
    async def main():
        async def echo(request: bytes, context) -> bytes:
            if request == b"missing":
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
            return request

        async def repeat(request: bytes, context):
            for _ in range(3):
                yield request

        async def refuse(request: bytes, context) -> None:  # a stream's handler that is a coroutine
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not you")

        server = grpc.aio.server(interceptors=[metrics.RpcMetrics()])
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.Test", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Repeat": grpc.unary_stream_rpc_method_handler(repeat),
            "Refuse": grpc.unary_stream_rpc_method_handler(refuse),
        })])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary("/t.Test/Echo")(b"hi") == b"hi"
            try:
                await channel.unary_unary("/t.Test/Echo")(b"missing")
            except grpc.aio.AioRpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND
            assert [r async for r in channel.unary_stream("/t.Test/Repeat")(b"x")] == [b"x"] * 3
            try:
                [r async for r in channel.unary_stream("/t.Test/Refuse")(b"x")]
            except grpc.aio.AioRpcError as e:
                assert e.code() == grpc.StatusCode.PERMISSION_DENIED
        await asyncio.sleep(0.1)  # the done callbacks run as the calls end
        await server.stop(0)

    before = {key: _count(*key) for key in (("/t.Test/Echo", "OK"), ("/t.Test/Echo", "NOT_FOUND"),
                                            ("/t.Test/Repeat", "OK"), ("/t.Test/Refuse", "PERMISSION_DENIED"))}
    asyncio.run(main())
    assert {key: _count(*key) - n for key, n in before.items()} == {
        ("/t.Test/Echo", "OK"): 1, ("/t.Test/Echo", "NOT_FOUND"): 1, ("/t.Test/Repeat", "OK"): 1,
        ("/t.Test/Refuse", "PERMISSION_DENIED"): 1}
