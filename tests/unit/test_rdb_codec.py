"""The RDB building blocks without sockets: CRC64, lengths, string encodings, LZF, listpack, intset, ziplist,
zipmap.

Byte strings marked "from Redis" were read from Debian's redis-server 7.0.15 (DUMP with rdbcompression no)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.node.persistence import encodings as enc
from shoal.node.persistence import lzf, rdb
from shoal.node.persistence.crc64 import crc64
from shoal.node.persistence.rdb_read import Reader
from shoal.node.persistence.rdb_write import encode_length, encode_string
from tests.unit.rdb_builders import ziplist, zipmap

I64 = st.integers(-(1 << 63), (1 << 63) - 1)


# ----------------------------------------------------------------------------------------------------- CRC64

def test_crc64_check_value_and_chunks():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"56789", crc64(b"1234")) == 0xE9C6D914C4B8D9CA
    assert crc64(b"") == 0
    assert crc64(memoryview(b"123456789")) == crc64(bytearray(b"123456789"))


@given(st.binary(max_size=300), st.integers(0, 300))
def test_crc64_any_split(data, cut):
    cut = min(cut, len(data))
    assert crc64(data[cut:], crc64(data[:cut])) == crc64(data)


# ----------------------------------------------------------------------------------------------------- lengths

@pytest.mark.parametrize("n, encoded", [
    (0, b"\x00"), (63, b"\x3f"), (64, b"\x40\x40"), (16383, b"\x7f\xff"), (16384, b"\x80\x00\x00\x40\x00"),
    (2**32 - 1, b"\x80\xff\xff\xff\xff"), (2**32, b"\x81" + (2**32).to_bytes(8, "big")),
    (2**64 - 1, b"\x81" + b"\xff" * 8),
])
def test_length_encodings(n, encoded):
    assert encode_length(n) == encoded
    r = Reader(encoded)
    assert r.length() == n and r.pos == len(encoded)


def test_length_bad_marker_and_truncation():
    with pytest.raises(rdb.RdbError) as e:
        Reader(b"\x82\x00").length()
    assert e.value.offset == 0
    with pytest.raises(rdb.RdbError) as e:
        Reader(b"\x80\x00\x00").length()
    assert e.value.offset == 1 and "end of data" in str(e.value)
    with pytest.raises(rdb.RdbError):
        Reader(b"\xc0\x01").length()  # a string encoding where a plain length must be


# ----------------------------------------------------------------------------------------------------- strings

@pytest.mark.parametrize("s, encoded", [
    (b"0", b"\xc0\x00"), (b"-128", b"\xc0\x80"), (b"127", b"\xc0\x7f"), (b"128", b"\xc1\x80\x00"),
    (b"-32768", b"\xc1\x00\x80"), (b"32768", b"\xc2\x00\x80\x00\x00"),
    (b"2147483647", b"\xc2\xff\xff\xff\x7f"), (b"-2147483648", b"\xc2\x00\x00\x00\x80"),
    # not 32-bit, not canonical, or too long: raw
    (b"2147483648", b"\x0a2147483648"), (b"01", b"\x0201"), (b"-0", b"\x02-0"), (b"+1", b"\x02+1"),
    (b"", b"\x00"), (b" 1", b"\x02 1"), (b"12345678901", b"\x0b12345678901"),
])
def test_string_encodings(s, encoded):
    assert encode_string(s) == encoded
    r = Reader(encoded)
    assert r.string() == s and r.pos == len(encoded)


@given(st.binary(max_size=70000))
@settings(max_examples=60)
def test_string_round_trip(s):
    r = Reader(encode_string(s))
    assert r.string() == s


@given(I64)
def test_integer_strings_round_trip(i):
    s = b"%d" % i
    r = Reader(encode_string(s))
    assert r.string() == s


def test_lzf_string_in_rdb():
    payload = b"abcabcabc" * 10
    comp = lzf.compress(payload)
    encoded = b"\xc3" + encode_length(len(comp)) + encode_length(len(payload)) + comp
    assert Reader(encoded).string() == payload
    # the declared length is checked
    bad = b"\xc3" + encode_length(len(comp)) + encode_length(len(payload) + 1) + comp
    with pytest.raises(rdb.RdbError, match="LZF"):
        Reader(bad).string()


def test_unknown_string_encoding():
    with pytest.raises(rdb.RdbError, match="unknown string encoding") as e:
        Reader(b"\xc5").string()
    assert e.value.offset == 0


# ----------------------------------------------------------------------------------------------------- LZF

def test_lzf_known_vectors():
    # literal "abc", then a back reference of 6 bytes at distance 3 (overlapping its own output)
    assert lzf.decompress(b"\x02abc\x80\x02", 9) == b"abcabcabc"
    # a long reference: length 7 + 3 + 2 = 12 at distance 1
    assert lzf.decompress(b"\x00x\xe0\x03\x00", 13) == b"x" * 13
    assert lzf.decompress(b"", 0) == b""


@pytest.mark.parametrize("data, n, what", [
    (b"\x05ab", 6, "past the end"),  # literal run longer than the input
    (b"\x00a\x20\x05", 4, "before the start"),  # reference too far back
    (b"\x00a\x20", 4, "truncated"),
    (b"\x02abc", 4, "declared"),  # expands to 3, not 4
    (b"\x02abc\x80\x02", 5, "past its declared"),
])
def test_lzf_corrupt(data, n, what):
    with pytest.raises(lzf.LzfError, match=what):
        lzf.decompress(data, n)


@given(st.one_of(st.binary(max_size=3000),
                 st.lists(st.sampled_from([b"ab", b"abc", b"x" * 40, b"\x00"]), max_size=300).map(b"".join)))
@settings(max_examples=150)
def test_lzf_round_trip(data):
    assert lzf.decompress(lzf.compress(data), len(data)) == data


def test_lzf_compresses_repetition():
    data = b"hello world " * 1000
    assert len(lzf.compress(data)) < len(data) // 20


# ----------------------------------------------------------------------------------------------------- listpack

# from Redis: DUMP of HSET h a 1 b xyz, and of SADD s 1 2 3 -70000
HASH_DUMP = b'\x10\x14\x14\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x83xyz\x04\xff\n\x00.,"ne=\x1f\xc4'
INTSET_DUMP = (b"\x0b\x18\x04\x00\x00\x00\x04\x00\x00\x00\x90\xee\xfe\xff\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00"
               b"\x00\x00\n\x00\xa8\xb6<b,\xbf,\x9c")


def test_listpack_matches_redis_bytes():
    assert enc.listpack([b"a", b"1", b"b", b"xyz"]) == HASH_DUMP[2:-10]


@pytest.mark.parametrize("v", [0, 127, 128, -1, -4096, 4095, 4096, -4097, 32767, -32768, 32768, 8388607,
                               -8388608, 8388608, 2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63])
def test_listpack_integers(v):
    assert enc.read_listpack(enc.listpack([v, b"%d" % v])) == [v, v]


@pytest.mark.parametrize("n", [0, 1, 63, 64, 127, 128, 4095, 4096, 16382, 16383, 20000, 2097160])
def test_listpack_string_sizes(n):
    s = b"s" * n
    blob = enc.listpack([s, b"tail"])
    assert enc.read_listpack(blob) == [s, b"tail"]


@given(st.lists(st.one_of(st.binary(max_size=300), I64,
                          I64.map(lambda i: b"%d" % i)), max_size=40))
def test_listpack_round_trip(items):
    expected = [x if isinstance(x, int) else (enc.as_int(x) if enc.as_int(x) is not None else x) for x in items]
    assert enc.read_listpack(enc.listpack(items)) == expected


@pytest.mark.parametrize("blob, what", [
    (b"\x07\x00\x00\x00\x00\x00", "shorter"),
    (b"\x08\x00\x00\x00\x00\x00\xff", "header says"),
    (b"\x07\x00\x00\x00\x01\x00\xff", "counts 1"),
    (b"\x09\x00\x00\x00\x01\x00\x05\x01\x00", "terminator"),
    (b"\x09\x00\x00\x00\x01\x00\x05\x02\xff", "back-length"),
    (b"\x09\x00\x00\x00\x01\x00\xf5\x01\xff", "encoding"),
    (b"\x0a\x00\x00\x00\x01\x00\x85ab\xff", "past the end"),
])
def test_listpack_corrupt(blob, what):
    with pytest.raises(enc.BlobError, match=what):
        enc.read_listpack(blob)


# ----------------------------------------------------------------------------------------------------- intset

@pytest.mark.parametrize("values, width", [([], 2), ([1, 2, 3], 2), ([-32768, 32767], 2), ([-32769], 4),
                                           ([2**31 - 1], 4), ([2**31], 8), ([-2**63, 2**63 - 1], 8)])
def test_intset_widths(values, width):
    blob = enc.intset(values)
    assert int.from_bytes(blob[:4], "little") == width
    assert enc.read_intset(blob) == values


def test_intset_matches_redis_bytes():
    assert enc.intset([-70000, 1, 2, 3]) == INTSET_DUMP[2:-10]


def test_dump_payloads_match_redis():
    for payload in (HASH_DUMP, INTSET_DUMP):
        assert rdb.dump_payload(rdb.restore_payload(payload, None)) == payload


@pytest.mark.parametrize("blob, what", [
    (b"\x02\x00\x00", "shorter"),
    (b"\x03\x00\x00\x00\x00\x00\x00\x00", "width 3"),
    (b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00", "does not fill"),
    (b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00", "sorted"),
    (b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x01\x00", "sorted"),
])
def test_intset_corrupt(blob, what):
    with pytest.raises(enc.BlobError, match=what):
        enc.read_intset(blob)


# ----------------------------------------------------------------------------------------------------- ziplist, zipmap

def test_ziplist_every_encoding():
    items = [0, 12, 13, -1, -128, 127, 128, -32768, 32767, 40000, -(1 << 23), (1 << 23) - 1, 1 << 23,
             2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63, b"", b"x" * 63, b"y" * 64, b"z" * 16383, b"w" * 16384,
             b"after a big entry: prevlen takes 5 bytes"]
    assert enc.read_ziplist(ziplist(items)) == items


@given(st.lists(st.one_of(st.binary(max_size=300), I64), max_size=30))
def test_ziplist_round_trip(items):
    assert enc.read_ziplist(ziplist(items)) == items


def test_ziplist_corrupt():
    good = ziplist([b"ab", 5])
    with pytest.raises(enc.BlobError, match="header says"):
        enc.read_ziplist(good[:-1])
    bad_prev = bytearray(good)
    bad_prev[10 + 4] = 9  # the second entry's previous-length field
    with pytest.raises(enc.BlobError, match="previous-length"):
        enc.read_ziplist(bytes(bad_prev))
    bad_enc = bytearray(good)
    bad_enc[11] = 0xC8
    with pytest.raises(enc.BlobError):
        enc.read_ziplist(bytes(bad_enc))


def test_zipmap():
    pairs = [(b"a", b"1"), (b"long" * 100, b"v" * 300), (b"", b"")]
    assert enc.read_zipmap(zipmap(pairs)) == [x for p in pairs for x in p]
    with pytest.raises(enc.BlobError):
        enc.read_zipmap(zipmap(pairs)[:-1])
