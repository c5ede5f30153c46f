"""Cluster mode's start-up: nodes.conf (locked, loaded or created), the view, the per-slot key index, the router,
the bus, and the wiring between them. Called by the composition root (main.py) when `cluster-enabled yes`.

Order matters as in Redis's clusterInit: the configuration file is claimed before anything else, so two nodes
pointed at one nodes.conf cannot both start; the view is ready before the dataset loads, so keys land in the
slot index as they arrive.
"""
from __future__ import annotations

import logging

from shoal.gossip.view import ClusterView, ConfigFileError, NodeRecord, random_node_id

from .cluster import Cluster

log = logging.getLogger("shoal.node")


def bus_port(config, port: int) -> int:
    return config["cluster-port"] or port + 10000


def build_cluster(state, port: int) -> Cluster:
    """Raises SystemExit(1) (logged) when nodes.conf is in use by another node or cannot be read."""
    from .config_file import ConfigFile, ConfigFileLockedError
    from .routing import install_router, update_cluster_state
    from shoal.node.keyspace import enable_slot_index

    config = state.config
    cfile = ConfigFile(config["cluster-config-file"])
    try:
        cfile.lock()
        view = cfile.load()
    except ConfigFileLockedError as e:
        log.warning("%s", e)
        raise SystemExit(1) from None
    except ConfigFileError as e:
        log.warning("%s", e)
        raise SystemExit(1) from None
    if view is None:
        myself = NodeRecord(id=random_node_id())
        view = ClusterView(myself)
        log.info("No cluster configuration found, I'm %s", myself.id)
    else:
        log.info("Node configuration loaded, I'm %.40s", view.myself.id)
    me = view.myself
    # addresses follow this start's options, whatever the file said (Redis: clusterUpdateMyselfAnnouncedPorts)
    me.port = config["cluster-announce-port"] or port
    me.cport = config["cluster-announce-bus-port"] or bus_port(config, port)
    me.hostname = config["cluster-announce-hostname"]
    if config["cluster-announce-ip"]:
        me.ip = config["cluster-announce-ip"]
    view.dirty = True
    cluster = Cluster(state, view, cfile)
    state.cluster = cluster
    enable_slot_index(state.keyspace.dbs[0])
    install_router(state, cluster)
    update_cluster_state(view, config)
    cluster.save_config()
    return cluster


def start_bus(cluster: Cluster, state):
    """The bus object, wired to the node: PUBLISH/SPUBLISH go to the peers, PUBLISH from peers reaches local
    subscribers only (never forwarded again), and every change of the view is saved and re-evaluated."""
    from shoal.gossip.bus import Bus
    from shoal.node.pubsub import PubSub
    from .routing import update_cluster_state

    config = state.config
    pubsub = PubSub.of(state)

    def on_view_change() -> None:
        update_cluster_state(cluster.view, config)
        cluster.save_config()

    def on_publish(channel: bytes, message: bytes, shard: bool) -> None:
        if shard:
            pubsub.spublish(channel, message)
        else:
            pubsub.publish(channel, message)

    bus = Bus(cluster.view, config, on_publish=on_publish, on_view_change=on_view_change)
    pubsub.on_publish = bus.publish
    cluster.bus = bus
    return bus
