"""Random sequences of SORT / SORT_RO (hypothesis) over lists, sets and sorted sets, with BY and GET patterns that
read weight strings (w_*) and hash fields (h_*->f), run step by step on a shoal-node and on redis-server, raw
replies compared after every step, in RESP2 and RESP3 (drawn per example).

Keys: two lists, an intset (s1, integer members only: Redis walks it in ascending order), a hashtable set (s2,
mixed members: Redis walks it in bucket order), a sorted set, a string. Most replies are deterministic in Redis
(numeric sorting breaks ties by the element itself; a BY nosort over a set is turned into a sort when storing)
and must match byte for byte. Only where Redis's answer depends on how it walks a hashtable is a reply compared
loosely: ALPHA with a BY pattern over s2 or the zset (equal weights keep Redis's dict order) and BY nosort over
s2 without STORE (the set's own order). Those are never drawn with STORE, so the keyspaces stay equal.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import sort_aggregates
from .model import close_pairs, cmd, open_pairs, opt, reset, run_steps

pytestmark = pytest.mark.differential

INTS = [b"1", b"2", b"3", b"10", b"-1", b"0"]
MIXED = INTS + [b"2.5", b"a", b"b", b"B", b"", b"1e2", b"a\x00z", b"inf"]
element = st.sampled_from(MIXED)
int_element = st.sampled_from(INTS)
weight = st.sampled_from([b"1", b"2", b"-3", b"0.5", b"10", b"", b"x", b"1e500", b"-inf", b"a", b"b", b" 2"])

source = st.sampled_from([b"l1", b"l2", b"s1", b"s2", b"z1", b"str", b"none"])
ordered_source = st.sampled_from([b"l1", b"l2", b"s1", b"none"])  # walked in an order Redis fixes
dest = st.sampled_from([b"l1", b"l2", b"dst", b"str", b"s1"])
by = st.sampled_from([b"w_*", b"h_*->f", b"h_*->g", b"nosort", b"constant", b"w_*->", b"*", b"h_*->"])
get = st.sampled_from([b"#", b"w_*", b"h_*->f", b"h_*->g", b"nokey", b"h_*"])
limit = opt([b"LIMIT", st.sampled_from([b"0", b"1", b"2", b"-1", b"5", b"x"]),
             st.sampled_from([b"0", b"1", b"2", b"-1", b"10", b"x"])])
gets = st.lists(get, max_size=3).map(lambda gs: [a for g in gs for a in (b"GET", g)])
sort_tail = st.tuples(opt([b"BY", by]), limit, gets, opt([b"ASC"], [b"DESC"]), opt([b"ALPHA"])).map(
    lambda t: [a for part in t for a in part])

GENERATORS = [
    cmd(b"RPUSH", st.sampled_from([b"l1", b"l2"]), st.lists(element, min_size=1, max_size=4)),
    cmd(b"SADD", st.just(b"s1"), st.lists(int_element, min_size=1, max_size=4)),
    cmd(b"SADD", st.just(b"s2"), st.lists(element, min_size=1, max_size=4)),
    cmd(b"ZADD", st.just(b"z1"), st.sampled_from([b"0", b"1", b"-2", b"5"]), element),
    cmd(b"SET", st.sampled_from(MIXED).map(lambda e: b"w_" + e), weight),
    cmd(b"HSET", st.sampled_from(MIXED).map(lambda e: b"h_" + e), st.sampled_from([b"f", b"g"]), weight),
    cmd(b"SORT", source, sort_tail),
    cmd(b"SORT_RO", source, sort_tail),
    cmd(b"SORT", ordered_source, sort_tail, b"STORE", dest),
    cmd(b"SORT", st.sampled_from([b"s2", b"z1"]), opt([b"BY", st.sampled_from([b"nosort", b"constant"])]), limit,
        gets, opt([b"DESC"]), opt([b"ALPHA"]), b"STORE", dest),
    cmd(b"LRANGE", dest, b"0", b"-1"),
    cmd(b"SET", st.just(b"str"), b"v"),
    cmd(b"DEL", st.sampled_from([b"l1", b"l2", b"s1", b"s2", b"z1", b"dst"])),
]
command = st.one_of(*GENERATORS)


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    made = open_pairs(shoal, redis_ref)
    yield made
    close_pairs(made.values())


def _by_pattern(argv) -> bytes | None:
    for i, a in enumerate(argv[:-1]):
        if a == b"BY":
            return argv[i + 1]
    return None


def _hashtable_walk_shows(argv) -> bool:
    """Whether Redis's reply depends on the order it walks a hashtable (see the module doc)."""
    if argv[0] not in (b"SORT", b"SORT_RO") or argv[1] not in (b"s2", b"z1") or b"STORE" in argv:
        return False
    pattern = _by_pattern(argv)
    if pattern is None:
        return False
    if b"*" not in pattern:  # nosort: the set's own order (a zset's is its own, deterministic)
        return argv[1] == b"s2"
    return b"ALPHA" in argv


def _agree(argv, a: bytes, b: bytes) -> bool:
    if a[:1] == b"-" or b[:1] == b"-" or not _hashtable_walk_shows(argv):
        return False
    if b"LIMIT" in argv:  # which tied elements make the cut is Redis's dict order too
        return a.split(b"\r\n", 1)[0] == b.split(b"\r\n", 1)[0]
    return sort_aggregates(a) == sort_aggregates(b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(proto=st.sampled_from([2, 3]), steps=st.lists(command, min_size=1, max_size=25))
def test_sort_sequences_match_redis(pairs, proto, steps):
    pair = pairs[proto]
    log = reset(pair)
    run_steps(pair, steps, agree=_agree, log=log, label=f"RESP{proto}: ")
