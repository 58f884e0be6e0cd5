"""Fleet: gametap matches across a Ray cluster.

One GametapNode actor per node owns that node's daemon. A match is placed this way:
1. the fleet picks the node with the most free CPUs;
2. it reserves the match's CPUs there as a one-bundle placement group, so Ray's own accounting
   knows what the games use and other Ray work packs around them;
3. it creates the match through that node's actor.
When the reservation cannot be placed (other Ray work holds the CPUs), the next node is tried.

A node whose actor dies or restarts, or that leaves the cluster, fails its matches with the
reason. Ray restarts the actor while the node lives, and new matches go to the nodes that
answer. The fleet learns all this when it next syncs, which every call does first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import ray
from ray.util import placement_group, remove_placement_group
from ray.util.placement_group import PlacementGroup
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from gametap.client.sync import ENDED
from gametap.ray.node import NAMESPACE, GametapNode, actor_name
from gametap.v1 import match_pb2 as mpb

logger = logging.getLogger(__name__)

NODE_ID_LABEL = "ray.io/node-id"  # the label Ray gives every node: pins a reservation to one


class FleetError(RuntimeError):
    """A fleet call that could not be carried out; the message says why."""


class NoCapacity(FleetError):
    """No node could take a match of that size."""


@dataclass(frozen=True)
class FleetMatch:
    """A match as the fleet last saw it."""
    id: str
    node_id: str
    node_ip: str
    grpc: str     # the node's daemon, on that node's loopback: agents there connect to it
    cpus: float
    status: int   # mpb.MatchStatus
    failure: str = ""
    match: mpb.Match | None = None  # the node's last report


@dataclass
class _Node:
    node_id: str
    actor: object
    cpus: float
    info: dict = field(default_factory=dict)  # GametapNode.describe(), empty while unreachable
    problem: str = ""                         # why it is unreachable


@dataclass
class _Entry:
    match: FleetMatch
    incarnation: str
    reservation: PlacementGroup | None


class Fleet:
    """Needs ray.init() first. cpus_per_match: what each match reserves unless create_match says
    otherwise. serve_args: extra `gametap serve` options for every node's daemon."""

    def __init__(self, cpus_per_match: float = 1.0, serve_args: tuple[str, ...] = (),
                 placement_timeout_s: float = 10.0, call_timeout_s: float = 120.0):
        if not ray.is_initialized():
            raise FleetError("ray.init() first: the fleet runs on a Ray cluster")
        self.cpus_per_match = cpus_per_match
        self.serve_args = tuple(serve_args)
        self.placement_timeout_s = placement_timeout_s
        self.call_timeout_s = call_timeout_s
        self._nodes: dict[str, _Node] = {}
        self._matches: dict[str, _Entry] = {}
        self.sync()

    # ---- the cluster ----

    def sync(self) -> list[dict]:
        """A node actor on every live node; the matches of lost or restarted nodes FAILED.
        Returns each node's description: its daemon's address, what runs there, its CPUs and
        those this fleet's matches leave free, and "problem" when it does not answer."""
        alive = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
        for node_id in list(self._nodes):
            if node_id not in alive:
                self._fail_node(node_id, "its node left the Ray cluster")
                del self._nodes[node_id]
        for node_id, n in alive.items():
            if node_id not in self._nodes and n["Resources"].get("CPU", 0) > 0:
                self._nodes[node_id] = _Node(node_id, self._start_actor(node_id), n["Resources"]["CPU"])
        refs = {node_id: node.actor.describe.remote() for node_id, node in self._nodes.items()}
        for node_id, ref in refs.items():
            self._note_description(self._nodes[node_id], ref)
        return [dict(node.info, problem=node.problem, cpus=node.cpus, free_cpus=self._free_cpus(node),
                     node_id=node.node_id) for node in self._nodes.values()]

    def _start_actor(self, node_id: str):
        remote = ray.remote(GametapNode)
        return remote.options(
            name=actor_name(node_id), namespace=NAMESPACE, get_if_exists=True,
            num_cpus=0,  # the daemon's share is small; the matches reserve the games' cores
            max_restarts=-1, max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(self.serve_args)

    def _note_description(self, node: _Node, ref) -> None:
        try:
            info = ray.get(ref, timeout=self.call_timeout_s)
        except Exception as e:  # the actor died, is restarting, or does not answer
            node.info, node.problem = {}, _problem(e)
            self._fail_node(node.node_id, _lost(e))
            return
        if node.info and info["incarnation"] != node.info["incarnation"]:
            self._fail_node(node.node_id, "its gametap node actor was restarted, and the daemon and games with it",
                            spare=info["incarnation"])
        node.info, node.problem = info, ""

    def _fail_node(self, node_id: str, why: str, spare: str = "") -> None:
        """spare: an incarnation whose matches live on (the restarted actor's own)."""
        for entry in self._matches.values():
            m = entry.match
            if m.node_id == node_id and m.status not in ENDED and entry.incarnation != spare:
                reason = f"node {m.node_ip} ({node_id[:12]}) lost the match: {why}"
                logger.warning("match %s FAILED: %s", m.id, reason)
                entry.match = replace(m, status=mpb.FAILED, failure=reason)
                self._release(entry)

    # ---- matches ----

    def create_match(self, config: mpb.MatchConfig, cpus: float | None = None) -> FleetMatch:
        """Starts the match on the least-loaded node that can reserve `cpus` for it."""
        cpus = self.cpus_per_match if cpus is None else cpus
        self.sync()
        tried = []
        for node in self._by_free_cpus():
            free = self._free_cpus(node)
            if free < cpus:
                tried.append(f"{node.info['node_ip']} ({node.node_id[:12]}): {free:g} CPUs free")
                continue
            reservation = placement_group([{"CPU": cpus}], bundle_label_selector=[{NODE_ID_LABEL: node.node_id}])
            if not reservation.wait(self.placement_timeout_s):
                remove_placement_group(reservation)
                tried.append(f"{node.info['node_ip']} ({node.node_id[:12]}): Ray could not reserve {cpus:g} CPUs")
                continue
            try:
                created = mpb.Match.FromString(ray.get(node.actor.create_match.remote(config.SerializeToString()),
                                                       timeout=self.call_timeout_s))
            except Exception as e:
                remove_placement_group(reservation)
                raise FleetError(f"node {node.info['node_ip']} ({node.node_id[:12]}) could not create the match: "
                                 f"{_first_line(e)}") from e
            match = FleetMatch(created.id, node.node_id, node.info["node_ip"], node.info["grpc"], cpus,
                               created.status, created.failure, created)
            self._matches[created.id] = _Entry(match, node.info["incarnation"], reservation)
            return match
        down = [f"{n.node_id[:12]}: {n.problem}" for n in self._nodes.values() if n.problem]
        raise NoCapacity(f"no node can take a match of {cpus:g} CPUs; "
                         + "; ".join(tried + down or ["the cluster has no node with CPUs"]))

    def list_matches(self) -> list[FleetMatch]:
        """Every match this fleet created, as the nodes report them now."""
        self.sync()
        by_node: dict[str, list[_Entry]] = {}
        for entry in self._matches.values():
            if entry.match.status not in ENDED:
                by_node.setdefault(entry.match.node_id, []).append(entry)
        refs = {node_id: self._nodes[node_id].actor.list_matches.remote() for node_id in by_node}
        for node_id, ref in refs.items():
            try:
                reported = {m.id: m for m in map(mpb.Match.FromString, ray.get(ref, timeout=self.call_timeout_s))}
            except Exception as e:
                self._fail_node(node_id, _lost(e))
                continue
            for entry in by_node[node_id]:
                self._update(entry, reported.get(entry.match.id))
        return [e.match for e in self._matches.values()]

    def get_match(self, match_id: str) -> FleetMatch:
        self.list_matches()
        return self._entry(match_id).match

    def stop_match(self, match_id: str) -> FleetMatch:
        entry = self._entry(match_id)
        if entry.match.status not in ENDED:
            node = self._nodes.get(entry.match.node_id)
            try:
                stopped = ray.get(node.actor.stop_match.remote(match_id), timeout=self.call_timeout_s)
                self._update(entry, mpb.Match.FromString(stopped))
            except Exception as e:
                self._fail_node(entry.match.node_id, _lost(e))
        return entry.match

    def shutdown(self) -> None:
        """Stops every match and every node's daemon (recordings stay on the nodes)."""
        for entry in self._matches.values():
            self._release(entry)
        refs = [node.actor.shutdown.remote() for node in self._nodes.values()]
        for ref in refs:
            try:
                ray.get(ref, timeout=self.call_timeout_s)
            except Exception as e:
                logger.warning("a gametap node did not shut down cleanly: %s", _first_line(e))
        for node in self._nodes.values():
            ray.kill(node.actor, no_restart=True)
        self._nodes.clear()

    # ---- helpers ----

    def _entry(self, match_id: str) -> _Entry:
        try:
            return self._matches[match_id]
        except KeyError:
            raise FleetError(f"no match {match_id!r} in this fleet") from None

    def _update(self, entry: _Entry, reported: mpb.Match | None) -> None:
        if reported is None:
            reported = mpb.Match(id=entry.match.id, status=mpb.FAILED,
                                 failure="its node's daemon no longer knows the match")
        entry.match = replace(entry.match, status=reported.status, failure=reported.failure, match=reported)
        if reported.status in ENDED:
            self._release(entry)

    def _release(self, entry: _Entry) -> None:
        if entry.reservation is not None:
            remove_placement_group(entry.reservation)
            entry.reservation = None

    def _free_cpus(self, node: _Node) -> float:
        reserved = sum(e.match.cpus for e in self._matches.values()
                       if e.match.node_id == node.node_id and e.reservation is not None)
        return node.cpus - reserved

    def _by_free_cpus(self) -> list[_Node]:
        reachable = [n for n in self._nodes.values() if n.info]
        return sorted(reachable, key=lambda n: (-self._free_cpus(n), n.info["running"], n.node_id))


def _problem(e: BaseException) -> str:
    return f"{type(e).__name__}: {_first_line(e)}"


def _lost(e: BaseException) -> str:
    """The reason a node's matches fail when a call to its actor raised e."""
    return f"its gametap node actor was lost ({_problem(e)})"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
