"""Vector envs over the real daemon and games: PlayMany, the Gymnasium VectorEnv, the
multi-agent vector, asynchronous stepping, flat actions, autoreset, seeds and warm resets."""
from __future__ import annotations

import queue

import grpc
import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gametap.client import features
from gametap.client.envs import ENV_ID, MatchSpec, MultiAgentVectorEnv, OpenArenaEnv, OpenArenaVectorEnv
from gametap.client.vector import VectorPlay
from gametap.client.world import World
from gametap.testing import wait_until
from gametap.v1 import agent_pb2 as apb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import observe_pb2 as opb

from .conftest import lockstep, wait_ended

pytestmark = pytest.mark.game
BOTS = (("Grism", 2, 0), ("Sarge", 2, 0))


@pytest.fixture
def spec(daemon):
    return MatchSpec(server=daemon.grpc, bots=BOTS, frames_per_step=2, max_steps=40)


def _join(match_id: str, name: str = "vec") -> apb.JoinRequest:
    return apb.JoinRequest(match_id=match_id, slots=[apb.SlotSpec(name=name)], observation=apb.FEATURES)


def _rows(n: int, forward: float = 1.0) -> np.ndarray:
    rows = np.zeros((n, 1, apb.ACTION_ROW_SIZE), np.float32)
    rows[:, :, 0] = forward
    return rows


def test_play_many_carries_several_matches_and_their_features_match_the_world(client):
    ids = [client.create_match(lockstep(bots=("Grism", "Sarge"), seed=11 + i, hold_for_agents=1,
                                        end_when_agents_leave=True)).id for i in range(3)]
    play = VectorPlay(client)
    try:
        play.send(joins=[(10 + i, _join(m)) for i, m in enumerate(ids)])
        first = play.recv()
        assert not first.errors and sorted(first.joined) == [10, 11, 12]
        assert all(first.joined[k].feature_size == features.SIZE for k in first.joined)
        frames = {k: o.frame for k, o in first.observations.items()}
        for _ in range(30):
            play.send(act=[10, 11, 12], rows=_rows(3))
            result = play.recv()
            assert sorted(result.observations) == [10, 11, 12]
            for k, obs in result.observations.items():
                assert obs.frame == frames[k] + 1  # one frame per step, every match
                frames[k] = obs.frame
        # Each match waits for its member's next action: its state is the observed frame.
        for key, match_id in zip((10, 11, 12), ids):
            world = World()
            world.apply(opb.WorldUpdate(keyframe=client.get_state(match_id)))
            obs = result.observations[key]
            assert world.frame == obs.frame
            client_number = first.joined[key].clients[0]
            np.testing.assert_array_equal(np.frombuffer(obs.features, np.float32),
                                          features.encode(world, client_number))
        play.send(leaves=[10, 11, 12])
        assert play.recv().errors == {}
    finally:
        play.close()
    for match_id in ids:  # end_when_agents_leave: the leave ended them
        assert wait_ended(client, match_id, timeout=30).status == mpb.STOPPED


def test_play_many_member_errors_leave_the_stream_going(client):
    realtime = client.create_match(mpb.MatchConfig(clock=mpb.REALTIME)).id
    ok = client.create_match(lockstep(bots=("Grism",), seed=5, hold_for_agents=1, end_when_agents_leave=True)).id
    play = VectorPlay(client)
    try:
        play.send(joins=[(1, _join(ok)), (2, _join(realtime))])
        result = play.recv()
        assert sorted(result.joined) == [1]
        assert result.errors[2].code == 9 and "REALTIME" in result.errors[2].message  # FAILED_PRECONDITION
        play.send(act=[1], rows=_rows(1))
        assert list(play.recv().observations) == [1]
        play.send(joins=[(1, _join(ok, "again"))])  # the key is taken
        assert "on this stream already" in play.recv().errors[1].message
        play.send(act=[1], rows=_rows(1))  # the stream still steps member 1
        assert list(play.recv().observations) == [1]
    finally:
        play.close()
        client.stop_match(realtime)


BAD_REQUESTS = {  # a request that cannot be read, or names no member to blame: it ends the stream
    "random bytes": b"\xff\xfe\x01garbage",
    "truncated": apb.VectorRequest(act=[1], action_rows=[0.0] * 7).SerializeToString()[:-5],
    "rows for no member": apb.VectorRequest(action_rows=[0.0] * 7).SerializeToString(),
}
MEMBER_ERRORS = {  # a member's error in the response; the stream goes on
    # the request's rows do not fit its members (issue 20, defect 9: these ended the whole stream)
    "too few rows": (apb.VectorRequest(act=[1], action_rows=[0.5] * 3), "action_rows: 3 values; member 1 takes 7 (1 slot)"),
    "too many rows": (apb.VectorRequest(act=[1], action_rows=[0.0] * 7000), "7000 values; member 1 takes 7"),
    "actions and rows": (apb.VectorRequest(act=[1], action_rows=[0.0] * 7, actions=[apb.ActionBatch()]), "not both"),
    "rows out of range": (apb.VectorRequest(act=[1], action_rows=[5.0] + [0.0] * 6), "action_rows[0].forward: 5.0 is outside -1..1"),
    "unknown member": (apb.VectorRequest(leaves=[7]), "member 7 is not on this stream"),
    "unknown match": (apb.VectorRequest(joins=[apb.MemberJoin(member=2, join=_join("0123456789ab"))]),
                      "is not run by this worker"),
}


def _joined_stream(client, match_id: str):
    requests = queue.SimpleQueue()
    requests.put(apb.VectorRequest(joins=[apb.MemberJoin(member=1, join=_join(match_id))]).SerializeToString())
    channel = grpc.insecure_channel(client.worker_of(match_id))
    call = channel.stream_stream("/gametap.v1.AgentService/PlayMany")(iter(requests.get, None))
    first = apb.VectorResponse.FromString(next(call))
    assert list(first.members) == [1], first.errors
    return channel, requests, call


def test_play_many_bad_input(client):
    match_id = client.create_match(lockstep(bots=("Grism",), seed=6, hold_for_agents=1)).id
    channel, requests, call = _joined_stream(client, match_id)
    with channel:
        for what, (request, message) in MEMBER_ERRORS.items():
            requests.put(request.SerializeToString())
            (error,) = apb.VectorResponse.FromString(next(call)).errors
            assert error.code == 3 and message in error.message or error.code == 5 and what == "unknown match", what
        requests.put(apb.VectorRequest(act=[1], action_rows=[1.0] + [0.0] * 6).SerializeToString())
        assert list(apb.VectorResponse.FromString(next(call)).members) == [1]  # member 1 still steps
        requests.put(None)
    client.stop_match(match_id)
    for what, data in BAD_REQUESTS.items():  # each ends its stream; its match carries on
        match_id = client.create_match(lockstep(bots=("Grism",), seed=6, hold_for_agents=1)).id
        channel, requests, call = _joined_stream(client, match_id)
        with channel:
            requests.put(data)
            with pytest.raises(grpc.RpcError) as e:
                next(call)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, what
        assert client.get_match(match_id).status == mpb.RUNNING, what
        client.stop_match(match_id)


def test_vector_env_by_id_steps_batches_and_autoresets_next_step(spec, client):
    env = gymnasium.make_vec(ENV_ID, num_envs=2, spec=spec, action_format="box", max_steps=5)
    env = gymnasium.wrappers.vector.RecordEpisodeStatistics(env)  # Gymnasium's own bookkeeping of episodes
    try:
        assert env.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
        assert env.num_envs == 2 and env.single_action_space.shape == (6,)
        obs, info = env.reset(seed=3)
        assert env.observation_space.contains(obs) and obs.shape == (2, features.SIZE)
        assert info["_match_id"].all() and len(set(info["match_id"])) == 2
        first_ids = list(info["match_id"])
        assert [url.rpartition("/")[2] for url in info["viewer_url"]] == first_ids  # http://HOST:PORT/#/match/ID
        assert all(url.startswith("http://127.0.0.1:") for url in info["viewer_url"])
        for step in range(1, 6):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs)
            assert reward.shape == (2,) and reward.dtype == np.float32
            assert terminated.dtype == bool and truncated.dtype == bool
            assert list(info["episode_step"]) == [step, step]
        assert truncated.all() and not terminated.any()  # max_steps
        assert list(info["episode"]["l"]) == [5, 5] and info["_episode"].all()
        assert list(info["match_id"]) == first_ids
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert not (terminated | truncated).any() and (reward == 0).all()  # the next episode's first step
        assert list(info["episode_step"]) == [0, 0]
        assert set(info["match_id"]).isdisjoint(first_ids)
        for match_id in first_ids:  # the old episodes' matches ended when their agents left
            assert wait_ended(client, match_id, timeout=30).status == mpb.STOPPED
        assert len(env.unwrapped.reset_seconds) == 2
        assert env.unwrapped.num_envs == 2
    finally:
        env.close()


def _episode_trace(spec, seed: int, steps: int = 25) -> np.ndarray:
    env = OpenArenaVectorEnv(2, spec, action_format="multidiscrete", max_steps=10)
    try:
        trace = [env.reset(seed=seed)[0]]
        actions = np.tile(np.array([2, 1, 1, 3, 2, 1]), (2, 1))
        for _ in range(steps):  # across two autoresets
            trace.append(env.step(actions)[0])
        return np.stack(trace)
    finally:
        env.close()


def test_same_seeds_replay_the_same_episodes(spec):
    a, b = _episode_trace(spec, 21), _episode_trace(spec, 21)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[1:, 0], a[1:, 1])  # two sub-envs: two different episodes


def test_async_send_recv_returns_batches_of_ready_envs(spec):
    env = OpenArenaVectorEnv(4, spec, batch_size=2, action_format="box")
    try:
        env.async_reset(seed=4)
        steps = np.zeros(4, int)
        for _ in range(40):
            obs, reward, terminated, truncated, info = env.recv()
            ids = info["env_id"]
            assert obs.shape == (2, features.SIZE) and len(set(ids)) == 2
            assert (info["episode_step"] == steps[ids]).all()  # each result is that env's next step
            env.send(np.zeros((2, 6), np.float32), ids)
            steps[ids] += 1
        assert (steps >= 5).all()  # every env keeps being stepped
        with pytest.raises(RuntimeError, match="in flight"):
            env.send(np.zeros((4, 6), np.float32))  # some of them are still on their way
    finally:
        env.close()


def test_multi_agent_vector_masks_an_agent_that_leaves(spec, client):
    env = MultiAgentVectorEnv(2, 2, spec, action_format="box", max_steps=200)
    try:
        obs, info = env.reset(seed=8)
        assert obs.shape == (2, 2, features.SIZE) and info["active"].all()
        kicked = env._vec.subs[1].clients[0]
        client.run_command(info["match_id"][1], f"clientkick {kicked}")
        saw_leave = False
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(np.zeros((2, 2, 6), np.float32))
            assert reward.shape == (2, 2) and terminated.shape == (2, 2)
            if terminated[1, 0]:
                saw_leave = True
                assert not info["active"][1, 0] and info["active"][1, 1] and info["active"][0].all()
            if saw_leave:
                assert not info["active"][1, 0]
                assert (obs[1, 0] == 0).all() and obs[1, 1].any()
                assert not terminated[1, 1] and not terminated[0].any()
        assert saw_leave
    finally:
        env.close()


def test_flat_sub_env_passes_gymnasium_and_sb3_checks(spec):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    for action_format in ("box", "multidiscrete"):
        with OpenArenaEnv(MatchSpec(**{**spec.__dict__, "action_format": action_format})) as env:
            check_env(env, skip_render_check=True)
            sb3_check_env(env)
    with OpenArenaEnv(MatchSpec(**{**spec.__dict__, "action_format": "box", "max_steps": 500})) as env:
        model = PPO("MlpPolicy", env, n_steps=500, batch_size=100, n_epochs=1, seed=1, device="cpu")
        model.learn(total_timesteps=2000)
        assert model.num_timesteps >= 2000


KILLED_TRAINER = """
import sys, numpy as np
from gametap.client.envs import MatchSpec, OpenArenaVectorEnv
env = OpenArenaVectorEnv(2, MatchSpec(server=sys.argv[1], bots=(("Grism", 1, 0),), action_format="box",
                                      agent_wait_s=3))
obs, info = env.reset(seed=1)
print(" ".join(info["match_id"]), flush=True)
while True:
    env.step(np.zeros((2, 6), np.float32))
"""


def test_a_killed_training_process_leaves_no_match_running(daemon, client, tmp_path):
    import subprocess
    import sys
    script = tmp_path / "trainer.py"
    script.write_text(KILLED_TRAINER)
    before = {m.id for m in client.list_matches()}
    proc = subprocess.Popen([sys.executable, str(script), daemon.grpc], stdout=subprocess.PIPE, text=True)
    try:
        match_ids = proc.stdout.readline().split()
        assert len(match_ids) == 2
        # the next episodes' matches are created in the background: kill once both exist
        wait_until(lambda: len({m.id for m in client.list_matches()} - before) == 4, 30, "the two warm matches")
        proc.kill()  # mid-episode, no goodbye
    finally:
        proc.kill()
        proc.wait(10)
    for match_id in match_ids:  # end_when_agents_leave (the envs set it): the lost streams end them
        ended = wait_ended(client, match_id, timeout=30)
        assert ended.status == mpb.STOPPED, (ended.failure, list(ended.log_tail))
    warm = {m.id for m in client.list_matches()} - before - set(match_ids)
    assert len(warm) == 2  # the next episodes' matches, which no agent ever joined: agent_wait_s ends them
    for match_id in warm:
        assert wait_ended(client, match_id, timeout=30).status == mpb.STOPPED


def _error_then_a_step(requests, call, request: apb.VectorRequest) -> tuple[list, apb.VectorResponse]:
    """Sends a bad request and then a good step for member 1: (the bad one's errors, the step's response)."""
    requests.put(request.SerializeToString())
    errors = list(apb.VectorResponse.FromString(next(call)).errors)
    requests.put(apb.VectorRequest(act=[1], action_rows=[0.0] * 7).SerializeToString())
    return errors, apb.VectorResponse.FromString(next(call))


@pytest.mark.parametrize("column", range(apb.ACTION_ROW_SIZE))
def test_play_many_refuses_nan_and_inf_in_every_column(client, column):
    """Issue 20, defect 9: NaN was taken in the attack column (NaN > 0.5 is false: no fire)."""
    match_id = client.create_match(lockstep(bots=("Grism",), seed=6, hold_for_agents=1)).id
    channel, requests, call = _joined_stream(client, match_id)
    with channel:
        for bad in (float("nan"), float("inf"), float("-inf")):
            row = [0.0] * apb.ACTION_ROW_SIZE
            row[column] = bad
            errors, step = _error_then_a_step(requests, call, apb.VectorRequest(act=[1], action_rows=row))
            assert [(e.member, e.code) for e in errors] == [(1, 3)] and "action_rows[0]." in errors[0].message, errors
            assert list(step.members) == [1]  # the member still steps
        requests.put(None)
    client.stop_match(match_id)


def test_play_many_takes_an_action_batch_only_for_the_observation_it_answers(client):
    """Issue 20, defect 9: ActionBatch.frame = 0 and past frames were taken silently (the step then
    waited out the action timeout)."""
    match_id = client.create_match(lockstep(bots=("Grism",), seed=6, hold_for_agents=1)).id
    channel, requests, call = _joined_stream(client, match_id)
    first = None
    with channel:
        requests.put(apb.VectorRequest(act=[1], action_rows=[0.0] * 7).SerializeToString())
        first = apb.VectorResponse.FromString(next(call))
        frame = first.observations[0].frame
        for bad in (0, frame - 1, frame + 1):
            errors, step = _error_then_a_step(requests, call, apb.VectorRequest(act=[1], actions=[apb.ActionBatch(frame=bad)]))
            assert [(e.member, e.code) for e in errors] == [(1, 3)], (bad, errors)
            assert errors[0].message.startswith("frame:") and f"the observation it answers is frame {frame}" in errors[0].message
            assert list(step.members) == [1] and step.observations[0].frame == frame + 1  # it stepped once, now
            frame += 1
        requests.put(apb.VectorRequest(act=[1], actions=[apb.ActionBatch(frame=frame)]).SerializeToString())
        assert apb.VectorResponse.FromString(next(call)).observations[0].frame == frame + 1
        requests.put(None)
    client.stop_match(match_id)


def test_play_many_rows_that_do_not_fit_fail_every_member_named_and_none_acts(client):
    """Rows are laid out member after member: if their count is not what the members named take,
    no member's rows can be told apart, so every one of them fails and none acts; the stream goes on."""
    pending = [client.create_match_later(lockstep(bots=("Grism",), seed=6 + i, hold_for_agents=1),
                                         placement_group="rows") for i in range(2)]
    ids = [p.result().id for p in pending]
    channel, requests, call = _joined_stream(client, ids[0])
    with channel:
        requests.put(apb.VectorRequest(joins=[apb.MemberJoin(member=2, join=_join(ids[1]))]).SerializeToString())
        assert list(apb.VectorResponse.FromString(next(call)).members) == [2]
        requests.put(apb.VectorRequest(act=[1, 2], action_rows=[0.0] * 14).SerializeToString())
        frames = dict(zip(*(lambda r: (r.members, [o.frame for o in r.observations]))(
            apb.VectorResponse.FromString(next(call)))))
        requests.put(apb.VectorRequest(act=[1, 2], action_rows=[0.0] * 13).SerializeToString())
        bad = apb.VectorResponse.FromString(next(call))
        assert sorted(e.member for e in bad.errors) == [1, 2] and not bad.members, bad
        assert all(e.code == 3 and "action_rows: 13 values; members [1, 2] take 14" in e.message for e in bad.errors)
        requests.put(apb.VectorRequest(act=[1, 2], action_rows=[0.0] * 14).SerializeToString())
        step = apb.VectorResponse.FromString(next(call))  # neither acted: each steps once now
        assert dict(zip(step.members, [o.frame for o in step.observations])) == {k: f + 1 for k, f in frames.items()}
        requests.put(None)
    for match_id in ids:
        client.stop_match(match_id)
