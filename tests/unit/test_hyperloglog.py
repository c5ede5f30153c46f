"""node/hyperloglog.py without sockets: the byte format, the vectorized register math, the estimator, and
corrupt values (which must give an error code, never an exception).

Byte strings marked "from Redis" were read with GET from Debian's redis-server 7.0.15 after the same commands.
"""
import random
from collections import Counter

import pytest

from shoal.node import hyperloglog as hll
from shoal.node.commands.hll import selftest

ABC_FROM_REDIS = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ"


def build(elements, max_bytes=3000):
    buf = hll.new_sparse()
    for e in elements:
        assert hll.add(buf, e, max_bytes) >= 0
    return buf


def test_new_sparse_is_one_xzero():
    buf = hll.new_sparse()
    assert bytes(buf) == b"HYLL\x01" + bytes(11) + b"\x7f\xff"
    assert list(hll.sparse_runs(buf)) == [("Z", 16384, 0)]
    assert hll.count(buf) == 0


def test_sparse_bytes_match_redis():
    buf = build([b"a", b"b", b"c"])
    assert bytes(buf) == ABC_FROM_REDIS
    runs = " ".join(f"{k}:{n}" if k != "v" else f"v:{v},{n}" for k, n, v in hll.sparse_runs(buf))
    assert runs == "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
    assert not hll.cache_valid(buf)
    assert hll.count(buf) == 3


def test_murmurhash_tail_and_blocks():
    # the same element always lands in the same register; blocks and tails both feed the hash
    seen = {hll.murmurhash64a(b"x" * n) for n in range(40)}
    assert len(seen) == 40
    index, count = hll.pat_len(b"a")
    assert 0 <= index < hll.REGISTERS and 1 <= count <= hll.Q + 1


def test_cache_bytes():
    buf = bytearray(ABC_FROM_REDIS)
    hll.set_cached_card(buf, 3)
    assert hll.cache_valid(buf) and hll.cached_card(buf) == 3
    assert buf[8:16] == b"\x03" + bytes(7)
    hll.invalidate_cache(buf)
    assert not hll.cache_valid(buf) and buf[15] == 0x80


def test_pack_unpack_agree_with_register_macros():
    rng = random.Random(1)
    for _ in range(3):
        dense = bytearray(hll.DENSE_SIZE)
        dense[0:4] = hll.MAGIC
        regs = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        for i, v in enumerate(regs):
            hll.dense_put(dense, i, v)
        assert hll.unpack_dense(dense) == regs
        assert hll.pack_dense(regs) == bytes(dense[hll.HDR_SIZE:])
        assert all(hll.dense_get(dense, i) == regs[i] for i in range(0, hll.REGISTERS, 97))
        assert hll.dense_get(dense, hll.REGISTERS - 1) == regs[-1]


def test_registers_max_is_elementwise():
    rng = random.Random(2)
    for _ in range(5):
        a = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        b = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        assert hll.registers_max(a, b) == bytes(map(max, a, b))


def test_raw_histogram():
    rng = random.Random(3)
    raw = bytes(rng.choice([0, 0, 1, 2, 3, 63]) for _ in range(hll.REGISTERS))
    counts = Counter(raw)
    assert hll.raw_histogram(raw) == [counts.get(v, 0) for v in range(64)]


def test_sparse_and_dense_agree():
    elements = [b"el%d" % i for i in range(1500)]
    sparse = build(elements, max_bytes=100_000)
    assert sparse[4] == hll.SPARSE
    dense = build(elements, max_bytes=0)
    assert dense[4] == hll.DENSE and len(dense) == hll.DENSE_SIZE
    assert hll.registers(sparse) == hll.registers(dense)
    assert hll.count(sparse) == hll.count(dense)
    converted = bytearray(sparse)
    assert hll.sparse_to_dense(converted)
    assert converted[hll.HDR_SIZE:] == dense[hll.HDR_SIZE:]


def test_promotion_by_size():
    buf = hll.new_sparse()
    i = 0
    while buf[4] == hll.SPARSE:
        assert len(buf) <= 300
        hll.add(buf, b"p%d" % i, 300)
        i += 1
    assert len(buf) == hll.DENSE_SIZE


@pytest.mark.parametrize("n", [0, 1, 10, 100, 1000, 20000])
def test_estimate_is_close(n):
    buf = build([b"k%d" % i for i in range(n)])
    card = hll.count(buf)
    assert abs(card - n) <= max(1, 0.05 * n)


def test_sparse_updates_merge_values_like_redis():
    # three registers in a row with one value become one VAL run of length 3
    buf = hll.new_sparse()
    for idx in (10, 11, 12):
        assert hll.sparse_set(buf, idx, 5, 3000) == 1
    assert [r for r in hll.sparse_runs(buf)] == [("z", 10, 0), ("v", 3, 5), ("Z", 16371, 0)]
    assert hll.sparse_set(buf, 11, 4, 3000) == 0
    assert hll.sparse_set(buf, 11, 7, 3000) == 1
    assert [r for r in hll.sparse_runs(buf)] == [("z", 10, 0), ("v", 1, 5), ("v", 1, 7), ("v", 1, 5), ("Z", 16371, 0)]
    assert hll.sparse_set(buf, 11, 33, 3000) == hll.PROMOTE


def test_selftest_passes():
    assert selftest(3000, cycles=1, elements=2000, rng=random.Random(5)) is None


# --------------------------------------------------------------------------------------------------- corrupt values


def random_value(rng):
    hdr = bytearray(b"HYLL")
    hdr.append(rng.choice([0, 1, 1, 1, 2, 0x80, 0xFF]))
    hdr += bytes(rng.randrange(256) for _ in range(11))
    kind = rng.random()
    if hdr[4] == 0:
        body = bytes(rng.randrange(256) for _ in range(hll.REG_BYTES if kind < 0.7 else rng.randrange(13000)))
    elif kind < 0.4:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
    elif kind < 0.7:
        # plausible opcodes with a wrong total, possibly cut inside an XZERO
        body = bytearray()
        for _ in range(rng.randrange(30)):
            t = rng.random()
            if t < 0.3:
                body.append(rng.randrange(64))
            elif t < 0.6:
                body += bytes((0x40 | rng.randrange(64), rng.randrange(256)))
            else:
                body.append(0x80 | rng.randrange(128))
        if rng.random() < 0.3:
            body = body[:-1]
    else:
        body = b""
    value = bytes(hdr) + bytes(body)
    if rng.random() < 0.05:
        value = value[:rng.randrange(20)]
    return value


def test_corrupt_values_never_raise():
    rng = random.Random(6)
    valid = 0
    for _ in range(3000):
        value = random_value(rng)
        if not hll.is_valid(value):
            continue
        valid += 1
        hll.count(value)
        hll.registers(value)
        list(hll.sparse_runs(value)) if value[4] == hll.SPARSE else None
        buf = bytearray(value)
        for i in range(5):
            r = hll.add(buf, b"e%d" % rng.randrange(10**6), rng.choice([30, 3000]))
            assert r in (-1, 0, 1)
            if r < 0:
                break
            assert buf[4] in (hll.SPARSE, hll.DENSE)
        buf = bytearray(value)
        ok = hll.sparse_to_dense(buf)
        assert ok == (hll.registers(value) is not None) or value[4] == hll.DENSE
        for j in (0, 1, 100, 16383, 16384, 20000):
            assert hll.sparse_set(bytearray(value), j, rng.randint(1, 40), 3000) in (-1, 0, 1, hll.PROMOTE) \
                if value[4] == hll.SPARSE else True
    assert valid > 1000


@pytest.mark.parametrize("value", [
    b"", b"HYLL", b"HYLL\x01\x00\x00", b"HYLX\x01" + bytes(13), b"HYLL\x02" + bytes(13),
    b"HYLL\x00" + bytes(13),
])
def test_not_hll_values(value):
    assert not hll.is_valid(value)


def test_invalid_sparse_totals():
    short = b"HYLL\x01" + bytes(11) + b"\x7f\xfe"  # 16383 registers
    assert hll.count(short) is None
    assert hll.registers(short) is None
    assert not hll.sparse_to_dense(bytearray(short))
    long_ = b"HYLL\x01" + bytes(11) + b"\x7f\xff\x00"  # 16385 registers
    assert hll.count(long_) is None
    empty = b"HYLL\x01" + bytes(11)
    assert hll.add(bytearray(empty), b"a", 3000) == -1
