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

from .harness import RawConnection, decode, sort_aggregates
from .model import cmd, open_pair, opt, reset, run_steps, same_random_shape

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


GENERATORS = [
    cmd(b"SADD", key, members),
    cmd(b"SREM", key, members),
    cmd(b"SCARD", key),
    cmd(b"SISMEMBER", key, member),
    cmd(b"SMISMEMBER", key, members),
    cmd(b"SMEMBERS", key),
    cmd(b"SRANDMEMBER", key),
    cmd(b"SRANDMEMBER", key, rand_count),
    cmd(b"SPOP", key, pop_count),
    cmd(b"SMOVE", key, key, member),
    cmd(b"SINTER", keys),
    cmd(b"SUNION", keys),
    cmd(b"SDIFF", keys),
    cmd(b"SINTERSTORE", key, keys),
    cmd(b"SUNIONSTORE", key, keys),
    cmd(b"SDIFFSTORE", key, keys),
    keys.flatmap(lambda ks: cmd(b"SINTERCARD", b"%d" % len(ks), ks,
                                opt((b"LIMIT", st.sampled_from([b"0", b"1", b"2", b"-1"]))))),
    cmd(b"SSCAN", key, b"0"),
    cmd(b"SSCAN", key, b"0", b"MATCH", pattern, b"COUNT", b"100"),
    cmd(b"OBJECT", b"ENCODING", key),
    cmd(b"SET", st.just(b"str"), member),
    cmd(b"DEL", key),
    cmd(b"COPY", key, key),
    cmd(b"TYPE", key),
]
command = st.one_of(*GENERATORS)

LISTING = {b"SMEMBERS", b"SSCAN", b"SPOP", b"SINTER", b"SUNION", b"SDIFF"}
RANDOM = {b"SRANDMEMBER"}


@pytest.fixture(scope="module")
def pair(shoal, redis_ref):
    conns = open_pair(shoal, redis_ref)
    yield conns
    for conn in conns:
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
    if a[:1] == b"-" or b[:1] == b"-":
        return False
    name = argv[0]
    if name in RANDOM:
        return same_random_shape(a, b)
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
    log = reset(pair, ("set-max-intset-entries", str(max_intset)))

    def intsets(argv) -> bool:
        return argv[0] in LISTING and _all_intsets(pair[1], _source_keys(argv))

    run_steps(pair, ([argv[0].upper()] + argv[1:] for argv in steps), look_before=intsets, log=log,
              agree=lambda argv, a, b, seen: _agree(argv, a, b, seen, max_intset))
