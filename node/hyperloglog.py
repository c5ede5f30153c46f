"""HyperLogLog in Redis 7.0's own byte format (hyperloglog.c), so that GET returns exactly Redis's bytes after
the same PFADDs, and a value copied from Redis works here.

Layout (a plain string value):

    "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | 8-byte cached cardinality, little endian, its top
    bit set when the cache is stale | registers

* 16384 registers (P = 14), each the longest run of zeroes + 1 seen among the hashed elements that map to it.
  An element is hashed with MurmurHash64A (seed 0xadc83b19); the low 14 bits pick the register, the other 50
  give the run (1..51).
* Dense: 16384 registers of 6 bits packed little-endian-first into 12288 bytes (register i at bit 6*i).
* Sparse: run-length opcodes. ZERO `00xxxxxx` (1..64 zero registers), XZERO `01xxxxxx yyyyyyyy` (1..16384 zero
  registers), VAL `1vvvvvxx` (1..4 registers of value 1..32). A new HLL is one XZERO. A sparse HLL is promoted
  to dense when a value above 32 comes or when it would grow beyond `hll-sparse-max-bytes`.
* The estimate is Ertl's improved estimator (arXiv:1702.01284) that Redis 7.0 uses, over the histogram of
  register values, with the same double arithmetic and rounding.

Sparse updates follow Redis's `hllSparseSet` step by step (which opcode is split how, which neighbours are merged,
within its 5-opcode window), because the exact byte sequence is observable.

Costs: MurmurHash64A is O(length) with 8 bytes per step (~1.5 us for a short element). A dense PFADD is O(1) per
element after the hash (~3 us in all). A sparse PFADD scans the opcodes, O(sparse bytes) per element as in Redis
(bounded by hll-sparse-max-bytes), in C-level strides (see `_locate`): ~50 us near 3000 bytes.
The dense register histogram (PFCOUNT with a stale cache) and the register-wise max (PFMERGE, multi-key PFCOUNT)
are vectorized: 16384 registers are unpacked by `bytes.translate` on the three byte lanes plus big-integer ORs,
counted with `bytes.count`, and maxed with a SWAR subtract on 131072-bit integers: a few dozen C-level passes over
16 KB, not a 16384-step Python loop.
"""
from __future__ import annotations

import math
import re
from bisect import bisect_right
from itertools import accumulate

P = 14
REGISTERS = 1 << P  # 16384
P_MASK = REGISTERS - 1
BITS = 6
REGISTER_MAX = (1 << BITS) - 1
Q = 64 - P  # 50 bits of the hash left for the run
ALPHA_INF = 0.721347520444481703680
SEED = 0xADC83B19

HDR_SIZE = 16
REG_BYTES = (REGISTERS * BITS + 7) // 8  # 12288
DENSE_SIZE = HDR_SIZE + REG_BYTES
DENSE = 0
SPARSE = 1
MAX_ENCODING = 1
MAGIC = b"HYLL"

SPARSE_VAL_MAX_VALUE = 32
SPARSE_VAL_MAX_LEN = 4
SPARSE_ZERO_MAX_LEN = 64
SPARSE_XZERO_MAX_LEN = 16384

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
INVALID = "INVALIDOBJ Corrupted HLL object detected"

_M64 = 0xFFFFFFFFFFFFFFFF
_MURMUR_M = 0xC6A4A7935BD1E995


# --------------------------------------------------------------------------------------------------- hashing


def murmurhash64a(data: bytes, seed: int = SEED) -> int:
    """MurmurHash64A as Redis has it (little-endian 8-byte blocks, the tail read little-endian)."""
    m = _MURMUR_M
    n = len(data)
    h = (seed ^ (n * m)) & _M64
    full = n - (n & 7)
    if full:
        for k in memoryview(data)[:full].cast("Q"):
            k = (k * m) & _M64
            k ^= k >> 47
            k = (k * m) & _M64
            h ^= k
            h = (h * m) & _M64
    if n & 7:
        h ^= int.from_bytes(data[full:], "little")
        h = (h * m) & _M64
    h ^= h >> 47
    h = (h * m) & _M64
    h ^= h >> 47
    return h


def pat_len(element: bytes) -> tuple[int, int]:
    """hllPatLen: (register index, run length of zeroes + 1) for an element."""
    h = murmurhash64a(element)
    index = h & P_MASK
    h = (h >> P) | (1 << Q)  # the set bit at Q bounds the run at Q + 1
    return index, (h & -h).bit_length()


# --------------------------------------------------------------------------------------------------- header


def is_valid(value) -> bool:
    """isHLLObjectOrReply's checks on a string value: long enough, the magic, a known encoding, and a dense one of
    exactly the dense size."""
    if len(value) < HDR_SIZE or value[:4] != MAGIC:
        return False
    enc = value[4]
    if enc > MAX_ENCODING:
        return False
    return not (enc == DENSE and len(value) != DENSE_SIZE)


def cache_valid(buf) -> bool:
    return not buf[15] & 0x80


def cached_card(buf) -> int:
    return int.from_bytes(buf[8:16], "little")


def set_cached_card(buf: bytearray, card: int) -> None:
    buf[8:16] = (card & _M64).to_bytes(8, "little")


def invalidate_cache(buf: bytearray) -> None:
    buf[15] |= 0x80


def new_sparse() -> bytearray:
    """createHLLObject: an empty sparse HLL, one XZERO opcode covering every register, cached cardinality 0."""
    buf = bytearray(HDR_SIZE)
    buf[0:4] = MAGIC
    buf[4] = SPARSE
    xz = SPARSE_XZERO_MAX_LEN - 1
    buf += bytes(((xz >> 8) | 0x40, xz & 0xFF))
    return buf


# --------------------------------------------------------------------------------------------------- dense registers


def dense_get(buf, index: int) -> int:
    """HLL_DENSE_GET_REGISTER. The last register reads one byte past the registers: Redis's sds NUL, here 0."""
    pos = index * BITS
    byte = HDR_SIZE + (pos >> 3)
    fb = pos & 7
    b0 = buf[byte]
    b1 = buf[byte + 1] if byte + 1 < len(buf) else 0
    return ((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX


def dense_put(buf: bytearray, index: int, val: int) -> None:
    """HLL_DENSE_SET_REGISTER."""
    pos = index * BITS
    byte = HDR_SIZE + (pos >> 3)
    fb = pos & 7
    fb8 = 8 - fb
    buf[byte] = (buf[byte] & ~(REGISTER_MAX << fb) & 0xFF) | ((val << fb) & 0xFF)
    if byte + 1 < len(buf):
        buf[byte + 1] = (buf[byte + 1] & ~(REGISTER_MAX >> fb8) & 0xFF) | ((val >> fb8) & 0xFF)


def dense_set(buf: bytearray, index: int, count: int) -> int:
    """hllDenseSet: raise a register to `count`; 1 if it changed."""
    if count > dense_get(buf, index):
        dense_put(buf, index, count)
        return 1
    return 0


def _table(fn) -> bytes:
    return bytes(fn(b) & 0xFF for b in range(256))


_AND63 = _table(lambda b: b & 63)
_SHR6 = _table(lambda b: b >> 6)
_AND15_SHL2 = _table(lambda b: (b & 15) << 2)
_SHR4 = _table(lambda b: b >> 4)
_AND3_SHL4 = _table(lambda b: (b & 3) << 4)
_SHR2 = _table(lambda b: b >> 2)
_AND3_SHL6 = _table(lambda b: (b & 3) << 6)
_AND15_SHL4 = _table(lambda b: (b & 15) << 4)
_SHL2 = _table(lambda b: b << 2)
_LANES = REGISTERS // 4  # 4096 groups of 4 registers in 3 bytes


def _or(a: bytes, b: bytes) -> bytes:
    """Byte-wise OR of two equal-length byte strings, through big integers (one C pass each way)."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def unpack_dense(buf) -> bytes:
    """The 16384 dense registers, one byte each. Every 3 bytes hold 4 registers:
    r0 = b0 & 63, r1 = b0 >> 6 | (b1 & 15) << 2, r2 = b1 >> 4 | (b2 & 3) << 4, r3 = b2 >> 2."""
    regs = bytes(buf[HDR_SIZE:HDR_SIZE + REG_BYTES])
    b0, b1, b2 = regs[0::3], regs[1::3], regs[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_AND63)
    out[1::4] = _or(b0.translate(_SHR6), b1.translate(_AND15_SHL2))
    out[2::4] = _or(b1.translate(_SHR4), b2.translate(_AND3_SHL4))
    out[3::4] = b2.translate(_SHR2)
    return bytes(out)


def pack_dense(raw: bytes) -> bytes:
    """The inverse of unpack_dense: 16384 register bytes (each <= 63) as the 12288 dense bytes."""
    r0, r1, r2, r3 = raw[0::4], raw[1::4], raw[2::4], raw[3::4]
    out = bytearray(REG_BYTES)
    out[0::3] = _or(r0, r1.translate(_AND3_SHL6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_AND15_SHL4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_SHL2))
    return bytes(out)


_HIGH = int.from_bytes(b"\x80" * REGISTERS, "little")
_ALL = (1 << (8 * REGISTERS)) - 1


def registers_max(a: bytes, b: bytes) -> bytes:
    """Register-wise max of two 16384-byte register arrays (values < 128), SWAR on big integers: in every byte
    lane 0x80 + x - y cannot borrow, and its top bit says x >= y."""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    ge = (((x | _HIGH) - y) & _HIGH) >> 7
    mask = ge * 0xFF
    return ((x & mask) | (y & (mask ^ _ALL))).to_bytes(REGISTERS, "little")


# --------------------------------------------------------------------------------------------------- sparse opcodes

_XZERO_RE = re.compile(rb"[\x40-\x7f]")  # a byte that, where an opcode starts, is an XZERO

# span of a one-byte opcode (ZERO or VAL); 0 marks the first byte of an XZERO
_SPAN = bytes(((b & 0x3F) + 1) if b < 0x40 else (((b & 3) + 1) if b & 0x80 else 0) for b in range(256))


def _val_byte(value: int, length: int) -> int:
    return (((value - 1) << 2) | (length - 1)) | 0x80


def _zero_ops(length: int) -> bytes:
    """A zero run as one ZERO or one XZERO opcode (the split in hllSparseSet never needs more)."""
    if length > SPARSE_ZERO_MAX_LEN:
        n = length - 1
        return bytes(((n >> 8) | 0x40, n & 0xFF))
    return bytes((length - 1,))


def sparse_runs(buf):
    """The opcodes of a sparse HLL as (kind, registers, value) with kind 'z', 'Z' or 'v' (PFDEBUG DECODE). An
    XZERO cut short at the end reads 0 as its second byte, as Redis reads the sds NUL."""
    end = len(buf)
    p = HDR_SIZE
    while p < end:
        b = buf[p]
        if b < 0x40:
            yield "z", (b & 0x3F) + 1, 0
            p += 1
        elif b < 0x80:
            second = buf[p + 1] if p + 1 < end else 0
            yield "Z", (((b & 0x3F) << 8) | second) + 1, 0
            p += 2
        else:
            yield "v", (b & 3) + 1, ((b >> 2) & 0x1F) + 1
            p += 1


def sparse_histogram(buf) -> tuple[list, bool]:
    """hllSparseRegHisto: (histogram of register values, whether the registers did not add up to 16384)."""
    hist = [0] * 64
    idx = 0
    for kind, runlen, value in sparse_runs(buf):
        idx += runlen
        hist[value] += runlen
    return hist, idx != REGISTERS


def sparse_to_raw(buf) -> bytes | None:
    """The registers of a sparse HLL, one byte each, or None when corrupt (hllSparseToDense's walk: a VAL run
    past the end stops the walk; the registers must add up to exactly 16384)."""
    raw = bytearray(REGISTERS)
    idx = 0
    for kind, runlen, value in sparse_runs(buf):
        if kind == "v":
            if runlen + idx > REGISTERS:
                break
            raw[idx:idx + runlen] = bytes((value,)) * runlen
        idx += runlen
    if idx != REGISTERS:
        return None
    return bytes(raw)


def sparse_to_dense(buf: bytearray) -> bool:
    """hllSparseToDense, in place: the header is kept (cached cardinality, unused bytes), the encoding becomes
    dense. False (and nothing changed) when the sparse data is corrupt."""
    if buf[4] == DENSE:
        return True
    raw = sparse_to_raw(buf)
    if raw is None:
        return False
    header = bytearray(buf[:HDR_SIZE])
    header[4] = DENSE
    buf[:] = header + pack_dense(raw)
    return True


def _locate(buf, index: int) -> tuple[int, int, int, int]:
    """hllSparseSet's step 1: (position, first register, span) of the opcode covering register `index`, and the
    position of the opcode before it (-1 if none); position -1 when no opcode covers it (corrupt).

    Redis walks the opcodes one by one; this does the same walk in C-level strides: between two XZERO opcodes
    (found with a regex) every byte is a one-byte opcode, so a stretch is summed with `translate` + `sum`, and
    only the stretch holding the register is searched, with `accumulate` + `bisect`. O(sparse bytes) C work and
    O(number of XZEROs) Python steps, instead of a Python step per opcode."""
    end = len(buf)
    pos = HDR_SIZE
    first = 0
    last = -1  # the opcode before `pos`
    search = _XZERO_RE.search
    while pos < end:
        m = search(buf, pos)
        c = m.start() if m is not None else end
        if c > pos:
            spans = buf[pos:c].translate(_SPAN)
            total = sum(spans)
            if first + total > index:
                acc = list(accumulate(spans))
                k = bisect_right(acc, index - first)
                before = acc[k - 1] if k else 0
                return pos + k, first + before, spans[k], (pos + k - 1 if k else last)
            first += total
            last = c - 1
        if c >= end:
            break
        second = buf[c + 1] if c + 1 < end else 0  # an XZERO cut short reads the sds NUL
        span = (((buf[c] & 0x3F) << 8) | second) + 1
        if first + span > index:
            return c, first, span, last
        first += span
        last = c
        pos = c + 2
    return -1, first, 0, last


PROMOTE = 2  # sparse_set's answer when the HLL must become dense first


def sparse_set(buf: bytearray, index: int, count: int, max_bytes: int) -> int:
    """hllSparseSet without its promotion: raise register `index` to `count` in place. Returns 1 (changed),
    0 (already >= count), -1 (corrupt), or PROMOTE (Redis converts to dense here, then sets the register)."""
    if count > SPARSE_VAL_MAX_VALUE:
        return PROMOTE
    end = len(buf)
    p, first, span, prev = _locate(buf, index)
    if p < 0:
        return -1

    b = buf[p]
    is_val = b & 0x80
    is_xzero = not is_val and b & 0x40
    is_zero = not is_val and not is_xzero
    runlen = span

    # Step 2: the cases that change a single byte.
    if is_val:
        oldcount = ((b >> 2) & 0x1F) + 1
        if oldcount >= count:
            return 0
        if runlen == 1:
            buf[p] = _val_byte(count, 1)
            _merge_vals(buf, prev if prev >= 0 else HDR_SIZE)
            invalidate_cache(buf)
            return 1
    if is_zero and runlen == 1:
        buf[p] = _val_byte(count, 1)
        _merge_vals(buf, prev if prev >= 0 else HDR_SIZE)
        invalidate_cache(buf)
        return 1

    # Step 3: split the opcode into up to three (zeros/old value, the new value, zeros/old value).
    last = first + span - 1
    if is_zero or is_xzero:
        seq = bytearray()
        if index != first:
            seq += _zero_ops(index - first)
        seq.append(_val_byte(count, 1))
        if index != last:
            seq += _zero_ops(last - index)
    else:
        curval = ((b >> 2) & 0x1F) + 1
        seq = bytearray()
        if index != first:
            seq.append(_val_byte(curval, index - first))
        seq.append(_val_byte(count, 1))
        if index != last:
            seq.append(_val_byte(curval, last - index))
    oldlen = 2 if is_xzero else 1
    delta = len(seq) - oldlen
    if delta > 0 and end + delta > max_bytes:
        return PROMOTE
    buf[p:p + oldlen] = seq
    if len(buf) != end + delta:
        # an XZERO cut short at the very end: Redis writes its last byte past the new length, where it is lost
        del buf[end + delta:]
    _merge_vals(buf, prev if prev >= 0 else HDR_SIZE)
    invalidate_cache(buf)
    return 1


def _merge_vals(buf: bytearray, p: int) -> None:
    """hllSparseSet's step 4: from `p`, over at most 5 opcodes, merge two adjacent VALs of the same value whose
    lengths fit in one VAL (re-examining the merged one with its right neighbour)."""
    end = len(buf)
    scanlen = 5
    while p < end:
        if not scanlen:
            break
        scanlen -= 1
        b = buf[p]
        if not b & 0x80:
            p += 2 if b & 0x40 else 1
            continue
        if p + 1 < end and buf[p + 1] & 0x80:
            b2 = buf[p + 1]
            v1 = (b >> 2) & 0x1F
            if v1 == (b2 >> 2) & 0x1F:
                length = (b & 3) + (b2 & 3) + 2
                if length <= SPARSE_VAL_MAX_LEN:
                    buf[p + 1] = _val_byte(v1 + 1, length)
                    del buf[p]
                    end -= 1
                    continue
        p += 1


# --------------------------------------------------------------------------------------------------- adding


def add(buf: bytearray, element: bytes, max_bytes: int) -> int:
    """hllAdd on a valid HLL, in place: 1 if a register changed, 0 if not, -1 when corrupt."""
    index, count = pat_len(element)
    return set_register(buf, index, count, max_bytes)


def set_register(buf: bytearray, index: int, count: int, max_bytes: int) -> int:
    """Raise one register whatever the encoding; a sparse HLL is promoted to dense when Redis promotes it."""
    if buf[4] == DENSE:
        return dense_set(buf, index, count)
    if buf[4] != SPARSE:
        return -1
    r = sparse_set(buf, index, count, max_bytes)
    if r != PROMOTE:
        return r
    if not sparse_to_dense(buf):
        return -1
    # Redis asserts this sets the register (it was lower in the sparse form); a corrupt value cannot crash us
    return dense_set(buf, index, count)


# --------------------------------------------------------------------------------------------------- counting


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prime = z
        z += x * y
        y += y
        if z_prime == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prime = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if z_prime == z:
            return z / 3


def estimate(hist: list) -> int:
    """hllCount's estimate from the register histogram (Ertl), rounded as llroundl: half away from zero."""
    m = float(REGISTERS)
    z = m * _tau((m - hist[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += hist[j]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    e = ALPHA_INF * m * m / z
    whole = int(e)
    if e - whole >= 0.5:
        whole += 1
    return whole


def raw_histogram(raw: bytes) -> list:
    """Histogram of one-byte registers: one C-level count per value present."""
    hist = [0] * 64
    top = max(raw)
    for v in range(min(top, 63) + 1):
        hist[v] = raw.count(v)
    return hist


def count(buf) -> int | None:
    """hllCount of a valid HLL value: the estimate, or None when a sparse one is corrupt."""
    if buf[4] == DENSE:
        return estimate(raw_histogram(unpack_dense(buf)))
    hist, invalid = sparse_histogram(buf)
    if invalid:
        return None
    return estimate(hist)


def registers(buf) -> bytes | None:
    """The 16384 registers of a valid HLL, one byte each; None when a sparse one is corrupt (hllMerge's check)."""
    if buf[4] == DENSE:
        return unpack_dense(buf)
    return sparse_to_raw(buf)
