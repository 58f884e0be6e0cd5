"""One source of truth: the structs that cross the link, as the C compiler lays them out
(native/include/gametap_link.h, and the header generated from server/gametap/q3/abi.py),
against their Python mirrors. A changed offset on either side fails here."""
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from gametap.q3 import abi
from gametap.worker.link import protocol as lp

NATIVE = Path(__file__).resolve().parents[2] / "native"
GENERATED = NATIVE / "build" / "gen"

# C struct -> (its Python struct.Struct, the C fields in order; a field of n items spans n format codes)
LAYOUTS = {
    "gt_msg_header_t": (lp.HEADER, ["size", "type", "reserved"]),
    "gt_frame_header_t": (lp.FRAME_HEADER, ["frame", "level_time_ms", "n_players", "n_entities", "n_configstrings",
                                             "flags", "log_size", "n_commands", "n_usercmds", "n_visibility",
                                             "n_applied", "reserved2"]),
    "gt_usercmd_record_t": (lp.USERCMD_RECORD, ["client", "reserved", "usercmd"]),
    "gt_control_header_t": (lp.CONTROL_HEADER, ["run_until", "n_actions", "reserved"]),
    "gt_waiting_t": (lp.WAITING, ["frame", "busy_us"]),
    "gt_action_record_t": (lp.ACTION_RECORD, ["client", "flags", "weapon", "forward", "right", "up", "buttons",
                                               "angles", "angles", "angles", "reserved"]),
}


def python_fields(s: struct.Struct, names: list[str]) -> dict[str, list[int]]:
    """(offset, size) of each named field of a little-endian struct format (no padding)."""
    out, offset = {}, 0
    items = re.findall(r"(\d*)([a-zA-Z])", s.format.lstrip("<"))
    assert len(items) == len(names), (s.format, names)
    for (count, code), name in zip(items, names):
        size = struct.calcsize("<" + count + code)
        if name in out:  # an array field: its elements follow one another
            out[name][1] += size
        else:
            out[name] = [offset, size]
        offset += size
    return out


def mismatches(probe: dict) -> list[str]:
    """Every fact on which the C build and the Python side disagree."""
    out = []
    for cname, (s, names) in LAYOUTS.items():
        if probe[cname] != s.size:
            out.append(f"{cname}: {probe[cname]} bytes in C, {s.size} in Python ({s.format})")
        for name, (offset, size) in python_fields(s, names).items():
            if probe[f"{cname}.{name}"] != [offset, size]:
                out.append(f"{cname}.{name}: (offset, size) {probe[f'{cname}.{name}']} in C, [{offset}, {size}] in Python")
    records = {"gt_player_record_t": (abi.PLAYER_RECORD, "ps"), "gt_entity_record_t": (abi.ENTITY_RECORD, "s")}
    for cname, (dtype, first) in records.items():
        if probe[cname] != dtype.itemsize or probe[f"{cname}.reserved"][0] + 2 != dtype.fields[first][1]:
            out.append(f"{cname}: {probe[cname]} bytes in C, {dtype.itemsize} in gametap.q3.abi")
    values = {
        "GT_LINK_PROTOCOL_VERSION": lp.PROTOCOL_VERSION, "GT_LINK_MAX_PAYLOAD": lp.MAX_PAYLOAD,
        "GT_RUN_FREE": lp.RUN_FREE, "GT_FRAME_CAPTURED": lp.FrameFlags.CAPTURED, "GT_FRAME_RESET": lp.FrameFlags.RESET,
        "GT_ACTION_OVERRIDE": lp.ActionFlags.OVERRIDE, "GT_ACTION_VISIBILITY": lp.ActionFlags.VISIBILITY,
        "GT_MSG_HELLO": lp.MsgType.HELLO, "GT_MSG_WAITING": lp.MsgType.WAITING,
        "GT_PLAYERSTATE_SIZE": abi.PLAYER_STATE.itemsize, "GT_ENTITYSTATE_SIZE": abi.ENTITY_STATE.itemsize,
        "GT_ENTITYSHARED_OFFSET": abi.GENTITY_SHARED_OFFSET, "GT_ENTITYSHARED_SIZE": abi.ENTITY_SHARED.itemsize,
        "GT_USERCMD_SIZE": abi.USERCMD.itemsize,
        # the generated header is as current as abi.py (a stale build would differ here)
        "Q3_PS_ORIGIN": abi.PLAYER_STATE.fields["origin"][1], "Q3_PS_DELTA_ANGLES": abi.PLAYER_STATE.fields["delta_angles"][1],
        "Q3_PS_VIEWHEIGHT": abi.PLAYER_STATE.fields["viewheight"][1],
        "Q3_ESH_CURRENTORIGIN": abi.ENTITY_SHARED.fields["currentOrigin"][1],
        "Q3_CMD_FORWARDMOVE": abi.USERCMD.fields["forwardmove"][1],
    }
    out += [f"{name}: {probe[name]} in C, {value} in Python" for name, value in values.items() if probe[name] != value]
    return out


def run_probe(tmp_path: Path, include: Path = NATIVE / "include") -> dict:
    exe = tmp_path / "abi_probe"
    gcc = shutil.which("gcc") or shutil.which("cc")
    subprocess.run([gcc, "-std=c11", f"-I{include}", f"-I{GENERATED}", "-o", str(exe),
                    str(NATIVE / "tests" / "abi_probe.c")], check=True, capture_output=True, text=True)
    return json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    if not (GENERATED / "gametap_q3_abi.h").is_file():
        pytest.fail("native/build/gen is missing: run `make native` first")
    return run_probe(tmp_path_factory.mktemp("probe"))


def test_c_and_python_agree_on_every_layout_and_value(probe):
    assert mismatches(probe) == []


def test_a_changed_offset_in_the_c_header_is_caught(tmp_path):
    header = (NATIVE / "include" / "gametap_link.h").read_text()
    changed = header.replace("    uint16_t n_entities;", "    uint32_t n_entities;", 1)
    assert changed != header
    # the header's own _Static_asserts would stop the build first; this checks the cross-check itself
    changed = re.sub(r"_Static_assert\(.*?\);", "", changed, flags=re.DOTALL)
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "gametap_link.h").write_text(changed)
    shutil.copy(NATIVE / "include" / "gt_buffer.h", tmp_path / "include")
    problems = mismatches(run_probe(tmp_path, tmp_path / "include"))
    assert any("gt_frame_header_t.n_entities" in p for p in problems), problems
    assert any(p.startswith("gt_frame_header_t:") for p in problems)  # and its size


def test_a_changed_offset_on_the_python_side_is_caught(probe, monkeypatch):
    monkeypatch.setitem(LAYOUTS, "gt_waiting_t", (struct.Struct("<IH"), ["frame", "busy_us"]))
    monkeypatch.setattr(abi, "GENTITY_SHARED_OFFSET", 420)
    problems = mismatches(probe)
    assert any("gt_waiting_t.busy_us" in p for p in problems)
    assert any(p.startswith("GT_ENTITYSHARED_OFFSET") for p in problems)
