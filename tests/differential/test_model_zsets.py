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

from .harness import RawConnection, render, show_argv

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


def _cmd(*parts):
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(list)


def _opt(*choices):
    return st.one_of(st.just([]), *(_cmd(*c) for c in choices))


def _with(base, *tails):
    return st.tuples(base, *tails).map(lambda parts: [a for p in parts for a in p])


pairs = st.lists(st.tuples(score, member), min_size=1, max_size=4).map(lambda ps: [a for p in ps for a in p])
zadd_flags = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"]), max_size=2, unique=True)
limit = _opt([b"LIMIT", index, count])
keys_n = st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"%d" % len(ks)] + ks)
setop_tail = st.tuples(_opt([b"WEIGHTS", weight, weight, weight]), _opt([b"AGGREGATE", aggregate])).map(
    lambda t: t[0] + t[1])

COMMON = [
    _with(_cmd(b"ZADD", key), zadd_flags, pairs),
    _cmd(b"ZINCRBY", key, score, member),
    _with(_cmd(b"ZREM", key, member), st.lists(member, max_size=2)),
    _cmd(b"ZCARD", key),
    _cmd(b"ZSCORE", key, member),
    _with(_cmd(b"ZMSCORE", key, member), st.lists(member, max_size=2)),
    _cmd(b"ZRANK", key, member),
    _cmd(b"ZREVRANK", key, member),
    _cmd(b"ZCOUNT", key, bound, bound),
    _with(_cmd(b"ZRANGE", key, index, index), _opt([b"REV"]), _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZRANGE", key, bound, bound, b"BYSCORE"), _opt([b"REV"]), _opt([b"WITHSCORES"]), limit),
    _with(_cmd(b"ZRANGEBYSCORE", key, bound, bound), _opt([b"WITHSCORES"]), limit),
    _with(_cmd(b"ZREVRANGEBYSCORE", key, bound, bound), _opt([b"WITHSCORES"]), limit),
    _with(_cmd(b"ZREVRANGE", key, index, index), _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZRANGESTORE", key, key, index, index), _opt([b"BYSCORE"]), _opt([b"REV"])),
    _cmd(b"ZREMRANGEBYRANK", key, index, index),
    _cmd(b"ZREMRANGEBYSCORE", key, bound, bound),
    _with(_cmd(b"ZUNION"), keys_n, setop_tail, _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZINTER"), keys_n, setop_tail, _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZDIFF"), keys_n, _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZUNIONSTORE", key), keys_n, setop_tail),
    _with(_cmd(b"ZINTERSTORE", key), keys_n, setop_tail),
    _with(_cmd(b"ZDIFFSTORE", key), keys_n),
    _with(_cmd(b"ZINTERCARD"), keys_n, _opt([b"LIMIT", count])),
    _with(_cmd(b"ZRANDMEMBER", key, st.sampled_from([b"0", b"20", b"100"])), _opt([b"WITHSCORES"])),
    _with(_cmd(b"ZPOPMIN", key), _opt([count])),
    _with(_cmd(b"ZPOPMAX", key), _opt([count])),
    _with(_cmd(b"ZMPOP"), keys_n, st.sampled_from([[b"MIN"], [b"MAX"], [b"MAX", b"COUNT", b"2"], [b"MIN", b"COUNT",
                                                                                                  b"0"]])),
    _cmd(b"BZPOPMIN", key, key, b"0.01"),
    _cmd(b"BZPOPMAX", key, b"0.01"),
    _with(_cmd(b"BZMPOP", b"0.01"), keys_n, st.sampled_from([[b"MIN"], [b"MAX", b"COUNT", b"3"]])),
    _cmd(b"SET", key, member),
    _cmd(b"DEL", key),
    _cmd(b"SADD", key, member, member),
    _cmd(b"COPY", key, key, b"REPLACE"),
    _cmd(b"TYPE", key),
]
LISTPACK_ONLY = [
    _with(_cmd(b"ZRANGE", key, lex, lex, b"BYLEX"), _opt([b"REV"]), limit),
    _with(_cmd(b"ZRANGEBYLEX", key, lex, lex), limit),
    _with(_cmd(b"ZREVRANGEBYLEX", key, lex, lex), limit),
    _cmd(b"ZLEXCOUNT", key, lex, lex),
    _cmd(b"ZREMRANGEBYLEX", key, lex, lex),
    _with(_cmd(b"ZSCAN", key, b"0"), _opt([b"MATCH", st.sampled_from([b"a*", b"*", b"?", b"[a-c]"])])),
    _cmd(b"OBJECT", b"ENCODING", key),
]
SKIPLIST_ONLY = [
    _cmd(b"OBJECT", b"ENCODING", key),
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
            ours = RawConnection(shoal.host, shoal.port)
            theirs = RawConnection(redis_ref.host, redis_ref.port)
            if proto == 3:
                for conn in (ours, theirs):
                    conn.send([b"HELLO", b"3"])
                    assert conn.read_reply().startswith(b"%")
            made[proto] = (ours, theirs)
        return made[proto]

    yield get
    for ours, theirs in made.values():
        ours.close()
        theirs.close()


def _configure(conns, entries: bytes, value: bytes) -> None:
    for conn in conns:
        for name, v in ((b"zset-max-listpack-entries", entries), (b"zset-max-listpack-value", value)):
            conn.send([b"CONFIG", b"SET", name, v])
            assert conn.read_reply() == b"+OK\r\n"


def _run(pair, steps) -> None:
    ours, theirs = pair
    for conn, who in ((ours, "shoal-node"), (theirs, "redis-server")):
        conn.send([b"FLUSHALL"])
        assert conn.read_reply() == b"+OK\r\n", f"{who}: FLUSHALL failed"
    log: list[str] = []
    for argv in steps:
        ours.send(argv)
        theirs.send(argv)
        a, b = ours.read_reply(), theirs.read_reply()
        if a != b:
            pytest.fail("\n".join([
                f"replies differ at step {len(log) + 1}: {show_argv(argv)}",
                "  shoal-node:", render(a), f"    raw {a!r}",
                "  redis-server:", render(b), f"    raw {b!r}",
                "  steps before (all matched):", *("    " + s for s in log),
            ]))
        log.append(f"{show_argv(argv)}  ->  {b!r}")


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
        _run(pair, steps)

    try:
        check()
    finally:
        _configure(pair, b"128", b"64")
