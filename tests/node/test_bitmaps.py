"""Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

Socket tests drive a real shoal-node through redis-py (RESP2 `r`, RESP3 `r3`); byte-exact comparison with
redis-server lives in tests/differential/cases/bitmaps.txt. Keyspace events and the dirty counter are checked
in-process, with the event lists redis-server 7.0.15 publishes. BITPOS and BITFIELD are also checked against
straightforward bit-by-bit models of their definitions.
"""
from __future__ import annotations

import random

import pytest
import redis

from shoal.node.commands.bitmaps import _first_bit, _get_field, _set_field
from shoal.node.commands.strings import string_encoding
from tests.node.helpers import EventNode

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
BIT_OFFSET_ERR = "ERR bit offset is not an integer or out of range"
TYPE_ERR = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."


def _text(excinfo) -> str:
    """The error text as the server sent it (redis-py drops a leading "ERR ")."""
    msg = str(excinfo.value)
    return msg if msg.startswith("WRONGTYPE ") else "ERR " + msg


def _error(fn) -> str:
    with pytest.raises(redis.ResponseError) as e:
        fn()
    return _text(e)


def _make_list(r, key="l"):
    try:
        r.rpush(key, "a")
    except redis.ResponseError:
        pytest.skip("no list type in this build")


# ------------------------------------------------------------------ SETBIT GETBIT

def test_setbit_getbit(r):
    assert r.setbit("k", 7, 1) == 0
    assert r.setbit("k", 7, 1) == 1
    assert r.getbit("k", 7) == 1
    assert r.getbit("k", 6) == 0
    assert r.get("k") == b"\x01"
    assert r.setbit("k", 0, 1) == 0
    assert r.get("k") == b"\x81"
    assert r.setbit("k", 7, 0) == 1
    assert r.get("k") == b"\x80"
    assert r.setbit("k", 100, 1) == 0
    assert r.strlen("k") == 13
    assert r.getbit("k", 100) == 1
    assert r.getbit("k", 10**6) == 0
    assert r.getbit("nokey", 0) == 0


def test_setbit_on_existing_string(r):
    r.set("s", "a")  # 0x61
    assert r.getbit("s", 1) == 1
    assert r.setbit("s", 6, 1) == 0
    assert r.get("s") == b"c"
    r.set("n", 5)
    r.setbit("n", 7, 0)
    assert r.get("n") == b"4"
    assert r.incr("n") == 5


def test_setbit_keeps_ttl(r):
    r.set("k", "a", ex=100)
    r.setbit("k", 20, 1)
    assert 99 <= r.ttl("k") <= 100


@pytest.mark.parametrize("offset,value,error", [
    (-1, 1, BIT_OFFSET_ERR), ("abc", 1, BIT_OFFSET_ERR), ("#1", 1, BIT_OFFSET_ERR), (4294967296, 1, BIT_OFFSET_ERR),
    (9223372036854775807, 1, BIT_OFFSET_ERR),
    (1, 2, "ERR bit is not an integer or out of range"), (1, -1, "ERR bit is not an integer or out of range"),
    (1, "a", "ERR bit is not an integer or out of range"), (1, "01", "ERR bit is not an integer or out of range"),
])
def test_setbit_errors(r, offset, value, error):
    assert _error(lambda: r.execute_command("SETBIT", "k", offset, value)) == error
    assert r.exists("k") == 0


def test_getbit_errors_and_wrong_type(r):
    assert _error(lambda: r.getbit("k", -1)) == BIT_OFFSET_ERR
    assert _error(lambda: r.getbit("k", 4294967296)) == BIT_OFFSET_ERR
    _make_list(r)
    assert _error(lambda: r.getbit("l", 0)) == WRONGTYPE
    assert _error(lambda: r.setbit("l", 0, 1)) == WRONGTYPE
    assert _error(lambda: r.getbit("l", "x")) == BIT_OFFSET_ERR  # the offset is checked first
    assert _error(lambda: r.execute_command("SETBIT", "l", 0, 2)) == "ERR bit is not an integer or out of range"


# ------------------------------------------------------------------ BITCOUNT

def test_bitcount(r):
    r.set("s", "foobar")
    assert r.bitcount("s") == 26
    assert r.bitcount("s", 0, 0) == 4
    assert r.bitcount("s", 1, 1) == 6
    assert r.bitcount("s", 1, 1, "BYTE") == 6
    assert r.bitcount("s", -2, -1) == 7
    assert r.bitcount("s", -1, -5) == 0
    assert r.bitcount("s", -20, -30) == 0
    assert r.bitcount("s", 0, 9223372036854775807) == 26
    assert r.bitcount("nokey") == 0
    r.set("e", "")
    assert r.bitcount("e") == 0


@pytest.mark.parametrize("start,end,count", [(5, 30, 17), (0, -1, 26), (-5, -1, 2), (0, 0, 0), (1, 1, 1),
                                             (9, 9, 1), (7, 8, 0), (40, 1000, 4), (-20, -30, 0)])
def test_bitcount_bit_ranges(r, start, end, count):
    r.set("s", "foobar")
    assert r.bitcount("s", start, end, "BIT") == count


def test_bitcount_errors(r):
    r.set("s", "foobar")
    assert _error(lambda: r.execute_command("BITCOUNT", "s", 1)) == "ERR syntax error"
    assert _error(lambda: r.execute_command("BITCOUNT", "s", 1, 2, "BIT", 4)) == "ERR syntax error"
    assert _error(lambda: r.execute_command("BITCOUNT", "s", 0, 1, "foo")) == "ERR syntax error"
    assert _error(lambda: r.execute_command("BITCOUNT", "s", 0, "a", "foo")) == \
        "ERR value is not an integer or out of range"
    # a negative empty range answers before the unit is looked at; a missing key before anything else
    assert r.execute_command("BITCOUNT", "s", -1, -5, "foo") == 0
    assert r.execute_command("BITCOUNT", "nokey", "a", "b", "c") == 0
    _make_list(r)
    assert _error(lambda: r.bitcount("l")) == WRONGTYPE


# ------------------------------------------------------------------ BITPOS

def test_bitpos(r):
    r.set("s", b"\xff\xf0\x00")
    assert r.bitpos("s", 0) == 12
    assert r.bitpos("s", 1) == 0
    assert r.bitpos("s", 1, 2) == -1
    assert r.bitpos("s", 0, 2) == 16
    assert r.bitpos("nokey", 0) == 0
    assert r.bitpos("nokey", 1) == -1
    r.set("e", "")
    assert r.bitpos("e", 0) == -1


def test_bitpos_clear_bit_past_the_end(r):
    r.set("ff", b"\xff\xff\xff")
    assert r.bitpos("ff", 0) == 24  # no end given: the string is followed by zeros
    assert r.bitpos("ff", 0, 1) == 24
    assert r.bitpos("ff", 0, 0, -1) == -1  # an explicit end: nothing found
    assert r.bitpos("ff", 0, 0, -1, "BIT") == -1


def test_bitpos_bit_ranges(r):
    r.set("mix", b"\x00\xff\x00\x00\x01")
    assert r.bitpos("mix", 1, 17, 38, "BIT") == -1
    assert r.bitpos("mix", 1, 17, 39, "BIT") == 39
    assert r.bitpos("mix", 0, 8, 15, "BIT") == -1
    assert r.bitpos("mix", 0, 9, 14, "BIT") == -1
    assert r.bitpos("mix", 1, -8, -1, "BIT") == 39
    assert r.bitpos("mix", 1, 2, 3, "BYTE") == -1


def test_bitpos_errors(r):
    r.set("s", "foobar")
    assert _error(lambda: r.execute_command("BITPOS", "s", 2)) == "ERR The bit argument must be 1 or 0."
    assert _error(lambda: r.execute_command("BITPOS", "nokey", -1)) == "ERR The bit argument must be 1 or 0."
    assert _error(lambda: r.execute_command("BITPOS", "s", 1, 0, "a", "foo")) == "ERR syntax error"
    assert _error(lambda: r.execute_command("BITPOS", "s", 1, 0, "a")) == "ERR value is not an integer or out of range"
    assert _error(lambda: r.execute_command("BITPOS", "s", 1, 0, 1, "BIT", 5)) == "ERR syntax error"
    assert r.execute_command("BITPOS", "nokey", 1, "a", "b", "c") == -1
    _make_list(r)
    assert _error(lambda: r.bitpos("l", 1)) == WRONGTYPE


def test_first_bit_matches_a_bit_by_bit_scan():
    rng = random.Random(3)
    for _ in range(3000):
        v = bytes(rng.choice([0, 0xFF, rng.randrange(256)]) for _ in range(rng.randint(1, 12)))
        bits = "".join(f"{b:08b}" for b in v)
        lo = rng.randrange(len(bits))
        hi = rng.randrange(lo, len(bits))
        want = rng.choice("01")
        i = bits.find(want, lo, hi + 1)
        assert _first_bit(v, lo, hi, int(want)) == i, (v, lo, hi, want)


# ------------------------------------------------------------------ BITOP

def test_bitop(r):
    r.mset({"a": "foobar", "b": "abcdef"})
    assert r.bitop("AND", "d", "a", "b") == 6
    assert r.get("d") == b"`bc`ab"
    assert r.bitop("OR", "d", "a", "b") == 6
    assert r.get("d") == b"goofev"
    assert r.bitop("XOR", "d", "a", "b") == 6
    assert r.get("d") == b"\x07\r\x0c\x06\x04\x14"
    assert r.bitop("NOT", "d", "a") == 6
    assert r.get("d") == b"\x99\x90\x90\x9d\x9e\x8d"
    r.set("short", b"\xff")
    assert r.bitop("AND", "d", "short", "a") == 6
    assert r.get("d") == b"f\x00\x00\x00\x00\x00"


def test_bitop_missing_sources_and_destination(r):
    r.set("a", "foobar")
    assert r.bitop("OR", "d", "nokey", "a") == 6
    assert r.get("d") == b"foobar"
    assert r.bitop("AND", "d", "nokey", "a") == 6
    assert r.get("d") == b"\x00" * 6
    assert r.bitop("AND", "d", "nokey") == 0
    assert r.exists("d") == 0  # an empty result deletes the destination
    r.set("d", "x", ex=100)
    r.bitop("OR", "d", "a")
    assert r.ttl("d") == -1


def test_bitop_errors(r):
    r.set("a", "foobar")
    assert _error(lambda: r.bitop("NOT", "d", "a", "a")) == "ERR BITOP NOT must be called with a single source key."
    assert _error(lambda: r.bitop("FOO", "d", "a")) == "ERR syntax error"
    _make_list(r)
    assert _error(lambda: r.bitop("AND", "d", "a", "l")) == WRONGTYPE
    assert r.exists("d") == 0
    assert r.bitop("AND", "l", "a") == 6  # any type of destination is overwritten
    assert r.type("l") == b"string"


# ------------------------------------------------------------------ BITFIELD

def test_bitfield_get_set_incrby(r):
    assert r.bitfield("k").get("u8", 0).execute() == [0]
    assert r.exists("k") == 0  # reading creates nothing
    assert r.bitfield("k").set("u8", 0, 255).get("u8", 0).execute() == [0, 255]
    assert r.bitfield("k").incrby("u8", 0, 10).execute() == [9]
    assert r.bitfield("k").set("i8", 0, -1).get("i8", 0).get("u8", 0).get("i4", 0).get("u4", 4).execute() == \
        [9, -1, 255, -1, 15]
    assert r.bitfield("k").incrby("u2", 100, 1).execute() == [1]
    assert r.strlen("k") == 13


def test_bitfield_overflow_modes(r):
    r.bitfield("k").set("u8", 0, 255).execute()
    assert r.bitfield("k", "SAT").incrby("u8", 0, 1000).execute() == [255]
    assert r.bitfield("k", "FAIL").incrby("u8", 0, 1000).execute() == [None]
    assert r.bitfield("k", "WRAP").incrby("u8", 0, -1000).execute() == [23]
    assert r.execute_command("BITFIELD", "k", "SET", "u8", "0", "-1") == [23]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i8", "0", "200") == [-1]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i8", "0", "-200") == [127]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "WRAP", "SET", "i8", "0", "200") == [-128]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "i8", "0", "200") == [None]


def test_bitfield_64_bit_edges(r):
    assert r.execute_command("BITFIELD", "k", "SET", "i64", "0", "-9223372036854775808") == [0]
    assert r.execute_command("BITFIELD", "k", "INCRBY", "i64", "0", "-1") == [9223372036854775807]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "1") == \
        [9223372036854775807]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i64", "0", "1") == [None]
    assert r.execute_command("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u63", "0", "-1", "GET", "u63", "0") == \
        [4611686018427387903, 9223372036854775807]


def test_bitfield_hash_offsets(r):
    assert r.execute_command("BITFIELD", "k", "SET", "u8", "#1", "65", "SET", "u8", "#0", "66",
                             "GET", "u16", "#0") == [0, 0, 0x4241]
    assert r.get("k") == b"BA"
    assert _error(lambda: r.execute_command("BITFIELD", "k", "GET", "u8", "#-1")) == BIT_OFFSET_ERR
    assert _error(lambda: r.execute_command("BITFIELD", "k", "GET", "u8", "#536870912")) == BIT_OFFSET_ERR
    # N * width wraps as a 64-bit integer, as in Redis: 2**60 * 64 is offset 0, 2**57 * 64 is negative
    assert r.execute_command("BITFIELD", "k", "GET", "u16", "#1152921504606846976") == [0x4241]
    assert _error(lambda: r.execute_command("BITFIELD", "k", "GET", "i64", "#144115188075855872")) == BIT_OFFSET_ERR


def test_bitfield_fail_still_creates_the_key(r):
    assert r.execute_command("BITFIELD", "nk", "OVERFLOW", "FAIL", "SET", "u8", "0", "256") == [None]
    assert r.get("nk") == b"\x00"


@pytest.mark.parametrize("args,error", [
    (("GET", "u64", "0"), TYPE_ERR), (("GET", "i65", "0"), TYPE_ERR), (("GET", "u0", "0"), TYPE_ERR),
    (("GET", "I8", "0"), TYPE_ERR), (("GET", "", "0"), TYPE_ERR), (("GET", "u08", "0"), TYPE_ERR),
    (("GET", "u8", "-1"), BIT_OFFSET_ERR), (("GET", "u8", "4294967296"), BIT_OFFSET_ERR),
    (("SET", "u8", "0", "a"), "ERR value is not an integer or out of range"),
    (("SET", "u8", "0"), "ERR syntax error"), (("GET", "u8"), "ERR syntax error"), (("foo",), "ERR syntax error"),
    (("OVERFLOW",), "ERR syntax error"), (("OVERFLOW", "foo"), "ERR Invalid OVERFLOW type specified"),
    (("GET", "u8", "0", "OVERFLOW", "foo"), "ERR Invalid OVERFLOW type specified"),
    (("SET", "u8", "0", "1", "GET", "x8", "0"), TYPE_ERR),
])
def test_bitfield_errors(r, args, error):
    r.set("k", "v")
    assert _error(lambda: r.execute_command("BITFIELD", "k", *args)) == error
    assert r.get("k") == b"v"  # nothing runs unless everything parses


def test_bitfield_width_ends_at_nul_like_a_c_string(r):
    assert r.execute_command("BITFIELD", "k", "GET", b"u8\x00zz", "0") == [0]


def test_bitfield_ro(r):
    r.set("k", b"\x7fA")
    assert r.bitfield_ro("k", "u8", 0, items=[("i8", 0), ("u16", "#0")]) == [127, 127, 0x7F41]
    assert r.execute_command("BITFIELD_RO", "k") == []
    assert _error(lambda: r.execute_command("BITFIELD_RO", "k", "SET", "u8", "0", "1")) == \
        "ERR BITFIELD_RO only supports the GET subcommand"
    assert _error(lambda: r.execute_command("BITFIELD_RO", "k", "SET", "u8", "0", "a")) == \
        "ERR value is not an integer or out of range"
    assert r.bitfield_ro("nokey", "u8", 0) == [0]


def test_bitfield_wrong_type(r):
    _make_list(r)
    assert _error(lambda: r.bitfield("l").get("u8", 0).execute()) == WRONGTYPE
    assert _error(lambda: r.bitfield("l").set("u8", 0, 1).execute()) == WRONGTYPE
    assert _error(lambda: r.execute_command("BITFIELD", "l", "foo")) == "ERR syntax error"


def test_bitfield_resp3(r3):
    assert r3.execute_command("BITFIELD", "k", "SET", "u8", "0", "1", "OVERFLOW", "FAIL", "INCRBY", "u8", "0",
                              "300") == [0, None]


def test_bitfield_field_model():
    rng = random.Random(4)
    for _ in range(2000):
        v = bytearray(rng.randbytes(rng.randint(0, 12)))
        bits = "".join(f"{b:08b}" for b in v)
        width = rng.randint(1, 64)
        offset = rng.randint(0, 100)
        padded = bits.ljust(offset + width, "0")
        field = int(padded[offset:offset + width], 2)
        assert _get_field(v, offset, width, False) == field
        signed = field - (1 << width) if field >> (width - 1) else field
        assert _get_field(v, offset, width, True) == signed
        if offset + width <= len(bits):
            new = rng.getrandbits(width)
            _set_field(v, offset, width, new)
            want = bits[:offset] + f"{new:0{width}b}" + bits[offset + width:]
            assert "".join(f"{b:08b}" for b in v) == want


def test_bit_writes_make_raw_strings():
    node = EventNode()
    db = node.state.keyspace[0]
    node("set", "k", "1")
    assert string_encoding(db.data[b"k"]) == "int"
    node("setbit", "k", "0", "0")  # even when no bit changes, as Redis's dbUnshareStringValue
    assert string_encoding(db.data[b"k"]) == "raw"
    assert node("get", "k") == b"$1\r\n1\r\n"
    node("bitop", "and", "d", "k")
    assert string_encoding(db.data[b"d"]) == "raw"


# ------------------------------------------------------------------ events and dirty (in-process)

# (command, reply, events, dirty increase) as redis-server 7.0.15 gives them, run in this order
_EVENT_SCRIPT = [
    (("setbit", "s", "0", "1"), b":0\r\n", [("setbit", b"s")], 1),
    (("setbit", "s", "0", "1"), b":1\r\n", [], 0),
    (("setbit", "s", "100", "0"), b":0\r\n", [("setbit", b"s")], 1),
    (("setbit", "s", "0", "0"), b":1\r\n", [("setbit", b"s")], 1),
    (("set", "e", "a"), b"+OK\r\n", [("set", b"e")], 1),
    (("setbit", "e", "1", "1"), b":1\r\n", [], 0),
    (("getbit", "s", "0"), b":0\r\n", [], 0),
    (("bitcount", "s"), b":0\r\n", [], 0),
    (("bitpos", "s", "1"), b":-1\r\n", [], 0),
    (("bitfield", "s", "get", "u8", "0"), b"*1\r\n:0\r\n", [], 0),
    (("bitfield", "s", "set", "u8", "0", "1", "set", "u8", "8", "2"), b"*2\r\n:0\r\n:0\r\n", [("setbit", b"s")], 2),
    (("bitfield", "s", "overflow", "fail", "set", "u8", "0", "256"), b"*1\r\n$-1\r\n", [], 0),
    (("bitfield", "s", "incrby", "u8", "0", "1", "overflow", "fail", "incrby", "u8", "0", "300"),
     b"*2\r\n:2\r\n$-1\r\n", [("setbit", b"s")], 1),
    (("bitfield", "nk", "overflow", "fail", "set", "u8", "0", "256"), b"*1\r\n$-1\r\n", [], 0),
    (("bitfield_ro", "s", "get", "u8", "0"), b"*1\r\n:2\r\n", [], 0),
    (("bitop", "and", "d", "s"), b":13\r\n", [("set", b"d")], 1),
    (("bitop", "and", "d", "nokey"), b":0\r\n", [("del", b"d")], 1),
    (("bitop", "and", "d", "nokey"), b":0\r\n", [], 0),
    (("bitop", "not", "d", "s"), b":13\r\n", [("set", b"d")], 1),
]


def test_events_and_dirty_match_redis():
    node = EventNode()
    for argv, reply, events, dirty in _EVENT_SCRIPT:
        before = node.state.dirty
        assert node(*argv) == reply, argv
        assert node.take() == events, argv
        assert node.state.dirty - before == dirty, argv


def test_watch_sees_bit_writes_but_not_no_ops():
    node = EventNode()
    db = node.state.keyspace[0]
    node("set", "k", "a")
    for cmd, breaks in ((("setbit", "k", "1", "1"), False), (("setbit", "k", "0", "1"), True),
                        (("bitfield", "k", "set", "u8", "0", "1"), True), (("bitfield", "k", "get", "u8", "0"), False),
                        (("bitop", "or", "k", "k"), True)):
        node.client.dirty_cas = False
        db.watched[b"k"] = {node.client}
        node(*cmd)
        assert node.client.dirty_cas == breaks, cmd
