"""gametap on Ray (the optional extra gametap[ray]): a fleet of daemons, one per node.

    import ray
    from gametap.ray import Fleet
    ray.init()                       # or ray.init(address="auto") on a cluster
    fleet = Fleet(cpus_per_match=1)
    m = fleet.create_match(MatchConfig(...))   # on the least-loaded node; m.grpc is its daemon
    fleet.list_matches(); fleet.stop_match(m.id); fleet.shutdown()

Nothing else in gametap imports this package, so the rest runs without Ray installed.
"""
from gametap.ray.fleet import Fleet, FleetError, FleetMatch, NoCapacity
from gametap.ray.node import NAMESPACE, GametapNode, actor_name, local_daemon_address

__all__ = ["NAMESPACE", "Fleet", "FleetError", "FleetMatch", "GametapNode", "NoCapacity", "actor_name", "local_daemon_address"]
