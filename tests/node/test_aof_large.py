"""One million keys through the AOF: a rewrite without the RDB preamble (the slowest base to write and to load,
one command per key) and a restart, timed against redis-server loading the very same directory."""
from __future__ import annotations

import os
import random
import tempfile
import time

import redis

from tests.conftest import start_redis, start_shoal
from tests.node.aof_util import base_path, wait_rewrite_done

N = 1_000_000
AOF = ("--appendonly", "yes", "--auto-aof-rewrite-percentage", "0", "--aof-use-rdb-preamble", "no")


def _timed_start(start, *args, workdir):
    """Start a server and wait until its dataset is loaded (redis-server answers -LOADING meanwhile)."""
    t0 = time.monotonic()
    srv = start(*args, workdir=workdir)
    c = srv.client()
    deadline = t0 + 120
    while True:
        try:
            c.ping()
            break
        except redis.BusyLoadingError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    c.close()
    return srv, time.monotonic() - t0


def test_a_million_keys_rewrite_and_reload():
    wd = tempfile.mkdtemp(prefix="shoal-aof-large-")
    srv = start_shoal(*AOF, "--enable-debug-command", "yes", workdir=wd)
    try:
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", N, "key", 10)
        c.set("key:after-populate", "x", px=3_600_000)
        c.bgrewriteaof()
        wait_rewrite_done(c, 0, timeout=60)
        c.set("key:after-rewrite", "y")
    finally:
        srv.stop()
    assert os.path.getsize(base_path(wd)) > 30 * N
    srv, shoal_secs = _timed_start(start_shoal, *AOF, workdir=wd)
    try:
        c = srv.client()
        assert c.dbsize() == N + 2
        for i in random.Random(7).sample(range(N), 50):
            assert c.get(f"key:{i}") == f"value:{i}".encode()[:10].ljust(10, b"\0")
        assert c.pttl("key:after-populate") > 0 and c.get("key:after-rewrite") == b"y"
        sample = {f"key:{i}": c.get(f"key:{i}") for i in (0, 1, N - 1)}
    finally:
        srv.stop()
    ref, redis_secs = _timed_start(start_redis, *AOF, "--dir", wd, workdir=wd)
    try:
        r = ref.client()
        assert r.dbsize() == N + 2
        assert {k: r.get(k) for k in sample} == sample
    finally:
        ref.stop()
    print(f"\n1M keys AOF (commands base) start-up: shoal {shoal_secs:.2f}s, redis {redis_secs:.2f}s "
          f"({shoal_secs / redis_secs:.1f}x)")
    assert shoal_secs < 60
