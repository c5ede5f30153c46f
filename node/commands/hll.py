"""HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST, as Redis 7.0's hyperloglog.c.

HLLs are plain string values in Redis's byte format (node/hyperloglog.py), edited in place as `bytearray`s: like
Redis's dbUnshareStringValue, any HLL command that may write turns the value into its own raw string first
(OBJECT ENCODING says "raw" afterwards, even when nothing changed). PFCOUNT of one key is such a command: it
stores the cardinality it computed in the header, so GET after PFCOUNT shows the cache exactly as Redis's does.

Per-command cost: PFADD O(1) per element on a dense HLL after the O(length) hash, O(sparse bytes) on a sparse
one; PFCOUNT O(1) with a valid cache, else one vectorized 16384-register histogram (sparse: one opcode walk);
PFCOUNT/PFMERGE of several keys one vectorized register-wise max per key.
"""
from __future__ import annotations

import math
import random
import re

from .. import hyperloglog as hll
from ..errors import CommandError, WRONGTYPE
from ..resp import OK, Simple
from .registry import command
from .strings import option_word

_NONZERO = re.compile(rb"[^\x00]")


def _valid_hll(v):
    """isHLLObjectOrReply: a string holding a well-formed HLL header."""
    if v.__class__ is not bytes and v.__class__ is not bytearray:
        raise CommandError(WRONGTYPE)
    if not hll.is_valid(v):
        raise CommandError(hll.NOT_HLL)
    return v


def _unshare(c, key: bytes, v) -> bytearray:
    """dbUnshareStringValue: the value as a raw string of its own that can be edited in place. A change of
    representation only: no keyspace event, no WATCH touch (Redis signals only when it changes the content)."""
    if v.__class__ is bytearray:
        return v
    buf = bytearray(v)
    c.db.set_representation(key, buf)
    return buf


def _changed(c, key: bytes, event: str | None, dirty: int) -> None:
    db = c.db
    db.touch(key)
    st = c.state
    if event is not None and st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, "$")
    st.dirty += dirty


# --------------------------------------------------------------------------------------------------- PFADD


@command("pfadd")
def pfadd(c, argv):
    key = argv[1]
    db = c.db
    v = db.get(key)
    updated = 0
    if v is None:
        buf = hll.new_sparse()
        db.add(key, buf)
        updated += 1
    else:
        buf = _unshare(c, key, _valid_hll(v))
    max_bytes = c.state.config["hll-sparse-max-bytes"]
    add = hll.add
    for element in argv[2:]:
        r = add(buf, element, max_bytes)
        if r == 1:
            updated += 1
        elif r < 0:
            raise CommandError(hll.INVALID)
    if updated:
        hll.invalidate_cache(buf)
        _changed(c, key, "pfadd", updated)
    return 1 if updated else 0


# --------------------------------------------------------------------------------------------------- PFCOUNT


@command("pfcount")
def pfcount(c, argv):
    db = c.db
    if len(argv) > 2:
        # the cardinality of the union, through a register-wise max; no cache anywhere is touched
        union = bytes(hll.REGISTERS)
        for key in argv[1:]:
            v = db.lookup_read(key)
            if v is None:
                continue
            regs = hll.registers(_valid_hll(v))
            if regs is None:
                raise CommandError(hll.INVALID)
            union = hll.registers_max(union, regs)
        return hll.estimate(hll.raw_histogram(union))

    key = argv[1]
    v = db.lookup_read(key)
    if v is None:
        return 0
    buf = _unshare(c, key, _valid_hll(v))
    if hll.cache_valid(buf):
        return hll.cached_card(buf)
    card = hll.count(buf)
    if card is None:
        raise CommandError(hll.INVALID)
    hll.set_cached_card(buf, card)
    # a write in disguise: Redis signals the key and propagates PFCOUNT
    _changed(c, key, None, 1)
    return card


# --------------------------------------------------------------------------------------------------- PFMERGE


@command("pfmerge")
def pfmerge(c, argv):
    db = c.db
    union = bytes(hll.REGISTERS)
    use_dense = False
    for key in argv[1:]:
        v = db.lookup_read(key)
        if v is None:
            continue
        _valid_hll(v)
        if v[4] == hll.DENSE:
            use_dense = True
        regs = hll.registers(v)
        if regs is None:
            raise CommandError(hll.INVALID)
        union = hll.registers_max(union, regs)

    dst = argv[1]
    v = db.get(dst)
    if v is None:
        buf = hll.new_sparse()
        db.add(dst, buf)
    else:
        buf = _unshare(c, dst, v)  # already checked as one of the sources
    if use_dense and not hll.sparse_to_dense(buf):
        raise CommandError(hll.INVALID)
    _write_registers(buf, union, c.state.config["hll-sparse-max-bytes"])
    hll.invalidate_cache(buf)
    _changed(c, dst, "pfadd", 1)
    return OK


def _write_registers(buf: bytearray, union: bytes, max_bytes: int) -> None:
    """Raise every register of `buf` to the union's value, in register order as Redis does: through the sparse
    update (which may promote to dense midway), then, once dense, all at once with the vectorized max (raising a
    register twice to the same value changes nothing)."""
    if buf[4] == hll.SPARSE:
        for m in _NONZERO.finditer(union):
            j = m.start()
            hll.set_register(buf, j, union[j], max_bytes)
            if buf[4] != hll.SPARSE:
                break
        else:
            return
    merged = hll.registers_max(hll.unpack_dense(buf), union)
    buf[hll.HDR_SIZE:] = hll.pack_dense(merged)


# --------------------------------------------------------------------------------------------------- PFDEBUG


@command("pfdebug")
def pfdebug(c, argv):
    sub = argv[1]
    key = argv[2]
    v = c.db.get(key)
    if v is None:
        raise CommandError("ERR The specified key does not exist")
    buf = _unshare(c, key, _valid_hll(v))
    name = option_word(sub)
    if name == b"getreg":
        if buf[4] == hll.SPARSE:
            if not hll.sparse_to_dense(buf):
                raise CommandError(hll.INVALID)
            c.state.dirty += 1  # an encoding change: propagated
        return list(hll.unpack_dense(buf))
    if name == b"decode":
        if buf[4] != hll.SPARSE:
            raise CommandError("ERR HLL encoding is not sparse")
        parts = []
        for kind, runlen, value in hll.sparse_runs(buf):
            parts.append(b"v:%d,%d" % (value, runlen) if kind == "v" else b"%s:%d" % (kind.encode(), runlen))
        return b" ".join(parts)
    if name == b"encoding":
        return Simple("dense" if buf[4] == hll.DENSE else "sparse")
    if name == b"todense":
        if buf[4] == hll.SPARSE:
            if not hll.sparse_to_dense(buf):
                raise CommandError(hll.INVALID)
            c.state.dirty += 1
            return 1
        return 0
    shown = sub.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{shown}'")


# --------------------------------------------------------------------------------------------------- PFSELFTEST

# Redis runs 1000 register cycles and adds 10 million elements (about 0.4 s in C). The same checks, scaled to
# what Python does in a comparable time: a command must not stall the node for long.
SELFTEST_CYCLES = 4
SELFTEST_ELEMENTS = 100_000


@command("pfselftest")
def pfselftest(c, argv):
    error = selftest(c.state.config["hll-sparse-max-bytes"])
    if error is not None:
        raise CommandError(error)
    return OK


def selftest(max_bytes: int, cycles: int = SELFTEST_CYCLES, elements: int = SELFTEST_ELEMENTS,
             rng: random.Random | None = None) -> str | None:
    """pfselftestCommand: None when every check passes, else the error text."""
    rng = rng or random.Random()
    dense = bytearray(hll.DENSE_SIZE)
    dense[0:4] = hll.MAGIC
    # Test 1: every register keeps its own value without disturbing its neighbours.
    for _ in range(cycles):
        expected = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        for i in range(hll.REGISTERS):
            hll.dense_put(dense, i, expected[i])
        for i in range(hll.REGISTERS):
            got = hll.dense_get(dense, i)
            if got != expected[i]:
                return f"TESTFAILED Register {i} should be {expected[i]} but is {got}"
        if hll.unpack_dense(dense) != expected or hll.pack_dense(expected) != bytes(dense[hll.HDR_SIZE:]):
            return "TESTFAILED vectorized register access disagrees"

    # Test 2: the estimate of n distinct elements stays within a few standard errors, dense and sparse agree,
    # and small cardinalities are sparse.
    dense[hll.HDR_SIZE:] = bytes(hll.REG_BYTES)
    sparse = hll.new_sparse()
    relerr = 1.04 / hll.REGISTERS ** 0.5
    checkpoint = 1
    seed = rng.getrandbits(64)
    for j in range(1, elements + 1):
        element = ((j ^ seed) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
        index, count = hll.pat_len(element)
        hll.dense_set(dense, index, count)
        hll.set_register(sparse, index, count, max_bytes)
        if j != checkpoint:
            continue
        if j < max_bytes // 2 and sparse[4] != hll.SPARSE:
            return "TESTFAILED sparse encoding not used"
        card = hll.count(dense)
        if card != hll.count(sparse):
            return "TESTFAILED dense/sparse disagree"
        abserr = abs(checkpoint - card)
        maxerr = math.ceil(relerr * 6 * checkpoint)
        if j == 10:
            maxerr = 1
        if abserr > maxerr:
            return f"TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
        checkpoint *= 10
    return None
