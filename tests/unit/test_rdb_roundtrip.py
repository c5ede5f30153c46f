"""write_rdb → load_rdb without sockets: every type and encoding comes back equal, with its encoding, TTL and
access data; encodings follow the loading node's config; DUMP payloads round-trip."""
import io
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.node.commands.objects import encoding_of
from shoal.node.persistence import rdb
from shoal.node.persistence.crc64 import crc64
from tests.unit.rdb_builders import Node, describe, fill_every_type, load, save

SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def same_data(a: Node, b: Node, dbs=(0, 3)) -> None:
    for i in dbs:
        da, db = a.db(i), b.db(i)
        assert list(da.data) == list(db.data)
        assert da.expires == db.expires
        a("SELECT", i)
        b("SELECT", i)
        for key in da.data:
            ea, eb = describe(a, key), describe(b, key)
            if ea[1] == b"raw" and eb[1] == b"embstr":
                ea[1] = eb[1]  # a short string edited in place is raw; loaded, it is embstr, as in Redis
            assert ea == eb, key
    a("SELECT", 0)
    b("SELECT", 0)


def test_every_type_round_trips():
    a = Node()
    fill_every_type(a)
    data = save(a)
    b, info = load(data)
    assert info.keys_loaded == len(a.db(0).data) + 1
    assert info.expired_skipped == 0 and info.version == 10
    assert info.aux["redis-ver"] == b"7.0.15" and info.aux["aof-base"] == b"0"
    assert info.size == len(data)
    same_data(a, b)
    # saving what was loaded gives the same file, apart from ctime / used-mem
    assert _keys_part(save(b)) == _keys_part(data)


def _keys_part(data: bytes) -> bytes:
    return data[data.index(b"\xfe\x00\xfb"):-8]


def test_encodings_are_the_expected_ones():
    a = Node()
    fill_every_type(a)
    b, _ = load(save(a))
    expect = {b"list": "quicklist", b"hash": "listpack", b"bighash": "hashtable", b"longval": "hashtable",
              b"intset": "intset", b"set": "hashtable", b"bigintset": "hashtable", b"zset": "listpack",
              b"skiplist": "skiplist", b"int": "int", b"str": "embstr", b"raw": "raw", b"stream": "stream"}
    for key, e in expect.items():
        assert encoding_of(b.db().data[key]) == e, key


def test_streams_keep_working_after_load():
    a = Node(stream_node_max_entries="10")
    fill_every_type(a)
    b, _ = load(save(a), stream_node_max_entries="10")
    for n in (a, b):
        n("XADD", "stream", "2000-0", "f", "new")
        n("XDEL", "stream", "7-0")
        n("XTRIM", "stream", "MAXLEN", "~", "200")
        n("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "stream", ">")
        n("XCLAIM", "stream", "g1", "carol", "0", "1-0", "4-0")
        n("XGROUP", "SETID", "stream", "g2", "100-0", "ENTRIESREAD", "90")
    info_a = a("XINFO", "STREAM", "stream", "FULL")
    info_b = b("XINFO", "STREAM", "stream", "FULL")
    # pending entries carry delivery times of "now": equal up to the clock's progress between the two calls
    assert _without_times(info_a) == _without_times(info_b)
    assert a("XPENDING", "stream", "g1") == b("XPENDING", "stream", "g1")


def _without_times(reply):
    if isinstance(reply, list):
        out = []
        for x in reply:
            if isinstance(x, int) and x > 1_000_000_000_000:
                out.append("<time>")
            else:
                out.append(_without_times(x))
        return out
    return reply


def test_stream_deleted_entries_keep_the_node_shape():
    a = Node()
    for i in range(1, 6):
        a("XADD", "s", f"{i}-0", "a", i)
    a("XDEL", "s", "2-0", "3-0")
    b, _ = load(save(a))
    na = a.db().data[b"s"].nodes
    nb = b.db().data[b"s"].nodes
    assert [(m, n.ids, n.live, n.deleted, n.fields) for m, n in na.items()] == \
        [(m, n.ids, n.live, n.deleted, n.fields) for m, n in nb.items()]
    assert b("XRANGE", "s", "-", "+") == a("XRANGE", "s", "-", "+")
    assert b("XINFO", "STREAM", "s")[b("XINFO", "STREAM", "s").index(b"max-deleted-entry-id") + 1] == b"3-0"


@given(st.dictionaries(st.binary(max_size=40), st.binary(max_size=300), max_size=20))
@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
def test_strings_round_trip(kv):
    a = Node()
    for k, v in kv.items():
        a("SET", k, v)
    b, info = load(save(a))
    assert info.keys_loaded == len(kv)
    assert b.db().data == a.db().data


@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=30))
@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
def test_integer_values_round_trip(ints):
    a = Node()
    for i, v in enumerate(ints):
        a("SET", f"k{i}", v)
    a("RPUSH", "l", *ints) if ints else None
    a("SADD", "s", *ints) if ints else None
    a("HSET", "h", *[x for i, v in enumerate(ints) for x in (v, i)]) if ints else None
    b, _ = load(save(a))
    for key in a.db().data:
        assert describe(a, key) == describe(b, key)


FLOATS = st.floats(allow_nan=False)


@given(st.lists(FLOATS, min_size=1, max_size=200))
@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
def test_zset_scores_round_trip(scores):
    a = Node()
    a("ZADD", "z", *[x for i, s in enumerate(scores) for x in (repr(s), f"m{i}")])
    b, _ = load(save(a))
    za, zb = a.db().data[b"z"], b.db().data[b"z"]
    assert za.listpack == zb.listpack
    for m, s in za.scores.items():
        t = zb.scores[m]
        assert t == s and math.copysign(1, t) == math.copysign(1, s)
    assert list(za.order) == list(zb.order)


def test_negative_zero_in_a_skiplist_survives():
    a = Node(zset_max_listpack_entries="0")
    a("ZADD", "z", "-0.0", "m")
    b, _ = load(save(a), zset_max_listpack_entries="0")
    assert math.copysign(1, b.db().data[b"z"].scores[b"m"]) == -1


# ----------------------------------------------------------------------------------------------------- config

def test_load_converts_to_the_loading_nodes_encodings():
    a = Node()
    a("HSET", "h", *[x for i in range(10) for x in (f"f{i}", "v")])
    a("ZADD", "z", *[x for i in range(10) for x in (i, f"m{i}")])
    a("SADD", "s", *range(10))
    a("SADD", "strs", "a", "b")
    b, _ = load(save(a), hash_max_listpack_entries="5", zset_max_listpack_entries="5",
                set_max_intset_entries="5")
    assert [encoding_of(b.db().data[k]) for k in (b"h", b"z", b"s")] == ["hashtable", "skiplist", "hashtable"]

    # and the other way: hashtable/skiplist values that fit become compact, as Redis converts on load
    c = Node(hash_max_listpack_entries="5", zset_max_listpack_entries="5", set_max_intset_entries="5")
    for cmd in (("HSET", "h", *[x for i in range(10) for x in (f"f{i}", "v")]),
                ("ZADD", "z", *[x for i in range(10) for x in (i, f"m{i}")]), ("SADD", "s", *range(10))):
        c(*cmd)
    for k in (b"h", b"z", b"s"):
        # shrink below the limits; Redis keeps the big encoding in memory...
        for i in range(3, 10):
            c("HDEL", "h", f"f{i}")
            c("ZREM", "z", f"m{i}")
            c("SREM", "s", i)
    assert [encoding_of(c.db().data[k]) for k in (b"h", b"z", b"s")] == ["hashtable", "skiplist", "hashtable"]
    d, _ = load(save(c), hash_max_listpack_entries="5", zset_max_listpack_entries="5",
                set_max_intset_entries="5")
    # ...but a reload builds them compact again
    assert [encoding_of(d.db().data[k]) for k in (b"h", b"z", b"s")] == ["listpack", "listpack", "intset"]
    assert d("HGETALL", "h") == c("HGETALL", "h") and d("ZRANGE", "z", 0, -1) == c("ZRANGE", "z", 0, -1)


def test_list_nodes_follow_list_max_listpack_size():
    # node counts checked against redis-server 7.0.15 (DUMP of the same list is byte-identical)
    for fill, expect_nodes in (("-1", 2), ("5", 4), ("-2", 1), ("1", 17)):
        a = Node(list_max_listpack_size=fill)
        a("RPUSH", "l", *[b"e" * 400 for _ in range(16)], "last")
        data = save(a)
        body = data[data.index(b"\x12\x01l") + 3:]
        assert body[0] == expect_nodes, fill
        b, _ = load(data)
        assert b("LRANGE", "l", 0, -1) == a("LRANGE", "l", 0, -1)


# ----------------------------------------------------------------------------------------------------- expiry

def test_expired_keys_are_skipped_on_a_primary():
    a = Node()
    a("SET", "past", "v")
    a("SET", "future", "v")
    a("SET", "plain", "v")
    now = int(time.time() * 1000)
    a.db().set_expire(b"past", now - 1000)
    a.db().set_expire(b"future", now + 100000)
    data = save(a)
    b, info = load(data)
    assert info.expired_skipped == 1 and info.keys_loaded == 2
    assert set(b.db().data) == {b"future", b"plain"}
    assert b.db().expires == {b"future": now + 100000}
    # a replica keeps them (its primary will send the DEL)
    c = Node()
    c.state.is_replica = True
    info = rdb.load_rdb(io.BytesIO(data), c.state)
    assert info.expired_skipped == 0 and b"past" in c.db().data
    # and so does an AOF preamble
    pre = io.BytesIO()
    rdb.write_aof_preamble(pre, a.state)
    d, info = load(pre.getvalue())
    assert info.aux["aof-base"] == b"1" and info.expired_skipped == 0 and len(d.db().data) == 3


def test_old_seconds_expire_opcode():
    from tests.unit.rdb_builders import key, rdb_file, string
    when = int(time.time()) + 500
    body = b"\xfe\x00" + b"\xfd" + when.to_bytes(4, "little") + key(0, b"k", string(b"v"))
    b, info = load(rdb_file(body))
    assert b.db().expires[b"k"] == when * 1000


# ----------------------------------------------------------------------------------------------------- access data

def test_idle_time_is_saved_under_lru_policies():
    a = Node(maxmemory_policy="allkeys-lru")
    a("SET", "k", "v")
    a.db().lru[b"k"] -= 300
    data = save(a)
    assert b"\xf8" in data[:data.index(b"\x00\x01k")][-5:]
    b, _ = load(data, maxmemory_policy="allkeys-lru")
    assert 299 <= b("OBJECT", "IDLETIME", "k") <= 302


def test_frequency_is_saved_under_lfu_policies():
    a = Node(maxmemory_policy="allkeys-lfu")
    a("SET", "k", "v")
    from shoal.node.eviction import set_key_freq
    set_key_freq(a.db(), b"k", 77)
    data = save(a)
    assert b"\xf9\x4d\x00\x01k" in data
    b, _ = load(data, maxmemory_policy="allkeys-lfu")
    assert b("OBJECT", "FREQ", "k") == 77


def test_no_access_data_under_other_policies():
    a = Node()
    a("SET", "k", "v")
    data = save(a)
    assert data[data.index(b"\xfb\x01\x00") + 3:].startswith(b"\x00\x01k")


# ----------------------------------------------------------------------------------------------------- functions, aux

def test_functions_and_extra_aux_fields():
    a = Node()
    a("SET", "k", "v")
    code = b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    data = save(a, aux={"repl-id": b"ab" * 20, "repl-offset": 123, "repl-stream-db": 0}, functions=[code])
    b, info = load(data)
    assert info.functions == [code]
    assert info.aux["repl-offset"] == b"123" and info.aux["repl-id"] == b"ab" * 20
    assert list(info.aux)[:4] == ["redis-ver", "redis-bits", "ctime", "used-mem"]


def test_checksum_disabled_writes_zero():
    a = Node(rdbchecksum="no")
    a("SET", "k", "v")
    data = save(a)
    assert data[-8:] == bytes(8)
    b, info = load(data)
    assert b("GET", "k") == b"v"


def test_empty_dataset():
    data = save(Node())
    assert data.startswith(b"REDIS0010\xfa") and data[-9] == 0xFF
    b, info = load(data)
    assert info.keys_loaded == 0


def test_preamble_leaves_the_file_at_the_aof_part():
    a = Node()
    a("SET", "k", "v")
    f = io.BytesIO()
    rdb.write_aof_preamble(f, a.state)
    size = f.tell()
    f.write(b"*1\r\n$4\r\nPING\r\n")
    f.seek(0)
    b = Node()
    info = rdb.load_rdb(f, b.state)
    assert info.size == size and f.tell() == size
    assert f.read() == b"*1\r\n$4\r\nPING\r\n"


# ----------------------------------------------------------------------------------------------------- DUMP payloads

def test_dump_payloads_round_trip_every_type():
    a = Node()
    fill_every_type(a)
    for key, value in a.db().data.items():
        payload = rdb.dump_payload(value, a.state.config)
        assert payload[-10:-8] == b"\x0a\x00"
        back = rdb.restore_payload(payload, a.state.config)
        assert rdb.dump_payload(back, a.state.config) == payload, key


def test_restore_payload_checks_version_and_crc():
    payload = rdb.dump_payload(b"hello")
    with pytest.raises(rdb.RdbError, match="version or checksum"):
        rdb.restore_payload(payload[:-1] + bytes([payload[-1] ^ 1]), None)
    newer = payload[:-10] + b"\x0b\x00"
    newer += crc64(newer).to_bytes(8, "little")
    with pytest.raises(rdb.RdbError, match="version or checksum"):
        rdb.restore_payload(newer, None)
    older = payload[:-10] + b"\x09\x00"
    older += crc64(older).to_bytes(8, "little")
    assert rdb.restore_payload(older, None) == b"hello"
    with pytest.raises(rdb.RdbError):
        rdb.restore_payload(b"\x00\x01", None)


def test_restore_payload_bad_data():
    body = b"\x00\x43\xe8hel"  # a 1000-byte string cut short, with a valid footer
    payload = body + b"\x0a\x00"
    payload += crc64(payload).to_bytes(8, "little")
    with pytest.raises(rdb.RdbError) as e:
        rdb.restore_payload(payload, None)
    assert e.value.offset is not None
