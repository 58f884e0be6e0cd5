"""What a game type is played for (flags, obelisks) on each map (gametap.q3.spawns): CTF on a
map without flags is refused at validation (issue 20, defect 15), and the rules that decide it
agree with the unmodified game's own warnings, map by map."""
from __future__ import annotations

import re
import subprocess

import grpc
import pytest

from gametap.q3 import spawns
from gametap.q3.launch import GameInstall
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
# Maps whose entities use every rule: none at all, gametype lists, flags for "dd" only, notq3a
# obelisks, flags without obelisks, a neutral flag missing. (All 72 installed maps agree: a 90 s run.)
SAMPLE = ("oa_dm1", "ctf_gate1", "oa_ctf2", "oa_ctf2old", "slimefac", "oa_minia", "ps37ctf", "oa_bases3cl",
          "islandctf", "am_galmevish2")


def the_games_warnings(install: GameInstall, home, name: str) -> dict[int, list[str]]:
    """The bare game (no gametap) loading the map in each game type of spawns.NEEDED: what it
    says is missing ("WARNING: No team_CTF_redflag in map"), by game type."""
    script = []
    for game_type in spawns.NEEDED:
        script += [f"set g_gametype {game_type - 1}", f"map {name}", f"echo probe-end-{game_type}"]
    (home / install.game).mkdir(parents=True, exist_ok=True)
    (home / install.game / "probe.cfg").write_text("\n".join([*script, "quit"]) + "\n")
    out = subprocess.run([str(install.binary), "+set", "dedicated", "1", "+set", "net_enabled", "0",
                          "+set", "com_basegame", install.game, "+set", "fs_basepath", str(install.basepath),
                          "+set", "fs_homepath", str(home), "+set", "vm_game", "0", "+exec", "probe.cfg"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                         stdin=subprocess.DEVNULL).stdout  # (with no terminal, it prints on stderr)
    parts = re.split(r"probe-end-(\d+)", out)
    found = {int(gt): re.findall(r"WARNING: No (\S+) in map", text) for text, gt in zip(parts[0::2], parts[1::2])}
    assert set(found) == set(spawns.NEEDED), out[-2000:]
    return found


@pytest.mark.parametrize("name", SAMPLE)
def test_what_is_missing_is_what_the_game_says_is_missing(tmp_path, name):
    install = GameInstall()
    entities = list(spawns.map_entities(install.basepath, name))
    for game_type, said in the_games_warnings(install, tmp_path, name).items():
        assert sorted(spawns.missing(entities, game_type)) == sorted(said), (name, wpb.GameType.Name(game_type))


def test_ctf_on_a_map_without_flags_is_refused_and_on_one_with_them_runs(daemon, client):
    with pytest.raises(grpc.RpcError) as e:
        client.create_match(mpb.MatchConfig(map="oa_dm1", game_type=wpb.GAME_TYPE_CTF))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "GAME_TYPE_CTF" in e.value.details() and "map oa_dm1 has no team_CTF_redflag" in e.value.details()
    match = client.create_match(lockstep(bots=("Grism", "Sarge"), map="oa_ctf2", game_type=wpb.GAME_TYPE_CTF,
                                         max_frames=200))
    assert wait_ended(client, match.id).status == mpb.FINISHED
    assert "WARNING: No" not in daemon.game_log(match.id)
