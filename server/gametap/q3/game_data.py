"""What the installed OpenArena data offers: maps and bot names, read from its pk3 files."""
from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

_BOT_NAME = re.compile(r'^\s*name\s+"?([^"\s]+)"?', re.MULTILINE)


@dataclass(frozen=True)
class GameData:
    maps: frozenset[str]        # lower-case map names with a .bsp
    maps_with_bots: frozenset[str]  # maps that also have a .aas (bots can navigate)
    bots: dict[str, str]        # lower-case bot name -> the game's spelling


def pk3_files(basepath: Path, game: str = "baseoa") -> list[Path]:
    """The pk3 archives the game loads, in its load order (later ones override)."""
    return sorted((basepath / game).glob("*.pk3"))


@functools.lru_cache(maxsize=4)
def load_game_data(basepath: Path) -> GameData:
    bsp, aas, bots = set(), set(), {}
    for pk3 in pk3_files(basepath):
        try:
            archive = zipfile.ZipFile(pk3)
        except (OSError, zipfile.BadZipFile):
            continue  # an unreadable archive offers nothing; the game skips it too
        with archive:
            for name in archive.namelist():
                lower = name.lower()
                if lower.startswith("maps/") and lower.count("/") == 1:
                    stem, _, ext = lower[5:].rpartition(".")
                    (bsp if ext == "bsp" else aas if ext == "aas" else set()).add(stem)
                elif lower.startswith("scripts/") and (lower.endswith(".bot") or lower.endswith("bots.txt")):
                    text = archive.read(name).decode("latin-1")
                    bots.update({n.lower(): n for n in _BOT_NAME.findall(text)})
    return GameData(maps=frozenset(bsp), maps_with_bots=frozenset(bsp & aas), bots=bots)

