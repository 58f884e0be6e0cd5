"""The dm_env_rpc bridge's checks of what a client sends: settings, actions, requests' bytes."""
from __future__ import annotations

import random

import numpy as np
import pytest
from dm_env_rpc.v1 import dm_env_rpc_pb2 as dm
from dm_env_rpc.v1 import tensor_utils

from gametap.dmrpc import specs
from gametap.dmrpc.service import Connection, Unparsable, parse_request


def test_settings_take_their_defaults_and_what_is_given():
    s = specs.settings({"map": tensor_utils.pack_tensor("oa_dm2"), "bots": tensor_utils.pack_tensor(3)})
    assert (s["map"], s["bots"], s["bot_skill"], s["seed"]) == ("oa_dm2", 3, 1, 1)
    again = specs.settings({"seed": tensor_utils.pack_tensor(9)}, base=s)  # ResetWorld keeps what it does not name
    assert (again["map"], again["seed"]) == ("oa_dm2", 9)


@pytest.mark.parametrize("key, value, words", [
    ("nope", 1, "unknown world setting 'nope'"),
    ("bots", 1.5, "must be a whole number"),
    ("bots", True, "must be a whole number"),
    ("bots", -1, "must be in 0..16"),
    ("map", 3, "non-empty string"),
    ("seed", np.array([1, 2]), "must be one value"),
])
def test_bad_settings_are_refused_naming_why(key, value, words):
    with pytest.raises(specs.InvalidTensor, match=words):
        specs.settings({key: tensor_utils.pack_tensor(value)})


def test_actions_fill_what_is_left_out_and_broadcast_one_value():
    one = tensor_utils.pack_tensor(np.float32(0.5))
    one.shape[:] = [3]  # dm_env_rpc's broadcast: one value, the shape of "move"
    a = specs.actions({1: one})
    assert a["move"].tolist() == [0.5, 0.5, 0.5] and a["look"].tolist() == [0, 0] and a["attack"] == 0


@pytest.mark.parametrize("uid, value, words", [
    (9, 1, "no action has uid 9"),
    (1, np.array([1, 0, 0], np.int32), "is float32, not int32"),
    (1, np.array([2, 0, 0], np.float32), "must be in -1.0..1.0"),
    (1, np.array([np.nan, 0, 0], np.float32), "is not a number"),
    (1, np.zeros((3, 1), np.float32), "has shape [3]"),
    (1, np.zeros(2, np.float32), "has shape [3]"),
    (4, np.int32(14), "must be in 0..13"),
])
def test_bad_actions_are_refused_naming_why(uid, value, words):
    with pytest.raises(specs.InvalidTensor, match=words.replace("[", r"\[").replace("]", r"\]")):
        specs.actions({uid: tensor_utils.pack_tensor(value)})


def test_random_bytes_never_break_the_parser_and_get_an_error_response():
    rng = random.Random(5)
    connection = Connection(service=None)  # a request that is no request never reaches the service
    seen = 0
    for _ in range(2000):
        request = parse_request(rng.randbytes(rng.randint(0, 64)))
        if isinstance(request, Unparsable):
            seen += 1
            response = connection.handle(request)
            assert response.error.code == 3 and "no dm_env_rpc EnvironmentRequest" in response.error.message
    assert seen > 100  # most random bytes are no message at all
    truncated = dm.EnvironmentRequest(create_world=dm.CreateWorldRequest(
        settings={"map": tensor_utils.pack_tensor("oa_dm1")})).SerializeToString()[:-3]
    assert isinstance(parse_request(truncated), Unparsable)
