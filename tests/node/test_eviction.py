"""maxmemory on a real shoal-node: each policy evicts the right keys, noeviction refuses writes with Redis's text,
used_memory stays under the limit while data keeps coming, evicted_keys and the `evicted` event, CONFIG SET of a
lower limit, WATCH, and the MULTI/EXEC rules (compared byte for byte with redis-server).

Limits are set relative to the node's used_memory once flushed (a Python process starts at ~30 MB)."""
from __future__ import annotations

import time

import pytest
import redis

from tests.conftest import start_shoal
from tests.node.eviction_helpers import evicted_keys, resp, send_commands, used_memory, wait_until
from tests.node.helpers import Raw

OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
VALUE = b"v" * 100
MB = 1024 * 1024


@pytest.fixture(scope="module")
def node():
    srv = start_shoal()
    yield srv
    srv.stop()


@pytest.fixture
def r(node):
    c = node.client()
    c.config_set("maxmemory", 0)
    c.config_set("maxmemory-policy", "noeviction")
    c.config_set("notify-keyspace-events", "")
    c.config_set("lfu-log-factor", 10)
    c.flushall()
    c.config_resetstat()
    yield c
    c.config_set("maxmemory", 0)
    c.config_set("maxmemory-policy", "noeviction")
    c.close()


def fill(node, start: int, count: int, prefix: bytes = b"k:", ex: int | None = None) -> None:
    extra = (b"EX", b"%d" % ex) if ex else ()
    send_commands(node, [resp(b"SET", b"%s%d" % (prefix, i), VALUE, *extra) for i in range(start, start + count)])


def settle(r) -> int:
    """Wait until evictions stop (the cron may go on after the command that started them); evicted_keys."""
    last = -1
    n = evicted_keys(r)
    deadline = time.monotonic() + 5
    while n != last and time.monotonic() < deadline:
        time.sleep(0.25)
        last, n = n, evicted_keys(r)
    return n


def limit_above_now(r, extra: int) -> int:
    limit = used_memory(r) + extra
    r.config_set("maxmemory", limit)
    return limit


# --------------------------------------------------------------------------------------------------- noeviction


def test_noeviction_refuses_writes_and_serves_reads(node, r):
    fill(node, 0, 2000)
    r.config_set("maxmemory", used_memory(r) - 50_000)
    raw = Raw(node)
    try:
        assert raw.call("SET", "new", "x") == OOM
        assert raw.call("LPUSH", "l", "x") == OOM
        assert raw.call("GET", "k:1") == b"$100\r\n" + VALUE + b"\r\n"  # reads go on
        assert raw.call("DEL", "k:1") == b":1\r\n"  # and so do commands that free memory
    finally:
        raw.close()
    assert r.dbsize() == 1999 and evicted_keys(r) == 0
    r.config_set("maxmemory", 0)
    assert r.set("new", "x")


def test_oom_and_transactions_match_redis(node, redis_ref):
    """MULTI/EXEC over the limit, byte for byte as redis-server answers (maxmemory 1: both are over it)."""
    def script(srv):
        a, b = Raw(srv), Raw(srv)
        try:
            out = [a.call("SET", "k", "v"), a.call("MULTI"), a.call("SET", "q", "1"), a.call("GET", "k"),
                   b.call("CONFIG", "SET", "maxmemory", "1"),
                   a.call("EXEC"),  # a denyoom command queued: the whole EXEC is refused
                   a.call("SET", "x", "1"), a.call("GET", "k"), a.call("DEL", "nothing"),
                   a.call("MULTI"), a.call("GET", "k"), a.call("EXEC"),  # nothing may be queued while over
                   a.call("MULTI"), a.call("SET", "k", "2"), a.call("DISCARD"),
                   a.call("MULTI"), b.call("CONFIG", "SET", "maxmemory", "0"), a.call("GET", "k"),
                   b.call("CONFIG", "SET", "maxmemory", "1"), a.call("EXEC")]  # EXEC of reads runs
            b.call("CONFIG", "SET", "maxmemory", "0")
            b.call("FLUSHALL")
            return out
        finally:
            a.close()
            b.close()

    c = node.client()
    c.flushall()
    c.close()
    ours, theirs = script(node), script(redis_ref)
    assert ours == theirs
    assert OOM in ours and b"-EXECABORT Transaction discarded because of: OOM command not allowed when used " \
                          b"memory > 'maxmemory'.\r\n" in ours


def test_volatile_policy_without_volatile_keys_refuses_writes(node, r):
    r.config_set("maxmemory-policy", "volatile-lru")
    fill(node, 0, 1000)
    r.config_set("maxmemory", used_memory(r) - 50_000)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("another", "x")
    assert r.dbsize() == 1000 and evicted_keys(r) == 0


# --------------------------------------------------------------------------------------------------- policies


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_volatile_policies_never_evict_persistent_keys(node, r, policy):
    r.config_set("maxmemory-policy", policy)
    fill(node, 0, 2000, prefix=b"keep:")
    limit = limit_above_now(r, 1 * MB)
    fill(node, 0, 12000, prefix=b"vol:", ex=10000)  # about twice what fits
    assert evicted_keys(r) > 3000
    assert r.exists(*[b"keep:%d" % i for i in range(2000)]) == 2000
    assert used_memory(r) <= limit


def test_volatile_ttl_evicts_the_soonest_to_expire_first(node, r):
    r.config_set("maxmemory-policy", "volatile-ttl")
    n = 6000
    # key i expires in 10000 + i seconds; sent in random order so sampling order cannot explain the result
    order = list(range(n))
    __import__("random").Random(7).shuffle(order)
    send_commands(node, [resp(b"SET", b"t:%d" % i, VALUE, b"EX", b"%d" % (10000 + i)) for i in order])
    r.config_set("maxmemory", used_memory(r) - 800 * 1024)  # about a third must go
    settle(r)
    alive = [bool(x) for x in r.execute_command("MGET", *[b"t:%d" % i for i in range(n)])]
    fifth = n // 5
    soonest = sum(alive[:fifth]) / fifth
    latest = sum(alive[-fifth:]) / fifth
    assert 0 < evicted_keys(r) < n
    assert soonest < 0.2 and latest > 0.95, (soonest, latest)


def test_allkeys_lru_keeps_the_keys_being_read(node, r):
    r.config_set("maxmemory-policy", "allkeys-lru")
    fill(node, 0, 10000)
    limit = limit_above_now(r, 50 * 1024)
    time.sleep(1.1)  # the LRU clock has a resolution of one second, as Redis's
    hot = [b"k:%d" % i for i in range(0, 10000, 10)]  # 1000 keys
    assert all(r.mget(hot))
    fill(node, 10000, 4000)  # evicts about as many keys: cold ones only, if the approximation is good
    assert evicted_keys(r) > 3000
    survived = sum(1 for v in r.mget(hot) if v)
    cold_alive = sum(1 for v in r.mget([b"k:%d" % i for i in range(10000) if i % 10]) if v)
    assert survived >= 950, survived
    assert cold_alive < 9000 - 2500
    assert used_memory(r) <= limit


def test_allkeys_lfu_keeps_the_keys_read_often(node, r):
    r.config_set("maxmemory-policy", "allkeys-lfu")
    fill(node, 0, 10000)
    limit = limit_above_now(r, 100 * 1024)
    hot = [b"k:%d" % i for i in range(0, 10000, 10)]
    for _ in range(10):
        r.mget(hot)
    fill(node, 10000, 20000)  # twice what there was
    survived = sum(1 for v in r.mget(hot) if v)
    assert evicted_keys(r) > 15000
    assert survived >= 950, survived
    assert used_memory(r) <= limit


def test_allkeys_random_evicts_persistent_and_volatile_keys(node, r):
    r.config_set("maxmemory-policy", "allkeys-random")
    fill(node, 0, 3000, prefix=b"p:")
    fill(node, 0, 3000, prefix=b"v:", ex=10000)
    r.config_set("maxmemory", used_memory(r) - 300 * 1024)
    settle(r)
    p = r.exists(*[b"p:%d" % i for i in range(3000)])
    v = r.exists(*[b"v:%d" % i for i in range(3000)])
    assert p < 3000 and v < 3000 and 6000 - p - v == evicted_keys(r)


# --------------------------------------------------------------------------------------------------- limits


def test_used_memory_stays_under_the_limit_while_filling(node, r):
    r.config_set("maxmemory-policy", "allkeys-lru")
    limit = limit_above_now(r, 3 * MB)
    worst = 0
    for b in range(0, 40000, 2000):  # about 2.5 times the limit
        fill(node, b, 2000)
        worst = max(worst, used_memory(r) - limit)
    assert worst <= 0
    assert evicted_keys(r) > 15000
    info = r.info("memory")
    assert info["maxmemory"] == limit and info["maxmemory_policy"] == "allkeys-lru"
    assert info["maxmemory_human"].endswith("M")


def test_lowering_maxmemory_evicts_down(node, r):
    r.config_set("maxmemory-policy", "allkeys-random")
    fill(node, 0, 30000)
    limit = used_memory(r) - 3 * MB
    r.config_set("maxmemory", limit)
    # each command evicts for 0.5 ms at most (maxmemory-eviction-tenacity 10); the cron carries on
    assert wait_until(lambda: used_memory(r) <= limit, timeout=5)
    n = settle(r)
    assert n > 5000 and n == 30000 - r.dbsize()


def test_evicted_event_and_counter(node, r):
    r.config_set("maxmemory-policy", "allkeys-random")
    r.config_set("notify-keyspace-events", "Ee")
    fill(node, 0, 3000)
    sub = node.client()
    p = sub.pubsub()
    p.subscribe("__keyevent@0__:evicted")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    r.config_set("maxmemory", used_memory(r) - 100 * 1024)
    n = settle(r)
    assert n > 100
    got = []
    deadline = time.monotonic() + 5
    while len(got) < n and time.monotonic() < deadline:
        m = p.get_message(timeout=1)
        if m and m["type"] == "message":
            got.append(m["data"])
    p.close()
    sub.close()
    assert len(got) == n and len(set(got)) == n
    assert r.exists(*got) == 0 and r.dbsize() == 3000 - n


def test_eviction_breaks_watch(node, r):
    r.config_set("maxmemory-policy", "allkeys-random")
    fill(node, 0, 100)
    pipe = r.pipeline()
    pipe.watch(*[b"k:%d" % i for i in range(100)])
    other = node.client()
    other.config_set("maxmemory", 1)  # everything goes
    assert wait_until(lambda: other.dbsize() == 0)
    other.config_set("maxmemory", 0)
    other.close()
    pipe.multi()
    pipe.get("k:1")
    with pytest.raises(redis.WatchError):
        pipe.execute()


# --------------------------------------------------------------------------------------------------- OBJECT


def test_object_freq_counts_accesses_like_redis(node, redis_ref):
    """lfu-log-factor 0 makes every access count: a new key starts at 5, each GET adds one; OBJECT FREQ itself
    does not count. Same numbers from redis-server."""
    def run(srv):
        c = srv.client()
        try:
            c.flushall()
            c.config_set("maxmemory-policy", "allkeys-lfu")
            c.config_set("lfu-log-factor", 0)
            c.set("k", "v")
            out = [c.object("freq", "k")]
            for _ in range(10):
                c.get("k")
            out.append(c.object("freq", "k"))
            out.append(c.object("freq", "k"))
            c.set("k", "w")  # an overwrite is an access too, and keeps the counter
            out.append(c.object("freq", "k"))
            return out
        finally:
            c.config_set("maxmemory-policy", "noeviction")
            c.config_set("lfu-log-factor", 10)
            c.close()

    ours = run(node)
    assert ours == [5, 15, 15, 16]
    assert ours == run(redis_ref)


def test_object_idletime_follows_reads(node, r):
    r.set("k", "v")
    r.set("other", "v")
    time.sleep(1.1)
    assert r.object("idletime", "k") >= 1
    r.get("k")
    assert r.object("idletime", "k") == 0
    assert r.object("idletime", "other") >= 1  # OBJECT itself touches nothing
    r.lpush("l", "a")
    time.sleep(1.1)
    r.lpush("l", "b")  # an in-place write is an access too
    assert r.object("idletime", "l") == 0
