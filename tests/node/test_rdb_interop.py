"""The RDB format against the real thing (Debian's redis-server 7.0.15 and redis-check-rdb):

* files Shoal writes pass redis-check-rdb, and a redis-server started on them serves the same data as Shoal
  loading the same file (type, value, encoding, TTL, stream metadata);
* files redis-server writes (with its default LZF compression) load into Shoal with the same data;
* access data (IDLE, FREQ) and function libraries cross in both directions;
* a million keys: both directions, timed against redis-server's own SAVE and load (printed; run with -s).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from shoal.node.persistence import rdb
from tests.conftest import start_redis
from tests.node.helpers import Raw
from tests.unit.rdb_builders import Node, describe, fill_every_type, load, save

DBS = (0, 3)  # fill_every_type uses databases 0 and 3
LUA_LIB = b"#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 42 end)"


def check_rdb(path: str) -> str:
    exe = shutil.which("redis-check-rdb")
    if exe is None:
        pytest.skip("redis-check-rdb (Debian's redis-tools) is not installed")
    out = subprocess.run([exe, path], capture_output=True, timeout=120)
    text = (out.stdout + out.stderr).decode("utf-8", "replace")
    assert out.returncode == 0 and "RDB looks OK" in text, text
    return text


def redis_on(data: bytes, *extra: str):
    """A redis-server that loads `data` as its dump file at start."""
    d = tempfile.mkdtemp(prefix="rdb-interop-")
    with open(os.path.join(d, "dump.rdb"), "wb") as f:
        f.write(data)
    return start_redis("--dir", d, "--dbfilename", "dump.rdb", *extra, workdir=d)


def compare(a, b, keys_by_db: dict) -> None:
    """Both sides (callables running one command) show the same data, key by key."""
    for dbid, keys in keys_by_db.items():
        a("SELECT", dbid)
        b("SELECT", dbid)
        assert a("DBSIZE") == b("DBSIZE") == len(keys), dbid
        for key in keys:
            assert describe(a, key) == describe(b, key), key
            ta, tb = a("PTTL", key), b("PTTL", key)
            assert (ta < 0) == (tb < 0) and abs(ta - tb) < 5000, key
    a("SELECT", 0)
    b("SELECT", 0)


def keys_of(node: Node) -> dict:
    return {i: list(node.db(i).data) for i in DBS}


@pytest.fixture
def servers():
    started = []
    yield started
    for s in started:
        s.stop()


# ----------------------------------------------------------------------------------------------------- Shoal → Redis

def test_redis_check_rdb_accepts_every_type(tmp_path):
    a = Node()
    fill_every_type(a)
    path = tmp_path / "shoal.rdb"
    path.write_bytes(save(a))
    text = check_rdb(str(path))
    assert re.search(r"\b%d keys read" % sum(len(a.db(i).data) for i in DBS), text)
    assert "1 expires" in text


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu"])
def test_redis_check_rdb_accepts_access_data_and_functions(tmp_path, policy):
    a = Node(maxmemory_policy=policy)
    fill_every_type(a)
    path = tmp_path / "shoal.rdb"
    path.write_bytes(save(a, functions=[LUA_LIB], aux={"aof-base": 1}))
    check_rdb(str(path))


def test_redis_serves_what_shoal_wrote(servers):
    a = Node()
    fill_every_type(a)
    data = save(a)
    b, _ = load(data)
    # deep sanitization: Redis checks every listpack, intset and stream entry of the file
    srv = redis_on(data, "--sanitize-dump-payload", "yes")
    servers.append(srv)
    raw = Raw(srv)
    compare(b, raw.value, keys_of(a))
    raw.close()


def test_redis_loads_shoal_functions_and_access_data(servers):
    a = Node(maxmemory_policy="allkeys-lru")
    a("SET", "old", "v")
    a("SET", "new", "v")
    a.db().lru[b"old"] -= 1000
    srv = redis_on(save(a, functions=[LUA_LIB]), "--maxmemory-policy", "allkeys-lru")
    servers.append(srv)
    r = Raw(srv)
    assert r.value("FCALL", "myfunc", 0) == 42
    assert 995 <= r.value("OBJECT", "IDLETIME", "old") <= 1010
    assert r.value("OBJECT", "IDLETIME", "new") <= 5
    r.close()

    c = Node(maxmemory_policy="allkeys-lfu")
    c("SET", "hot", "v")
    from shoal.node.eviction import set_key_freq
    set_key_freq(c.db(), b"hot", 99)
    srv = redis_on(save(c), "--maxmemory-policy", "allkeys-lfu")
    servers.append(srv)
    r = Raw(srv)
    assert r.value("OBJECT", "FREQ", "hot") == 99
    r.close()


# ----------------------------------------------------------------------------------------------------- Redis → Shoal

def redis_dump(srv, raw) -> bytes:
    assert raw.value("SAVE") == b"OK"
    with open(os.path.join(srv.workdir, "dump.rdb"), "rb") as f:
        return f.read()


def test_shoal_loads_what_redis_wrote(servers):
    d = tempfile.mkdtemp(prefix="rdb-interop-")
    srv = start_redis("--dir", d, "--dbfilename", "dump.rdb", "--enable-debug-command", "yes", workdir=d)
    servers.append(srv)
    raw = Raw(srv)
    r = raw.value
    fill_every_type(r)
    # what only big or special values produce in Redis: a dense HLL, LZF-compressed strings and listpacks
    # (rdbcompression is on by default), a key that will have expired by the time Shoal loads the file
    r("PFADD", "densehll", *[f"e{i}" for i in range(3000)])
    r("SET", "compressible", "abc" * 1000)
    r("HSET", "lphash", *[x for i in range(50) for x in (f"field{i}", "v" * 40)])
    r("PSETEX", "gone", 200, "v")
    data = redis_dump(srv, raw)
    # compare loaded with loaded: Redis reloads the same file (strings come back embstr, and so on)
    assert r("DEBUG", "RELOAD", "NOSAVE") == b"OK"
    time.sleep(0.25)
    assert r("EXISTS", "gone") == 0
    b, info = load(data)
    assert info.expired_skipped == 1
    assert info.aux["redis-ver"] == b"7.0.15"
    keys = {i: [] for i in DBS}
    for dbid in DBS:
        r("SELECT", dbid)
        cursor = 0
        for _ in range(1000):
            cursor, batch = r("SCAN", cursor, "COUNT", 1000)
            keys[dbid] += batch
            if cursor == b"0":
                break
    r("SELECT", 0)
    compare(r, b, keys)
    assert b("PFCOUNT", "densehll") == r("PFCOUNT", "densehll")
    raw.close()


def test_shoal_reads_redis_access_data(servers):
    for policy, opt, value, read in (("allkeys-lru", "IDLETIME", 500, "IDLETIME"),
                                     ("allkeys-lfu", "FREQ", 77, "FREQ")):
        d = tempfile.mkdtemp(prefix="rdb-interop-")
        srv = start_redis("--dir", d, "--dbfilename", "dump.rdb", "--maxmemory-policy", policy, workdir=d)
        servers.append(srv)
        raw = Raw(srv)
        payload = rdb.dump_payload(b"v")
        assert raw.value("RESTORE", "k", 0, payload, opt, value) == b"OK"
        data = redis_dump(srv, raw)
        raw.close()
        b, _ = load(data, maxmemory_policy=policy)
        got = b("OBJECT", read, "k")
        assert value - 2 <= got <= value + 2, (policy, got)


# ----------------------------------------------------------------------------------------------------- a million keys

def wait_loaded(srv, timeout: float = 60.0) -> None:
    """start_redis returns at the first answer to PING, which is -LOADING while a big file loads."""
    raw = Raw(srv)
    deadline = time.time() + timeout
    while b"\r\nloading:0\r\n" not in raw.value("INFO", "persistence"):
        assert time.time() < deadline, "redis-server still loading"
        time.sleep(0.02)
    raw.close()


def _redis_load_seconds(srv) -> float:
    wait_loaded(srv)
    found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", srv.log())
    assert found, srv.log()
    return float(found[-1])


def test_million_keys_both_ways(servers, capsys):
    n = 1_000_000
    d = tempfile.mkdtemp(prefix="rdb-interop-")
    srv = start_redis("--dir", d, "--dbfilename", "dump.rdb", "--enable-debug-command", "yes", workdir=d)
    servers.append(srv)
    raw = Raw(srv, timeout=120)
    assert raw.value("DEBUG", "POPULATE", n) == b"OK"
    t = time.perf_counter()
    data = redis_dump(srv, raw)
    redis_save = time.perf_counter() - t
    raw.close()
    srv.stop()
    srv = start_redis("--dir", d, "--dbfilename", "dump.rdb", workdir=d)  # Redis loads its own file
    servers.append(srv)
    redis_load = _redis_load_seconds(srv)
    srv.stop()

    node = Node()
    t = time.perf_counter()
    info = rdb.load_rdb(io.BytesIO(data), node.state)
    shoal_load = time.perf_counter() - t
    assert info.keys_loaded == n
    assert node("GET", "key:123456") == b"value:123456"

    t = time.perf_counter()
    out = io.BytesIO()
    rdb.write_rdb(out, node.state)
    shoal_save = time.perf_counter() - t

    srv = redis_on(out.getvalue())  # Redis loads Shoal's file
    servers.append(srv)
    wait_loaded(srv)
    raw = Raw(srv)
    assert raw.value("DBSIZE") == n
    assert raw.value("GET", "key:999999") == b"value:999999"
    raw.close()
    with capsys.disabled():
        print(f"\n1M keys: redis SAVE {redis_save:.2f}s, load {redis_load:.2f}s; shoal save {shoal_save:.2f}s "
              f"({shoal_save / redis_save:.2f}x), load {shoal_load:.2f}s ({shoal_load / max(redis_load, 1e-3):.2f}x)")
    # generous bounds: a regression to per-byte Python work would be far slower than this
    assert shoal_save < 15 and shoal_load < 30
