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

from .model import close_pairs, cmd, compare_data, open_pairs, opt, reset, run_steps

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


lpos_opts = st.lists(st.one_of(cmd(b"RANK", st.sampled_from([b"1", b"2", b"-1", b"-2", b"0", b"3"])),
                               cmd(b"COUNT", st.sampled_from([b"0", b"1", b"2", b"-1"])),
                               cmd(b"MAXLEN", st.sampled_from([b"0", b"1", b"3", b"-1"]))), max_size=3) \
    .map(lambda groups: [a for g in groups for a in g])
keys = st.lists(key, min_size=1, max_size=3)
mpop_tail = opt([b"COUNT", st.sampled_from([b"1", b"2", b"5", b"0"])])

COMMANDS = [
    cmd(b"LPUSH", key, elems), cmd(b"RPUSH", key, elems), cmd(b"LPUSHX", key, elems), cmd(b"RPUSHX", key, elems),
    cmd(b"LPOP", key), cmd(b"RPOP", key), cmd(b"LPOP", key, count), cmd(b"RPOP", key, count),
    cmd(b"LLEN", key), cmd(b"LRANGE", key, index, index), cmd(b"LINDEX", key, index),
    cmd(b"LSET", key, index, elem), cmd(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"x"]), elem, elem),
    cmd(b"LREM", key, count, elem), cmd(b"LTRIM", key, index, index), cmd(b"LPOS", key, elem, lpos_opts),
    cmd(b"LMOVE", key, key, side, side), cmd(b"RPOPLPUSH", key, key),
    st.tuples(keys, side, mpop_tail).map(lambda t: [b"LMPOP", b"%d" % len(t[0]), *t[0], t[1], *t[2]]),
    cmd(b"BLPOP", keys, timeout), cmd(b"BRPOP", keys, timeout),
    cmd(b"BLMOVE", key, key, side, side, timeout), cmd(b"BRPOPLPUSH", key, key, timeout),
    st.tuples(keys, side, mpop_tail, timeout).map(
        lambda t: [b"BLMPOP", t[3], b"%d" % len(t[0]), *t[0], t[1], *t[2]]),
    cmd(b"SET", key, elem), cmd(b"DEL", key), cmd(b"TYPE", key), cmd(b"EXISTS", key),
]
command = st.one_of(*COMMANDS)


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    conns = open_pairs(shoal, redis_ref)
    yield conns
    close_pairs(conns.values())


@pytest.mark.parametrize("proto", [2, 3])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(steps=st.lists(command, min_size=1, max_size=25))
def test_random_list_sequences_match_redis(pairs, proto, steps):
    pair = pairs[proto]
    reset(pair)
    run_steps(pair, steps, label=f"RESP{proto}: ")
    compare_data(pair, [probe for k in KEYS for probe in ([b"TYPE", k], [b"LRANGE", k, b"0", b"-1"])])
