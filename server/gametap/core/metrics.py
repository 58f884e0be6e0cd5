"""/metrics: Prometheus metrics with prometheus_client, from the daemon and every worker.

Each process (the daemon, each worker) has prometheus_client's default registry: process and
Python metrics, gRPC calls by method and code with a latency histogram (RpcMetrics, an
interceptor), and in a worker its matches (MatchCollector). The daemon's /metrics asks every
worker for its text and serves one exposition, each sample labelled with the process it came
from (process="daemon", "worker-0", ...).

A match's frame-time and agent step-time histograms are observed per frame and per step, on
the hot path: they are plain bucket counts (LeanHistogram, ~0.1 µs an observation against
~0.7 µs for prometheus_client's Histogram, whose locks we do not need on one event loop), turned
into prometheus_client metric families when scraped.
"""
from __future__ import annotations

import bisect
import inspect
import time
from collections.abc import Iterable, Iterator

import grpc
import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from gametap.v1 import match_pb2 as mpb

prometheus_client.disable_created_metrics()  # no *_created series: every counter here starts with its process

# Frame times: LOCKSTEP frames take ~0.1 ms, REALTIME ones 50 ms; agents' steps span the same range.
TIME_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class LeanHistogram:
    """Bucket counts and a sum, for one event loop's hot path (no locks)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = TIME_BUCKETS):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.sum += value * times

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative counts by upper bound, as Prometheus has them (ending with +Inf)."""
        out, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts):
            total += count
            out.append((bound, total))
        return out


class MatchMetrics:
    """A match's own timings: wall-clock seconds per frame, and per agent step on each side."""

    __slots__ = ("frame_seconds", "agent_step_seconds", "agent_think_seconds", "_last_at", "_last_frame")

    def __init__(self) -> None:
        self.frame_seconds = LeanHistogram()
        self.agent_step_seconds = LeanHistogram()   # an agent's actions in -> its next observation out
        self.agent_think_seconds = LeanHistogram()  # an observation out -> that agent's actions in
        self._last_at = 0.0
        self._last_frame = 0

    def frames(self, frame: int, now: float) -> None:
        """A batch of frames up to `frame` came at `now`: each counts the batch's time over its frames."""
        n = frame - self._last_frame
        if self._last_at and n > 0:
            self.frame_seconds.observe((now - self._last_at) / n, n)
        self._last_at, self._last_frame = now, frame


def match_families(matches: Iterable, hot_path: dict[str, tuple[int, float]]) -> Iterator[Metric]:
    """A worker's matches (gametap.worker.match.Match) and its hot path, as metric families."""
    per_match = {
        "frames": CounterMetricFamily("gametap_match_frames", "Frames the game ran (the last frame number).",
                                      labels=["match"]),
        "fps": GaugeMetricFamily("gametap_match_frames_per_second", "Recent server frame rate.", labels=["match"]),
        "watchers": GaugeMetricFamily("gametap_match_watchers", "Subscribers of the match's updates.",
                                      labels=["match"]),
        "resyncs": CounterMetricFamily("gametap_match_resyncs", "Subscribers restarted at a keyframe.",
                                       labels=["match"]),
        "dropped": CounterMetricFamily("gametap_match_dropped_updates", "Updates lagging subscribers skipped.",
                                       labels=["match"]),
        "timeouts": CounterMetricFamily("gametap_match_action_timeouts",
                                        "LOCKSTEP steps taken without an agent's action.", labels=["match"]),
        "recorded": GaugeMetricFamily("gametap_match_recording_bytes", "Bytes of the match's recording.",
                                      labels=["match"]),
    }
    histograms = {
        "frame_seconds": HistogramMetricFamily(
            "gametap_match_frame_seconds", "Wall-clock time per frame (agents' thinking included).", labels=["match"]),
        "agent_step_seconds": HistogramMetricFamily(
            "gametap_match_agent_step_seconds", "An agent's actions in to its next observation out.", labels=["match"]),
        "agent_think_seconds": HistogramMetricFamily(
            "gametap_match_agent_think_seconds", "An observation out to the agent's next actions in.", labels=["match"]),
    }
    for m in matches:
        if m.is_ended:
            continue
        labels = [m.id]
        per_match["frames"].add_metric(labels, m.world.frame)
        per_match["fps"].add_metric(labels, m.frame_rate.value())
        per_match["watchers"].add_metric(labels, m.hub.subscriber_count)
        per_match["resyncs"].add_metric(labels, m.hub.resyncs)
        per_match["dropped"].add_metric(labels, m.hub.dropped)
        per_match["timeouts"].add_metric(labels, m.agents.action_timeouts)
        per_match["recorded"].add_metric(labels, m.recorder.size if m.recorder is not None else 0)
        for name, family in histograms.items():
            h = getattr(m.metrics, name)
            family.add_metric(labels, h.buckets(), h.sum)
    yield from per_match.values()
    yield from histograms.values()
    stages = CounterMetricFamily("gametap_hotpath_seconds", "Time the hot path spent, by stage.", labels=["stage"])
    for stage, (_, seconds) in hot_path.items():
        stages.add_metric([stage], seconds)
    yield stages


class MatchCollector:
    """A worker's matches, read when scraped (registered in the worker's registry)."""

    def __init__(self, manager):
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        return match_families(self.manager.list(), self.manager.game.hot_path_timings())


WEBSOCKETS = prometheus_client.Gauge("gametap_websocket_connections", "Open viewer connections to this process.")


def count_websockets(server) -> None:
    """This process's viewer connections (a FoxgloveServer) are the gauge's value when scraped."""
    WEBSOCKETS.set_function(lambda: server.connection_count)


def match_statuses(matches) -> str:
    """Matches the daemon knows (live, ended, archived), by status: an exposition text."""
    family = GaugeMetricFamily("gametap_matches", "Matches the daemon knows, by status.", labels=["status"])
    for status, name in sorted(mpb.MatchStatus.items(), key=lambda kv: kv[1]):
        if name:
            family.add_metric([status], sum(m.status == name for m in matches))
    return _exposition([family]).decode()


# ---- gRPC calls ----

RPC_SECONDS = prometheus_client.Histogram(
    "gametap_grpc_server_handling_seconds", "gRPC calls served (a stream: its whole length), by method and code.",
    ["method", "code"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                 30, 60, 300, 1800))


def _finished(method: str, started: float):
    def done(context) -> None:
        code = context.code()
        if context.cancelled():
            name = "CANCELLED"
        elif code is None:
            name = "OK"
        else:
            name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        RPC_SECONDS.labels(method, name).observe(time.perf_counter() - started)
    return done


class RpcMetrics(grpc.aio.ServerInterceptor):
    """Times every call and counts it by method and status code, when it ends."""

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        for kind, make, timed in _KINDS:
            behaviour = getattr(handler, kind)
            if behaviour:
                return make(timed(behaviour, details.method), handler.request_deserializer,
                            handler.response_serializer)
        return handler


def _timed_call(behaviour, method: str):
    async def call(request, context):
        context.add_done_callback(_finished(method, time.perf_counter()))
        return await behaviour(request, context)
    return call


def _timed_stream(behaviour, method: str):
    if inspect.iscoroutinefunction(behaviour):  # one that writes with context.write (or aborts at once)
        return _timed_call(behaviour, method)

    async def stream(request, context):
        context.add_done_callback(_finished(method, time.perf_counter()))
        async for response in behaviour(request, context):
            yield response
    return stream


# a handler's kind of call -> how to make one, and how to time its behaviour
_KINDS = (("unary_unary", grpc.unary_unary_rpc_method_handler, _timed_call),
          ("stream_unary", grpc.stream_unary_rpc_method_handler, _timed_call),
          ("unary_stream", grpc.unary_stream_rpc_method_handler, _timed_stream),
          ("stream_stream", grpc.stream_stream_rpc_method_handler, _timed_stream))


# ---- one exposition from every process ----

def own_text() -> str:
    return prometheus_client.generate_latest().decode()


def merged(texts: Iterable[tuple[str, str]]) -> bytes:
    """One exposition of (process name, its exposition text) pairs: each family once, each
    sample labelled with its process."""
    families: dict[str, Metric] = {}
    for process, text in texts:
        for family in text_string_to_metric_families(text):
            into = families.get(family.name)
            if into is None:
                into = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                into.add_sample(s.name, {"process": process, **s.labels}, s.value, s.timestamp, s.exemplar)
    return _exposition(list(families.values()))


class _Fixed:
    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _exposition(families: list[Metric]) -> bytes:
    """Metric families made here, in Prometheus text (prometheus_client writes it)."""
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return prometheus_client.generate_latest(registry)
