"""load_rdb on files only older Redis versions wrote (built here byte by byte), and on corrupt or truncated
input, which must raise RdbError naming a byte offset, never another exception."""
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.node.persistence import lzf, rdb
from shoal.node.persistence.crc64 import crc64
from shoal.node.persistence import rdb_format as fmt
from shoal.node.persistence.rdb_read import Reader
from shoal.node.persistence.encodings import intset, listpack
from tests.unit.rdb_builders import (Node, key, length, load, rdb_file, save, string, text_double, ziplist,
                                     zipmap)


def load_one(type_byte: int, body: bytes, version: int = 10, **config):
    n, info = load(rdb_file(b"\xfe\x00" + key(type_byte, b"k", body), version=version), **config)
    return n, info


# ----------------------------------------------------------------------------------------------------- old types

def test_plain_list_set_hash():
    n, _ = load_one(fmt.TYPE_LIST, length(3) + string(b"a") + b"\xc0\x05" + string(b"c"))
    assert n("LRANGE", "k", 0, -1) == [b"a", b"5", b"c"] and n("OBJECT", "ENCODING", "k") == b"quicklist"
    n, _ = load_one(fmt.TYPE_SET, length(2) + string(b"x") + string(b"y"))
    assert sorted(n("SMEMBERS", "k")) == [b"x", b"y"] and n("OBJECT", "ENCODING", "k") == b"hashtable"
    # a plain set of integers becomes an intset, as Redis converts on load
    n, _ = load_one(fmt.TYPE_SET, length(3) + b"\xc0\x03" + string(b"-1") + string(b"2"))
    assert n("SMEMBERS", "k") == [b"-1", b"2", b"3"] and n("OBJECT", "ENCODING", "k") == b"intset"
    n, _ = load_one(fmt.TYPE_HASH, length(1) + string(b"f") + string(b"v"))
    assert n("HGETALL", "k") == [b"f", b"v"] and n("OBJECT", "ENCODING", "k") == b"listpack"


def test_zset_with_text_scores():
    body = length(4) + b"".join(string(m) + text_double(s) for m, s in
                                [(b"a", 1.5), (b"b", float("inf")), (b"c", float("-inf")), (b"d", -3.0)])
    n, _ = load_one(fmt.TYPE_ZSET, body)
    assert n("ZRANGE", "k", 0, -1, "WITHSCORES") == [b"c", b"-inf", b"d", b"-3", b"a", b"1.5", b"b", b"inf"]
    assert n("OBJECT", "ENCODING", "k") == b"listpack"
    with pytest.raises(rdb.RdbError, match="NAN"):
        load_one(fmt.TYPE_ZSET, length(1) + string(b"a") + text_double(float("nan")))


def test_list_ziplist():
    items = [b"a", 7, -300, b"x" * 100, 2**40]
    n, _ = load_one(fmt.TYPE_LIST_ZIPLIST, string(ziplist(items)))
    assert n("LRANGE", "k", 0, -1) == [b"a", b"7", b"-300", b"x" * 100, b"1099511627776"]
    assert n("OBJECT", "ENCODING", "k") == b"quicklist"


def test_list_quicklist_of_ziplists():
    body = length(2) + string(ziplist([b"a", 1])) + string(ziplist([b"b", 2]))
    n, _ = load_one(fmt.TYPE_LIST_QUICKLIST, body)
    assert n("LRANGE", "k", 0, -1) == [b"a", b"1", b"b", b"2"]


def test_quicklist2_plain_node():
    body = length(3) + length(2) + string(listpack([b"a"])) + length(1) + string(b"big" * 10) + \
        length(2) + string(listpack([b"z"]))
    n, _ = load_one(fmt.TYPE_LIST_QUICKLIST_2, body)
    assert n("LRANGE", "k", 0, -1) == [b"a", b"big" * 10, b"z"]
    with pytest.raises(rdb.RdbError, match="quicklist integrity"):
        load_one(fmt.TYPE_LIST_QUICKLIST_2, length(1) + length(3) + string(listpack([b"a"])))


def test_zset_and_hash_ziplists():
    n, _ = load_one(fmt.TYPE_ZSET_ZIPLIST, string(ziplist([b"a", 1, b"b", b"2.5", b"c", b"-inf"])))
    assert n("ZRANGE", "k", 0, -1, "WITHSCORES") == [b"c", b"-inf", b"a", b"1", b"b", b"2.5"]
    assert n("OBJECT", "ENCODING", "k") == b"listpack"
    n, _ = load_one(fmt.TYPE_HASH_ZIPLIST, string(ziplist([b"f", b"v", b"n", 5])))
    assert n("HGETALL", "k") == [b"f", b"v", b"n", b"5"] and n("OBJECT", "ENCODING", "k") == b"listpack"
    # too many entries for the loading node's config: converted
    n, _ = load_one(fmt.TYPE_HASH_ZIPLIST, string(ziplist([b"f", b"v", b"n", 5])), hash_max_listpack_entries="1")
    assert n("OBJECT", "ENCODING", "k") == b"hashtable"
    with pytest.raises(rdb.RdbError, match="odd number"):
        load_one(fmt.TYPE_HASH_ZIPLIST, string(ziplist([b"f", b"v", b"n"])))
    with pytest.raises(rdb.RdbError, match="duplicate hash fields"):
        load_one(fmt.TYPE_HASH_ZIPLIST, string(ziplist([b"f", b"v", b"f", b"w"])))


def test_hash_zipmap():
    n, _ = load_one(fmt.TYPE_HASH_ZIPMAP, string(zipmap([(b"f", b"v"), (b"g", b"w" * 300)])))
    assert n("HGETALL", "k") == [b"f", b"v", b"g", b"w" * 300]
    assert n("OBJECT", "ENCODING", "k") == b"hashtable"  # a value past hash-max-listpack-value
    n, _ = load_one(fmt.TYPE_HASH_ZIPMAP, string(zipmap([(b"f", b"v")])))
    assert n("OBJECT", "ENCODING", "k") == b"listpack"


def test_intset_bigger_than_config_becomes_hashtable():
    n, _ = load_one(fmt.TYPE_SET_INTSET, string(intset([1, 2, 3])), set_max_intset_entries="2")
    assert n("OBJECT", "ENCODING", "k") == b"hashtable" and n("SCARD", "k") == 3


def test_old_stream_format_derives_the_new_fields():
    a = Node()
    for i in range(1, 6):
        a("XADD", "s", f"{i}-0", "f", i)
    a("XDEL", "s", "1-0")
    a("XGROUP", "CREATE", "s", "g", "2-0")
    payload = rdb.dump_payload(a.db().data[b"s"])
    body = bytearray(payload[1:-10])
    # turn the STREAM_LISTPACKS_2 body into the older layout: drop first id, max deleted id, entries added and
    # the group's entries_read
    r = Reader(bytes(body))
    nodes = r.length()
    for _ in range(2 * nodes):
        r.string()
    for _ in range(3):
        r.length()
    cut1 = r.pos
    for _ in range(5):
        r.length()
    cut2 = r.pos
    r.length()  # groups
    r.string()
    r.length(), r.length()
    cut3 = r.pos
    r.length()
    cut4 = r.pos
    old = bytes(body[:cut1]) + bytes(body[cut2:cut3]) + bytes(body[cut4:])
    n, _ = load_one(fmt.TYPE_STREAM_LISTPACKS, old)
    s = n.db().data[b"k"]
    assert s.first_id == (2 << 64) and s.max_deleted == 0 and s.entries_added == 4
    info = n("XINFO", "GROUPS", "k")[0]
    # estimated as Redis does (streamEstimateDistanceFromFirstEverEntry): 2-0 is the first live entry
    assert info[info.index(b"entries-read") + 1] == 1 and info[info.index(b"lag") + 1] == 3


def test_lzf_compressed_strings_and_listpacks():
    value = b"compress me " * 20
    comp = lzf.compress(value)
    lzf_str = b"\xc3" + length(len(comp)) + length(len(value)) + comp
    n, _ = load_one(fmt.TYPE_STRING, lzf_str)
    assert n("GET", "k") == value
    lp = listpack([b"field", value])
    comp = lzf.compress(lp)
    n, _ = load_one(fmt.TYPE_HASH_LISTPACK, b"\xc3" + length(len(comp)) + length(len(lp)) + comp)
    assert n("HGET", "k", "field") == value


def test_empty_collections_are_skipped():
    body = b"\xfe\x00" + key(fmt.TYPE_LIST, b"a", length(0)) + key(fmt.TYPE_HASH_LISTPACK, b"b",
                                                                   string(listpack([]))) + key(0, b"c", string(b"v"))
    n, info = load(rdb_file(body))
    assert info.empty_keys_skipped == 2 and list(n.db().data) == [b"c"]


def test_versions():
    body = b"\xfe\x00" + key(0, b"k", string(b"v"))
    for v in (1, 6, 9, 10):
        n, info = load(rdb_file(body, version=v))
        assert n("GET", "k") == b"v" and info.version == v
    with pytest.raises(rdb.RdbError, match="version 11") as e:
        load(rdb_file(body, version=11))
    assert e.value.offset == 5


# ----------------------------------------------------------------------------------------------------- corrupt input

def sample_file() -> bytes:
    a = Node()
    a("SET", "s", "v")
    a("SET", "n", 42)
    a("RPUSH", "l", "a", "b")
    a("HSET", "h", "f", "v")
    a("SADD", "i", 1, 2)
    a("SADD", "t", "x")
    a("ZADD", "z", 1, "m")
    a("ZADD", "zs", *[x for i in range(200) for x in (i, f"m{i}")])
    a("XADD", "x", "1-1", "f", "v")
    a("XGROUP", "CREATE", "x", "g", "0")
    a("XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">")
    a("SETEX", "e", 100, "v")
    return save(a)


def test_every_truncation_is_an_rdb_error():
    data = sample_file()
    for cut in range(len(data)):
        with pytest.raises(rdb.RdbError) as e:
            load(data[:cut])
        assert e.value.offset is not None and 0 <= e.value.offset <= cut, cut


def test_every_flipped_byte_is_detected():
    """A changed byte either breaks the structure (RdbError at some offset) or the checksum."""
    data = sample_file()
    for i in range(len(data) - 8):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        with pytest.raises(rdb.RdbError):
            load(bytes(bad))


def test_flipped_bytes_without_checksum_never_crash():
    """With the checksum off, corrupt structure must still end in RdbError or a load, never a traceback."""
    data = sample_file()
    for i in range(9, len(data) - 9):
        bad = bytearray(data)
        bad[i] ^= 0xFF
        bad[-8:] = bytes(8)
        try:
            load(bytes(bad))
        except rdb.RdbError:
            pass


def test_checksum_mismatch_message():
    data = bytearray(sample_file())
    data[-1] ^= 1
    with pytest.raises(rdb.RdbError, match="wrong RDB checksum") as e:
        load(bytes(data))
    assert e.value.offset == len(data) - 8


@pytest.mark.parametrize("body, what", [
    (b"\xf7" + length(1), "module"),
    (b"\xf6" + string(b"lib"), "pre-release function"),
    (b"\xfe\x00" + key(fmt.TYPE_MODULE_2, b"k", length(5)), "module data"),
    (b"\xfe\x00" + key(8, b"k", b""), "unknown RDB encoding type 8"),
    (b"\xfe\x00" + key(42, b"k", b""), "unknown RDB encoding type 42"),
    (b"\xfe\x20", "more than 16 databases"),
    (b"\xfe\x00" + key(0, b"k", string(b"v")) + key(0, b"k", string(b"w")), "duplicated key"),
    (b"\xfe\x00" + key(fmt.TYPE_SET_INTSET, b"k", string(b"\x03\x00\x00\x00\x00\x00\x00\x00")), "intset"),
    (b"\xfe\x00" + key(fmt.TYPE_STREAM_LISTPACKS_2, b"k", length(1) + string(b"short") + string(b"")),
     "size of a stream ID"),
])
def test_refused_content(body, what):
    with pytest.raises(rdb.RdbError, match=what) as e:
        load(rdb_file(body))
    assert e.value.offset is not None and e.value.offset >= 9


def test_missing_eof_and_bad_magic():
    with pytest.raises(rdb.RdbError, match="signature"):
        load(b"RADIS0010" + bytes(10))
    with pytest.raises(rdb.RdbError, match="end of"):
        load(b"REDIS0010" + b"\xfe\x00")


def test_duplicates_replace_when_not_strict():
    data = rdb_file(b"\xfe\x00" + key(0, b"k", string(b"v")) + key(0, b"k", string(b"w")))
    n = Node()
    info = rdb.load_rdb(io.BytesIO(data), n.state, strict=False)
    assert n("GET", "k") == b"w" and info.keys_loaded == 1


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bodies_never_crash(body):
    """Anything after a valid header either loads or is an RdbError (checksum off, so structure is what fails)."""
    try:
        load(b"REDIS0010" + body + b"\xff" + bytes(8))
    except rdb.RdbError as e:
        assert e.offset is not None


@given(st.integers(0, 24), st.binary(max_size=120))
@settings(max_examples=300, deadline=None)
def test_random_payloads_never_crash(type_byte, body):
    payload = bytes((type_byte,)) + body + b"\x0a\x00"
    payload += crc64(payload).to_bytes(8, "little")
    try:
        rdb.restore_payload(payload, None)
    except rdb.RdbError:
        pass


def test_pending_entry_without_consumer_is_refused():
    a = Node()
    a("XADD", "x", "1-1", "f", "v")
    a("XGROUP", "CREATE", "x", "g", "0")
    a("XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">")
    payload = rdb.dump_payload(a.db().data[b"x"])
    # the consumer's own PEL (its last bytes before the footer: count 1 + a 16-byte ID) emptied
    body = payload[:-10 - 17] + b"\x00"
    body += b"\x0a\x00"
    body += crc64(body).to_bytes(8, "little")
    with pytest.raises(rdb.RdbError, match="without consumer"):
        rdb.restore_payload(body, None)
