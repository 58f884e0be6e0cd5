"""The package's tiers, lowest first: no module imports a higher tier than its own.

    root        gametap, gametap.wire, gametap.grpc_engine, the generated gametap.v1
    client      gametap.client: what an agent installs (it imports only the root)
    core        gametap.core: errors, ids, limits, tokens, TLS, logs, metrics, settings, the game boundary
    recordings  gametap.recordings: the file format, the archive and the offline tools
    api         gametap.rpc, gametap.httpapi: what every gRPC server and HTTP app shares
                (options, interceptors, status codes, the token check, Foxglove's protocol)
    worker      gametap.worker: the data plane (matches, the hub, agents, the link to the game,
                the worker's gRPC services and HTTP app)
    daemon      gametap.daemon: the control plane (the daemon, its pool of workers, its gRPC
                services, proxy and HTTP app, systemd)
    tools       gametap.cli, gametap.cli_archive, gametap.testing, gametap.ray, gametap.dmrpc

Games (gametap.q3, gametap.games) stand beside the tiers: they build on root, client, core,
recordings and worker, and only the game boundary's registry names them (by string; what
still imports a game is tests/unit/test_game_boundary.py's list). None breaks the order; an
exception would go in KNOWN, with why (a listed one that is gone fails too: the list only shrinks).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "gametap"
TIERS = ("root", "client", "core", "recordings", "api", "worker", "daemon", "tools")
PACKAGES = {"client": "client", "core": "core", "recordings": "recordings", "worker": "worker", "rpc": "api",
            "httpapi": "api", "daemon": "daemon", "cli": "tools", "cli_archive": "tools", "testing": "tools",
            "ray": "tools", "dmrpc": "tools", "__main__": "tools", "q3": "game", "games": "game"}
GAME_MAY_IMPORT = {"root", "client", "core", "recordings", "worker"}

KNOWN: dict[tuple[str, str], str] = {}  # (module, the higher package it imports): why


def tier(module: str) -> str:
    parts = module.split(".")
    return "root" if len(parts) == 1 else PACKAGES.get(parts[1], "root")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> set[str]:
    """The gametap modules (or packages) a module imports, anywhere in it."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "gametap":
                out |= {f"gametap.{a.name}" for a in node.names}
    return {n for n in out if n == "gametap" or n.startswith("gametap.")}


def breaks(importer: str, target: str) -> bool:
    a, b = tier(importer), tier(target)
    if a == "game":
        return b not in GAME_MAY_IMPORT | {"game"}
    if b == "game":
        return False  # the game boundary's own ratchet (test_game_boundary.py)
    return TIERS.index(b) > TIERS.index(a)


def upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        importer = module_name(path)
        if importer.startswith("gametap.v1") or ".v1" in importer:  # generated
            continue
        for target in imported(ast.parse(path.read_text(), str(path))):
            if breaks(importer, target):
                found.add((importer, ".".join(target.split(".")[:2])))
    return found


def test_no_module_imports_a_higher_tier_beyond_the_known_ones():
    found = upward_imports()
    assert not found - KNOWN.keys(), f"imports of a higher tier: {sorted(found - KNOWN.keys())}"
    assert not KNOWN.keys() - found, f"gone (take them off KNOWN): {sorted(KNOWN.keys() - found)}"


def test_the_client_imports_only_the_root_and_itself():
    for path in (PACKAGE / "client").rglob("*.py"):
        for target in imported(ast.parse(path.read_text())):
            assert tier(target) in ("root", "client", "game"), f"{module_name(path)} imports {target}"


def test_every_package_has_a_tier():
    for child in PACKAGE.iterdir():
        if child.suffix == ".py":
            name = child.stem
        elif (child / "__init__.py").is_file():
            name = child.name
        else:
            continue
        if name in ("__init__", "wire", "grpc_engine", "v1"):  # the root
            continue
        assert name in PACKAGES, f"gametap.{name} has no tier: add it to PACKAGES (and the docstring)"
