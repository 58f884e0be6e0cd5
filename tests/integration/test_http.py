"""The daemon's HTTP side: the viewer's files, the JSON API, map geometry, metrics."""
import json
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gametap.client import AgentStream
from gametap.testing import wait_until
from gametap.v1 import agent_pb2 as apb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game


def get(daemon, path):
    with urllib.request.urlopen(f"http://{daemon.http}{path}", timeout=30) as r:
        return r.status, r.headers, r.read()


def status_of(daemon, path) -> int:
    try:
        return get(daemon, path)[0]
    except urllib.error.HTTPError as e:
        return e.code


def test_health_viewer_and_vendor_files(daemon):
    assert get(daemon, "/healthz")[2] == b"ok\n"
    status, headers, body = get(daemon, "/")
    assert status == 200 and b"gametap viewer" in body and "text/html" in headers["Content-Type"]
    assert b"protobuf.js" in get(daemon, "/vendor/protobuf.min.js")[2][:200]
    assert json.loads(get(daemon, "/vendor/descriptor.json")[2])["nested"]["google"]
    assert b"FoxgloveClient" in get(daemon, "/static/js/foxglove.js")[2]
    for path in ("/vendor/../../pyproject.toml", "/vendor/nothing.js", "/static/../index.html", "/static/nope.js"):
        assert status_of(daemon, path) == 404, path


def test_matches_api(daemon, client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=20))
    matches = json.loads(get(daemon, "/api/matches")[2])["matches"]
    assert match.id in [m["id"] for m in matches]


def test_map_geometry(daemon):
    g = json.loads(get(daemon, "/api/maps/oa_dm1")[2])
    assert g["name"] == "oa_dm1" and g["title"].startswith("Place of Two Deaths")
    assert len(g["floors"]["z"]) > 500 and len(g["floors"]["xy"]) == 6 * len(g["floors"]["z"])
    assert len(g["walls"]) % 4 == 0 and len(g["spawns"]) >= 8 and len(g["items"]) >= 20
    lo, hi = g["bounds"]["min"], g["bounds"]["max"]
    xs = g["floors"]["xy"][0::2]
    assert lo[0] - 1 <= min(xs) and max(xs) <= hi[0] + 1
    for bad in ("nope", "OA_DM1", "..", "oa_dm1.bsp", "a" * 100):
        assert status_of(daemon, f"/api/maps/{bad}") == 404, bad


def scrape(daemon) -> dict[tuple[str, tuple], float]:
    """/metrics, parsed: {(sample name, sorted labels): value}; each family announced once."""
    status, headers, body = get(daemon, "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))  # one family, however many processes report it
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples, name: str, **labels) -> float:
    want = tuple(sorted(labels.items()))
    found = [v for (n, ls), v in samples.items() if n == name and set(want) <= set(ls)]
    assert len(found) == 1, (name, labels, len(found))
    return found[0]


def test_metrics_from_the_daemon_and_its_workers(daemon, client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=100_000))
    worker = f"worker-{match.placement.worker}"
    watch = client.watch(match.id)
    try:
        next(watch)
        with AgentStream(client, match.id, [apb.SlotSpec(name="metered")]) as agents:
            agents.observe()
            for _ in range(30):
                agents.step([apb.Action(client=agents.clients[0], forward=1)])
        with pytest.raises(grpc.RpcError):
            client.get_match("no-such-match")
        rpc = "gametap_grpc_server_handling_seconds_count"
        ended = [(rpc, (("code", "OK"), ("method", "/gametap.v1.AgentService/Play"), ("process", worker))),
                 (rpc, (("code", "NOT_FOUND"), ("method", "/gametap.v1.MatchService/GetMatch"), ("process", "daemon")))]
        s = wait_until(lambda: (s := scrape(daemon)) and all(key in s for key in ended) and s, 20,
                       "the calls to be counted as they end")
    finally:
        watch.close()
        client.stop_match(match.id)
    assert sample(s, "gametap_matches", status="RUNNING", process="daemon") >= 1
    frames = sample(s, "gametap_match_frames_total", match=match.id, process=worker)
    assert frames > 30
    count = sample(s, "gametap_match_frame_seconds_count", match=match.id)
    assert 30 <= count <= frames and sample(s, "gametap_match_frame_seconds_sum", match=match.id) > 0  # not the first batch
    buckets = sorted((float(dict(ls)["le"]), v) for (n, ls), v in s.items()
                     if n == "gametap_match_frame_seconds_bucket" and dict(ls)["match"] == match.id)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1] == (float("inf"), count)
    assert sample(s, "gametap_match_agent_step_seconds_count", match=match.id) >= 29
    assert sample(s, "gametap_match_agent_think_seconds_count", match=match.id) >= 29
    assert sample(s, "gametap_match_watchers", match=match.id) >= 1
    assert sample(s, "gametap_match_recording_bytes", match=match.id) > 0
    assert sample(s, "gametap_match_action_timeouts_total", match=match.id) == 0
    for name in ("gametap_match_resyncs_total", "gametap_match_dropped_updates_total"):
        assert sample(s, name, match=match.id) >= 0
    assert sample(s, "gametap_hotpath_seconds_total", stage="players", process=worker) > 0
    assert sample(s, rpc, method="/gametap.v1.MatchService/CreateMatch", code="OK", process="daemon") >= 1
    assert sample(s, rpc, method="/gametap.v1.MatchService/GetMatch", code="NOT_FOUND", process="daemon") >= 1
    assert sample(s, rpc, method="/gametap.v1.AgentService/Play", code="OK", process=worker) >= 1  # at the worker
    for process in ("daemon", worker):
        assert sample(s, "process_resident_memory_bytes", process=process) > 10e6
        assert sample(s, "gametap_websocket_connections", process=process) >= 0


def test_replay_api_timeline_and_recorded_updates(daemon, client):
    import struct

    from gametap.v1 import observe_pb2 as opb
    match = client.create_match(lockstep(max_frames=600, seed=3))
    assert wait_ended(client, match.id).frame == 600
    t = json.loads(get(daemon, f"/api/matches/{match.id}/timeline")[2])
    assert (t["first_frame"], t["last_frame"]) == (1, 600) and t["score_frames"][0] == 1
    assert {p["name"] for p in t["players"]} == {"Sarge", "Grism", "Kyonshi", "Major"}
    assert all(e["frame"] <= 600 for e in t["events"]) and set(t["kills"]) <= {e["frame"] for e in t["events"]}
    status, headers, body = get(daemon, f"/api/matches/{match.id}/updates?from_frame=300&frames=50")
    updates, pos = [], 0
    while pos < len(body):
        (n,) = struct.unpack_from("<I", body, pos)
        updates.append(opb.WorldUpdate.FromString(body[pos + 4:pos + 4 + n]))
        pos += 4 + n
    assert updates[0].keyframe.frame == 300 and [u.delta.frame for u in updates[1:]] == list(range(301, 351))
    assert headers["X-First-Frame"] == "300" and headers["X-Last-Frame"] == "350"
    schema = json.loads(get(daemon, "/api/schema")[2])
    assert schema["schemaName"] == "gametap.v1.WorldUpdate" and schema["schema"]
    for bad in ("from_frame=x", "frames=0", "frames=999999", "from_frame=-3"):
        assert status_of(daemon, f"/api/matches/{match.id}/updates?{bad}") == 400, bad
    # Query numbers are digits only (int() would take spaces, a sign, underscores, other scripts' digits),
    # and the answer names the parameter.
    for name, value in (("from_frame", "%20%2B5"), ("from_frame", "1_000"), ("frames", "+5"), ("frames", "%205"),
                        ("from_frame", "%D9%A1"), ("from_frame", ""), ("frames", "1" * 30)):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(daemon, f"/api/matches/{match.id}/updates?{name}={value}")
        assert e.value.code == 400 and e.value.read().decode().startswith(f"{name}="), (name, value)
    assert status_of(daemon, f"/api/matches/{match.id}/updates?from_frame=5000") == 422  # past its end
    for bad in ("0123456789ab", "..%2f..%2fetc", "x" * 100):
        assert status_of(daemon, f"/api/matches/{bad}/timeline") == 404, bad
        assert status_of(daemon, f"/api/matches/{bad}/updates") == 404, bad
