"""Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

A bitmap is a string; bit 0 is the most significant bit of byte 0. Commands that write bits turn the value into a
`bytearray` and edit it in place (Redis's dbUnshareStringValue: the value becomes a "raw" string), so setting
one bit of a 512 MB bitmap costs one byte, not a copy.

Checks, replies, `dirty` counts and keyspace events follow Redis 7.0's bitops.c, including its quirks: BITCOUNT
on a missing key answers 0 before looking at its other arguments, BITPOS parses the bit first, a `#N` BITFIELD
offset is N times the field width computed in a wrapping 64-bit integer.
"""
from __future__ import annotations

import re

from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..numbers import string2ll, wrap64
from .registry import command
from .strings import option_word

BIT_OFFSET_ERR = "ERR bit offset is not an integer or out of range"
BIT_VALUE_ERR = "ERR bit is not an integer or out of range"
BITFIELD_TYPE_ERR = ("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 "
                     "is.")

_NOT_ZERO = re.compile(rb"[^\x00]")
_NOT_FF = re.compile(rb"[^\xff]")


def _notify(c, event: str, key: bytes, cls: str = "$") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def _read_string(c, key):
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is bytes or v.__class__ is bytearray:
        return v
    raise CommandError(WRONGTYPE)


def _ll(b: bytes) -> int:
    v = string2ll(b)
    if v is None:
        raise CommandError(NOT_INTEGER)
    return v


def _bit_offset(c, arg: bytes, field_bits: int = 0) -> int:
    """getBitOffsetFromArgument: a bit offset, or `#N` (N fields of `field_bits`) where BITFIELD allows it.
    Offsets whose byte lies beyond proto-max-bulk-len are refused before anything is allocated."""
    use_hash = field_bits > 0 and arg[:1] == b"#"
    v = string2ll(arg[1:] if use_hash else arg)
    if v is None:
        raise CommandError(BIT_OFFSET_ERR)
    if use_hash:
        v = wrap64(v * field_bits)
    if v < 0 or (not c.is_master_link and (v >> 3) >= c.state.config["proto-max-bulk-len"]):
        raise CommandError(BIT_OFFSET_ERR)
    return v


def _string_for_bit_write(c, key: bytes, max_bit: int):
    """lookupStringForBitCommand: the key's value as a bytearray at least (max_bit/8 + 1) bytes long, created or
    grown with zero bytes. Returns (value, grew) where `grew` says a key was created or lengthened."""
    db = c.db
    need = (max_bit >> 3) + 1
    v = db.get(key)
    if v is None:
        v = bytearray(need)
        db.add(key, v)
        return v, True
    if v.__class__ is bytes:
        # same content, new representation: no change anyone could observe, so no WATCH/tracking signal
        v = bytearray(v)
        db.set_representation(key, v)
    elif v.__class__ is not bytearray:
        raise CommandError(WRONGTYPE)
    if len(v) < need:
        v.extend(bytes(need - len(v)))
        return v, True
    return v, False


# --------------------------------------------------------------------------------------------------- SETBIT / GETBIT


@command("setbit")
def setbit(c, argv):
    key = argv[1]
    offset = _bit_offset(c, argv[2])
    on = string2ll(argv[3])
    if on is None or on & ~1:
        raise CommandError(BIT_VALUE_ERR)
    v, grew = _string_for_bit_write(c, key, offset)
    byte = offset >> 3
    shift = 7 - (offset & 7)
    old = (v[byte] >> shift) & 1
    if grew or old != on:
        if on:
            v[byte] |= 1 << shift
        else:
            v[byte] &= ~(1 << shift) & 0xFF
        c.db.touch(key)
        _notify(c, "setbit", key)
        c.state.dirty += 1
    return old


@command("getbit")
def getbit(c, argv):
    offset = _bit_offset(c, argv[2])
    v = _read_string(c, argv[1])
    if v is None:
        return 0
    byte = offset >> 3
    if byte >= len(v):
        return 0
    return (v[byte] >> (7 - (offset & 7))) & 1


# --------------------------------------------------------------------------------------------------- ranges


def _range(argv, start_i: int, end_i: int | None, unit_i: int, length: int):
    """Start/end of a BITCOUNT/BITPOS range, clamped as Redis clamps it. Returns (start, end, is_bit) in bits when
    is_bit else bytes; `end` may be below `start` (an empty range)."""
    start = _ll(argv[start_i])
    is_bit = False
    if len(argv) > unit_i:
        unit = option_word(argv[unit_i])
        if unit == b"bit":
            is_bit = True
        elif unit != b"byte":
            raise CommandError(SYNTAX)
    end = _ll(argv[end_i]) if end_i is not None else length - 1
    total = length * 8 if is_bit else length
    if start < 0:
        start += total
    if end < 0:
        end += total
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= total:
        end = total - 1
    return start, end, is_bit


def _popcount(v, first_byte: int, last_byte: int) -> int:
    return int.from_bytes(memoryview(v)[first_byte:last_byte + 1], "big").bit_count()


@command("bitcount")
def bitcount(c, argv):
    v = _read_string(c, argv[1])
    if v is None:
        return 0
    n = len(argv)
    if n == 2:
        return _popcount(v, 0, len(v) - 1) if v else 0
    if n not in (4, 5):
        raise CommandError(SYNTAX)
    # BITCOUNT parses start and end before the unit
    start = _ll(argv[2])
    end = _ll(argv[3])
    if start < 0 and end < 0 and start > end:
        return 0  # before the unit is even looked at
    start, end, is_bit = _range(argv, 2, 3, 4, len(v))
    if start > end:
        return 0
    if not is_bit:
        return _popcount(v, start, end)
    count = _popcount(v, start >> 3, end >> 3)
    # drop the bits of the edge bytes that lie outside the range
    head = start & 7
    if head:
        count -= (v[start >> 3] >> (8 - head)).bit_count()
    tail = 7 - (end & 7)
    if tail:
        count -= (v[end >> 3] & ((1 << tail) - 1)).bit_count()
    return count


def _first_bit(v, lo: int, hi: int, bit: int) -> int:
    """Position of the first bit equal to `bit` in bit positions lo..hi of v, or -1."""
    first, last = lo >> 3, hi >> 3
    head_mask = (0xFF << (8 - (lo & 7))) & 0xFF  # bits before lo in its byte
    tail_mask = (1 << (7 - (hi & 7))) - 1  # bits after hi in its byte

    def masked(i: int, mask: int) -> int:
        b = v[i]
        return b & ~mask & 0xFF if bit else b | mask

    def in_byte(b: int) -> int:
        """Index (0 = MSB) of the first wanted bit in byte b, or 8."""
        if not bit:
            b = ~b & 0xFF
        return 8 - b.bit_length() if b else 8

    if first == last:
        p = in_byte(masked(first, head_mask | tail_mask))
        return first * 8 + p if p < 8 else -1
    p = in_byte(masked(first, head_mask))
    if p < 8:
        return first * 8 + p
    if last > first + 1:
        m = (_NOT_ZERO if bit else _NOT_FF).search(v, first + 1, last)
        if m is not None:
            i = m.start()
            return i * 8 + in_byte(v[i])
    p = in_byte(masked(last, tail_mask))
    return last * 8 + p if p < 8 else -1


@command("bitpos")
def bitpos(c, argv):
    bit = _ll(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    v = c.db.lookup_read(argv[1])
    if v is None:
        # a missing key is an endless run of zeros
        return -1 if bit else 0
    if v.__class__ is not bytes and v.__class__ is not bytearray:
        raise CommandError(WRONGTYPE)
    n = len(argv)
    end_given = n >= 5
    if n == 3:
        start, end, is_bit = 0, len(v) - 1, False
    elif n <= 6:
        start, end, is_bit = _range(argv, 3, 4 if end_given else None, 5, len(v))
    else:
        raise CommandError(SYNTAX)
    if start > end:
        return -1
    lo, hi = (start, end) if is_bit else (start * 8, end * 8 + 7)
    pos = _first_bit(v, lo, hi, bit)
    if pos == -1 and bit == 0 and not end_given:
        # without an explicit end, the string is taken as followed by zeros
        return (hi >> 3) * 8 + 8
    return pos


# --------------------------------------------------------------------------------------------------- BITOP


@command("bitop")
def bitop(c, argv):
    op = option_word(argv[1])
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    srcs = []
    for key in argv[3:]:
        v = _read_string(c, key)
        srcs.append(b"" if v is None else v)
    maxlen = max(len(s) for s in srcs)
    dest = argv[2]
    db = c.db
    if not maxlen:
        if db.delete(dest):
            _notify(c, "del", dest, "g")
            c.state.dirty += 1
        return 0

    def as_int(s) -> int:
        # a shorter source is padded with zero bytes at its end
        return int.from_bytes(s, "big") << (8 * (maxlen - len(s)))

    # one source at a time, so a few large bitmaps never sit in memory as integers all at once
    acc = as_int(srcs[0])
    if op == b"not":
        acc = ~acc & ((1 << (8 * maxlen)) - 1)
    for s in srcs[1:]:
        if op == b"and":
            acc &= as_int(s)
        elif op == b"or":
            acc |= as_int(s)
        else:
            acc ^= as_int(s)
    db.set(dest, bytearray(acc.to_bytes(maxlen, "big")))
    _notify(c, "set", dest)
    c.state.dirty += 1
    return maxlen


# --------------------------------------------------------------------------------------------------- BITFIELD

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2
_OVERFLOW_TYPES = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}


def _field_type(arg: bytes) -> tuple[bool, int]:
    """(signed, bits) from "i8", "u16"... (i1..i64, u1..u63). Redis reads the width as a C string, so it ends at
    the first NUL byte."""
    kind = arg[:1]
    if kind not in (b"i", b"u"):
        raise CommandError(BITFIELD_TYPE_ERR)
    signed = kind == b"i"
    bits = string2ll(arg[1:].split(b"\0", 1)[0])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BITFIELD_TYPE_ERR)
    return signed, bits


def _get_field(v, offset: int, bits: int, signed: bool) -> int:
    """The field at bit `offset`, reading past the end of v as zeros."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    width = last - first + 1
    chunk = bytes(v[first:last + 1]) if v is not None else b""
    x = int.from_bytes(chunk.ljust(width, b"\0"), "big")
    x = (x >> (width * 8 - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and x >> (bits - 1):
        x -= 1 << bits
    return x


def _set_field(v: bytearray, offset: int, bits: int, value: int) -> None:
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    width = last - first + 1
    shift = width * 8 - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    x = int.from_bytes(v[first:last + 1], "big")
    x = (x & ~mask) | ((value << shift) & mask)
    v[first:last + 1] = x.to_bytes(width, "big")


def _fit(value: int, signed: bool, bits: int, overflow: int):
    """Fit the exact result `value` into the field: (stored value, ok). ok is False only for OVERFLOW FAIL."""
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    if lo <= value <= hi:
        return value, True
    if overflow == _FAIL:
        return None, False
    if overflow == _SAT:
        return (hi if value > hi else lo), True
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value, True


def _bitfield(c, argv, readonly_cmd: bool):
    ops = []
    overflow = _WRAP
    writes = False
    highest = 0
    n = len(argv)
    j = 2
    while j < n:
        sub = option_word(argv[j])
        left = n - j - 1
        if sub == b"get" and left >= 2:
            opcode = _GET
        elif sub == b"set" and left >= 3:
            opcode = _SET
        elif sub == b"incrby" and left >= 3:
            opcode = _INCRBY
        elif sub == b"overflow" and left >= 1:
            overflow = _OVERFLOW_TYPES.get(option_word(argv[j + 1]), -1)
            if overflow < 0:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            j += 2
            continue
        else:
            raise CommandError(SYNTAX)
        signed, bits = _field_type(argv[j + 1])
        offset = _bit_offset(c, argv[j + 2], bits)
        arg = 0
        if opcode != _GET:
            writes = True
            highest = max(highest, offset + bits - 1)
            arg = _ll(argv[j + 3])
        ops.append((opcode, signed, bits, offset, arg, overflow))
        j += 3 if opcode == _GET else 4

    key = argv[1]
    if not writes:
        v = _read_string(c, key)
    else:
        if readonly_cmd:
            raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
        v, _ = _string_for_bit_write(c, key, highest)

    out = []
    changes = 0
    for opcode, signed, bits, offset, arg, ow in ops:
        if opcode == _GET:
            out.append(_get_field(v, offset, bits, signed))
            continue
        old = _get_field(v, offset, bits, signed)
        if opcode == _INCRBY:
            new, ok = _fit(old + arg, signed, bits, ow)
            reply = new
        else:
            # SET takes a 64-bit argument; an unsigned field sees it as its unsigned 64-bit pattern
            new, ok = _fit(arg if signed else arg & 0xFFFFFFFFFFFFFFFF, signed, bits, ow)
            reply = old
        if not ok:
            out.append(None)
            continue
        _set_field(v, offset, bits, new)
        out.append(reply)
        changes += 1
    if changes:
        c.db.touch(key)
        _notify(c, "setbit", key)
        c.state.dirty += changes
    return out


@command("bitfield")
def bitfield(c, argv):
    return _bitfield(c, argv, False)


@command("bitfield_ro")
def bitfield_ro(c, argv):
    return _bitfield(c, argv, True)
