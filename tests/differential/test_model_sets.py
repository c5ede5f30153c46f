"""Random sequences of set commands (hypothesis), run step by step on a shoal-node and on redis-server, raw replies
compared after every step.

Each example starts from an empty keyspace and a drawn `set-max-intset-entries` (the default, or 3 so that
intsets turn into hashtables mid-sequence). Members are mostly integers, so intsets are common. A reply whose
order is an encoding's is compared exactly when it comes from an intset (ascending order) and as a sorted multiset
when it comes from a hashtable (Redis's bucket order cannot be reproduced); the encodings are asked of
redis-server itself before the command runs. SRANDMEMBER picks at random: its replies are compared by type and
length only (errors exactly). SPOP is drawn only with counts that pop the whole set (or nothing, or an error),
since a random pop would make the two keyspaces differ.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.node.numbers import string2ll

from .harness import RawConnection, decode, render, show_argv, sort_aggregates

pytestmark = pytest.mark.differential

SET_KEYS = [b"s1", b"s2", b"s3"]
KEYS = SET_KEYS + [b"str"]
key = st.sampled_from(KEYS)
member = st.one_of(
    st.sampled_from([b"1", b"2", b"3", b"-5", b"10", b"0", b"9223372036854775807", b"-9223372036854775808"]),
    st.sampled_from([b"01", b"-0", b"a", b"b", b"", b"x y", b"9223372036854775808", b"\x00"]),
    st.integers(-20, 20).map(lambda i: b"%d" % i),
)
members = st.lists(member, min_size=1, max_size=4)
keys = st.lists(key, min_size=1, max_size=3)
rand_count = st.sampled_from([b"0", b"1", b"2", b"5", b"100", b"-1", b"-4", b"-9223372036854775808", b"x"])
pop_count = st.sampled_from([b"0", b"100", b"1000", b"-1", b"x"])
pattern = st.sampled_from([b"*", b"1*", b"-*", b"?", b"[a-c]", b"*0*"])


def _cmd(*parts):
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(list)


def _flat(*parts):
    return st.tuples(*parts).map(lambda ps: [a for p in ps for a in p])


GENERATORS = [
    _flat(_cmd(b"SADD", key), members),
    _flat(_cmd(b"SREM", key), members),
    _cmd(b"SCARD", key),
    _cmd(b"SISMEMBER", key, member),
    _flat(_cmd(b"SMISMEMBER", key), members),
    _cmd(b"SMEMBERS", key),
    _cmd(b"SRANDMEMBER", key),
    _cmd(b"SRANDMEMBER", key, rand_count),
    _cmd(b"SPOP", key, pop_count),
    _cmd(b"SMOVE", key, key, member),
    _flat(_cmd(b"SINTER"), keys),
    _flat(_cmd(b"SUNION"), keys),
    _flat(_cmd(b"SDIFF"), keys),
    _flat(_cmd(b"SINTERSTORE", key), keys),
    _flat(_cmd(b"SUNIONSTORE", key), keys),
    _flat(_cmd(b"SDIFFSTORE", key), keys),
    keys.flatmap(lambda ks: _flat(_cmd(b"SINTERCARD", st.just(b"%d" % len(ks))), st.just(ks),
                                  st.one_of(st.just([]), _cmd(b"LIMIT", st.sampled_from([b"0", b"1", b"2", b"-1"])))
                                  )),
    _cmd(b"SSCAN", key, b"0"),
    _cmd(b"SSCAN", key, b"0", b"MATCH", pattern, b"COUNT", b"100"),
    _cmd(b"OBJECT", b"ENCODING", key),
    _cmd(b"SET", st.just(b"str"), member),
    _cmd(b"DEL", key),
    _cmd(b"COPY", key, key),
    _cmd(b"TYPE", key),
]
command = st.one_of(*GENERATORS)

LISTING = {b"SMEMBERS", b"SSCAN", b"SPOP", b"SINTER", b"SUNION", b"SDIFF"}
RANDOM = {b"SRANDMEMBER"}


@pytest.fixture(scope="module")
def pair(shoal, redis_ref):
    ours = RawConnection(shoal.host, shoal.port)
    theirs = RawConnection(redis_ref.host, redis_ref.port)
    yield ours, theirs
    for conn in (ours, theirs):
        conn.call("CONFIG", "SET", "set-max-intset-entries", "512")
        conn.close()


def _source_keys(argv) -> list[bytes]:
    return argv[1:2] if argv[0] in (b"SMEMBERS", b"SSCAN", b"SPOP") else argv[1:]


def _all_intsets(theirs: RawConnection, ks: list[bytes]) -> bool:
    """Are all the (existing) sets named intsets on redis-server? Asked before the command runs."""
    for k in ks:
        enc = theirs.call(b"OBJECT", b"ENCODING", k)
        if enc not in (b"$6\r\nintset\r\n", b"$-1\r\n", b"_\r\n"):
            return False
    return True


def _members_of(reply: bytes) -> list[bytes]:
    tree = decode(reply)
    if tree[0] == "*" and len(tree[1]) == 2 and tree[1][1][0] == "*":  # SSCAN: [cursor, [members]]
        tree = tree[1][1]
    return [m[1] for m in tree[1]] if tree[1] else []


def _exact_order_expected(argv, reply: bytes, intsets: bool, max_intset: int) -> bool:
    """Whether Redis's order is the intset's (ascending) and so must be matched exactly."""
    if argv[0] in (b"SUNION", b"SDIFF"):
        # the result is built as a new set: an intset while every member is an integer, up to the limit
        ms = _members_of(reply)
        return len(ms) <= max_intset and all(string2ll(m) is not None for m in ms)
    return intsets


def _agree(argv, a: bytes, b: bytes, intsets: bool, max_intset: int) -> bool:
    if a == b:
        return True
    if a[:1] == b"-" or b[:1] == b"-":
        return False
    name = argv[0]
    if name in RANDOM:
        if a[:1] == b"$":
            return b[:1] == b"$"  # one random member: a bulk string either way
        return a.split(b"\r\n", 1)[0] == b.split(b"\r\n", 1)[0]  # an array: type and length
    if name == b"SSCAN" and not intsets and b"COUNT" not in argv:
        # a hashtable is scanned in bucket order: which members one step returns, and the cursor, are Redis's
        # own; only a COUNT above the size makes both answer everything with cursor 0
        return a[:1] == b[:1]
    if name in LISTING and not _exact_order_expected(argv, b, intsets, max_intset):
        return sort_aggregates(a) == sort_aggregates(b)
    return False


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(max_intset=st.sampled_from([512, 3]), steps=st.lists(command, min_size=1, max_size=25))
def test_set_sequences_match_redis(pair, max_intset, steps):
    ours, theirs = pair
    for conn, who in ((ours, "shoal-node"), (theirs, "redis-server")):
        assert conn.call("FLUSHALL") == b"+OK\r\n", who
        assert conn.call("CONFIG", "SET", "set-max-intset-entries", str(max_intset)) == b"+OK\r\n", who
    log: list[str] = [f"CONFIG SET set-max-intset-entries {max_intset}"]
    for argv in steps:
        argv = [argv[0].upper()] + argv[1:]
        intsets = argv[0] in LISTING and _all_intsets(theirs, _source_keys(argv))
        ours.send(argv)
        theirs.send(argv)
        a, b = ours.read_reply(), theirs.read_reply()
        if not _agree(argv, a, b, intsets, max_intset):
            pytest.fail("\n".join([
                f"replies differ at step {len(log)}: {show_argv(argv)}",
                "  shoal-node:", render(a), f"    raw {a!r}",
                "  redis-server:", render(b), f"    raw {b!r}",
                "  steps before (all matched):", *("    " + s for s in log),
            ]))
        log.append(f"{show_argv(argv)}  ->  {b[:100]!r}")
