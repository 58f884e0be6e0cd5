"""Where two recordings part: the first frame whose state differs, the fields that differ
there (paths such as `players[3].origin.x`: players by client number, entities by entity
number), and a summary of what differs after it.

Both recordings are replayed frame by frame (gametap.client.World). A frame whose delta
bytes are the same in both, after identical states, leaves them identical, so only frames
whose deltas differ are compared field by field.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from gametap.core.errors import InvalidArgument
from gametap.recordings.provenance import differences
from gametap.recordings.recording_scan import provenance_of, scan
from gametap.recordings.replay import frame_by_frame

_KEYED = {"players": "client", "entities": "number"}  # repeated records named by their number, not position
MAX_PATHS = 20


@dataclass
class Diff:
    identical: bool
    frames: tuple[int, int]              # the last frame of each recording
    compared_through: int                # the last frame both have
    first_frame: int = 0                 # the first frame that differs (0: none within both)
    fields: list[str] = field(default_factory=list)  # what differs there (at most MAX_PATHS)
    frames_differing: int = 0            # frames after (and at) first_frame whose states differ
    most_differing: list[tuple[str, int]] = field(default_factory=list)  # (path prefix, frames) after it
    machines: list[str] = field(default_factory=list)  # what differs in their provenance (gametap.recordings.provenance.differences)

    def summary(self) -> str:
        if self.identical:
            return f"identical through frame {self.compared_through}"
        if not self.first_frame:
            longer = "first" if self.frames[0] > self.frames[1] else "second"
            return (f"identical through frame {self.compared_through}, where the {longer} recording goes on "
                    f"(to frame {max(self.frames)})")
        lines = [f"first difference at frame {self.first_frame}: " + ", ".join(self.fields)]
        lines.append(f"{self.frames_differing} of the {self.compared_through - self.first_frame + 1} frames "
                     f"from there to frame {self.compared_through} differ")
        lines += [f"  {path}: in {n} frames" for path, n in self.most_differing]
        if self.frames[0] != self.frames[1]:
            lines.append(f"the recordings end at frames {self.frames[0]} and {self.frames[1]}")
        if self.machines:
            lines.append("their provenance differs in: " + "; ".join(self.machines))
        return "\n".join(lines)


def diff_recordings(a: Path, b: Path, names: tuple[str, str] | None = None) -> Diff:
    """Compares two recordings of the same map. Raises InvalidArgument for different maps or a
    damaged recording (named by `names`, default the paths), and RecordingError (from
    gametap.recordings.recording) for a file that is not a recording."""
    scans = [scan(p) for p in (a, b)]
    for which, name, s in zip(("first", "second"), names or (str(a), str(b)), scans):
        if s.damage:
            raise InvalidArgument("recordings", f"the {which} recording ({name}) is damaged ({s.damage}): "
                                                f"it cannot be compared")
    provenances = [provenance_of(s) for s in scans]
    maps = [p.map for p in provenances]
    machines = differences(*provenances)
    if maps[0] != maps[1]:
        raise InvalidArgument("recordings", f"they are of different maps ({maps[0]} and {maps[1]}): "
                              f"their states cannot be compared")
    last = [s.last_frame for s in scans]
    result = None
    changed_paths: Counter[str] = Counter()
    differing, same_so_far = 0, True  # the states after the previous frame were identical
    for (fa, delta_a, world_a), (fb, delta_b, world_b) in zip(frame_by_frame(a), frame_by_frame(b)):
        if fa != fb:
            raise InvalidArgument("recordings", f"their frames do not line up ({fa} and {fb})")
        if same_so_far and delta_a == delta_b:
            continue
        paths = field_diffs(world_a.state(), world_b.state())
        same_so_far = not paths
        if same_so_far:
            continue
        differing += 1
        if result is None:
            result = Diff(identical=False, frames=(0, 0), compared_through=0, first_frame=fa, fields=paths[:MAX_PATHS])
        changed_paths.update({_prefix(p) for p in paths})
    through = min(last)
    if result is None:
        return Diff(identical=last[0] == last[1], frames=(last[0], last[1]), compared_through=through, machines=machines)
    result.frames, result.compared_through, result.frames_differing = (last[0], last[1]), through, differing
    result.machines = machines
    result.most_differing = changed_paths.most_common(8)
    return result


def field_diffs(a: Message, b: Message, path: str = "") -> list[str]:
    """The paths of the fields where two messages of one type differ, in field order."""
    out = []
    for fd in a.DESCRIPTOR.fields:
        name = f"{path}.{fd.name}" if path else fd.name
        va, vb = getattr(a, fd.name), getattr(b, fd.name)
        if fd.is_repeated:
            if fd.message_type is not None:
                out += _repeated_messages(fd.name, name, va, vb)
            elif list(va) != list(vb):
                out += [f"{name}[{i}]" for i in range(max(len(va), len(vb)))
                        if i >= len(va) or i >= len(vb) or va[i] != vb[i]][:4]
        elif fd.message_type is not None:
            if a.HasField(fd.name) != b.HasField(fd.name):
                out.append(name)
            elif a.HasField(fd.name) and va != vb:
                out += field_diffs(va, vb, name)
        elif va != vb:
            out.append(name)
    return out


def _repeated_messages(field_name: str, name: str, va, vb) -> list[str]:
    key = _KEYED.get(field_name)
    if key is None:  # by position (events)
        pairs = [(str(i), x, y) for i, (x, y) in enumerate(zip(va, vb))]
        extra = [f"{name}[{i}]" for i in range(min(len(va), len(vb)), max(len(va), len(vb)))]
    else:
        da, db = {getattr(m, key): m for m in va}, {getattr(m, key): m for m in vb}
        pairs = [(str(k), da[k], db[k]) for k in sorted(set(da) & set(db))]
        extra = [f"{name}[{k}]" for k in sorted(set(da) ^ set(db))]
    out = []
    for k, x, y in pairs:
        if x != y:
            out += field_diffs(x, y, f"{name}[{k}]")
    return out + extra


def _prefix(path: str) -> str:
    """A path without its last part (players[3].origin.x -> players[3].origin), for the summary."""
    head, dot, _ = path.rpartition(".")
    return head if dot else path
