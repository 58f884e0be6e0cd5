"""Feature-tensor observations computed by the daemon (native/hotpath/features.c) on the
real game: equal to gametap.client.features.encode of the structured world, frame for frame."""
import numpy as np
import pytest

from gametap.client import AgentStream, features
from gametap.v1 import agent_pb2 as apb

from .conftest import lockstep

pytestmark = pytest.mark.game


def test_the_feature_tensor_equals_the_reference_frame_for_frame(client):
    match = client.create_match(lockstep(bots=("Sarge", "Grism", "Major"), seed=11, hold_for_agents=2))
    slots = [apb.SlotSpec(name="full"), apb.SlotSpec(name="pvs", visibility=apb.PVS)]
    try:
        with AgentStream(client, match.id, slots, observation=apb.WORLD_AND_FEATURES) as agents:
            assert agents.feature_size == features.SIZE
            obs = agents.observe()
            compared = with_others = 0
            for step in range(400):
                assert agents.feature_clients == agents.clients
                for row, c in zip(agents.features, agents.feature_clients):
                    assert row.tobytes() == features.encode(agents.views[c], c).tobytes(), (obs.frame, c)
                    compared += 1
                    with_others += bool(row[features.LAYOUT[1][1]])
                obs = agents.step([apb.Action(client=c, forward=1.0, strafe=(-1) ** (step // 30), yaw=(step * 7 + 90 * i) % 360 - 180,
                                              attack=step % 5 == 0) for i, c in enumerate(agents.clients)])
            assert compared == 800 and with_others > 100  # real rows, with other players in them
    finally:
        client.stop_match(match.id)


def test_features_only_observations_carry_no_world(client):
    match = client.create_match(lockstep(bots=("Sarge",), hold_for_agents=1))
    try:
        with AgentStream(client, match.id, [apb.SlotSpec(name="learner")], observation=apb.FEATURES) as agents:
            obs = agents.observe()
            for _ in range(20):
                obs = agents.step([apb.Action(client=agents.clients[0], forward=1.0)])
            assert not obs.HasField("world") and not agents.world.has_state
            assert agents.features.shape == (1, features.SIZE) and agents.features.dtype == np.float32
            assert agents.features[0][features.SELF.index("health")] > 0  # the agent's own health
    finally:
        client.stop_match(match.id)
