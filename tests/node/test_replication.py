"""Replication (issue 7, the protocol part): Shoal and Debian's redis-server replicating from each other in every
direction, partial resynchronisation after a dropped link, WAIT, min-replicas-to-write, REPLICAOF NO ONE (PSYNC2).

Datasets are compared by a full dump of every key of every database (type, value, whether it has a TTL): DEBUG
DIGEST is Redis's exact digest only for strings.
"""
from __future__ import annotations

import random
import socket
import time

import pytest
import redis

from tests.conftest import start_redis, start_shoal, wait_for

DBS = (0, 3)


def link_up(c) -> bool:
    return c.info("replication").get("master_link_status") == "up"


def dump(srv) -> dict:
    out = {}
    for dbid in DBS:
        c = srv.client(db=dbid)
        try:
            for k in sorted(c.keys("*")):
                t = c.type(k).decode()
                if t == "string":
                    v = c.get(k)
                elif t == "list":
                    v = c.lrange(k, 0, -1)
                elif t == "hash":
                    v = sorted(c.hgetall(k).items())
                elif t == "set":
                    v = sorted(c.smembers(k))
                elif t == "zset":
                    v = c.zrange(k, 0, -1, withscores=True)
                elif t == "stream":
                    v = c.xrange(k)
                else:
                    v = None
                out[(dbid, k)] = (t, v, c.pttl(k) > 0)
        finally:
            c.close()
    return out


def write_load(srv, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    clients = {dbid: srv.client(db=dbid) for dbid in DBS}
    try:
        for i in range(n):
            c = clients[rnd.choice(DBS)]
            k = f"k{rnd.randrange(40)}"
            op = rnd.randrange(10)
            c.delete(f"{k}:s", f"{k}:l", f"{k}:h", f"{k}:z", f"{k}:t", f"{k}:x") if op == 9 else None
            if op == 0:
                c.set(f"{k}:s", f"v{i}")
            elif op == 1:
                c.rpush(f"{k}:l", i, i + 1)
                c.lpop(f"{k}:l")
            elif op == 2:
                c.hset(f"{k}:h", mapping={f"f{i % 5}": i})
            elif op == 3:
                c.zadd(f"{k}:z", {f"m{i % 7}": i / 3})
            elif op == 4:
                c.sadd(f"{k}:t", i % 11)
                c.srem(f"{k}:t", (i + 3) % 11)
            elif op == 5:
                c.xadd(f"{k}:x", {"i": i})
            elif op == 6:
                c.incrby("counter", i)
                c.expire("counter", 1000)
            elif op == 7:
                p = c.pipeline(transaction=True)
                p.set(f"{k}:s", i).incr(f"{k}:n").expire(f"{k}:n", 500)
                p.execute()
            elif op == 8:
                c.set(f"{k}:e", i, px=50)  # expires during the run: the primary's DEL must reach the replica
    finally:
        for c in clients.values():
            c.close()


def wait_same(primary, replica, timeout: float = 15.0) -> None:
    pc = primary.client()
    try:
        pc.execute_command("WAIT", 1, 5000)
    finally:
        pc.close()
    time.sleep(0.2)  # keys with a 50 ms TTL have been expired (and DEL propagated) by then

    def same():
        a, b = dump(primary), dump(replica)
        return a == b and a

    wait_for(same, timeout, "identical datasets")


@pytest.fixture
def procs():
    started = []

    def start(kind, *args):
        p = (start_shoal if kind == "shoal" else start_redis)(*args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_shoal_primary_shoal_replica(procs):
    p = procs("shoal")
    p.client().set("before", "sync")
    r = procs("shoal")
    rc = r.client()
    assert rc.execute_command("REPLICAOF", "127.0.0.1", p.port) == b"OK"
    assert rc.execute_command("REPLICAOF", "127.0.0.1", p.port) == b"OK Already connected to specified master"
    wait_for(lambda: link_up(rc), what="link up")
    write_load(p, 1500)
    wait_same(p, r)
    info = rc.info("replication")
    assert info["role"] == "slave" and info["master_port"] == p.port and info["master_sync_in_progress"] == 0
    pinfo = p.client().info("replication")
    assert pinfo["connected_slaves"] == 1 and pinfo["slave0"]["state"] == "online"
    assert info["master_replid"] == pinfo["master_replid"]
    wait_for(lambda: rc.info("replication")["slave_repl_offset"] == p.client().info("replication")[
        "master_repl_offset"], what="equal offsets")
    role = rc.execute_command("ROLE")
    assert role[0] == b"slave" and role[2] == p.port and role[3] == b"connected"
    prole = p.client().execute_command("ROLE")
    assert prole[0] == b"master" and len(prole[2]) == 1
    with pytest.raises(redis.exceptions.ReadOnlyError):
        rc.set("x", 1)


def test_real_redis_replicates_from_shoal(procs):
    p = procs("shoal")
    write_load(p, 300, seed=1)
    r = procs("redis", "--replicaof", "127.0.0.1", str(p.port))
    rc = r.client()
    wait_for(lambda: link_up(rc), what="redis link up")
    write_load(p, 1500, seed=2)
    wait_same(p, r)
    assert p.client().info("replication")["connected_slaves"] == 1


def test_shoal_replicates_from_real_redis(procs):
    p = procs("redis", "--repl-diskless-sync-delay", "0")
    write_load(p, 300, seed=3)
    r = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    rc = r.client()
    wait_for(lambda: link_up(rc), what="shoal link up")
    write_load(p, 1500, seed=4)
    wait_same(p, r)
    # and the link drops: partial resynchronisation from Redis's backlog
    p.client().execute_command("CLIENT", "KILL", "TYPE", "replica")
    p.client().set("after", "kill")
    wait_for(lambda: rc.get("after") == b"kill", what="write after the drop")
    assert p.client().info("stats")["sync_partial_ok"] == 1


def test_partial_resync_after_link_drop(procs):
    p = procs("shoal")
    r = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    rc, pc = r.client(), p.client()
    wait_for(lambda: link_up(rc), what="link up")
    write_load(p, 300, seed=5)
    assert pc.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
    write_load(p, 300, seed=6)  # while the link is down: these come from the backlog
    wait_for(lambda: link_up(rc), what="link up again")
    wait_same(p, r)
    stats = pc.info("stats")
    assert stats["sync_partial_ok"] == 1 and stats["sync_full"] == 1


def test_promotion_keeps_history_for_siblings(procs):
    p = procs("shoal")
    r1 = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    r2 = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    c1, c2 = r1.client(), r2.client()
    wait_for(lambda: link_up(c1) and link_up(c2), what="links up")
    write_load(p, 200, seed=8)
    wait_same(p, r1)
    wait_same(p, r2)
    old_id = c1.info("replication")["master_replid"]
    p.stop()
    assert c1.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    info = c1.info("replication")
    assert info["role"] == "master" and info["master_replid2"] == old_id
    assert info["second_repl_offset"] == info["master_repl_offset"] + 1
    c2.execute_command("REPLICAOF", "127.0.0.1", r1.port)
    wait_for(lambda: link_up(c2), what="sibling link up")
    c1.set("new", "primary")
    wait_for(lambda: c2.get("new") == b"primary", what="write on the new primary")
    assert c1.info("stats")["sync_partial_ok"] == 1 and c1.info("stats")["sync_full"] == 0


def test_wait(procs):
    p = procs("shoal")
    pc = p.client()
    pc.set("a", 1)
    assert pc.execute_command("WAIT", 0, 0) == 0
    t0 = time.time()
    assert pc.execute_command("WAIT", 1, 300) == 0  # no replica: times out
    assert time.time() - t0 >= 0.25
    r = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    wait_for(lambda: link_up(r.client()), what="link up")
    pc.set("b", 2)
    t0 = time.time()
    assert pc.execute_command("WAIT", 1, 5000) == 1
    assert time.time() - t0 < 1.0  # answered by the GETACK, not by the once-a-second ACK
    with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica instances"):
        r.client().execute_command("WAIT", 1, 0)


def test_min_replicas_to_write(procs):
    p = procs("shoal", "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
    pc = p.client()
    with pytest.raises(redis.ResponseError, match="NOREPLICAS Not enough good replicas to write."):
        pc.set("a", 1)
    assert pc.get("a") is None  # reads go on
    r = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    wait_for(lambda: link_up(r.client()), what="link up")
    assert pc.set("a", 1)
    wait_for(lambda: r.client().get("a") == b"1", what="replicated write")
    r.stop()
    wait_for(lambda: pc.info("replication")["connected_slaves"] == 0, what="replica gone")
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
        pc.set("a", 2)


def test_chained_replicas(procs):
    # primary → Shoal replica → (real Redis, Shoal) sub-replicas: the middle one relays its primary's stream
    p = procs("shoal")
    write_load(p, 200, seed=9)
    mid = procs("shoal", "--replicaof", "127.0.0.1", str(p.port))
    wait_for(lambda: link_up(mid.client()), what="middle link up")
    p.client(db=3).set("in-db-3", "before the sub-replicas")  # the relayed stream is left in db 3
    wait_for(lambda: mid.client(db=3).get("in-db-3"), what="write in db 3")
    subs = [procs("redis", "--replicaof", "127.0.0.1", str(mid.port)),
            procs("shoal", "--replicaof", "127.0.0.1", str(mid.port))]
    for s in subs:
        wait_for(lambda: link_up(s.client()), what="sub-replica link up")
    write_load(p, 800, seed=10)
    wait_same(p, mid)
    for s in subs:
        wait_for(lambda: dump(s) == dump(p), what="identical sub-replica")


def test_stale_data_refused_while_link_down(procs):
    from tests.conftest import free_port
    r = procs("shoal", "--replica-serve-stale-data", "no")
    rc = r.client()
    rc.set("k", "v")
    rc.execute_command("REPLICAOF", "127.0.0.1", free_port())  # nobody there: the link stays down
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        s.sendall(b"GET k\r\n")
        assert s.recv(200) == b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    assert rc.info("replication")["master_link_status"] == "down"  # INFO is a `stale` command
    assert rc.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    assert rc.get("k") == b"v"  # a primary again, the data kept
