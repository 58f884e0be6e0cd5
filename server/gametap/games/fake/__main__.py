"""python -m gametap.games.fake --config JSON: one fake game server (gametap.games.fake.server),
as the daemon starts it (FakeGame.command_line), with the link socket in $GAMETAP_LINK_FD."""
from __future__ import annotations

import argparse
import os
import sys

from google.protobuf import json_format

from gametap.core import parent_death
from gametap.games.fake.link import GameSide, LinkFailed
from gametap.games.fake.server import GameError, Server
from gametap.v1 import match_pb2 as mpb


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gametap.games.fake")
    parser.add_argument("--config", required=True, help="the validated MatchConfig, as JSON")
    config = json_format.Parse(parser.parse_args(argv).config, mpb.MatchConfig())
    sys.stdout.reconfigure(line_buffering=True)  # game.log, and RunCommand's echo markers, line by line
    parent_death.die_with_parent()  # as the library does: a dead worker takes its games along
    if os.environ.get("GAMETAP_PARENT_PID", str(os.getppid())) != str(os.getppid()):
        return 1  # the worker died before the line above
    try:
        return Server(config, GameSide.from_env()).run()
    except LinkFailed as e:
        print(f"gametap-fake: {e}; ending the game")
        return 1
    except GameError as e:
        print(f"ERROR: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
