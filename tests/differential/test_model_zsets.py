"""Random sorted-set command sequences (hypothesis), run step by step on a shoal-node and on redis-server, raw
replies compared after every step, in RESP2 and RESP3.

Two shapes of data: small sets that stay listpacks (where even lexicographic ranges over mixed scores and ZSCAN
are deterministic, so they are drawn too), and sets forced into skiplists by a tiny `zset-max-listpack-entries`
(there Redis's lex ranges over mixed scores depend on random skiplist levels and ZSCAN on hash order, so those
are left out). Every reply drawn here is deterministic in Redis; ZRANDMEMBER only with counts that return the
whole set.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .model import close_pairs, cmd, open_pair, opt, reset, run_steps

pytestmark = pytest.mark.differential

key = st.sampled_from([b"z1", b"z2", b"z3"])
member = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"aa", b"", b"\x00x", b"1", b"10"])
score = st.sampled_from([b"0", b"1", b"-1", b"2.5", b"-0", b"inf", b"-inf", b"1e300", b"0.1", b"3", b"1.1",
                         b"x", b"nan", b"0x10", b"5e-324"])
bound = st.sampled_from([b"-inf", b"+inf", b"0", b"(0", b"1", b"(1", b"(2.5", b"3", b"1e400", b"x", b"(", b""])
lex = st.sampled_from([b"-", b"+", b"[a", b"(a", b"[b", b"(c", b"[", b"[aa", b"(\x00x", b"x", b"[e"])
index = st.sampled_from([b"0", b"1", b"2", b"-1", b"-2", b"5", b"-10", b"x"])
count = st.sampled_from([b"0", b"1", b"2", b"5", b"-1", b"x"])
weight = st.sampled_from([b"1", b"2", b"-1", b"0", b"0.5", b"inf", b"-inf", b"x"])
aggregate = st.sampled_from([b"SUM", b"MIN", b"MAX", b"avg"])


pairs = st.lists(st.tuples(score, member), min_size=1, max_size=4).map(lambda ps: [a for p in ps for a in p])
zadd_flags = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"]), max_size=2, unique=True)
limit = opt([b"LIMIT", index, count])
keys_n = st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"%d" % len(ks)] + ks)
setop_tail = st.tuples(opt([b"WEIGHTS", weight, weight, weight]), opt([b"AGGREGATE", aggregate])).map(
    lambda t: t[0] + t[1])

COMMON = [
    cmd(b"ZADD", key, zadd_flags, pairs),
    cmd(b"ZINCRBY", key, score, member),
    cmd(b"ZREM", key, member, st.lists(member, max_size=2)),
    cmd(b"ZCARD", key),
    cmd(b"ZSCORE", key, member),
    cmd(b"ZMSCORE", key, member, st.lists(member, max_size=2)),
    cmd(b"ZRANK", key, member),
    cmd(b"ZREVRANK", key, member),
    cmd(b"ZCOUNT", key, bound, bound),
    cmd(b"ZRANGE", key, index, index, opt([b"REV"]), opt([b"WITHSCORES"])),
    cmd(b"ZRANGE", key, bound, bound, b"BYSCORE", opt([b"REV"]), opt([b"WITHSCORES"]), limit),
    cmd(b"ZRANGEBYSCORE", key, bound, bound, opt([b"WITHSCORES"]), limit),
    cmd(b"ZREVRANGEBYSCORE", key, bound, bound, opt([b"WITHSCORES"]), limit),
    cmd(b"ZREVRANGE", key, index, index, opt([b"WITHSCORES"])),
    cmd(b"ZRANGESTORE", key, key, index, index, opt([b"BYSCORE"]), opt([b"REV"])),
    cmd(b"ZREMRANGEBYRANK", key, index, index),
    cmd(b"ZREMRANGEBYSCORE", key, bound, bound),
    cmd(b"ZUNION", keys_n, setop_tail, opt([b"WITHSCORES"])),
    cmd(b"ZINTER", keys_n, setop_tail, opt([b"WITHSCORES"])),
    cmd(b"ZDIFF", keys_n, opt([b"WITHSCORES"])),
    cmd(b"ZUNIONSTORE", key, keys_n, setop_tail),
    cmd(b"ZINTERSTORE", key, keys_n, setop_tail),
    cmd(b"ZDIFFSTORE", key, keys_n),
    cmd(b"ZINTERCARD", keys_n, opt([b"LIMIT", count])),
    cmd(b"ZRANDMEMBER", key, st.sampled_from([b"0", b"20", b"100"]), opt([b"WITHSCORES"])),
    cmd(b"ZPOPMIN", key, opt([count])),
    cmd(b"ZPOPMAX", key, opt([count])),
    cmd(b"ZMPOP", keys_n, st.sampled_from([[b"MIN"], [b"MAX"], [b"MAX", b"COUNT", b"2"], [b"MIN", b"COUNT", b"0"]])),
    cmd(b"BZPOPMIN", key, key, b"0.01"),
    cmd(b"BZPOPMAX", key, b"0.01"),
    cmd(b"BZMPOP", b"0.01", keys_n, st.sampled_from([[b"MIN"], [b"MAX", b"COUNT", b"3"]])),
    cmd(b"SET", key, member),
    cmd(b"DEL", key),
    cmd(b"SADD", key, member, member),
    cmd(b"COPY", key, key, b"REPLACE"),
    cmd(b"TYPE", key),
]
LISTPACK_ONLY = [
    cmd(b"ZRANGE", key, lex, lex, b"BYLEX", opt([b"REV"]), limit),
    cmd(b"ZRANGEBYLEX", key, lex, lex, limit),
    cmd(b"ZREVRANGEBYLEX", key, lex, lex, limit),
    cmd(b"ZLEXCOUNT", key, lex, lex),
    cmd(b"ZREMRANGEBYLEX", key, lex, lex),
    cmd(b"ZSCAN", key, b"0", opt([b"MATCH", st.sampled_from([b"a*", b"*", b"?", b"[a-c]"])])),
    cmd(b"OBJECT", b"ENCODING", key),
]
SKIPLIST_ONLY = [
    cmd(b"OBJECT", b"ENCODING", key),
]

# (zset-max-listpack-entries, zset-max-listpack-value, commands)
SHAPES = {
    "listpack": (b"128", b"64", st.one_of(*COMMON, *LISTPACK_ONLY)),
    "skiplist": (b"2", b"1", st.one_of(*COMMON, *SKIPLIST_ONLY)),
}


@pytest.fixture(scope="module")
def conns(shoal, redis_ref):
    made = {}

    def get(proto: int):
        if proto not in made:
            made[proto] = open_pair(shoal, redis_ref, proto)
        return made[proto]

    yield get
    close_pairs(made.values())


def _configure(pair, entries: bytes, value: bytes) -> None:
    for conn in pair:
        for name, v in ((b"zset-max-listpack-entries", entries), (b"zset-max-listpack-value", value)):
            assert conn.call(b"CONFIG", b"SET", name, v) == b"+OK\r\n"


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_random_zset_sequences_match_redis(conns, shape, proto):
    entries, value, command = SHAPES[shape]
    pair = conns(proto)
    _configure(pair, entries, value)

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
    @given(steps=st.lists(command, min_size=1, max_size=25))
    def check(steps):
        reset(pair)
        run_steps(pair, steps)

    try:
        check()
    finally:
        _configure(pair, b"128", b"64")
