"""`gametap`: run the daemon, or talk to a running one.

    gametap serve [--config FILE] [--grpc HOST:PORT] [--http HOST:PORT] [--state-dir DIR] [--workers N]
    gametap create [--map oa_dm1] [--clock lockstep] [--bot Sarge:3] ...   -> the match as JSON
    gametap list [--live | --ended] | get ID | stop ID | state ID | command ID "fraglimit 5" | watch ID | maps | bots
    gametap recordings list | show ID | verify ID | rm ID...
    gametap reproduce ID | diff A B
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
from pathlib import Path

# The daemon and its workers start processes that exec at once (workers, games): gRPC's fork
# handlers have nothing to do, and would log that they skip themselves at every start. (Set
# before grpc is imported; `gametap` and `python -m gametap` both come through here.)
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # a failed TLS handshake is said once, by us, not also by grpc's log

import grpc  # noqa: E402
from google.protobuf import json_format

from gametap import __version__, cli_archive
from gametap.client.sync import DEFAULT_ADDRESS, Client
from gametap.client.tls import ClientTls
from gametap.core.errors import GametapError
from gametap.q3.v1 import world_pb2 as wpb
from gametap.recordings.recording import RecordingError
from gametap.v1 import match_pb2 as mpb

SERVER_ENV = "GAMETAP_SERVER"
_COLOUR = re.compile(r"\^[^^]")  # Quake colour codes: ^ and one character (^^ is a caret)


def print_json(message) -> None:
    print(json_format.MessageToJson(message, indent=2, always_print_fields_with_no_presence=True))  # client 0 too


class UsageError(Exception):
    """A bad command line value: printed as one line, exit status 2."""


def _bot(spec: str) -> mpb.BotConfig:
    """NAME[:SKILL[:TEAM]], e.g. Sarge:4:red."""
    name, _, rest = spec.partition(":")
    skill, _, team = rest.partition(":")
    bot = mpb.BotConfig(name=name)
    if skill:
        if not skill.isdigit():
            raise argparse.ArgumentTypeError(f"bot skill {skill!r} is not a number")
        bot.skill = int(skill)
    if team:
        try:
            bot.team = wpb.Team.Value(f"TEAM_{team.upper()}")
        except ValueError:
            raise argparse.ArgumentTypeError(f"bot team {team!r} is not red, blue or free") from None
    return bot


def _frame(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is not a frame number (0 or more)")
    return n


def _enum_arg(enum_type, prefix: str):
    def parse(text: str) -> int:
        try:
            return enum_type.Value(prefix + text.upper().replace("-", "_"))
        except ValueError:
            names = ", ".join(n[len(prefix):].lower() for n in enum_type.keys() if not n.endswith("UNSPECIFIED"))
            raise argparse.ArgumentTypeError(f"{text!r} is not one of: {names}") from None
    return parse


def _config_from_args(a: argparse.Namespace) -> mpb.MatchConfig:
    try:
        config = json_format.Parse(a.config_json, mpb.MatchConfig()) if a.config_json else mpb.MatchConfig()
    except json_format.ParseError as e:
        raise UsageError(f"--config-json: {e}") from None
    for field in ("map", "game_type", "clock", "seed", "max_frames", "keyframe_interval",
                  "frag_limit", "time_limit_s", "server_fps", "capture_limit", "hold_for_agents"):
        value = getattr(a, field)
        if value is not None:
            try:
                setattr(config, field, value)
            except ValueError:  # a negative number for an unsigned field, or one too large
                raise UsageError(f"--{field.replace('_', '-')} {value}: out of range") from None
    config.bots.extend(a.bot or [])
    return config


def cmd_serve(a: argparse.Namespace) -> int:
    try:
        from gametap.core import settings
        from gametap.daemon import daemon
    except ImportError as e:  # a client-only install (the wheel without its daemon extra)
        print(f"gametap: `gametap serve` needs the daemon's packages ({e.name} is missing): "
              "pip install 'gametap[daemon]', or run it from a checkout after `make setup`", file=sys.stderr)
        return 2
    path = a.config
    try:
        s = settings.load(path)
    except settings.SettingsError as e:
        print(f"gametap: bad config: {e}", file=sys.stderr)
        return 2
    if a.workers is not None and not 1 <= a.workers <= 256:
        print(f"gametap: --workers {a.workers}: 1..256 allowed", file=sys.stderr)
        return 2
    s = s.with_overrides(grpc=a.grpc, http=a.http, state_dir=a.state_dir, workers=a.workers)
    if a.no_default_match:
        s = dataclasses.replace(s, default_match=None)
    return daemon.run(s, config=path)


def cmd_create(a, client: Client) -> int:
    print_json(client.create_match(_config_from_args(a)))
    return 0


def print_json_list(messages) -> None:
    print(json.dumps([json_format.MessageToDict(m, always_print_fields_with_no_presence=True) for m in messages], indent=2))


def cmd_list(a, client: Client) -> int:
    matches = client.list_matches(mpb.MATCH_FILTER_LIVE if a.live else mpb.MATCH_FILTER_ENDED if a.ended
                                  else mpb.MATCH_FILTER_ALL)
    if a.json:
        print_json_list(matches)
        return 0
    print(f"{'ID':<14}{'STATUS':<10}{'CLOCK':<10}{'MAP':<16}{'BOTS':>5}{'FRAME':>10}{'FPS':>9}")
    for m in matches:
        print(f"{m.id:<14}{mpb.MatchStatus.Name(m.status):<10}{mpb.Clock.Name(m.config.clock):<10}"
              f"{m.config.map:<16}{len(m.config.bots):>5}{m.frame:>10}{m.frames_per_second:>9.0f}")
    return 0


def cmd_maps(a, client: Client) -> int:
    for m in client.describe_game().maps:
        print(m.name if m.bots_navigate else f"{m.name}   (no bot navigation: bots stand still)")
    return 0


def cmd_bots(a, client: Client) -> int:
    game = client.describe_game()
    print("\n".join(game.bots))
    print(f"(a match holds {game.max_players} players, at most {game.max_bot_players} of them bots and agents)",
          file=sys.stderr)
    return 0


def cmd_get(a, client: Client) -> int:
    print_json(client.get_match(a.match_id))
    return 0


def cmd_stop(a, client: Client) -> int:
    print_json(client.stop_match(a.match_id))
    return 0


def cmd_state(a, client: Client) -> int:
    print_json(client.get_state(a.match_id))
    return 0


def cmd_command(a, client: Client) -> int:
    """What the game printed in reply, without colour codes; nothing if it printed nothing (a cvar set)."""
    output = _COLOUR.sub("", client.run_command(a.match_id, " ".join(a.command))).rstrip("\n")
    if output:
        print(output)
    return 0


def cmd_dm_env_rpc(a, client: Client) -> int:
    try:
        from gametap.dmrpc import service
    except ImportError as e:
        raise UsageError(f"`gametap dm-env-rpc` needs dm-env-rpc ({e.name} is missing): "
                         "pip install 'gametap[dmrpc]'") from None
    server = service.serve(a.listen, client.address, getattr(a, "token", None), a.connections)
    print(f"dm_env_rpc: serving the daemon at {client.address} on {a.listen}", file=sys.stderr, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=2)
    return 0


def cmd_watch(a, client: Client) -> int:
    """One line per update: frame, kind, players/entities in it, events."""
    for n, update in enumerate(client.watch(a.match_id, max_batch=64, from_frame=a.from_frame)):
        kind = update.WhichOneof("update")
        body = getattr(update, kind)
        events = [e.WhichOneof("kind") for e in body.events]
        print(f"{body.frame:>8} {kind:<8} players={len(body.players):<3} entities={len(body.entities):<4}"
              f"{' events=' + ','.join(events) if events else ''}", flush=True)
        if a.count and n + 1 >= a.count:
            break
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gametap", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"gametap {__version__}")
    _connection_args(p, argparse.SUPPRESS)  # before the verb or after it
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("serve", help="run the daemon (by default with one REALTIME match on oa_dm1, 4 bots)")
    s.add_argument("--config", type=Path, help="TOML settings file (see gametap.core.settings)")
    s.add_argument("--grpc", help="gRPC listen address HOST:PORT (default 127.0.0.1:50051)")
    s.add_argument("--http", help="HTTP listen address HOST:PORT (default 127.0.0.1:8080)")
    s.add_argument("--state-dir", type=Path, help="where matches keep logs and recordings")
    s.add_argument("--no-default-match", action="store_true", help="start with no match")
    s.add_argument("--workers", type=int, help="worker processes that run the matches (default: one per core)")
    s.set_defaults(run=cmd_serve)

    c = sub.add_parser("create", help="start a match; prints it as JSON")
    c.add_argument("--map")
    c.add_argument("--game-type", type=_enum_arg(wpb.GameType, "GAME_TYPE_"), help="ffa, team, ctf, tournament, ...")
    c.add_argument("--clock", type=_enum_arg(mpb.Clock, ""), help="realtime or lockstep")
    c.add_argument("--bot", type=_bot, action="append", help="NAME[:SKILL[:TEAM]], repeatable")
    c.add_argument("--seed", type=int)
    c.add_argument("--max-frames", type=int)
    c.add_argument("--keyframe-interval", type=int)
    c.add_argument("--frag-limit", type=int)
    c.add_argument("--time-limit-s", type=int)
    c.add_argument("--capture-limit", type=int)
    c.add_argument("--server-fps", type=int)
    c.add_argument("--hold-for-agents", type=int, metavar="N", help="LOCKSTEP: wait for N agent slots, add them at once")
    c.add_argument("--config-json", help="a MatchConfig as JSON; the flags above override it")
    c.set_defaults(run=cmd_create)

    sub.add_parser("maps", help="the maps a match can use").set_defaults(run=cmd_maps)
    sub.add_parser("bots", help="the bots a match can add").set_defaults(run=cmd_bots)
    ls = sub.add_parser("list", help="list matches: live ones first, then ended ones (archived included)")
    ls.add_argument("--json", action="store_true")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--live", action="store_true", help="only the matches starting or running")
    which.add_argument("--ended", action="store_true", help="only the ended ones (`recordings list` shows more of them)")
    ls.set_defaults(run=cmd_list)
    for verb, func, text in (("get", cmd_get, "show a match"), ("stop", cmd_stop, "stop a match"),
                             ("state", cmd_state, "print a match's current world state as JSON")):
        v = sub.add_parser(verb, help=text)
        v.add_argument("match_id")
        v.set_defaults(run=func)
    d = sub.add_parser("dm-env-rpc", help="serve dm_env_rpc's Environment, each episode a LOCKSTEP match on the daemon")
    d.add_argument("--listen", default="127.0.0.1:50061", help="its gRPC listen address (default 127.0.0.1:50061)")
    d.add_argument("--connections", type=int, default=16, help="streams served at once (default 16)")
    d.set_defaults(run=cmd_dm_env_rpc)
    cm = sub.add_parser("command", help="run a server console command in a match")
    cm.add_argument("match_id")
    cm.add_argument("command", nargs="+")
    cm.set_defaults(run=cmd_command)
    w = sub.add_parser("watch", help="follow a match's updates")
    w.add_argument("match_id")
    w.add_argument("--count", type=int, default=0, help="stop after this many updates")
    w.add_argument("--from-frame", type=_frame, default=0, metavar="N",
                   help="start at past frame N, replayed from the match's recording")
    w.set_defaults(run=cmd_watch)
    cli_archive.add_verbs(sub, lambda parser: _connection_args(parser, argparse.SUPPRESS))
    for verb in sub.choices.values():
        if verb.prog.split()[-1] != "serve":
            _connection_args(verb, argparse.SUPPRESS)
    return p


def _connection_args(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--server", default=default,
                        help=f"daemon's gRPC address (default ${SERVER_ENV}, else {DEFAULT_ADDRESS})")
    parser.add_argument("--token", default=default,
                        help="the daemon's access token, when it asks for one (default: $GAMETAP_TOKEN)")
    parser.add_argument("--tls-ca", default=default, metavar="PEM",
                        help="talk TLS, trusting this CA or certificate (default: $GAMETAP_TLS_CA)")
    parser.add_argument("--tls", action="store_true", default=default,
                        help="talk TLS, trusting the system's CAs")
    parser.add_argument("--tls-cert", default=default, metavar="PEM",
                        help="this client's certificate, for a daemon that asks for one ($GAMETAP_TLS_CERT)")
    parser.add_argument("--tls-key", default=default, metavar="PEM", help="its key ($GAMETAP_TLS_KEY)")


def _client_tls(args: argparse.Namespace):
    """The command line's TLS options, else None (the client library reads $GAMETAP_TLS_CA and the like)."""
    ca, cert, key = (getattr(args, name, None) for name in ("tls_ca", "tls_cert", "tls_key"))
    if ca or cert or key:
        try:
            return ClientTls.from_files(ca=ca, cert=cert, key=key)
        except (OSError, ValueError) as e:
            raise UsageError(f"TLS: {e}") from None
    return True if getattr(args, "tls", False) else None


def main(argv: list[str] | None = None) -> int:
    try:
        status = _run(argv)
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's last flush
        return status
    except BrokenPipeError:  # `gametap list | head -3`: stop quietly, as a Unix tool that SIGPIPE ends
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # leaves nothing for that last flush
        return 128 + signal.SIGPIPE


def _os_error(e: OSError) -> str:
    return f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "serve":
        return args.run(args)
    server = getattr(args, "server", None) or os.environ.get(SERVER_ENV) or DEFAULT_ADDRESS
    try:
        client = Client(server, token=getattr(args, "token", None), tls=_client_tls(args))
    except (UsageError, OSError, ValueError) as e:  # a TLS file that cannot be read
        print(f"gametap: {e}", file=sys.stderr)
        return 2
    with client:
        try:
            return args.run(args, client)
        except UsageError as e:
            print(f"gametap: {e}", file=sys.stderr)
            return 2
        except (GametapError, RecordingError) as e:  # the library's own checks (diff, reproduce)
            print(f"gametap: {e}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            raise
        except OSError as e:  # a file a verb writes or reads: a full or read-only disk, a missing folder
            print(f"gametap: {_os_error(e)}", file=sys.stderr)
            return 1
        except grpc.RpcError as e:
            details = (e.details() or "").lower()
            if e.code() == grpc.StatusCode.UNAVAILABLE and ("ssl" in details or "handshake" in details):
                print(f"gametap: TLS with {server} failed ({e.details()}): a daemon with TLS needs --tls-ca "
                      "naming the CA that signed its certificate; one without TLS needs no TLS option", file=sys.stderr)
            elif e.code() == grpc.StatusCode.UNAVAILABLE and "socket closed" in details and client.tls is None:
                print(f"gametap: the daemon at {server} closed the connection: does it serve TLS? "
                      "(then give --tls-ca PEM)", file=sys.stderr)
            elif e.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in details:
                print(f"gametap: no gametap daemon at {server} (start one with `gametap serve`)", file=sys.stderr)
            else:
                print(f"gametap: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
