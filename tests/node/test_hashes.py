"""Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY
HINCRBYFLOAT HRANDFIELD HSCAN.

Exact replies and error texts are in the differential corpus (tests/differential/cases/hashes.txt); here are what it
cannot check: HRANDFIELD's random picks (by their properties), HSCAN's guarantee while the hash changes between
calls, the CVE-2023-25155 counts (bounded time and memory), the value class itself, keyspace events / dirty /
propagation (in-process, as redis-server 7.0.15 publishes them) and the per-operation time on a 1M-field hash.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from shoal.node.types.hash import HashValue
from tests.node.helpers import assert_each_change_breaks_watch


# ------------------------------------------------------------------ the value class


def test_order_is_insertion_order_across_updates_and_deletes():
    h = HashValue()
    for f, v in ((b"c", b"3"), (b"a", b"1"), (b"b", b"2")):
        assert h.set(f, v)
    assert not h.set(b"a", b"10")
    assert h.delete(b"c") and not h.delete(b"c")
    h.set(b"c", b"30")
    assert h.items() == [(b"a", b"10"), (b"b", b"2"), (b"c", b"30")]
    assert list(h) == h.fields() == [b"a", b"b", b"c"]
    assert h.values() == [b"10", b"2", b"30"]


def test_conversions_are_one_way():
    h = HashValue()
    h.set(b"a", b"1")
    h.convert_if_too_long([b"a", b"12345"], 5)
    assert h.encoding() == "listpack"
    h.convert_if_too_long([b"a", b"123456"], 5)
    assert h.encoding() == "hashtable"
    h.delete(b"a")
    assert h.encoding() == "hashtable"
    g = HashValue()
    g.set(b"a", b"1")
    g.set(b"b", b"1")
    g.convert_if_too_many(2)
    assert g.encoding() == "listpack"
    g.set(b"c", b"1")
    g.convert_if_too_many(2)
    assert g.encoding() == "hashtable"


def test_copy_and_memory_usage():
    h = HashValue()
    sizes = []
    for i in range(40):
        h.set(b"f%d" % i, b"v" * i)
        sizes.append(h.memory_usage())
    assert sizes == sorted(sizes)
    d = h.copy()
    d.set(b"new", b"1")
    assert b"new" not in h and len(d) == len(h) + 1
    assert h.memory_usage() == h.copy().memory_usage()


# ------------------------------------------------------------------ over a socket


def test_hset_hget_hgetall(r):
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", "a", "3") == 0
    assert r.hget("h", "a") == b"3"
    assert r.hgetall("h") == {b"a": b"3", b"b": b"2"}
    assert r.hlen("h") == 2
    assert r.hdel("h", "a", "b") == 2
    assert r.exists("h") == 0


def test_resp3_hgetall_is_a_map(r3):
    r3.hset("h", mapping={"x": "1", "y": "2"})
    assert r3.hgetall("h") == {b"x": b"1", b"y": b"2"}
    assert r3.hrandfield("h", 5, withvalues=True) == [[b"x", b"1"], [b"y", b"2"]]


def test_hincrbyfloat_formats_as_redis(r):
    assert r.hincrbyfloat("h", "f", 10.5) == 10.5
    r.hincrbyfloat("h", "f", "0.1")
    assert r.hget("h", "f") == b"10.6"
    r.hincrbyfloat("h", "g", "1e17")
    assert r.hget("h", "g") == b"100000000000000000"
    r.hincrbyfloat("h", "g", "0.1")
    assert r.hget("h", "g") == b"100000000000000000.1015625"  # as redis-server 7.0.15 answers
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match="hash value is not a float"):
        r.hincrbyfloat("h", "s", 1)


def test_hrandfield_properties(r):
    fields = {b"f%d" % i: b"v%d" % i for i in range(20)}
    r.hset("h", mapping=fields)
    for count in (1, 5, 19):
        got = r.hrandfield("h", count)
        assert len(got) == count and len(set(got)) == count and set(got) <= set(fields)
        # distinct picks come back in the hash's (insertion) order, as from Redis's listpack
        assert got == [f for f in fields if f in set(got)]
    assert r.hrandfield("h", 20) == list(fields)
    pairs = r.hrandfield("h", 7, withvalues=True)
    assert len(pairs) == 14
    assert all(fields[f] == v for f, v in zip(pairs[::2], pairs[1::2]))
    got = r.hrandfield("h", -300, withvalues=True)
    assert len(got) == 600 and all(fields[f] == v for f, v in zip(got[::2], got[1::2]))
    assert r.hrandfield("h") in fields
    assert r.hlen("h") == 20


@pytest.mark.parametrize("entries", [512, 4], ids=["listpack", "hashtable"])
def test_hrandfield_distribution(r, entries):
    r.config_set("hash-max-listpack-entries", entries)
    try:
        r.hset("h", mapping={b"f%d" % i: i for i in range(10)})
        assert r.object("encoding", "h") == (b"listpack" if entries == 512 else b"hashtable")
        counts = Counter(r.hrandfield("h", -20000))
        assert len(counts) == 10
        # each field expected 2000 times; 1500..2500 is more than 10 standard deviations wide
        assert all(1500 < n < 2500 for n in counts.values()), counts
    finally:
        r.config_set("hash-max-listpack-entries", 512)


def test_hrandfield_after_many_deletes(r):
    r.hset("h", mapping={b"f%d" % i: i for i in range(1000)})
    r.hdel("h", *[b"f%d" % i for i in range(1, 1000)])
    assert r.hrandfield("h", -50) == [b"f0"] * 50
    assert r.hrandfield("h") == b"f0"


def test_cve_2023_25155_counts_answer_at_once(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    start = time.monotonic()
    with pytest.raises(redis.ResponseError, match="value must between"):
        r.hrandfield("h", -9223372036854775808)
    with pytest.raises(redis.ResponseError, match="^value is out of range$"):
        r.hrandfield("h", -9223372036854775807, withvalues=True)
    # Redis 7.0.15 accepts these and then writes forever; here they are refused
    with pytest.raises(redis.ResponseError, match="value is out of range"):
        r.hrandfield("h", -9223372036854775807)
    with pytest.raises(redis.ResponseError, match="value is out of range"):
        r.hrandfield("h", -4611686018427387903, withvalues=True)
    assert r.hrandfield("nokey", -9223372036854775807) == []
    assert len(r.hrandfield("h", 9223372036854775807)) == 2
    assert time.monotonic() - start < 2
    assert r.ping()


def _full_hscan(r, key, count, between=None):
    cursor, seen, calls = 0, {}, 0
    while True:
        cursor, items = r.hscan(key, cursor, count=count)
        seen.update(items)
        calls += 1
        assert calls < 10000
        if between:
            between(calls)
        if cursor == 0:
            return seen, calls


def test_hscan_listpack_in_one_call(r):
    fields = {b"f%d" % i: b"%d" % i for i in range(100)}
    r.hset("h", mapping=fields)
    seen, calls = _full_hscan(r, "h", 3)
    assert calls == 1 and seen == fields


def test_hscan_hashtable_steps_and_returns_everything(r):
    fields = {b"f%d" % i: b"%d" % i for i in range(2000)}
    r.hset("h", mapping=fields)
    assert r.object("encoding", "h") == b"hashtable"
    seen, calls = _full_hscan(r, "h", 10)
    assert calls > 10 and seen == fields


def test_hscan_guarantee_under_changes(r):
    """Every field present for the whole scan is returned, with its value, while others come and go."""
    stable = {b"stable%d" % i: b"s%d" % i for i in range(600)}
    churn = [b"churn%d" % i for i in range(3000)]
    r.hset("h", mapping={**stable, **{c: b"x" for c in churn[:1000]}})
    state = {"next": 1000}

    def mutate(call):
        lo = (call - 1) * 40
        r.hdel("h", *churn[lo:lo + 40])
        n = state["next"]
        if n < len(churn):
            r.hset("h", mapping={c: b"y" for c in churn[n:n + 20]})
            state["next"] = n + 20

    seen, _ = _full_hscan(r, "h", 20, mutate)
    assert all(seen.get(f) == v for f, v in stable.items())


def test_hscan_match_on_hashtable(r):
    r.hset("h", mapping={**{b"a%d" % i: 1 for i in range(600)}, **{b"b%d" % i: 2 for i in range(600)}})
    cursor, seen, calls = 0, {}, 0
    while True:
        cursor, items = r.hscan("h", cursor, match="a*", count=50)
        seen.update(items)
        calls += 1
        if cursor == 0 or calls > 1000:
            break
    assert set(seen) == {b"a%d" % i for i in range(600)}


def test_watch_sees_in_place_changes(shoal, r):
    r.hset("h", "a", "1")
    assert_each_change_breaks_watch(shoal, r, "h", (
        lambda o: o.hset("h", "b", "2"), lambda o: o.hdel("h", "b"), lambda o: o.hincrby("h", "a", 1),
        lambda o: o.hincrbyfloat("h", "a", 0.5), lambda o: o.hsetnx("h", "c", "1")), lambda p, k: p.hlen(k))


# ------------------------------------------------------------------ events, dirty, propagation, in-process


def test_events_as_redis_publishes_them(node):
    # sequences recorded from redis-server 7.0.15 with notify-keyspace-events KEA
    expect = [
        (("hset", "h", "a", "1", "b", "2"), [("hset", b"h")]),
        (("hset", "h", "a", "1"), [("hset", b"h")]),
        (("hsetnx", "h", "a", "1"), []),
        (("hsetnx", "h", "c", "1"), [("hset", b"h")]),
        (("hincrby", "h", "c", "1"), [("hincrby", b"h")]),
        (("hincrbyfloat", "h", "c", "1.5"), [("hincrbyfloat", b"h")]),
        (("hdel", "h", "zz"), []),
        (("hdel", "h", "a", "b"), [("hdel", b"h")]),
        (("hdel", "h", "c"), [("hdel", b"h"), ("del", b"h")]),
        (("hmset", "h", "x", "1"), [("hset", b"h")]),
        (("hincrby", "h2", "c", "1"), [("hincrby", b"h2")]),
        (("hincrby", "h2", "c", "x"), []),
    ]
    for argv, events in expect:
        node(*argv)
        assert node.take() == events, argv


def test_new_key_event_comes_first(node):
    node.state.notify_flags = "KEAn"
    node("hset", "h", "a", "1")
    assert node.take() == [("new", b"h"), ("hset", b"h")]


def test_dirty_counts(node):
    st = node.state
    d = st.dirty
    node("hset", "h", "a", "1", "b", "2", "a", "3")
    assert st.dirty - d == 3  # Redis counts every pair given
    d = st.dirty
    node("hsetnx", "h", "a", "9")
    node("hdel", "h", "zz")
    node("hincrby", "h", "a", "x")
    assert st.dirty == d
    node("hdel", "h", "a", "b")
    assert st.dirty - d == 2


def test_hincrbyfloat_propagates_its_result(node):
    node("hincrbyfloat", "h", "f", "10.5")
    node("hincrbyfloat", "h", "f", "0.1")
    assert node.propagated == [[b"HSET", b"h", b"f", b"10.5"], [b"HSET", b"h", b"f", b"10.6"]]


# ------------------------------------------------------------------ large hashes


def _per_op_seconds(r, key: str, ops: int) -> float:
    """Mean seconds per pipelined HSET + HGET + HEXISTS + HINCRBY + HRANDFIELD + HDEL round on `key`."""
    p = r.pipeline(transaction=False)
    start = time.perf_counter()
    for i in range(ops):
        f = b"x%d" % i
        p.hset(key, f, b"v")
        p.hget(key, f)
        p.hexists(key, f)
        p.hdel(key, f)
        p.hincrby(key, f, 1)
        p.hrandfield(key)
        p.hdel(key, f)
    p.execute()
    return (time.perf_counter() - start) / ops


def test_one_million_fields_stay_fast(r):
    """Per-operation time on a 1M-field hash stays within 5x of a 1k-field one. Every operation measured is O(1)
    in Redis (HSET HGET HEXISTS HDEL HINCRBY HRANDFIELD on a hashtable) and here (dict + slot table); 5x leaves
    room for cache misses and noise, while an O(n) slip would show as 100x or more."""
    r.hset("small", mapping={b"s%d" % i: b"v" for i in range(1000)})
    batch = 100000
    for start in range(0, 1000000, batch):
        args = []
        for i in range(start, start + batch):
            args += (b"f%d" % i, b"v")
        r.execute_command("HSET", "big", *args)
    assert r.hlen("big") == 1000000
    ops = 2000
    _per_op_seconds(r, "small", 200)
    t_small = _per_op_seconds(r, "small", ops)
    t_big = _per_op_seconds(r, "big", ops)
    assert t_big < 5 * t_small, (t_small, t_big)
    start = time.perf_counter()
    cursor = 0
    for _ in range(50):
        cursor, items = r.hscan("big", cursor, count=100)
        assert len(items) == 100
    assert time.perf_counter() - start < 1.0
    r.delete("big")
