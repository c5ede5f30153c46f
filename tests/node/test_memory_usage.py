"""What a value costs (node/memory.py) against what CPython really allocates for it, traced by tracemalloc, in
process: every type built the way the server builds it, from commands parsed by hiredis (so element objects are
the ones a network client would leave). tracemalloc counts the bytes asked for; the estimate counts what the
allocator hands out (16-byte classes), so it may be up to a quarter above, never below by more than a little.

Also the incremental accounting: `db.mem` after many in-place writes stays close to a recount from scratch."""
from __future__ import annotations

import gc
import random
import tracemalloc

import hiredis
import pytest

from shoal.node import dispatch, memory
from shoal.node.client import Client
from shoal.node.keyspace import SLOT, bytes_cost
from shoal.node.state import NodeState
from tests.node.eviction_helpers import resp

BUILDERS = {
    "hash": lambda j: resp(b"HSET", b"k", *[y for x in range(1000) for y in (b"field:%d" % (j + x), b"v%d" % x)]),
    "list": lambda j: resp(b"RPUSH", b"k", *[b"element:%d" % (j + x) for x in range(1000)]),
    "set": lambda j: resp(b"SADD", b"k", *[b"member:%d" % (j + x) for x in range(1000)]),
    "intset": lambda j: resp(b"SADD", b"k", *[b"%d" % (j + x) for x in range(1000)]),
    "zset": lambda j: resp(b"ZADD", b"k", *[y for x in range(1000) for y in (b"%d" % x, b"m:%d" % (j + x))]),
    "stream": lambda j: b"".join(resp(b"XADD", b"k", b"*", b"f", b"%d" % (j + x), b"g", b"value")
                                 for x in range(1000)),
    "string": lambda j: resp(b"APPEND", b"k", b"x" * 1000),
}


def run(client, data: bytes) -> None:
    reader = hiredis.Reader()
    reader.feed(data)
    while (argv := reader.gets()) is not False:
        dispatch.execute(client, argv)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_value_cost_matches_traced_allocations(kind):
    state = NodeState()
    client = Client(state)
    data = b"".join(BUILDERS[kind](j) for j in range(0, 20000 if kind != "string" else 200_000, 1000))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        run(client, data)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    traced = sum(d.size_diff for d in after.compare_to(before, "filename"))
    value = state.keyspace[0].data[b"k"]
    exact = memory.value_cost(value, 0)
    sampled = memory.value_cost(value, 5)
    assert 0.97 <= exact / traced <= 1.25, (kind, exact, traced)
    assert abs(sampled / exact - 1) <= 0.1, (kind, sampled, exact)


def test_memory_usage_command_is_the_key_cost():
    state = NodeState()
    client = Client(state)
    run(client, resp(b"SET", b"s", b"x" * 100) + resp(b"EXPIRE", b"s", b"100") + resp(b"RPUSH", b"l", b"a", b"bb"))
    db = state.keyspace[0]
    assert dispatch.execute(client, [b"MEMORY", b"USAGE", b"s"]) == b":%d\r\n" % memory.key_cost(db, b"s")
    plain = bytes_cost(1) + SLOT + bytes_cost(100)
    assert memory.key_cost(db, b"s") == plain + memory.EXPIRE_COST + 72  # a volatile key costs its expiry too
    assert dispatch.execute(client, [b"MEMORY", b"USAGE", b"l", b"SAMPLES", b"0"]) == \
        b":%d\r\n" % memory.key_cost(db, b"l", 0)


def test_incremental_accounting_stays_close_to_a_recount():
    """Thousands of in-place writes of every kind, costed incrementally (scaled by length, re-costed now and
    then), against costing every key afresh."""
    state = NodeState()
    client = Client(state)
    rnd = random.Random(5)
    cmds = []
    for _ in range(30000):
        k = b"k%d" % rnd.randrange(300)
        t = rnd.randrange(7)
        if t == 0:
            cmds.append(resp(b"HSET", b"h" + k, b"f%d" % rnd.randrange(100), b"v" * rnd.randrange(1, 80)))
        elif t == 1:
            cmds.append(resp(b"RPUSH", b"l" + k, b"e" * rnd.randrange(1, 60)))
        elif t == 2:
            cmds.append(resp(b"LPOP", b"l" + k))
        elif t == 3:
            member = b"%d" % rnd.randrange(1000) if rnd.random() < 0.9 else b"m%d" % rnd.randrange(1000)
            cmds.append(resp(b"SADD", b"s" + k, member))
        elif t == 4:
            cmds.append(resp(b"ZADD", b"z" + k, b"%d" % rnd.randrange(100), b"m%d" % rnd.randrange(200)))
        elif t == 5:
            cmds.append(resp(b"APPEND", b"a" + k, b"x" * rnd.randrange(1, 50)))
        else:
            cmds.append(resp(b"XADD", b"x" + k, b"*", b"f", b"v" * rnd.randrange(1, 30)))
    run(client, b"".join(cmds))
    db = state.keyspace[0]
    memory.settle(db)
    incremental = db.mem
    memory.recount(db)
    assert abs(incremental / db.mem - 1) <= 0.05, (incremental, db.mem)


def test_used_memory_goes_down_with_deletes_and_flush():
    state = NodeState()
    client = Client(state)
    m = state.memory
    empty = m.refresh()
    run(client, b"".join(resp(b"SET", b"k%d" % i, b"v" * 50) for i in range(10000)))
    full = m.refresh()
    assert full - empty > 10000 * (bytes_cost(6) + bytes_cost(50))
    run(client, b"".join(resp(b"DEL", b"k%d" % i) for i in range(5000)))
    half = m.refresh()
    # the keys and values go; the tables keep their size, as Python's dicts do
    assert full - half == pytest.approx(5000 * (bytes_cost(5) + bytes_cost(50)), rel=0.05)
    dispatch.execute(client, [b"FLUSHALL"])
    assert m.refresh() - empty < 4096
