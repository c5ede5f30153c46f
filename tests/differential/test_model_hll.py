"""Random sequences of HyperLogLog commands (hypothesis), run step by step on a shoal-node and on redis-server, raw
replies compared after every step, in RESP2 and RESP3 (drawn per example).

An HLL is a string in Redis's byte format, so GET shows everything: the encoding, the registers and the cached
cardinality PFCOUNT writes into the header. Each example draws `hll-sparse-max-bytes` (the default, or a tiny
one so that sparse HLLs turn dense after a few additions), and besides small PFADDs there are batches of
hundreds of elements and edits with SETRANGE/APPEND that break the header or the body. Every HLL reply is
deterministic in Redis, so every reply must match byte for byte.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .model import close_pairs, cmd, open_pairs, reset, run_steps

pytestmark = pytest.mark.differential

key = st.one_of(*[st.sampled_from([b"h1", b"h2", b"h3"])] * 4, st.sampled_from([b"str", b"set"]))
broken = st.sampled_from([b"h3", b"str"])  # the keys that writes other than HLL commands may spoil
keys = st.lists(key, min_size=1, max_size=3)
element = st.one_of(
    st.sampled_from([b"a", b"b", b"c", b"", b"\x00", b"foo bar", b"x" * 100]),
    st.integers(0, 50).map(lambda i: b"%d" % i),
)
elements = st.lists(element, min_size=0, max_size=4)
# a batch of consecutive integers: enough distinct registers to grow a sparse HLL or turn it dense
batch = st.tuples(st.integers(0, 2000), st.sampled_from([50, 300, 1500])).map(
    lambda t: [b"%d" % i for i in range(t[0], t[0] + t[1])])
# offsets inside the header (4: encoding, 7/15: cached cardinality and its validity bit) and the first body bytes
offset = st.sampled_from([b"0", b"3", b"4", b"7", b"15", b"16", b"17", b"20", b"100"])
patch = st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x80", b"\xff", b"\x7f\xff", b"\x40\x00"])

HEALTHY = [
    cmd(b"PFADD", key, elements),
    cmd(b"PFADD", key, batch),
    cmd(b"PFCOUNT", keys),
    cmd(b"PFMERGE", key, st.lists(key, min_size=0, max_size=3)),
    cmd(b"GET", key),
]
GENERATORS = HEALTHY * 3 + [
    cmd(b"STRLEN", key),
    cmd(b"PFDEBUG", st.sampled_from([b"ENCODING", b"DECODE", b"TODENSE", b"nosuch"]), key),
    cmd(b"SETRANGE", broken, offset, patch),
    cmd(b"APPEND", broken, st.sampled_from([b"x", b"\x00\x00\x00\x00"])),
    cmd(b"SET", broken, st.sampled_from([b"v", b"HYLL", b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"])),
    cmd(b"SADD", st.just(b"set"), b"m"),
    cmd(b"COPY", key, key, b"REPLACE"),
    cmd(b"DEL", key),
    cmd(b"TYPE", key),
]
command = st.one_of(*GENERATORS)


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    made = open_pairs(shoal, redis_ref)
    yield made
    for conn in made[2]:
        conn.call("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
    close_pairs(made.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(proto=st.sampled_from([2, 3]), sparse_max=st.sampled_from(["3000", "40"]),
       steps=st.lists(command, min_size=1, max_size=25))
def test_hll_sequences_match_redis(pairs, proto, sparse_max, steps):
    pair = pairs[proto]
    log = reset(pair, ("hll-sparse-max-bytes", sparse_max))
    run_steps(pair, steps, log=log, label=f"RESP{proto}: ")
