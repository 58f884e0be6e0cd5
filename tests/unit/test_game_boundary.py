"""The core knows no game, as far as it is true today, and never less.

Every module outside the game packages (gametap.q3, gametap.games) that imports one, and
every gametap.v1 proto that imports a game's proto, is listed here with what it takes. A new
one fails the test; so does a listed one that no longer imports a game (take it off the list:
the list only shrinks). Issue 21's boundary work empties both.
"""
from __future__ import annotations

import ast

from .test_tiers import PACKAGE, imported, module_name

ROOT = PACKAGE.parents[1]
GAME_PACKAGES = ("gametap.q3", "gametap.games")

KNOWN_MODULES = {
    "gametap.cli": "the world message (Quake's teams and game types) for `create`'s flags",
    "gametap.client.aio": "the world message its GetState answers with",
    "gametap.client.sync": "the world message its GetState answers with",
    "gametap.client.world": "the world message it applies updates to",
    "gametap.client.features": "the world message: OpenArena's features, shipped as if generic",
    "gametap.client.envs.single": "the world message: OpenArena's envs, shipped as if generic",
    "gametap.dmrpc.worlds": "Quake's team enum for the world's bots",
    "gametap.recordings.export": "the world message it reads recordings into",
    "gametap.recordings.replay": "the world message it rebuilds states into",
    "gametap.ray.rllib": "the world message behind its env's observations",
    "gametap.worker.link.protocol": "gametap.q3.abi's record sizes, to check a frame's length",
    "gametap.core.settings": "gametap.q3.launch's game install and join password",
}
KNOWN_PROTOS = {
    "agent.proto": "the world message in observations, Quake's Team in slots",
    "match.proto": "Quake's GameType and Team in MatchConfig",
    "observe.proto": "the world message in updates",
    "recording.proto": "the world message in recordings",
}


def imports_a_game(tree: ast.AST) -> bool:
    return any(n == g or n.startswith(g + ".") for n in imported(tree) for g in GAME_PACKAGES)


def core_modules_importing_a_game() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith(GAME_PACKAGES) or name.startswith("gametap.v1"):  # games; generated code
            continue
        if imports_a_game(ast.parse(path.read_text(), str(path))):
            found.add(name)
    return found


def test_no_core_module_imports_a_game_beyond_the_known_ones():
    found = core_modules_importing_a_game()
    assert not found - KNOWN_MODULES.keys(), f"new imports of a game package: {sorted(found - KNOWN_MODULES.keys())}"
    assert not KNOWN_MODULES.keys() - found, f"no longer import a game (take them off the list): " \
                                             f"{sorted(KNOWN_MODULES.keys() - found)}"


def test_no_core_proto_imports_a_game_beyond_the_known_ones():
    found = {p.name for p in (ROOT / "proto" / "gametap" / "v1").glob("*.proto")
             if 'import "gametap/q3/' in p.read_text() or 'import "gametap/games/' in p.read_text()}
    assert not found - KNOWN_PROTOS.keys(), f"new imports of a game's proto: {sorted(found - KNOWN_PROTOS.keys())}"
    assert not KNOWN_PROTOS.keys() - found, f"no longer import a game's proto (take them off the list): " \
                                            f"{sorted(KNOWN_PROTOS.keys() - found)}"


def test_the_check_sees_an_import_however_it_is_written():
    for source in ("import gametap.q3.abi", "from gametap.q3 import abi", "from gametap.games.fake import x",
                   "def f():\n    from gametap.q3.v1 import world_pb2"):
        assert imports_a_game(ast.parse(source)), source
    for source in ("import gametap.q3x", "from gametap import wire", "from . import q3"):
        assert not imports_a_game(ast.parse(source)), source
