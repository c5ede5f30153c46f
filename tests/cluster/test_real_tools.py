"""Redis's own tools and clients, unmodified, against local clusters of shoal-node processes:
`redis-cli --cluster create|check|reshard|rebalance|add-node|del-node|fix`, `redis-cli -c`, redis-py's
RedisCluster (sync and asyncio) and `redis-benchmark --cluster`.
"""
from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from shoal.cluster.slots import key_slot
from tests.cluster.conftest import create_cluster, redis_cli, start_cluster_node, start_cluster_nodes, \
    wait_cluster_ok


def addr(srv) -> str:
    return f"127.0.0.1:{srv.port}"


def node_id(srv) -> str:
    return srv.client().execute_command("CLUSTER", "MYID").decode()


def first_slot_of(srv) -> int:
    for start, _end, primary, *_replicas in srv.client().execute_command("CLUSTER", "SLOTS"):
        if int(primary[1]) == srv.port:
            return int(start)
    raise AssertionError(f"node {srv.port} owns no slot")


def check_ok(srv) -> str:
    out = redis_cli("--cluster", "check", addr(srv))
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "[OK] All 16384 slots covered." in text, text
    assert "[ERR]" not in text and "[WARNING]" not in text, text
    return text


def slots_of(srv) -> int:
    info = srv.client().execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else info
    return int(re.search(r"cluster_slots_assigned:(\d+)", text).group(1))


def test_create_and_check(cluster3):
    text = check_ok(cluster3[0])
    assert text.count("M: ") == 3
    for s in cluster3:
        nodes = s.client().execute_command("CLUSTER", "NODES").decode().splitlines()
        assert len(nodes) == 3 and all(" connected" in line for line in nodes)


def test_redis_cli_follows_moved(cluster3):
    for i in range(50):
        out = redis_cli("-c", "-p", str(cluster3[0].port), "SET", f"key:{i}", f"v{i}")
        assert out.stdout.strip() == "OK", out.stdout + out.stderr
    for s in cluster3:
        for i in range(50):
            out = redis_cli("-c", "-p", str(s.port), "GET", f"key:{i}")
            assert out.stdout.strip() == f"v{i}"


def test_redis_py_cluster_client_every_slot(cluster3):
    rc = RedisCluster(host="127.0.0.1", port=cluster3[0].port)
    try:
        # one key per slot: every slot of the cluster is reachable through the client's routing
        keys = {}
        i = 0
        while len(keys) < 16384 and i < 400_000:
            k = f"k{i}"
            keys.setdefault(rc.keyslot(k), k)
            i += 1
        assert len(keys) == 16384
        pipe = rc.pipeline()
        for slot, k in keys.items():
            pipe.set(k, slot)
        assert all(pipe.execute())
        pipe = rc.pipeline()
        for k in keys.values():
            pipe.get(k)
        assert [int(v) for v in pipe.execute()] == list(keys)
        # hash tags keep multi-key commands in one slot
        rc.mset({"{user1}.name": "ann", "{user1}.age": "7"})
        assert rc.mget("{user1}.name", "{user1}.age") == [b"ann", b"7"]
        with pytest.raises(redis.ResponseError, match="^Keys in request don't hash to the same slot$"):  # -CROSSSLOT
            cluster3[0].client().execute_command("MSET", "a", "1", "b", "2")
    finally:
        rc.close()


def test_asyncio_cluster_client(cluster3):
    async def run():
        rc = AsyncRedisCluster(host="127.0.0.1", port=cluster3[1].port)
        try:
            for i in range(200):
                await rc.set(f"a:{i}", i)
            values = [await rc.get(f"a:{i}") for i in range(200)]
            assert values == [str(i).encode() for i in range(200)]
        finally:
            await rc.aclose()
    asyncio.run(run())


class Writer(threading.Thread):
    """Writes unique keys through RedisCluster until stopped; records what was acknowledged and any error."""

    def __init__(self, port: int, seconds: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.deadline = time.time() + seconds
        self.stop = threading.Event()
        self.acked: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        rc = RedisCluster(host="127.0.0.1", port=self.port)
        try:
            i = 0
            while not self.stop.is_set() and time.time() < self.deadline and i < 200_000:
                k = f"w:{i}"
                try:
                    rc.set(k, i)
                    self.acked.append(k)
                except redis.RedisError as e:
                    self.errors.append(f"{k}: {e!r}")
                i += 1
        finally:
            rc.close()


def test_reshard_1000_slots_under_a_writer(cluster3):
    src, dst = cluster3[0], cluster3[1]
    writer = Writer(src.port)
    writer.start()
    try:
        time.sleep(0.5)
        out = redis_cli("--cluster", "reshard", addr(src), "--cluster-from", node_id(src), "--cluster-to",
                        node_id(dst), "--cluster-slots", "1000", "--cluster-yes", timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.errors == []
    assert len(writer.acked) > 100
    check_ok(src)
    rc = RedisCluster(host="127.0.0.1", port=dst.port)
    try:
        values = []
        for i in range(0, len(writer.acked), 500):
            pipe = rc.pipeline()
            for k in writer.acked[i:i + 500]:
                pipe.get(k)
            values += pipe.execute()
        assert all(v == k.split(":")[1].encode() for k, v in zip(writer.acked, values))
    finally:
        rc.close()
    assert abs(slots_of(dst) - 16384) == 0  # every node still sees all slots assigned


def test_add_node_rebalance_and_del_node(cluster3):
    new = start_cluster_node()
    try:
        out = redis_cli("--cluster", "add-node", addr(new), addr(cluster3[0]))
        assert out.returncode == 0, out.stdout + out.stderr
        wait_cluster_ok([*cluster3, new])
        rc = RedisCluster(host="127.0.0.1", port=cluster3[0].port)
        for i in range(300):
            rc.set(f"r:{i}", i)
        out = redis_cli("--cluster", "rebalance", addr(cluster3[0]), "--cluster-use-empty-masters", timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr
        assert new.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", 0) >= 0
        check_ok(cluster3[0])
        assert all(rc.get(f"r:{i}") == str(i).encode() for i in range(300))
        # a node that owns slots cannot be removed; move them away first
        out = redis_cli("--cluster", "del-node", addr(cluster3[0]), node_id(new))
        assert out.returncode != 0 or "is not empty" in out.stdout
        out = redis_cli("--cluster", "reshard", addr(cluster3[0]), "--cluster-from", node_id(new),
                        "--cluster-to", node_id(cluster3[0]), "--cluster-slots", "16384", "--cluster-yes",
                        timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr
        out = redis_cli("--cluster", "del-node", addr(cluster3[0]), node_id(new))
        assert out.returncode == 0, out.stdout + out.stderr
        check_ok(cluster3[0])
        assert all(rc.get(f"r:{i}") == str(i).encode() for i in range(300))
        rc.close()
    finally:
        new.stop()


def test_fix_closes_a_half_migrated_slot(cluster3):
    a, b = cluster3[0], cluster3[1]
    ca, cb = a.client(), b.client()
    slot = first_slot_of(a)
    key = next(f"f{i}" for i in range(1_000_000) if key_slot(f"f{i}".encode()) == slot)
    ca.set(key, "kept")
    assert cb.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(a))
    assert ca.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(b))
    out = redis_cli("--cluster", "check", addr(a))
    assert "open slot" in (out.stdout + out.stderr).lower() or out.returncode != 0
    out = redis_cli("--cluster", "fix", addr(a), "--cluster-yes", timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    check_ok(a)
    rc = RedisCluster(host="127.0.0.1", port=a.port)
    assert rc.get(key) == b"kept"
    rc.close()


def test_redis_benchmark_cluster(cluster3):
    exe = "redis-benchmark"
    import shutil
    import subprocess
    if shutil.which(exe) is None:
        pytest.skip("redis-benchmark is not installed")
    out = subprocess.run([exe, "--cluster", "-p", str(cluster3[0].port), "-t", "set,get", "-n", "20000", "-c", "20",
                          "-q"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"SET: [\d.]+ requests per second", out.stdout), out.stdout
    assert re.search(r"GET: [\d.]+ requests per second", out.stdout), out.stdout


def test_a_node_restarts_with_its_identity(cluster3):
    s = cluster3[2]
    before = node_id(s)
    slots = slots_of(s)
    s.stop()
    again = start_cluster_node(workdir=s.workdir, port=s.port, cport=s.cport)
    try:
        assert node_id(again) == before
        assert slots_of(again) == slots
        wait_cluster_ok([cluster3[0], cluster3[1], again])
    finally:
        again.stop()


def test_six_nodes_start_and_stop_cleanly():
    nodes = start_cluster_nodes(6)
    try:
        create_cluster(nodes[:3])
        for i, n in enumerate(nodes[3:], 4):
            out = redis_cli("--cluster", "add-node", addr(n), addr(nodes[0]))
            assert out.returncode == 0, out.stdout + out.stderr
            wait_cluster_ok(nodes[:i])  # add-node checks that every node agrees before adding the next one
        check_ok(nodes[0])
    finally:
        for s in nodes:
            s.stop()
