"""The daemon's HTTP side: the viewer's files, the JSON API, map geometry, metrics."""
import json
import re
import urllib.error
import urllib.request

import pytest

from gametap.testing import wait_until

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


def test_metrics(daemon, client):
    match = client.create_match(lockstep(bots=("Grism",), max_frames=100_000))
    try:
        wait_until(lambda: client.get_match(match.id).frame > 100, 60, "frames")
        text = get(daemon, "/metrics")[2].decode()
    finally:
        client.stop_match(match.id)
    assert 'gametap_matches{status="RUNNING"}' in text
    assert "gametap_match_frames_per_second{match=" in text and "gametap_websocket_connections" in text
    worker = match.placement.worker
    players = re.search(rf'gametap_worker_hotpath_seconds{{worker="{worker}",stage="players"}} ([0-9.]+)', text)
    assert players and float(players.group(1)) > 0  # the worker's hot path timed its work


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
    assert status_of(daemon, f"/api/matches/{match.id}/updates?from_frame=5000") == 422  # past its end
    for bad in ("0123456789ab", "..%2f..%2fetc", "x" * 100):
        assert status_of(daemon, f"/api/matches/{bad}/timeline") == 404, bad
        assert status_of(daemon, f"/api/matches/{bad}/updates") == 404, bad
