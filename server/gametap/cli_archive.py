"""`gametap recordings ...`: the daemon's archive of recorded matches, from the command line.

    gametap recordings list [--json]     ended matches, this run's and earlier ones'
    gametap recordings show ID           where a match came from (its provenance), as JSON
    gametap recordings verify ID         read every record; exit status 1 if the file is not whole
    gametap recordings rm ID...          remove ended matches' folders
    gametap reproduce ID                 re-run a recorded LOCKSTEP match; exit status 1 if it differs
    gametap diff A B                     where two recordings (match ids, or .gtrec files) part
    gametap export ID... --format minari|npz   recorded play as a dataset (docs/recordings.md, "Datasets")
"""
from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

from gametap.v1 import match_pb2 as mpb


def _when(unix_s: float) -> str:
    return datetime.datetime.fromtimestamp(unix_s).strftime("%Y-%m-%d %H:%M:%S") if unix_s else "-"


def _duration(m: mpb.Match) -> str:
    if not m.started_unix_s or not m.ended_unix_s:
        return "-"
    return str(datetime.timedelta(seconds=round(m.ended_unix_s - m.started_unix_s)))


def cmd_list(a, client) -> int:
    matches = client.list_matches(mpb.MATCH_FILTER_ENDED)
    if a.json:
        from gametap.cli import print_json_list
        print_json_list(matches)
        return 0
    print(f"{'ID':<14}{'STATUS':<10}{'STARTED':<21}{'DURATION':>9}{'MAP':>12}{'FRAMES':>10}{'MB':>9}  ARCHIVED")
    for m in matches:
        print(f"{m.id:<14}{mpb.MatchStatus.Name(m.status):<10}{_when(m.started_unix_s):<21}{_duration(m):>9}"
              f"{m.config.map:>12}{m.frame:>10}{m.recording_bytes / 1e6:>9.1f}  {'yes' if m.archived else 'no'}"
              + (f"  DAMAGED: {m.recording_damage}" if m.recording_damage else ""))
    damaged = sum(1 for m in matches if m.recording_damage)
    if damaged:
        print(f"{damaged} of {len(matches)} recordings are damaged: each lists what could be read "
              f"(`gametap recordings verify ID` says more)", file=sys.stderr)
    return 0


def cmd_show(a, client) -> int:
    from gametap.cli import print_json
    print_json(client.get_recording(a.match_id))
    return 0


def cmd_verify(a, client) -> int:
    check = client.get_recording(a.match_id, verify=True).check
    if check.complete:
        print(f"{a.match_id}: whole: {check.records:,} records, {check.good_bytes:,} bytes, "
              f"through frame {check.last_frame}, ending with the match's end")
        return 0
    where = check.problem or "it stops before the match's end record (the daemon or its worker ended first)"
    print(f"{a.match_id}: NOT whole: {where}. Good: {check.records:,} records, the first {check.good_bytes:,} "
          f"bytes, through frame {check.last_frame} (Watch and GetState replay up to there)")
    return 1


def cmd_rm(a, client) -> int:
    for match_id in a.match_ids:
        freed = client.delete_recording(match_id)
        print(f"removed {match_id} ({freed / 1e6:.1f} MB)")
    return 0


def cmd_reproduce(a, client) -> int:
    from gametap.recordings.reproduce import reproduce
    print(f"reproducing {a.match_id} ...", file=sys.stderr, flush=True)
    result = reproduce(client, a.match_id)
    print(result.summary())
    return 0 if result.identical else 1


def cmd_diff(a, client) -> int:
    from gametap.recordings.diff import diff_recordings
    with tempfile.TemporaryDirectory() as tmp:
        paths = [_local(client, name, Path(tmp) / f"{i}.gtrec") for i, name in enumerate((a.a, a.b))]
        result = diff_recordings(*paths, names=(a.a, a.b))
    print(result.summary())
    return 0 if result.identical else 1


def cmd_export(a, client) -> int:
    from gametap.recordings import export
    with tempfile.TemporaryDirectory() as tmp:
        matches = []
        for i, name in enumerate(a.match_ids):  # every match read before anything is written
            path = _local(client, name, Path(tmp) / f"{i}.gtrec")
            print(f"reading {name} ...", file=sys.stderr, flush=True)
            matches.append(export.to_arrays(path, a.player or (), a.frames_per_step, a.max_turn_degrees,
                                            progress=export.stderr_progress(name), name=name))
    steps = sum(int(m.active[:-1].sum()) for m in matches)
    if a.format == "npz":
        for path in export.write_npz(matches, a.out):
            print(path)
    else:
        dataset_id = a.dataset_id or f"gametap/{matches[0].match_id}/recorded-v0"
        dataset = export.write_minari(matches, dataset_id, a.action_format)
        print(f"{dataset_id} ({dataset.total_episodes} episodes, {dataset.total_steps} steps; "
              f"minari.load_dataset({dataset_id!r}))")
    print(f"{steps:,} player steps from {len(matches)} matches", file=sys.stderr)
    return 0


def _local(client, name: str, dest: Path) -> Path:
    """A recording file: the path given, or the daemon's recording of that match id."""
    from gametap.cli import UsageError
    path = Path(name)
    if path.suffix == ".gtrec" or path.is_file():
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        return path
    return client.download_recording(name, dest)


def add_verbs(sub, connection_args) -> None:
    """connection_args(parser): adds --server and --token to a verb's parser."""
    r = sub.add_parser("recordings", help="the archive of recorded matches: list, show, verify, rm",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = r.add_subparsers(dest="recordings_verb", required=True)
    ls = verbs.add_parser("list", help="ended matches, this run's and earlier ones'")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=cmd_list)
    for verb, func, text in (("show", cmd_show, "a recorded match's provenance, as JSON"),
                             ("verify", cmd_verify, "read and check every record; exit status 1 if not whole")):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("match_id")
        v.set_defaults(run=func)
    rm = verbs.add_parser("rm", help="remove ended matches' folders (recording and game log)")
    rm.add_argument("match_ids", nargs="+", metavar="ID")
    rm.set_defaults(run=cmd_rm)
    for verb in verbs.choices.values():
        connection_args(verb)
    rp = sub.add_parser("reproduce", help="re-run a recorded LOCKSTEP match and compare; exit status 1 if it differs")
    rp.add_argument("match_id")
    rp.set_defaults(run=cmd_reproduce)
    d = sub.add_parser("diff", help="where two recordings part (match ids or .gtrec files); exit status 1 if they do")
    d.add_argument("a")
    d.add_argument("b")
    d.set_defaults(run=cmd_diff)
    e = sub.add_parser("export", help="recorded play as a dataset: Minari, or npz arrays (docs/recordings.md, \"Datasets\")")
    e.add_argument("match_ids", nargs="+", metavar="ID", help="match ids (their recordings) or .gtrec files")
    e.add_argument("--format", choices=("minari", "npz"), required=True)
    e.add_argument("--player", action="append", metavar="NAME", help="a player to export (repeatable; default: all)")
    e.add_argument("--frames-per-step", type=int, default=4, help="frames per step, as the envs' (default 4)")
    e.add_argument("--max-turn-degrees", type=float, default=30.0, help="the envs' turn per step at 1 (default 30)")
    e.add_argument("--out", type=Path, default=Path("."), help="npz: the folder for ID.npz (default .)")
    e.add_argument("--dataset-id", help="minari: the dataset's id (default gametap/ID/recorded-v0)")
    e.add_argument("--action-format", choices=("dict", "box"), default="dict", help="minari: the envs' action format")
    e.set_defaults(run=cmd_export)
