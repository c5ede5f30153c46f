"""Random stream-command sequences (hypothesis), run step by step on a shoal-node and on redis-server, raw replies
compared after every step, once over RESP2 and once over RESP3.

The case file (cases/streams.txt) checks each command and error on its own; these sequences find what only shows
up in combination: trims after deletions (which nodes go whole, where `recorded-first-entry-id` lands), a
group's `entries-read` and `lag` after XDEL/XSETID/XGROUP SETID moved things under it, pending entries
reassigned by XREADGROUP after a SETID back, XCLAIM/XAUTOCLAIM meeting deleted entries, radix-tree node counts.
Small nodes (`stream-node-max-entries 3`) so node boundaries come into play within a few entries.

IDs are explicit (`<ms>-*`), so every reply is deterministic except idle times: in XPENDING's extended form and
XINFO CONSUMERS those are masked before comparing; min-idle arguments are 0 or huge. XINFO STREAM FULL (delivery
and seen times) is not drawn.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import decode
from .model import close_pairs, cmd, compare_data, open_pairs, opt, reset, run_steps

pytestmark = pytest.mark.differential

KEYS = [b"s1", b"s2"]
GROUPS = [b"g1", b"g2"]
CONSUMERS = [b"c1", b"c2", b"c3"]

key = st.sampled_from(KEYS)
group = st.sampled_from(GROUPS)
consumer = st.sampled_from(CONSUMERS)
ms = st.integers(1, 35).map(lambda i: b"%d" % i)
# IDs around the ones the sequences create (the runner's `<ms>-*` IDs are 2-0, 3-0, ...)
near_id = st.integers(2, 30).map(lambda i: b"%d-0" % i)
some_id = st.one_of(near_id, near_id, near_id,
                    st.tuples(st.integers(0, 36), st.integers(0, 3)).map(lambda t: b"%d-%d" % t),
                    ms, st.sampled_from([b"0", b"-", b"+", b"(3", b"x", b"18446744073709551615-18446744073709551615"]))
field = st.sampled_from([b"f", b"g", b"1", b""])
value = st.sampled_from([b"v", b"1", b"-7", b"", b"xyzxyzxyz"])
count = st.sampled_from([b"0", b"1", b"2", b"5", b"-1", b"x"])
small = st.sampled_from([b"0", b"1", b"2", b"3", b"5", b"-1"])
idle = st.sampled_from([b"0", b"100000000"])


range_lo = st.one_of(st.just(b"-"), near_id, some_id)
range_hi = st.one_of(st.just(b"+"), near_id, some_id)
fields = st.lists(st.tuples(field, value), min_size=1, max_size=3).map(lambda ps: [x for p in ps for x in p])
trim = st.one_of(
    cmd(b"MAXLEN", st.sampled_from([[], [b"~"], [b"="]]), small),
    cmd(b"MINID", st.sampled_from([[], [b"~"], [b"="]]), some_id),
    cmd(b"MAXLEN", b"~", small, b"LIMIT", small),
)
NEXT = b"<next>"  # replaced by the runner with a fresh, growing `<ms>-*` ID
xadd_id = st.one_of(st.just(NEXT), st.just(NEXT), st.just(NEXT), ms.map(lambda m: m + b"-*"), some_id)
ids = st.lists(st.one_of(near_id, some_id), min_size=1, max_size=3)

COMMANDS = [
    # writes and group reads weigh more, so the streams fill up and the PELs too
    cmd(b"XADD", key, xadd_id, fields),
    cmd(b"XADD", key, xadd_id, fields),
    cmd(b"XADD", key, xadd_id, fields),
    cmd(b"XADD", key, opt([b"NOMKSTREAM"]), trim, xadd_id, fields),
    cmd(b"XDEL", key, ids),
    cmd(b"XTRIM", key, trim),
    cmd(b"XLEN", key),
    cmd(b"XRANGE", key, range_lo, range_hi, opt([b"COUNT", count])),
    cmd(b"XREVRANGE", key, range_hi, range_lo, opt([b"COUNT", count])),
    cmd(b"XSETID", key, some_id, opt([b"ENTRIESADDED", small], [b"MAXDELETEDID", some_id])),
    cmd(b"XREAD", opt([b"COUNT", count]), b"STREAMS", key, st.one_of(some_id, st.just(b"$"))),
    cmd(b"XREAD", b"STREAMS", b"s1", b"s2", some_id, some_id),
    cmd(b"XGROUP", b"CREATE", key, group, st.one_of(some_id, st.just(b"$")),
         opt([b"MKSTREAM"], [b"ENTRIESREAD", small])),
    cmd(b"XGROUP", b"SETID", key, group, st.one_of(some_id, st.just(b"$")), opt([b"ENTRIESREAD", small])),
    cmd(b"XGROUP", b"DESTROY", key, group),
    cmd(b"XGROUP", st.sampled_from([b"CREATECONSUMER", b"DELCONSUMER"]), key, group, consumer),
    cmd(b"XREADGROUP", b"GROUP", group, consumer, opt([b"COUNT", count]), opt([b"NOACK"]), b"STREAMS", key,
         st.one_of(st.just(b">"), some_id)),
    cmd(b"XREADGROUP", b"GROUP", group, consumer, opt([b"COUNT", count]), b"STREAMS", key, b">"),
    cmd(b"XACK", key, group, ids),
    cmd(b"XPENDING", key, group),
    cmd(b"XPENDING", key, group, opt([b"IDLE", idle]), range_lo, range_hi, count, opt([consumer])),
    cmd(b"XCLAIM", key, group, consumer, idle, ids,
         st.lists(st.sampled_from([[b"JUSTID"], [b"FORCE"], [b"RETRYCOUNT", b"3"], [b"LASTID", b"9-0"],
                                   [b"IDLE", b"0"]]), max_size=2).map(lambda gs: [a for g in gs for a in g])),
    cmd(b"XAUTOCLAIM", key, group, consumer, idle, some_id, opt([b"COUNT", count]), opt([b"JUSTID"])),
    cmd(b"XINFO", b"STREAM", key),
    cmd(b"XINFO", b"GROUPS", key),
    cmd(b"XINFO", b"CONSUMERS", key, group),
    cmd(b"TYPE", key),
]
RARE = [cmd(b"DEL", key), cmd(b"SET", key, value)]  # they end a stream: seldom
command = st.one_of(st.one_of(*COMMANDS), st.one_of(*COMMANDS), st.one_of(*COMMANDS), st.one_of(*RARE))

# every sequence starts from two streams with entries and groups
PRELUDE = [
    [b"XADD", b"s1", NEXT, b"f", b"v"], [b"XADD", b"s1", NEXT, b"f", b"v", b"g", b"1"],
    [b"XADD", b"s1", NEXT, b"f", b"2"],
    [b"XADD", b"s2", NEXT, b"f", b"v"], [b"XGROUP", b"CREATE", b"s1", b"g1", b"0"],
    [b"XGROUP", b"CREATE", b"s1", b"g2", b"$"], [b"XGROUP", b"CREATE", b"s2", b"g1", b"0"],
]


def _mask_times(argv: list[bytes], raw: bytes):
    """The reply with its time-dependent numbers replaced (XPENDING's idle, XINFO CONSUMERS' idle)."""
    name = argv[0].upper()
    tree = decode(raw)
    if tree[0] not in "*%":
        return tree
    if name == b"XPENDING" and len(argv) > 3 and tree[1]:
        return ("*", [(t, [*items[:2], ("idle",), *items[3:]]) for t, items in tree[1]])
    if name == b"XINFO" and argv[1].upper() == b"CONSUMERS":
        out = []
        for t, items in tree[1]:
            if t == "%":
                out.append((t, [(k, ("idle",) if k == ("$", b"idle") else v) for k, v in items]))
            else:
                out.append((t, [("idle",) if i and items[i - 1] == ("$", b"idle") else x
                                for i, x in enumerate(items)]))
        return ("*", out)
    return tree


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    conns = open_pairs(shoal, redis_ref)
    for conn in conns[2]:
        assert conn.call("CONFIG", "SET", "stream-node-max-entries", "3") == b"+OK\r\n"
    yield conns
    for conn in conns[2]:
        conn.call("CONFIG", "SET", "stream-node-max-entries", "100")
    close_pairs(conns.values())


@pytest.mark.parametrize("proto", [2, 3])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(steps=st.lists(command, min_size=1, max_size=30))
def test_random_stream_sequences_match_redis(pairs, proto, steps):
    pair = pairs[proto]
    reset(pair)
    next_ms = 1

    def with_fresh_ids(argv):
        nonlocal next_ms
        if NEXT not in argv:
            return argv
        next_ms += 1
        return [b"%d-*" % next_ms if a == NEXT else a for a in argv]

    run_steps(pair, (with_fresh_ids(argv) for argv in PRELUDE + steps), label=f"RESP{proto}: ",
              agree=lambda argv, a, b: _mask_times(argv, a) == _mask_times(argv, b))
    compare_data(pair, [probe for k in KEYS for probe in (
        [b"TYPE", k], [b"XRANGE", k, b"-", b"+"], [b"XINFO", b"STREAM", k], [b"XINFO", b"GROUPS", k])])
