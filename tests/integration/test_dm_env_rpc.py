"""dm_env_rpc served over gametap: the package's own compliance tests, and a dm_env episode,
against the bridge (`gametap dm-env-rpc`'s server) on loopback and the real daemon and game."""
from __future__ import annotations

import contextlib
import subprocess
import sys

import grpc
import numpy as np
import pytest
from dm_env_rpc.v1 import compliance, dm_env_adaptor, error, tensor_utils
from dm_env_rpc.v1 import connection as dm_connection
from dm_env_rpc.v1 import dm_env_rpc_pb2 as dm
from google.rpc import code_pb2

from gametap.dmrpc import service
from gametap.testing import free_port

pytestmark = pytest.mark.game
SHORT = {"bots": 1, "max_steps": 5, "frames_per_step": 2}  # episodes of a few steps: tests end fast


def packed(settings: dict) -> dict[str, dm.Tensor]:
    return {k: tensor_utils.pack_tensor(v) for k, v in settings.items()}


@pytest.fixture(scope="module")
def bridge(daemon):
    port = free_port()
    server = service.serve(f"127.0.0.1:{port}", daemon.grpc)
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


class Attached:
    """A compliance test case with a dm_env_rpc connection to the bridge (and, where the case
    needs one, a world made with SHORT settings)."""
    join = False

    @pytest.fixture(autouse=True)
    def _attach(self, bridge):
        channel = grpc.insecure_channel(bridge)
        self._connection = dm_connection.Connection(channel)
        self._world = self._connection.send(dm.CreateWorldRequest(settings=packed(SHORT))).world_name
        if self.join:
            self._specs = self._connection.send(dm.JoinWorldRequest(world_name=self._world)).specs
        yield
        self._connection.send(dm.LeaveWorldRequest())
        self._connection.send(dm.DestroyWorldRequest(world_name=self._world))
        self._connection.close()
        channel.close()

    @property
    def connection(self):
        return self._connection

    @property
    def world_name(self):
        return self._world


class TestCreateDestroyWorld(Attached, compliance.CreateDestroyWorld):
    required_world_settings = {}
    invalid_world_settings = {"no_such_setting": tensor_utils.pack_tensor(1)}
    has_multiple_world_support = True


class TestJoinLeaveWorld(Attached, compliance.JoinLeaveWorld):
    invalid_join_settings = {"no_such_setting": tensor_utils.pack_tensor(1)}


class TestStep(Attached, compliance.Step):
    join = True

    @property
    def specs(self):
        return self._specs


class TestReset(Attached, compliance.Reset):
    def join_world(self):
        return self._connection.send(dm.JoinWorldRequest(world_name=self._world)).specs


class TestResetWorld(Attached, compliance.ResetWorld):
    pass


@pytest.fixture
def env(bridge):
    channel = grpc.insecure_channel(bridge)
    env, world = dm_env_adaptor.create_and_join_world(dm_connection.Connection(channel), packed(SHORT | {"seed": 7}),
                                                      {})
    yield env
    env.close()
    channel.close()


def walk(env, steps: int) -> list:
    """A dm_env episode: reset, then walk forward and turn."""
    timesteps = [env.reset()]
    action = {"move": np.array([1, 0, 0], np.float32), "look": np.array([0.5, 0], np.float32),
              "attack": np.int32(0), "weapon": np.int32(0)}
    while not timesteps[-1].last() and len(timesteps) <= steps:
        timesteps.append(env.step(action))
    return timesteps


def test_a_dm_env_episode_plays_a_match_and_ends_after_max_steps(env):
    assert set(env.observation_spec()) == {"features", "frame"}  # the adaptor gives "reward" as the reward
    assert set(env.action_spec()) == {"move", "look", "attack", "weapon"}
    timesteps = walk(env, 20)
    assert timesteps[0].first() and timesteps[-1].last()
    assert all(t.reward in (-1.0, 0.0, 1.0, 2.0) for t in timesteps[1:])  # frags in a step (0 the most likely)
    assert len(timesteps) == 1 + SHORT["max_steps"]  # truncated at max_steps
    frames = [int(t.observation["frame"]) for t in timesteps]
    assert all(b - a == SHORT["frames_per_step"] for a, b in zip(frames, frames[1:])), frames
    feats = np.stack([t.observation["features"] for t in timesteps])
    assert feats.shape == (len(timesteps), env.observation_spec()["features"].shape[0])
    assert not np.array_equal(feats[0], feats[-1])  # it walked and turned: what it sees changed
    assert walk(env, 20)[0].first()  # the next episode starts: a new match


def test_the_same_seed_gives_the_same_episode(bridge):
    runs = []
    for _ in range(2):
        channel = grpc.insecure_channel(bridge)
        env, _ = dm_env_adaptor.create_and_join_world(dm_connection.Connection(channel),
                                                      packed(SHORT | {"seed": 11}), {})
        runs.append(np.stack([t.observation["features"] for t in walk(env, 20)]))
        env.close()
        channel.close()
    assert np.array_equal(runs[0], runs[1])


@contextlib.contextmanager
def refused(words: str):
    """pytest.raises for a dm_env_rpc error response whose message has these words."""
    with pytest.raises(error.DmEnvRpcError) as e:
        yield
    assert words in e.value.message, e.value.message


@pytest.mark.parametrize("settings, words", [
    ({"map": "no_such_map"}, "the game has no map 'no_such_map'"),
    ({"bots": 99}, "must be in 0..16"),
    ({"bot_skill": 0}, "must be in 1..5"),
    ({"seed": "x"}, "must be a whole number"),
    ({"map": ""}, "non-empty string"),
    ({"frames_per_step": [1, 2]}, "must be one value"),
])
def test_bad_world_settings_are_refused_naming_why(bridge, settings, words):
    with grpc.insecure_channel(bridge) as channel:
        c = dm_connection.Connection(channel)
        with refused(words):
            c.send(dm.CreateWorldRequest(settings=packed(settings)))
        c.close()


def test_requests_out_of_order_get_errors_and_the_stream_goes_on(bridge):
    with grpc.insecure_channel(bridge) as channel:
        c = dm_connection.Connection(channel)
        with refused("has not joined a world"):
            c.send(dm.StepRequest())
        with refused("no world is named 'nope'"):
            c.send(dm.JoinWorldRequest(world_name="nope"))
        world = c.send(dm.CreateWorldRequest(settings=packed(SHORT))).world_name
        c.send(dm.JoinWorldRequest(world_name=world))
        with refused("joined to that world"):
            c.send(dm.DestroyWorldRequest(world_name=world))
        c.send(dm.StepRequest())  # the episode's first step: its actions are ignored, the next ones checked
        with refused("no action has uid 99"):
            c.send(dm.StepRequest(actions={99: tensor_utils.pack_tensor(1)}))
        with refused("is not a number"):
            c.send(dm.StepRequest(actions={1: tensor_utils.pack_tensor(np.array([np.nan, 0, 0], np.float32))}))
        assert c.send(dm.StepRequest(requested_observations=[3])).state == dm.EnvironmentStateType.RUNNING
        c.send(dm.LeaveWorldRequest())
        c.send(dm.DestroyWorldRequest(world_name=world))
        c.close()


@pytest.mark.parametrize("payload", [b"\xff" * 7, b"\x0a\x05abc", bytes(range(256)) * 4])
def test_bytes_that_are_no_request_get_an_error_and_the_stream_goes_on(bridge, payload):
    with grpc.insecure_channel(bridge) as channel:
        raw = channel.stream_stream(f"/{service.SERVICE}/Process", request_serializer=lambda b: b,
                                    response_deserializer=dm.EnvironmentResponse.FromString)
        create = dm.EnvironmentRequest(create_world=dm.CreateWorldRequest(settings=packed(SHORT)))
        bad, good = list(raw(iter([payload, create.SerializeToString()]), timeout=10))
        assert bad.error.code == code_pb2.INVALID_ARGUMENT
        assert "no dm_env_rpc EnvironmentRequest" in bad.error.message
        assert good.create_world.world_name.startswith("world-")


def test_an_oversized_request_ends_only_its_stream(bridge):
    with grpc.insecure_channel(bridge) as channel:
        raw = channel.stream_stream(f"/{service.SERVICE}/Process", request_serializer=lambda b: b,
                                    response_deserializer=dm.EnvironmentResponse.FromString)
        with pytest.raises(grpc.RpcError) as e:
            list(raw(iter([b"\x0a" + b"\xff" * (5 << 20)]), timeout=10))  # past gRPC's 4 MiB a message
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        c = dm_connection.Connection(channel)
        assert c.send(dm.CreateWorldRequest(settings=packed(SHORT))).world_name.startswith("world-")
        c.close()


def test_the_command_serves_it(daemon, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gametap", "--server", daemon.grpc, "dm-env-rpc",
                             "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    try:
        assert "dm_env_rpc: serving the daemon at" in proc.stderr.readline()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            env, _ = dm_env_adaptor.create_and_join_world(dm_connection.Connection(channel), packed(SHORT), {})
            assert len(walk(env, 20)) == 1 + SHORT["max_steps"]
            env.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) is not None
