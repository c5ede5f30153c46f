"""DUMP and RESTORE against Debian's redis-server 7.0.15: payloads cross in both directions for every type,
payloads of deterministic encodings are byte-identical, and every option and error answers as Redis does.
Propagation and keyspace events are checked in-process."""
from __future__ import annotations

import time

import pytest

from shoal.node.persistence import rdb
from tests.node.helpers import EventNode, Raw
from tests.unit.rdb_builders import describe, fill_every_type


@pytest.fixture
def both(shoal, redis_ref):
    """Raw connections to a flushed shoal-node and a flushed redis-server."""
    conns = [Raw(shoal), Raw(redis_ref)]
    for c in conns:
        c.call("FLUSHALL")
    yield conns
    for c in conns:
        c.call("CONFIG", "SET", "rdbcompression", "yes")
        c.call("CONFIG", "SET", "sanitize-dump-payload", "no")
        c.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
        c.call("CONFIG", "SET", "hash-max-listpack-entries", "512")
        c.call("CONFIG", "SET", "set-max-intset-entries", "512")
        c.call("CONFIG", "SET", "zset-max-listpack-entries", "128")
        c.call("CONFIG", "SET", "list-max-listpack-size", "-2")
        c.close()


def db0_keys(conn) -> list:
    return sorted(conn.value("KEYS", "*"))


def move_everything(src, dst) -> list:
    """DUMP every key of db 0 on src and RESTORE it (with its TTL) on dst, and on src itself as "copy:<key>"
    (a restored string is embstr where one edited in place was raw, on both servers alike)."""
    keys = db0_keys(src)
    for key in keys:
        payload = src.value("DUMP", key)
        ttl = max(src.value("PTTL", key), 0)
        assert dst.value("RESTORE", key, ttl, payload) == b"OK", key
        assert src.value("RESTORE", b"copy:" + key, ttl, payload) == b"OK", key
    return keys


@pytest.mark.parametrize("direction", ["redis_to_shoal", "shoal_to_redis"])
def test_every_type_crosses(both, direction):
    shoal, redis_ = both
    src, dst = (redis_, shoal) if direction == "redis_to_shoal" else (shoal, redis_)
    dst.call("CONFIG", "SET", "sanitize-dump-payload", "yes")  # Redis then checks every blob deeply
    fill_every_type(src.value)
    src.value("PFADD", "densehll", *[f"e{i}" for i in range(3000)])
    src.value("SET", "compressible", "abc" * 1000)
    keys = move_everything(src, dst)
    assert len(keys) > 20
    for key in keys:
        assert describe(src.value, b"copy:" + key) == describe(dst.value, key), key
        ta, tb = src.value("PTTL", key), dst.value("PTTL", key)
        assert (ta < 0) == (tb < 0) and abs(ta - tb) < 5000, key


@pytest.mark.parametrize("fill", ["-2", "-1", "3", "1"])
def test_payloads_are_byte_identical(both, fill):
    """Where the encoding fixes the order of elements, Shoal's payload is Redis's, byte for byte."""
    for c in both:
        c.call("CONFIG", "SET", "rdbcompression", "no")  # Shoal does not compress: compare plain payloads
        c.call("CONFIG", "SET", "list-max-listpack-size", fill)
    cmds = [
        ("SET", "s", "hello"), ("SET", "i", "-123456"), ("SET", "big", "x" * 5000),
        ("RPUSH", "l", *[f"elem{i}" * (i % 7) for i in range(400)], "y" * 9000, *range(-50, 50)),
        ("HSET", "h", *[x for i in range(100) for x in (f"f{i}", i * 1000)]),
        ("SADD", "is", 1, 5, -70000, 2**40),
        ("ZADD", "zl", 1, "a", 1.5, "b", "-inf", "c", "inf", "d", 1e300, "e", 4611686018427387904, "f"),
        ("ZADD", "zs", *[x for i in range(300) for x in (i / 7, f"m{i}")]),
        ("XADD", "x", "1-1", "a", "1", "b", "two"), ("XADD", "x", "2-0", "a", "3", "b", "four"),
        ("XADD", "x", "3-5", "other", "fields"),
        ("XGROUP", "CREATE", "x", "g", "0"),
    ]
    for c in both:
        for cmd in cmds:
            c.value(*cmd)
    shoal, redis_ = both
    for key in ("s", "i", "big", "l", "h", "is", "zl", "zs", "x"):
        assert shoal.value("DUMP", key) == redis_.value("DUMP", key), key


def test_restore_options(both):
    payload = both[1].value("DUMP", "nokey")
    assert payload is None
    both[1].value("SET", "src", "value")
    payload = both[1].value("DUMP", "src")
    for c in both:
        assert c.call("RESTORE", "k", 0, payload) == b"+OK\r\n"
        assert c.call("RESTORE", "k", 0, payload) == b"-BUSYKEY Target key name already exists.\r\n"
        assert c.call("RESTORE", "k", 5000, payload, "REPLACE") == b"+OK\r\n"
        assert 4000 < c.value("PTTL", "k") <= 5000
        future = int(time.time() * 1000) + 60000
        assert c.call("RESTORE", "k", future, payload, "REPLACE", "ABSTTL") == b"+OK\r\n"
        assert 55000 < c.value("PTTL", "k") <= 60000
        # a TTL already past: nothing is created, and REPLACE deletes the old key
        assert c.call("RESTORE", "gone", 1, payload, "ABSTTL") == b"+OK\r\n"
        assert c.value("EXISTS", "gone") == 0
        assert c.call("RESTORE", "k", 1, payload, "ABSTTL", "REPLACE") == b"+OK\r\n"
        assert c.value("EXISTS", "k") == 0
        assert c.call("RESTORE", "idle", 0, payload, "IDLETIME", 1000) == b"+OK\r\n"
        assert 1000 <= c.value("OBJECT", "IDLETIME", "idle") <= 1002
        assert c.call("RESTORE", "freq", 0, payload, "FREQ", 100) == b"+OK\r\n"  # validated, not kept (LRU)
        c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
        assert c.call("RESTORE", "freq2", 0, payload, "FREQ", 100) == b"+OK\r\n"
        assert c.value("OBJECT", "FREQ", "freq2") == 100
        c.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
        assert c.value("GET", "idle") == b"value"


ERROR_CASES = [
    ("k", "0", "PAYLOAD", "REPLACE", "bogus"),
    ("k", "0", "PAYLOAD", "IDLETIME"),
    ("k", "0", "PAYLOAD", "IDLETIME", "abc"),
    ("k", "0", "PAYLOAD", "IDLETIME", "-1"),
    ("k", "0", "PAYLOAD", "FREQ", "256"),
    ("k", "0", "PAYLOAD", "FREQ", "-1"),
    ("k", "0", "PAYLOAD", "FREQ", "x"),
    ("k", "0", "PAYLOAD", "IDLETIME", "1", "FREQ", "1"),
    ("k", "0", "PAYLOAD", "FREQ", "1", "IDLETIME", "1"),
    ("k", "-1", "PAYLOAD"),
    ("k", "abc", "PAYLOAD"),
    ("exists", "-1", "PAYLOAD"),  # BUSYKEY is checked before the TTL
    ("k", "0", "garbage"),
    ("k", "0", ""),
    ("k", "0", "BADCRC"),
    ("k", "0", "NEWER"),
    ("k", "0", "OLDER"),
    ("k", "0", "BADDATA"),
    ("k", "0", "INTOFOOTER"),
    ("k", "0", "EMPTYLIST"),
    ("k", "0"),
]


def _footer(body: bytes, version: int = 10) -> bytes:
    p = body + version.to_bytes(2, "little")
    return p + rdb.crc64(p).to_bytes(8, "little")


def test_restore_errors_match_redis(both):
    payload = rdb.dump_payload(b"v")
    subst = {
        "PAYLOAD": payload,
        "BADCRC": payload[:-1] + bytes([payload[-1] ^ 1]),
        "NEWER": _footer(b"\x00\x01v", 11),
        "OLDER": _footer(b"\x00\x01v", 9),
        "BADDATA": _footer(b"\x00\x43\xe8v"),  # a 1000-byte string that is not there
        "INTOFOOTER": _footer(b"\x00\x05v"),  # read into the footer: Redis accepts that
        "EMPTYLIST": _footer(b"\x12\x00"),
    }
    for c in both:
        c.value("SET", "exists", "1")
    for case in ERROR_CASES:
        argv = ["RESTORE"] + [subst.get(a, a) for a in case]
        got = [c.call(*argv) for c in both]
        assert got[0] == got[1], (case, got)
        for c in both:
            c.value("DEL", "k")


def test_restore_converts_to_the_configured_encoding(both):
    src = both[1]
    src.value("HSET", "h", *[x for i in range(10) for x in (f"f{i}", i)])
    src.value("ZADD", "z", *[x for i in range(10) for x in (i, f"m{i}")])
    src.value("SADD", "s", *range(10))
    payloads = {k: src.value("DUMP", k) for k in ("h", "z", "s")}
    for c in both:
        c.call("CONFIG", "SET", "hash-max-listpack-entries", "5")
        c.call("CONFIG", "SET", "zset-max-listpack-entries", "5")
        c.call("CONFIG", "SET", "set-max-intset-entries", "5")
        for k, p in payloads.items():
            assert c.value("RESTORE", "r" + k, 0, p) == b"OK"
    for k in ("rh", "rz", "rs"):
        encs = [c.value("OBJECT", "ENCODING", k) for c in both]
        assert encs[0] == encs[1] and encs[0] in (b"hashtable", b"skiplist"), k


def test_restore_propagates_absolute_ttl_and_notifies():
    n = EventNode()
    n("SET", "src", "v")
    payload = n("DUMP", "src").split(b"\r\n", 1)[1][:-2]
    n.take()
    n.take_propagated()
    before = int(time.time() * 1000)
    assert n("RESTORE", "k", "5000", payload) == b"+OK\r\n"
    prop = n.take_propagated()
    assert prop[0][:2] == [b"RESTORE", b"k"] and prop[0][3:] == [payload, b"ABSTTL"]
    assert before + 5000 <= int(prop[0][2]) <= int(time.time() * 1000) + 5000
    assert n.take() == [("restore", b"k")]
    # ABSTTL given: propagated as it came
    assert n("RESTORE", "k2", str(before + 60000), payload, "ABSTTL") == b"+OK\r\n"
    assert n.take_propagated() == [[b"RESTORE", b"k2", b"%d" % (before + 60000), payload, b"ABSTTL"]]
    assert n.take() == [("restore", b"k2")]
    # already expired with REPLACE: the old key goes, and that is what is propagated
    assert n("RESTORE", "k", "1", payload, "ABSTTL", "REPLACE") == b"+OK\r\n"
    assert n.take_propagated() == [[b"DEL", b"k"]]
    assert n.take() == [("del", b"k")]
    # already expired, nothing replaced: no change at all
    assert n("RESTORE", "k3", "1", payload, "ABSTTL") == b"+OK\r\n"
    assert n.take_propagated() == [] and n.take() == []
    # errors change nothing
    assert n("RESTORE", "k2", "0", payload).startswith(b"-BUSYKEY")
    assert n.take_propagated() == []


def test_restore_breaks_watch(shoal, r):
    r.set("src", "v")
    payload = r.dump("src")
    p = r.pipeline()
    p.watch("k")
    other = shoal.client()
    other.restore("k", 0, payload)
    other.close()
    p.multi()
    p.get("k")
    import redis
    with pytest.raises(redis.WatchError):
        p.execute()
