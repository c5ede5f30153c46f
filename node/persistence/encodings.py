"""Redis's compact blobs as they appear inside RDB files: listpack (written and read), intset (written and read),
ziplist and zipmap (read only: Redis 7.0 no longer writes them, but loads files that older versions wrote).

Every reader takes the blob as bytes and returns plain Python values; a malformed blob raises `BlobError` with the
offset inside the blob, which the RDB reader turns into a file offset.

Listpack (Redis 7.0's listpack.c), little endian:
    <total bytes: u32> <element count: u16, 65535 = "count them"> <entry>... <0xFF>
    entry = <encoding byte(s)> <data> <backlen: the size of encoding + data, 1..5 bytes, read right to left>
    encodings: 0xxxxxxx 7-bit uint | 10xxxxxx 6-bit string length | 110xxxxx +1 byte: 13-bit int |
               1110xxxx +1 byte: 12-bit string length | 0xF0 + u32 string length | 0xF1 int16 | 0xF2 int24 |
               0xF3 int32 | 0xF4 int64
A string that is the canonical spelling of a 64-bit integer is stored as that integer (lpStringToInt64), so the
writer does the same conversion and the reader hands back ints where the blob holds ints.

Ziplist (Redis <= 6.2):
    <total bytes: u32> <tail offset: u32> <count: u16> <entry>... <0xFF>
    entry = <prevlen: 1 byte, or 0xFE + u32> <encoding> <data>
    encodings: 00xxxxxx 6-bit string length | 01xxxxxx +1 byte (big endian) 14-bit length |
               0x80 + u32 big-endian length | 0xC0 int16 | 0xD0 int32 | 0xE0 int64 | 0xF0 int24 | 0xFE int8 |
               0xF1..0xFD immediate 0..12
Intset: <encoding: u32, 2/4/8 bytes per element> <count: u32> <sorted little-endian signed integers>
Zipmap (Redis <= 2.4 hashes): <count byte> (<len> key <len> <free byte> value <free bytes>)... 0xFF,
    where <len> is one byte below 254, or 0xFE + u32.
"""
from __future__ import annotations

import re
import struct

_INT_RE = re.compile(rb"-?[1-9][0-9]{0,18}|0")
_LLONG_MIN = -(1 << 63)
_LLONG_MAX = (1 << 63) - 1
LP_HEADER = 6


class BlobError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def as_int(s: bytes) -> int | None:
    """The integer `s` spells canonically (no sign '+', no leading zeros, no spaces, in 64-bit range), or None."""
    if len(s) > 20 or _INT_RE.fullmatch(s) is None:
        return None
    v = int(s)
    if v < _LLONG_MIN or v > _LLONG_MAX:
        return None
    return v


# ----------------------------------------------------------------------------------------------------- listpack

def _backlen(n: int) -> bytes:
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128, (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                  (n & 127) | 128))


# small integers are the most common listpack elements (stream IDs deltas, counts, small values): precomputed
_LP_SMALL = [bytes((v, 1)) for v in range(128)]


def lp_int(v: int) -> bytes:
    """A whole listpack entry (encoding, data, backlen) holding integer v."""
    if 0 <= v <= 127:
        return _LP_SMALL[v]
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + (v & 0xFFFF).to_bytes(2, "little") + b"\x03"
    if -8388608 <= v <= 8388607:
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -2147483648 <= v <= 2147483647:
        return b"\xf3" + (v & 0xFFFFFFFF).to_bytes(4, "little") + b"\x05"
    return b"\xf4" + (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + b"\x09"


def lp_str(s) -> bytes:
    """A whole listpack entry for string s, stored as an integer when it spells one canonically."""
    n = len(s)
    if n <= 20 and n:
        c = s[0]
        if 48 <= c <= 57 or c == 45:
            v = as_int(bytes(s))
            if v is not None:
                return lp_int(v)
    if n < 64:
        return bytes((0x80 | n,)) + s + bytes((n + 1,))
    if n < 4096:
        return bytes((0xE0 | (n >> 8), n & 0xFF)) + s + _backlen(n + 2)
    return b"\xf0" + n.to_bytes(4, "little") + s + _backlen(n + 5)


def lp_element(x) -> bytes:
    return lp_int(x) if x.__class__ is int else lp_str(x)


def listpack_from_entries(entries: list[bytes]) -> bytes:
    """A listpack from already-encoded entries (see lp_int / lp_str)."""
    body = b"".join(entries)
    total = LP_HEADER + len(body) + 1
    count = len(entries)
    return total.to_bytes(4, "little") + (count if count < 65535 else 65535).to_bytes(2, "little") + body + b"\xff"


def listpack(items) -> bytes:
    """A listpack of `items` (bytes-like or int)."""
    return listpack_from_entries([lp_int(x) if x.__class__ is int else lp_str(x) for x in items])


def entry_size(x) -> int:
    return len(lp_element(x))


def read_listpack(blob) -> list:
    """The elements of a listpack: ints for integer entries, bytes for strings."""
    n = len(blob)
    if n < LP_HEADER + 1:
        raise BlobError("listpack shorter than its header", 0)
    total = int.from_bytes(blob[0:4], "little")
    if total != n:
        raise BlobError("listpack header says %d bytes, blob has %d" % (total, n), 0)
    declared = int.from_bytes(blob[4:6], "little")
    out: list = []
    append = out.append
    i = LP_HEADER
    end = n - 1
    while i < end:
        start = i
        b = blob[i]
        if b < 0x80:
            append(b)
            i += 1
        elif b < 0xC0:
            ln = b & 0x3F
            i += 1
            append(blob[i:i + ln])
            i += ln
        elif b < 0xE0:
            v = ((b & 0x1F) << 8) | blob[i + 1]
            append(v - 0x2000 if v >= 0x1000 else v)
            i += 2
        elif b < 0xF0:
            ln = ((b & 0x0F) << 8) | blob[i + 1]
            i += 2
            append(blob[i:i + ln])
            i += ln
        elif b == 0xF0:
            ln = int.from_bytes(blob[i + 1:i + 5], "little")
            i += 5
            append(blob[i:i + ln])
            i += ln
        elif b == 0xF1:
            append(int.from_bytes(blob[i + 1:i + 3], "little", signed=True))
            i += 3
        elif b == 0xF2:
            append(int.from_bytes(blob[i + 1:i + 4], "little", signed=True))
            i += 4
        elif b == 0xF3:
            append(int.from_bytes(blob[i + 1:i + 5], "little", signed=True))
            i += 5
        elif b == 0xF4:
            append(int.from_bytes(blob[i + 1:i + 9], "little", signed=True))
            i += 9
        else:
            raise BlobError("bad listpack entry encoding 0x%02x" % b, i)
        if i > end:
            raise BlobError("listpack entry runs past the end", start)
        # skip the backlen, checking it names the entry's size
        size = i - start
        bl = _backlen(size)
        if blob[i:i + len(bl)] != bl:
            raise BlobError("listpack entry back-length does not match", i)
        i += len(bl)
    if i != end or blob[end] != 0xFF:
        raise BlobError("listpack does not end with its terminator", min(i, end))
    if declared != 65535 and declared != len(out):
        raise BlobError("listpack header counts %d elements, found %d" % (declared, len(out)), 4)
    return out


# ----------------------------------------------------------------------------------------------------- intset

_INTSET_FMT = {2: "h", 4: "i", 8: "q"}


def intset(values) -> bytes:
    """An intset of sorted, distinct ints."""
    values = list(values)
    if not values:
        width = 2
    else:
        lo, hi = values[0], values[-1]
        if -32768 <= lo and hi <= 32767:
            width = 2
        elif -2147483648 <= lo and hi <= 2147483647:
            width = 4
        else:
            width = 8
    n = len(values)
    return struct.pack("<II%d%s" % (n, _INTSET_FMT[width]), width, n, *values)


def read_intset(blob) -> list[int]:
    """The integers of an intset, checked to be sorted and distinct."""
    if len(blob) < 8:
        raise BlobError("intset shorter than its header", 0)
    width, count = struct.unpack_from("<II", blob, 0)
    fmt = _INTSET_FMT.get(width)
    if fmt is None:
        raise BlobError("intset element width %d is not 2, 4 or 8" % width, 0)
    if 8 + width * count != len(blob):
        raise BlobError("intset of %d elements of %d bytes does not fill its %d bytes" % (count, width, len(blob)),
                        4)
    values = list(struct.unpack_from("<%d%s" % (count, fmt), blob, 8))
    for k in range(1, count):
        if values[k - 1] >= values[k]:
            raise BlobError("intset elements are not sorted and distinct", 8 + width * k)
    return values


# ----------------------------------------------------------------------------------------------------- ziplist

def read_ziplist(blob) -> list:
    """The elements of a ziplist: ints for integer entries, bytes for strings."""
    n = len(blob)
    if n < 11:
        raise BlobError("ziplist shorter than its header", 0)
    total = int.from_bytes(blob[0:4], "little")
    if total != n:
        raise BlobError("ziplist header says %d bytes, blob has %d" % (total, n), 0)
    declared = int.from_bytes(blob[8:10], "little")
    out: list = []
    append = out.append
    i = 10
    end = n - 1
    prev_size = 0
    while i < end:
        start = i
        b = blob[i]
        if b < 254:
            prevlen = b
            i += 1
        elif b == 254:
            prevlen = int.from_bytes(blob[i + 1:i + 5], "little")
            i += 5
        else:
            break  # the terminator
        if prevlen != prev_size:
            raise BlobError("ziplist entry's previous-length field is wrong", start)
        e = blob[i]
        kind = e >> 6
        if kind == 0:
            ln = e & 0x3F
            i += 1
            append(blob[i:i + ln])
            i += ln
        elif kind == 1:
            ln = ((e & 0x3F) << 8) | blob[i + 1]
            i += 2
            append(blob[i:i + ln])
            i += ln
        elif e == 0x80:
            ln = int.from_bytes(blob[i + 1:i + 5], "big")
            i += 5
            append(blob[i:i + ln])
            i += ln
        elif e == 0xC0:
            append(int.from_bytes(blob[i + 1:i + 3], "little", signed=True))
            i += 3
        elif e == 0xD0:
            append(int.from_bytes(blob[i + 1:i + 5], "little", signed=True))
            i += 5
        elif e == 0xE0:
            append(int.from_bytes(blob[i + 1:i + 9], "little", signed=True))
            i += 9
        elif e == 0xF0:
            append(int.from_bytes(blob[i + 1:i + 4], "little", signed=True))
            i += 4
        elif e == 0xFE:
            append(int.from_bytes(blob[i + 1:i + 2], "little", signed=True))
            i += 2
        elif 0xF1 <= e <= 0xFD:
            append((e & 0x0F) - 1)
            i += 1
        else:
            raise BlobError("bad ziplist entry encoding 0x%02x" % e, i)
        if i > end:
            raise BlobError("ziplist entry runs past the end", start)
        prev_size = i - start
    if i != end or blob[end] != 0xFF:
        raise BlobError("ziplist does not end with its terminator", min(i, end))
    if declared != 65535 and declared != len(out):
        raise BlobError("ziplist header counts %d elements, found %d" % (declared, len(out)), 8)
    return out


# ----------------------------------------------------------------------------------------------------- zipmap

def read_zipmap(blob) -> list[bytes]:
    """The keys and values of a zipmap, flat: [k1, v1, k2, v2, ...]."""
    n = len(blob)
    if n < 2:
        raise BlobError("zipmap shorter than its header", 0)
    out: list[bytes] = []
    i = 1
    while True:
        if i >= n:
            raise BlobError("zipmap has no terminator", n)
        b = blob[i]
        if b == 0xFF:
            i += 1
            break
        for is_value in (False, True):
            b = blob[i]
            if b < 254:
                ln = b
                i += 1
            elif b == 254:
                ln = int.from_bytes(blob[i + 1:i + 5], "little")
                i += 5
            else:
                raise BlobError("zipmap entry ends early", i)
            free = 0
            if is_value:
                free = blob[i]
                i += 1
            if i + ln > n:
                raise BlobError("zipmap entry runs past the end", i)
            out.append(bytes(blob[i:i + ln]))
            i += ln + free
    if i != n:
        raise BlobError("zipmap has bytes after its terminator", i)
    return out
