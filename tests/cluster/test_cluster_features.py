"""Cluster features on real processes beyond what Redis's tools exercise: PUBLISH reaching every node and SPUBLISH
the shard, announced addresses in every address reply, garbage on the bus port, a second node refused on a
locked nodes.conf, and slot migrations interrupted by kill -9 of the source or the target (keys never lost nor
duplicated once `redis-cli --cluster fix` has closed the slot).
"""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest
import redis
from redis.cluster import RedisCluster

from shoal.cluster.slots import key_slot
from tests.cluster.conftest import create_cluster, redis_cli, start_cluster_node, start_cluster_nodes, \
    wait_cluster_ok
from tests.cluster.test_real_tools import check_ok, first_slot_of, node_id


def _messages(pubsub, want: int, timeout: float = 10.0) -> list:
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        m = pubsub.get_message(timeout=0.1)
        if m and m["type"] in ("message", "smessage"):
            got.append(m["data"])
    return got


def test_publish_reaches_subscribers_on_every_node(cluster3):
    subs = []
    for s in cluster3:
        p = s.client().pubsub()
        p.subscribe("news")
        subs.append(p)
    time.sleep(0.2)
    assert cluster3[0].client().publish("news", "hello") == 1  # the local count, as Redis
    for p in subs:
        assert _messages(p, 1) == [b"hello"]
        p.close()


def test_spublish_stays_in_the_shard(cluster3):
    rc = RedisCluster(host="127.0.0.1", port=cluster3[0].port)
    try:
        slot = rc.keyslot("orders")
        owner = next(s for s in cluster3 if s.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
                     and _owns(s, slot))
        p = owner.client().pubsub()
        p.ssubscribe("orders")
        time.sleep(0.1)
        assert owner.client().execute_command("SPUBLISH", "orders", "o1") == 1
        assert _messages(p, 1) == [b"o1"]
        other = next(s for s in cluster3 if s is not owner)
        with pytest.raises(redis.exceptions.MovedError, match=f"^{slot} 127.0.0.1:{owner.port}$"):
            other.client().execute_command("SPUBLISH", "orders", "o2")
        p.close()
    finally:
        rc.close()


def _owns(srv, slot: int) -> bool:
    for start, end, primary, *_ in srv.client().execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return int(primary[1]) == srv.port
    return False


def test_announced_addresses_are_what_clients_see():
    nodes = start_cluster_nodes(3, "--cluster-announce-hostname", "shoal-host",
                                "--cluster-preferred-endpoint-type", "hostname")
    try:
        create_cluster(nodes)
        c = nodes[0].client()
        for start, end, primary, *_ in c.execute_command("CLUSTER", "SLOTS"):
            assert primary[0] == b"shoal-host"
        shards = c.execute_command("CLUSTER", "SHARDS")
        assert shards, shards
        lines = c.execute_command("CLUSTER", "NODES").decode().splitlines()
        assert all(",shoal-host " in line for line in lines), lines
        slot = next(s for s in range(16384) if not _owns(nodes[0], s))
        key = next(f"k{i}" for i in range(1_000_000) if key_slot(f"k{i}".encode()) == slot)
        with pytest.raises(redis.exceptions.MovedError, match=rf"^{slot} shoal-host:\d+$"):
            c.get(key)
    finally:
        for s in nodes:
            s.stop()


def test_announced_ip_and_ports():
    a = start_cluster_node("--cluster-announce-ip", "127.0.0.9", "--cluster-announce-port", "7777",
                           "--cluster-announce-bus-port", "17777")
    try:
        line = a.client().execute_command("CLUSTER", "NODES").decode().split()
        assert line[1] == "127.0.0.9:7777@17777"
    finally:
        a.stop()


def test_garbage_on_the_bus_port_is_dropped(cluster3):
    target = cluster3[0]
    for junk in (b"\x00" * 100, b"GET / HTTP/1.1\r\n\r\n", b"SHBS" + b"\xff" * 64, os.urandom(5000)):
        with socket.create_connection(("127.0.0.1", target.cport), timeout=2) as s:
            s.sendall(junk)
            time.sleep(0.05)
    assert target.alive
    wait_cluster_ok(cluster3)
    assert target.client().ping()


def test_a_locked_nodes_conf_is_refused():
    a = start_cluster_node()
    try:
        with pytest.raises(RuntimeError, match="is already used by a different Redis Cluster node"):
            start_cluster_node(workdir=a.workdir)
        assert a.alive
    finally:
        a.stop()


# --------------------------------------------------------------------------- interrupted migrations

DURABLE = ("--appendonly", "yes", "--appendfsync", "always")


def _keys_for_slot(slot: int, n: int) -> list[str]:
    tag = next(f"{{s{i}}}" for i in range(1_000_000) if key_slot(f"{{s{i}}}".encode()) == slot)
    return [f"{tag}:{j}" for j in range(n)]  # one hash tag: all in the slot


@pytest.mark.parametrize("victim", ["source", "target"])
def test_a_migration_interrupted_by_kill_9_loses_and_duplicates_nothing(victim):
    nodes = start_cluster_nodes(3, *DURABLE)
    try:
        create_cluster(nodes)
        src, dst = nodes[0], nodes[1]
        cs, cd = src.client(), dst.client()
        slot = first_slot_of(src)
        keys = _keys_for_slot(slot, 200)
        for k in keys:
            cs.set(k, k)
        assert cd.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(src))
        assert cs.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(dst))
        # half the keys move, then a node dies
        assert cs.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys[:100]) == b"OK"
        killed = src if victim == "source" else dst
        killed.proc.kill()
        killed.proc.wait(10)
        killed._log.close()
        again = start_cluster_node(*DURABLE, workdir=killed.workdir, port=killed.port, cport=killed.cport)
        nodes[nodes.index(killed)] = again
        wait_cluster_ok(nodes)
        out = redis_cli("--cluster", "fix", f"127.0.0.1:{nodes[2].port}", "--cluster-yes", timeout=120)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr
        check_ok(nodes[2])
        counts = [n.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) for n in nodes]
        assert sum(counts) == len(keys) and max(counts) == len(keys), counts  # one copy, on one node
        rc = RedisCluster(host="127.0.0.1", port=nodes[2].port)
        try:
            assert [rc.get(k) for k in keys] == [k.encode() for k in keys]
        finally:
            rc.close()
    finally:
        for s in nodes:
            s.stop()


def test_sigcont_clears_fail_at_once_for_a_primary_without_slots():
    nodes = start_cluster_nodes(4)
    try:
        create_cluster(nodes[:3])
        out = redis_cli("--cluster", "add-node", f"127.0.0.1:{nodes[3].port}", f"127.0.0.1:{nodes[0].port}")
        assert out.returncode == 0, out.stdout + out.stderr
        wait_cluster_ok(nodes)
        empty = nodes[3]
        eid = node_id(empty)
        os.kill(empty.proc.pid, signal.SIGSTOP)
        try:
            from tests.cluster.test_failure_detection import wait_flag
            wait_flag(nodes[:3], eid, lambda f: "fail" in f, 10)
            for o in nodes[:3]:  # a node without slots failing leaves the cluster serving
                assert "cluster_state:ok" in o.client().execute_command("CLUSTER", "INFO").decode()
        finally:
            os.kill(empty.proc.pid, signal.SIGCONT)
        t = wait_flag(nodes[:3], eid, lambda f: "fail" not in f, 5)
        assert t < 3  # no undo delay for a primary that serves no slot
    finally:
        for s in nodes:
            s.stop()


def test_cluster_secret_keeps_strangers_out():
    nodes = start_cluster_nodes(3, "--cluster-secret", "s3cret")
    stranger = start_cluster_node("--cluster-secret", "other")
    try:
        create_cluster(nodes)  # the nodes that share the secret form the cluster
        sid = node_id(stranger)
        assert nodes[0].client().execute_command("CLUSTER", "MEET", "127.0.0.1", stranger.port, stranger.cport)
        time.sleep(3)  # well past the handshake: a stranger's messages are dropped, so it never joins
        for n in nodes:
            assert sid not in n.client().execute_command("CLUSTER", "NODES").decode()
        assert "cluster_known_nodes:1" in stranger.client().execute_command("CLUSTER", "INFO").decode()
        check_ok(nodes[0])
    finally:
        for s in [*nodes, stranger]:
            s.stop()
