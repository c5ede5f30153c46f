"""Support for the AOF tests (tests/node/test_aof*.py): a dataset with every type and the edge cases the AOF
must carry (grown strings, batches beyond 64 elements, infinite scores, streams with groups, consumers and
pending entries, expiries, several databases), a fingerprint that compares two servers' datasets exactly, and
helpers to look at a node's AOF directory.
"""
from __future__ import annotations

import os
import time

import redis

from tests.conftest import wait_for

AOF_DIR = "appendonlydir"
MANIFEST = "appendonly.aof.manifest"


def populate(c: redis.Redis, tag: str = "") -> None:
    """Write one of everything into db 0 and db 5 through client `c` (RESP2, bytes replies)."""
    t = tag
    c.execute_command("SELECT", 0)
    c.set(f"s:plain{t}", "hello world")
    c.set(f"s:int{t}", "12345")
    c.set(f"s:bin{t}", b"a\r\nb\x00c\xff*3\r\n$1\r\n")
    c.set(f"s:big{t}", b"x" * 70000)
    c.append(f"s:grown{t}", "abc")
    c.append(f"s:grown{t}", "def")
    c.setrange(f"s:grown{t}", 10, "zz")
    c.setbit(f"s:bits{t}", 77, 1)
    c.pfadd(f"hll{t}", *[f"e{i}" for i in range(50)])
    c.rpush(f"l:small{t}", "a", "b", "1", "2")
    c.rpush(f"l:big{t}", *[f"item-{i}" for i in range(300)])
    c.lpush(f"l:big{t}", "head")
    c.hset(f"h:small{t}", mapping={"f1": "v1", "f2": "2"})
    c.hset(f"h:big{t}", mapping={f"field{i}": f"value{i}" for i in range(200)})
    c.hset(f"h:longval{t}", mapping={"a": "b" * 100})
    c.sadd(f"set:ints{t}", 1, 2, 3, -7)
    c.sadd(f"set:strs{t}", "x", "y", "z")
    c.sadd(f"set:big{t}", *[f"m{i}" for i in range(500)])
    c.zadd(f"z:small{t}", {"a": 1.5, "b": -2, "c": float("inf"), "d": float("-inf"), "e": 0.1})
    c.zadd(f"z:big{t}", {f"m{i}": i * 1.25 for i in range(200)})
    c.geoadd(f"geo{t}", (13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania"))
    # a stream with a deleted entry, two groups, pending entries, a consumer without any, an acked entry
    s = f"st{t}"
    for i in range(5):
        c.xadd(s, {"n": str(i), "k": "v"}, id=f"{1000 + i}-1")
    c.xadd(s, {"other": "shape"}, id="2000-0")
    c.xdel(s, "1002-1")
    c.xgroup_create(s, "g1", id="0")
    c.xreadgroup("g1", "alice", {s: ">"}, count=3)
    c.xreadgroup("g1", "bob", {s: ">"}, count=1)
    c.xack(s, "g1", "1000-1")
    c.xgroup_createconsumer(s, "g1", "carol")
    c.xgroup_create(s, "g2", id="$")
    # an empty stream that still exists (its entries deleted), with its last id
    c.xadd(f"st:empty{t}", {"a": "1"}, id="5-5")
    c.xdel(f"st:empty{t}", "5-5")
    # expiries, far enough away not to pass during a test
    c.set(f"s:ttl{t}", "v", px=3_600_000)
    c.rpush(f"l:ttl{t}", "x")
    c.pexpireat(f"l:ttl{t}", int(time.time() * 1000) + 7_200_000)
    c.execute_command("SELECT", 5)
    c.set(f"db5:key{t}", "five")
    c.hset(f"db5:h{t}", "f", "v")
    c.execute_command("SELECT", 0)


def _stream_state(c, key) -> dict:
    info = c.execute_command("XINFO", "STREAM", key)
    info = dict(zip(info[0::2], info[1::2]))
    keep = {k: info[k] for k in (b"length", b"last-generated-id", b"max-deleted-entry-id", b"entries-added",
                                 b"recorded-first-entry-id") if k in info}
    groups = []
    for g in c.execute_command("XINFO", "GROUPS", key):
        g = dict(zip(g[0::2], g[1::2]))
        name = g[b"name"]
        consumers = []
        for cons in c.execute_command("XINFO", "CONSUMERS", key, name):
            cons = dict(zip(cons[0::2], cons[1::2]))
            consumers.append((cons[b"name"], cons[b"pending"]))
        pending = [(p[0], p[1], p[3]) for p in c.execute_command("XPENDING", key, name, "-", "+", 1000)]
        groups.append((name, g[b"consumers"], g[b"pending"], g[b"last-delivered-id"], g.get(b"entries-read"),
                       g.get(b"lag"), sorted(consumers), pending))
    return {"info": keep, "entries": c.execute_command("XRANGE", key, "-", "+"), "groups": groups}


def fingerprint(c: redis.Redis, dbs=range(16)) -> dict:
    """Everything observable about the dataset: per db, per key its type, absolute expiry and full value."""
    out = {}
    for db in dbs:
        c.execute_command("SELECT", db)
        keys = sorted(c.execute_command("KEYS", "*"))
        for k in keys:
            t = c.execute_command("TYPE", k)
            t = t.decode() if isinstance(t, bytes) else t
            exp = c.execute_command("PEXPIRETIME", k)
            if t == "string":
                v = c.execute_command("GET", k)
            elif t == "list":
                v = c.execute_command("LRANGE", k, 0, -1)
            elif t == "hash":
                flat = c.execute_command("HGETALL", k)
                v = sorted(zip(flat[0::2], flat[1::2])) if isinstance(flat, list) else sorted(flat.items())
            elif t == "set":
                v = sorted(c.execute_command("SMEMBERS", k))
            elif t == "zset":
                v = c.execute_command("ZRANGE", k, 0, -1, "WITHSCORES")
            elif t == "stream":
                v = _stream_state(c, k)
            else:
                raise AssertionError(f"unexpected type {t} for {k!r}")
            out[(db, k)] = (t, exp, v)
    c.execute_command("SELECT", 0)
    return out


def raw_client(srv) -> redis.Redis:
    """A client whose replies are raw (no redis-py response callbacks), so both servers compare as bytes."""
    c = srv.client()
    c.response_callbacks.clear()
    return c


# --------------------------------------------------------------------------------------------------- files


def aof_dir(srv_or_path) -> str:
    wd = getattr(srv_or_path, "workdir", srv_or_path)
    return os.path.join(wd, AOF_DIR)


def manifest_lines(wd) -> list[str]:
    with open(os.path.join(aof_dir(wd), MANIFEST)) as f:
        return f.read().splitlines()


def manifest_files(wd) -> list[tuple[str, str]]:
    """(file name, type) per manifest line."""
    out = []
    for line in manifest_lines(wd):
        parts = line.split()
        out.append((parts[1], parts[5]))
    return out


def last_incr_path(wd) -> str:
    incrs = [name for name, typ in manifest_files(wd) if typ == "i"]
    return os.path.join(aof_dir(wd), incrs[-1])


def base_path(wd) -> str:
    base = [name for name, typ in manifest_files(wd) if typ == "b"]
    return os.path.join(aof_dir(wd), base[0])




def wait_rewrite_done(c, rewrites_before: int, timeout: float = 20.0) -> dict:
    """Wait until a rewrite started after `rewrites_before` rewrites has finished; returns INFO persistence."""
    def done():
        i = c.info("persistence")
        if i["aof_rewrites"] > rewrites_before and not i["aof_rewrite_in_progress"] \
                and not i["aof_rewrite_scheduled"]:
            return i
        return None
    return wait_for(done, timeout, "the AOF rewrite to finish")
