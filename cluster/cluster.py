"""`Cluster`: the one object cluster mode hangs off, reachable from commands as `state.cluster`.

It joins the pieces the composition root (main.py) builds: the view (gossip/view.py), nodes.conf
(config_file.py), the bus (gossip/bus.py), and the client-facing addresses of nodes. Rooms talk through it rather
than to each other: CLUSTER MEET asks `cluster.bus`, routing asks `cluster.view` and `cluster.endpoint`.
"""
from __future__ import annotations

import logging

from shoal.gossip.view import ClusterView, NodeRecord

log = logging.getLogger("shoal.node")


class Cluster:
    def __init__(self, state, view: ClusterView, config_file=None) -> None:
        self.state = state
        self.config = state.config
        self.view = view
        self.config_file = config_file  # ConfigFile: saves nodes.conf (None in unit tests)
        self.bus = None  # gossip.bus.Bus once started

    # ---------------------------------------------------------------- addresses

    def endpoint(self, node: NodeRecord) -> tuple[str, int]:
        """Where clients reach `node` (the host and port in MOVED/ASK and CLUSTER SLOTS/SHARDS), following
        `cluster-preferred-endpoint-type`: its IP, or its hostname ("?" when it has none), or nothing."""
        kind = self.config["cluster-preferred-endpoint-type"]
        if kind == "unknown-endpoint":
            return "", node.port  # Redis: "-MOVED 14 :30001", the client reuses the host it connected to
        if kind == "hostname":
            return (node.hostname or "?"), node.port
        return node.ip, node.port

    def endpoint_text(self, node: NodeRecord) -> str:
        host, port = self.endpoint(node)
        return f"{host}:{port}"

    # ---------------------------------------------------------------- persistence of the view

    def save_config(self, *, force: bool = False) -> None:
        """Write nodes.conf if the view changed (or `force`); a node that cannot save its view stops, as Redis."""
        if self.config_file is None or not (self.view.dirty or force):
            return
        # fsynced every time (about 0.6 ms here): a node must never come back with an epoch or a slot map older
        # than what it already told its peers
        self.config_file.save(self.view.config_text())
        self.view.dirty = False
