"""Random list-command sequences (hypothesis), run step by step on a shoal-node and on redis-server, raw replies
compared after every step, once over RESP2 and once over RESP3.

The case file (cases/lists.txt) checks each command and error on its own; these sequences find what only shows up
in combination: an LINSERT after pops moved the head into another chunk, LREM from the tail after LMOVE rotated
the list, LTRIM of a list grown from both ends, a blocking pop that finds data left by an earlier step, a list
turned into a string by SET and back. Few distinct elements, so searches (LPOS, LREM, LINSERT) find things;
blocking commands use a 1 ms timeout so an empty key costs nothing.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import RawConnection, render, show_argv

pytestmark = pytest.mark.differential

KEYS = [b"l1", b"l2", b"l3"]

key = st.sampled_from(KEYS)
elem = st.sampled_from([b"a", b"b", b"c", b"1", b"01", b"", b"\x00x", b"-1"])
elems = st.lists(elem, min_size=1, max_size=6)
index = st.one_of(st.integers(-8, 8).map(lambda i: b"%d" % i),
                  st.sampled_from([b"9223372036854775807", b"-9223372036854775808", b"x"]))
count = st.one_of(st.integers(-3, 6).map(lambda i: b"%d" % i), st.sampled_from([b"x", b"100"]))
side = st.sampled_from([b"LEFT", b"RIGHT", b"left", b"UP"])
timeout = st.sampled_from([b"0.001", b"-1", b"x"])


def _cmd(*parts):
    """A strategy for one argv; each part is bytes (literal), a strategy of bytes, or of a list of bytes."""
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        lambda t: [a for p in t for a in (p if isinstance(p, list) else [p])])


def _opt(*choices):
    return st.one_of(st.just([]), *(_cmd(*c) for c in choices))


lpos_opts = st.lists(st.one_of(_cmd(b"RANK", st.sampled_from([b"1", b"2", b"-1", b"-2", b"0", b"3"])),
                               _cmd(b"COUNT", st.sampled_from([b"0", b"1", b"2", b"-1"])),
                               _cmd(b"MAXLEN", st.sampled_from([b"0", b"1", b"3", b"-1"]))), max_size=3) \
    .map(lambda groups: [a for g in groups for a in g])
keys = st.lists(key, min_size=1, max_size=3)
mpop_tail = _opt([b"COUNT", st.sampled_from([b"1", b"2", b"5", b"0"])])

COMMANDS = [
    _cmd(b"LPUSH", key, elems), _cmd(b"RPUSH", key, elems), _cmd(b"LPUSHX", key, elems), _cmd(b"RPUSHX", key, elems),
    _cmd(b"LPOP", key), _cmd(b"RPOP", key), _cmd(b"LPOP", key, count), _cmd(b"RPOP", key, count),
    _cmd(b"LLEN", key), _cmd(b"LRANGE", key, index, index), _cmd(b"LINDEX", key, index),
    _cmd(b"LSET", key, index, elem), _cmd(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"x"]), elem, elem),
    _cmd(b"LREM", key, count, elem), _cmd(b"LTRIM", key, index, index), _cmd(b"LPOS", key, elem, lpos_opts),
    _cmd(b"LMOVE", key, key, side, side), _cmd(b"RPOPLPUSH", key, key),
    st.tuples(keys, side, mpop_tail).map(lambda t: [b"LMPOP", b"%d" % len(t[0]), *t[0], t[1], *t[2]]),
    _cmd(b"BLPOP", keys, timeout), _cmd(b"BRPOP", keys, timeout),
    _cmd(b"BLMOVE", key, key, side, side, timeout), _cmd(b"BRPOPLPUSH", key, key, timeout),
    st.tuples(keys, side, mpop_tail, timeout).map(
        lambda t: [b"BLMPOP", t[3], b"%d" % len(t[0]), *t[0], t[1], *t[2]]),
    _cmd(b"SET", key, elem), _cmd(b"DEL", key), _cmd(b"TYPE", key), _cmd(b"EXISTS", key),
]
command = st.one_of(*COMMANDS)


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    conns = {}
    for proto in (2, 3):
        ours = RawConnection(shoal.host, shoal.port)
        theirs = RawConnection(redis_ref.host, redis_ref.port)
        if proto == 3:
            for conn in (ours, theirs):
                assert conn.call("HELLO", "3")[:1] == b"%"
        conns[proto] = (ours, theirs)
    yield conns
    for ours, theirs in conns.values():
        ours.close()
        theirs.close()


@pytest.mark.parametrize("proto", [2, 3])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(steps=st.lists(command, min_size=1, max_size=25))
def test_random_list_sequences_match_redis(pairs, proto, steps):
    ours, theirs = pairs[proto]
    for conn, who in ((ours, "shoal-node"), (theirs, "redis-server")):
        reply = conn.call("FLUSHALL")
        assert reply == b"+OK\r\n", f"{who}: FLUSHALL failed: {reply!r}"
    log: list[str] = []
    for argv in steps:
        ours.send(argv)
        theirs.send(argv)
        a, b = ours.read_reply(), theirs.read_reply()
        if a != b:
            pytest.fail("\n".join([
                f"RESP{proto}: replies differ at step {len(log) + 1}: {show_argv(argv)}",
                "  shoal-node:", render(a), f"    raw {a!r}",
                "  redis-server:", render(b), f"    raw {b!r}",
                "  steps before (all matched):", *("    " + s for s in log),
            ]))
        log.append(f"{show_argv(argv)}  ->  {b!r}")
    # and the data itself, not only the replies
    for k in KEYS:
        for conn in (ours, theirs):
            conn.send([b"TYPE", k])
        a, b = ours.read_reply(), theirs.read_reply()
        assert a == b, (k, a, b)
        if b in (b"+list\r\n",):
            for conn in (ours, theirs):
                conn.send([b"LRANGE", k, b"0", b"-1"])
            assert ours.read_reply() == theirs.read_reply(), k
