"""A blocking client for the daemon's gRPC services."""
from __future__ import annotations

from collections.abc import Iterator

from gametap.client import auth
from gametap.q3.v1 import world_pb2 as wpb
from gametap.v1 import match_pb2 as mpb
from gametap.v1 import match_pb2_grpc, observe_pb2_grpc
from gametap.v1 import observe_pb2 as opb

DEFAULT_ADDRESS = "127.0.0.1:50051"


class Client:
    def __init__(self, address: str = DEFAULT_ADDRESS, timeout_s: float = 60.0, token: str | None = None):
        self.address = address
        self.timeout_s = timeout_s
        self.channel = auth.channel(address, token)  # token: $GAMETAP_TOKEN when not given
        self.matches = match_pb2_grpc.MatchServiceStub(self.channel)
        self.observe = observe_pb2_grpc.ObserveServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def create_match(self, config: mpb.MatchConfig) -> mpb.Match:
        return self.matches.CreateMatch(mpb.CreateMatchRequest(config=config), timeout=self.timeout_s)

    def list_matches(self) -> list[mpb.Match]:
        return list(self.matches.ListMatches(mpb.ListMatchesRequest(), timeout=self.timeout_s).matches)

    def get_match(self, match_id: str) -> mpb.Match:
        return self.matches.GetMatch(mpb.GetMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def stop_match(self, match_id: str) -> mpb.Match:
        return self.matches.StopMatch(mpb.StopMatchRequest(match_id=match_id), timeout=self.timeout_s)

    def run_command(self, match_id: str, command: str) -> str:
        req = mpb.RunCommandRequest(match_id=match_id, command=command)
        return self.matches.RunCommand(req, timeout=self.timeout_s).output

    def get_state(self, match_id: str) -> wpb.WorldState:
        return self.observe.GetState(opb.GetStateRequest(match_id=match_id), timeout=self.timeout_s).state

    def watch(self, match_id: str, max_batch: int = 1, from_frame: int = 0) -> Iterator[opb.WorldUpdate]:
        """Every update of a match, in order, until it ends (a keyframe first). from_frame > 0
        starts at that past frame, replayed from the match's recording."""
        for response in self.observe.Watch(opb.WatchRequest(match_id=match_id, max_batch=max_batch, from_frame=from_frame)):
            yield from response.updates
