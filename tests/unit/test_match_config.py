"""MatchConfig validation: defaults, and errors that name the field."""
import random

import pytest

from gametap.core.errors import InvalidArgument, ResourceExhausted
from gametap.q3 import launch, spawns
from gametap.q3.game_data import GameData
from gametap.q3.match_config import validate
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb

DATA = GameData(maps=frozenset({"oa_dm1", "oasago2"}), maps_with_bots=frozenset({"oa_dm1"}),
                bots={"sarge": "Sarge", "grism": "Grism"})


FLAGS = [{"classname": "team_CTF_redflag"}, {"classname": "team_CTF_blueflag", "gametype": "ctf oneflag"}]
ENTITIES = {"oa_dm1": [], "oasago2": FLAGS}  # what spawns.map_entities reads off each map's BSP


def check(**kw):
    bots = kw.pop("bots", [])
    return validate(mpb.MatchConfig(bots=bots, **kw), DATA, random.Random(5), entities=ENTITIES.__getitem__)


def test_defaults_are_filled_in():
    c = check(bots=[mpb.BotConfig(name="sarge")])
    assert (c.map, c.game_type, c.clock, c.keyframe_interval, c.server_fps) == ("oa_dm1", wpb.GAME_TYPE_FFA, mpb.REALTIME, 100, 20)
    assert c.seed != 0 and c.bots[0].name == "Sarge" and c.bots[0].skill == 3


def test_given_seed_is_kept():
    assert check(seed=42).seed == 42


@pytest.mark.parametrize("kwargs, field", [
    (dict(map="nowhere"), "map"),
    (dict(map="../etc/passwd"), "map"),
    (dict(map="oa dm1; quit"), "map"),
    (dict(bots=[mpb.BotConfig(name="Sarge", skill=9)]), "bots[0].skill"),
    (dict(bots=[mpb.BotConfig(name="Sarge"), mpb.BotConfig(name="Nobody")]), "bots[1].name"),
    (dict(bots=[mpb.BotConfig(name="Sarge", team=wpb.TEAM_RED)]), "bots[0].team"),
    (dict(bots=[mpb.BotConfig(name="Sarge", team=wpb.TEAM_SPECTATOR)], game_type=wpb.GAME_TYPE_TEAM), "bots[0].team"),
    (dict(frag_limit=-1), "frag_limit"),
    (dict(time_limit_s=-60), "time_limit_s"),
    (dict(time_limit_s=90), "time_limit_s"),
    (dict(capture_limit=-3), "capture_limit"),
    (dict(server_fps=-5), "server_fps"),
    (dict(server_fps=5000), "server_fps"),
    (dict(game_type=99), "game_type"),
    (dict(clock=7), "clock"),
    (dict(max_frames=2**63), "max_frames"),  # the handshake's msgpack would carry it as a negative number
    (dict(max_frames=2**64 - 1), "max_frames"),
])
def test_bad_values_name_their_field(kwargs, field):
    with pytest.raises(InvalidArgument) as e:
        check(**kwargs)
    assert e.value.field == field
    assert str(e.value).startswith(field + ":")


def test_more_bots_than_the_module_can_run_are_refused_with_the_number():
    check(bots=[mpb.BotConfig(name="Sarge")] * launch.MAX_BOT_PLAYERS)
    with pytest.raises(ResourceExhausted, match=f"at most {launch.MAX_BOT_PLAYERS} bots"):
        check(bots=[mpb.BotConfig(name="Sarge")] * (launch.MAX_BOT_PLAYERS + 1))


def test_team_bots_in_team_games():
    c = check(map="oasago2", game_type=wpb.GAME_TYPE_CTF, bots=[mpb.BotConfig(name="Sarge", team=wpb.TEAM_RED),
                                                 mpb.BotConfig(name="Grism", team=wpb.TEAM_BLUE)])
    assert [b.team for b in c.bots] == [wpb.TEAM_RED, wpb.TEAM_BLUE]




def test_a_game_type_needs_what_it_is_played_for_on_its_map():
    """Issue 20, defect 15: CTF on a map without flags was accepted (the game then warns in its
    log, and the match can never be won)."""
    with pytest.raises(InvalidArgument, match="game_type: GAME_TYPE_CTF needs team_CTF_redflag and "
                       "team_CTF_blueflag, and map oa_dm1 has no team_CTF_redflag or team_CTF_blueflag"):
        check(game_type=wpb.GAME_TYPE_CTF)
    assert check(map="oasago2", game_type=wpb.GAME_TYPE_CTF).map == "oasago2"
    with pytest.raises(InvalidArgument, match="has no team_CTF_neutralflag for it"):
        check(map="oasago2", game_type=wpb.GAME_TYPE_ONE_FLAG_CTF)
    with pytest.raises(InvalidArgument, match="has no team_CTF_blueflag for it"):  # its blue flag is for ctf and oneflag
        check(map="oasago2", game_type=wpb.GAME_TYPE_DOUBLE_DOMINATION)

    def unread(name):
        raise AssertionError(f"read {name}'s entities for a game type that needs none")
    for game_type in (wpb.GAME_TYPE_FFA, wpb.GAME_TYPE_TEAM, wpb.GAME_TYPE_DOMINATION):
        validate(mpb.MatchConfig(game_type=game_type), DATA, random.Random(5), entities=unread)


@pytest.mark.parametrize("entity, game_type, spawns_there", [
    ({"classname": "team_CTF_redflag"}, wpb.GAME_TYPE_CTF, True),
    ({"classname": "team_CTF_redflag", "gametype": "ctf, oneflag"}, wpb.GAME_TYPE_ONE_FLAG_CTF, True),
    ({"classname": "team_CTF_redflag", "gametype": "dd"}, wpb.GAME_TYPE_CTF, False),
    ({"classname": "team_CTF_redflag", "gametype": "ctfelimination"}, wpb.GAME_TYPE_CTF, True),  # strstr, as the game
    ({"classname": "team_CTF_redflag", "gametype": "ctf oneflag dd"}, wpb.GAME_TYPE_CTF_ELIMINATION, True),
    ({"classname": "team_CTF_redflag", "!gametype": "ctf"}, wpb.GAME_TYPE_CTF, False),
    ({"classname": "team_CTF_redflag", "!gametype": "dd"}, wpb.GAME_TYPE_CTF, True),
    ({"classname": "team_redobelisk", "notq3a": "1"}, wpb.GAME_TYPE_OBELISK, False),
    ({"classname": "team_redobelisk", "notq3a": "0"}, wpb.GAME_TYPE_OBELISK, True),
    ({"classname": "team_CTF_redflag", "notteam": " 2x"}, wpb.GAME_TYPE_CTF, False),  # atoi
    ({"classname": "team_CTF_redflag", "notfree": "1"}, wpb.GAME_TYPE_CTF, True),     # CTF is a team game
    ({"classname": "team_CTF_redflag", "notteam": "junk"}, wpb.GAME_TYPE_CTF, True),
])
def test_the_games_spawn_rules(entity, game_type, spawns_there):
    assert spawns.spawned(entity, game_type) is spawns_there
