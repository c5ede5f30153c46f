"""Streams over real sockets: blocking XREAD/XREADGROUP with several concurrent clients, the time-dependent
replies the differential corpus can only compare by type, keyspace events, WATCH, and a 1M-entry stream.

Most scenarios run against a shoal-node and against Debian's redis-server 7.0.15 with the same expectations, so
each test states Redis's behaviour and checks that we have it. Blocked clients are threads with their own
connections; "client N is blocked" is observed through INFO's blocked_clients before anything is written, so the
order in which clients blocked is the order the test intends. Every wait is bounded.
"""
from __future__ import annotations

import socket
import time

import pytest
import redis

from tests.node import helpers
from tests.node.helpers import DEADLINE


@pytest.fixture
def r(srv):
    c = srv.client()
    c.response_callbacks.clear()  # raw replies: the shapes are what we check
    c.admin = srv.client()  # parsed replies, for INFO and CLIENT LIST
    yield c
    # a failed test must not leave clients waiting into the next one
    for line in c.admin.client_list():
        if "b" in line["flags"]:
            c.admin.execute_command("CLIENT", "UNBLOCK", line["id"])
    c.admin.close()
    c.close()


class Blocker(helpers.Blocker):
    raw_replies = True  # the shapes of the replies are what the tests check


def block(srv, r, *cmd, protocol: int = 2) -> Blocker:
    return helpers.block(srv, r.admin, *cmd, blocker=Blocker, protocol=protocol)


def wait_blocked(r, n: int) -> None:
    helpers.wait_blocked(r.admin, n)


def entry(eid: bytes, *fv: bytes) -> list:
    return [eid, list(fv)]


# --------------------------------------------------------------------------------------------------- blocking XREAD


def test_xread_block_is_served_by_xadd_with_only_the_new_entry(srv, r):
    r.execute_command("XADD", "s", "1", "old", "x")
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    r.execute_command("XADD", "s", "2", "new", "y")
    assert b.finish() == [[b"s", [entry(b"2-0", b"new", b"y")]]]


def test_xread_block_every_reader_gets_the_entry_and_resp3_is_a_map(srv, r):
    b2 = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    b3 = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$", protocol=3)
    r.execute_command("XADD", "s", "5", "f", "v")
    assert b2.finish() == [[b"s", [entry(b"5-0", b"f", b"v")]]]
    assert b3.finish() == {b"s": [entry(b"5-0", b"f", b"v")]}


def test_xread_block_times_out_in_milliseconds(srv, r):
    b = Blocker(srv, "XREAD", "BLOCK", "150", "STREAMS", "s", "$")
    b.start()
    assert b.finish() is None
    assert 0.1 <= b.elapsed < 2.0


def test_xread_block_zero_waits_until_data_arrives(srv, r):
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "0", "0")
    time.sleep(0.3)
    assert not b.done.is_set()
    assert helpers.blocked_count(r.admin) == 1
    r.execute_command("XADD", "b", "1", "k", "v")
    assert b.finish() == [[b"b", [entry(b"1-0", b"k", b"v")]]]


def test_xread_block_gets_everything_of_one_exec_and_honours_count(srv, r):
    b_all = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    b_one = block(srv, r, "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$")
    p = r.pipeline(transaction=True)
    p.execute_command("XADD", "s", "1", "a", "1")
    p.execute_command("XADD", "s", "2", "b", "2")
    p.execute()
    assert b_all.finish() == [[b"s", [entry(b"1-0", b"a", b"1"), entry(b"2-0", b"b", b"2")]]]
    assert b_one.finish() == [[b"s", [entry(b"1-0", b"a", b"1")]]]


def test_xread_block_stays_blocked_when_the_key_changes_type_or_goes(srv, r):
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    r.execute_command("SET", "s", "x")
    r.execute_command("DEL", "s")
    time.sleep(0.1)
    assert not b.done.is_set()
    r.execute_command("XADD", "s", "1", "a", "1")
    assert b.finish() == [[b"s", [entry(b"1-0", b"a", b"1")]]]


def test_xread_block_is_not_woken_by_xsetid_but_by_the_next_xadd(srv, r):
    r.execute_command("XADD", "s", "1", "a", "1")
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    r.execute_command("XSETID", "s", "5")
    r.execute_command("XDEL", "s", "1")
    time.sleep(0.1)
    assert not b.done.is_set()
    r.execute_command("XADD", "s", "6", "b", "2")
    assert b.finish() == [[b"s", [entry(b"6-0", b"b", b"2")]]]


def test_xread_block_served_empty_when_xadd_trims_its_own_entry(srv, r):
    r.execute_command("XADD", "s", "1", "a", "1")
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    r.execute_command("XADD", "s", "MAXLEN", "0", "2", "a", "1")
    assert b.finish() == [[b"s", []]]


def test_xread_block_inside_multi_does_not_block(srv, r):
    p = r.pipeline(transaction=True)
    p.execute_command("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    p.execute_command("PING")
    t0 = time.monotonic()
    assert p.execute() == [None, b"PONG"]
    assert time.monotonic() - t0 < 1.0


def test_client_unblock_ends_a_blocked_xread(srv, r):
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    assert r.execute_command("CLIENT", "UNBLOCK", b.client_id) == 1
    assert b.finish() is None
    b = block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    assert r.execute_command("CLIENT", "UNBLOCK", b.client_id, "ERROR") == 1
    b.finish()
    assert "UNBLOCKED" in str(b.error)


# ------------------------------------------------------------------------------------------------- blocking XREADGROUP


def test_xreadgroup_block_serves_consumers_first_come_first_served(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    waiting = [block(srv, r, "XREADGROUP", "GROUP", "g", f"c{i}", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", ">")
               for i in range(3)]
    r.execute_command("XADD", "s", "1", "n", "1")
    assert waiting[0].finish() == [[b"s", [entry(b"1-0", b"n", b"1")]]]
    time.sleep(0.05)
    assert not waiting[1].done.is_set() and not waiting[2].done.is_set()
    r.execute_command("XADD", "s", "2", "n", "2")
    assert waiting[1].finish() == [[b"s", [entry(b"2-0", b"n", b"2")]]]
    r.execute_command("XADD", "s", "3", "n", "3")
    assert waiting[2].finish() == [[b"s", [entry(b"3-0", b"n", b"3")]]]
    summary = r.execute_command("XPENDING", "s", "g")
    assert summary == [3, b"1-0", b"3-0", [[b"c0", b"1"], [b"c1", b"1"], [b"c2", b"1"]]]


def test_xreadgroup_block_does_not_create_the_consumer_until_served(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b = block(srv, r, "XREADGROUP", "GROUP", "g", "late", "BLOCK", "0", "STREAMS", "s", ">")
    assert r.execute_command("XINFO", "CONSUMERS", "s", "g") == []
    r.execute_command("XADD", "s", "1", "a", "1")
    b.finish()
    consumers = r.execute_command("XINFO", "CONSUMERS", "s", "g")
    assert [c[:4] for c in consumers] == [[b"name", b"late", b"pending", 1]]


def test_xreadgroup_block_noack_leaves_nothing_pending(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b = block(srv, r, "XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "0", "STREAMS", "s", ">")
    r.execute_command("XADD", "s", "1", "a", "1")
    assert b.finish() == [[b"s", [entry(b"1-0", b"a", b"1")]]]
    assert r.execute_command("XPENDING", "s", "g") == [0, None, None, None]


def test_xreadgroup_block_gets_nogroup_when_its_group_is_destroyed(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b = block(srv, r, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    r.execute_command("XGROUP", "CREATECONSUMER", "s", "g", "other")
    time.sleep(0.05)
    assert not b.done.is_set()
    assert r.execute_command("XGROUP", "DESTROY", "s", "g") == 1
    b.finish()
    assert isinstance(b.error, redis.ResponseError)
    assert str(b.error) == "NOGROUP the consumer group this client was blocked on no longer exists"


@pytest.mark.parametrize("action", [("DEL", "s"), ("SET", "s", "x"), ("FLUSHALL",), ("RENAME", "s", "t"),
                                    ("PEXPIRE", "s", "1")])
def test_xreadgroup_block_is_told_when_its_stream_goes(srv, r, action):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b = block(srv, r, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    r.execute_command(*action)
    if action[0] == "PEXPIRE":
        time.sleep(0.05)
        r.execute_command("EXISTS", "s")  # the lazy expiry deletes it
    b.finish()
    assert str(b.error) == "UNBLOCKED the stream key no longer exists"


def test_xreadgroup_block_disconnected_client_leaves_no_trace(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    argv = [b"XREADGROUP", b"GROUP", b"g", b"gone", b"BLOCK", b"0", b"STREAMS", b"s", b">"]
    gone = socket.create_connection((srv.host, srv.port))
    gone.sendall(b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv))
    wait_blocked(r, 1)
    gone.close()
    wait_blocked(r, 0)
    stays = block(srv, r, "XREADGROUP", "GROUP", "g", "stays", "BLOCK", "0", "STREAMS", "s", ">")
    r.execute_command("XADD", "s", "1", "a", "1")
    assert stays.finish() == [[b"s", [entry(b"1-0", b"a", b"1")]]]
    assert r.execute_command("XPENDING", "s", "g")[3] == [[b"stays", b"1"]]


def test_xreadgroup_block_times_out(srv, r):
    r.execute_command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    b = Blocker(srv, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "120", "STREAMS", "s", ">")
    b.start()
    assert b.finish() is None
    assert 0.08 <= b.elapsed < 2.0


def test_blocked_readers_on_two_streams_many_clients(srv, r):
    """Several readers and writers at once: every reader gets exactly the entries added after it blocked."""
    readers = [block(srv, r, "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$") for _ in range(4)]
    writers = []
    for i, key in enumerate(("b", "a")):
        w = srv.client()
        writers.append(w)
        w.execute_command("XADD", key, f"{i + 1}", "w", str(i))
    for rd in readers:
        assert rd.finish() == [[b"b", [entry(b"1-0", b"w", b"0")]]]
    for w in writers:
        w.close()


# --------------------------------------------------------------------------------------------------- times


def test_pending_idle_times_and_delivery_counts_move_with_time(srv, r):
    r.execute_command("XADD", "s", "1", "a", "1")
    r.execute_command("XGROUP", "CREATE", "s", "g", "0")
    r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    time.sleep(0.12)
    [[eid, owner, idle, count]] = r.execute_command("XPENDING", "s", "g", "-", "+", "10")
    assert (eid, owner, count) == (b"1-0", b"c", 1) and 100 <= idle < 3000
    assert r.execute_command("XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10") == []
    r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0")
    [[_, _, idle, count]] = r.execute_command("XPENDING", "s", "g", "-", "+", "10")
    assert count == 2 and idle < 100
    # XCLAIM's IDLE and TIME set the delivery time
    r.execute_command("XCLAIM", "s", "g", "d", "0", "1", "IDLE", "5000", "JUSTID")
    [[_, owner, idle, count]] = r.execute_command("XPENDING", "s", "g", "-", "+", "10")
    assert owner == b"d" and 5000 <= idle < 8000 and count == 2
    now_ms = int(time.time() * 1000)
    r.execute_command("XCLAIM", "s", "g", "e", "0", "1", "TIME", str(now_ms - 20000))
    [[_, owner, idle, count]] = r.execute_command("XPENDING", "s", "g", "-", "+", "10")
    assert owner == b"e" and 19000 <= idle < 25000 and count == 3
    # a minimum idle time filters what XCLAIM and XAUTOCLAIM take
    assert r.execute_command("XCLAIM", "s", "g", "f", "60000", "1") == []
    assert r.execute_command("XAUTOCLAIM", "s", "g", "f", "10000", "0", "JUSTID") == [b"0-0", [b"1-0"], []]


def test_consumer_idle_and_seen_time(srv, r):
    r.execute_command("XADD", "s", "1", "a", "1")
    r.execute_command("XGROUP", "CREATE", "s", "g", "0")
    before = int(time.time() * 1000)
    r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    time.sleep(0.1)
    [[_, name, _, pending, _, idle]] = r.execute_command("XINFO", "CONSUMERS", "s", "g")
    assert name == b"c" and pending == 1 and 90 <= idle < 3000
    full = r.execute_command("XINFO", "STREAM", "s", "FULL")
    info = dict(zip(full[::2], full[1::2]))
    group = info[b"groups"][0]
    consumer = dict(zip(group[13][0][::2], group[13][0][1::2]))
    assert before - 50 <= consumer[b"seen-time"] <= before + 3000
    [[eid, delivered_at, count]] = consumer[b"pending"]
    assert eid == b"1-0" and count == 1 and before - 50 <= delivered_at <= before + 3000


def test_auto_ids_grow_with_the_clock_and_never_go_back(srv, r):
    now = int(time.time() * 1000)
    first = r.execute_command("XADD", "s", "*", "a", "1")
    ms, seq = map(int, first.split(b"-"))
    assert now - 1000 <= ms <= now + 5000
    ids = [r.execute_command("XADD", "s", "*", "a", "1") for _ in range(50)]
    parsed = [tuple(map(int, i.split(b"-"))) for i in [first] + ids]
    assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed)
    # a top item in the future: the next auto ID continues from it
    r.execute_command("XADD", "s", f"{now + 10**9}-5", "a", "1")
    assert r.execute_command("XADD", "s", "*", "a", "1") == f"{now + 10**9}-6".encode()


# --------------------------------------------------------------------------------------------------- events, WATCH


def _events(srv, r, commands):
    r.execute_command("CONFIG", "SET", "notify-keyspace-events", "KEA")
    sub = srv.client()
    ps = sub.pubsub()
    ps.psubscribe("__keyevent@0__:*")
    assert ps.get_message(timeout=DEADLINE)["type"] == "psubscribe"
    try:
        for cmd in commands:
            try:
                r.execute_command(*cmd)
            except redis.ResponseError:
                pass
        r.execute_command("SET", "end", "x")
        got = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m is None:
                continue
            got.append((m["channel"].split(b":", 1)[1], m["data"]))
            if m["data"] == b"end" and got[-1][0] == b"set":
                break
        return got
    finally:
        r.execute_command("CONFIG", "SET", "notify-keyspace-events", "")
        ps.close()
        sub.close()


def test_keyspace_events_match_redis(shoal, redis_ref):
    commands = [
        ("XADD", "s", "1", "a", "1"), ("XADD", "s", "2", "a", "1"), ("XADD", "s", "MAXLEN", "1", "3", "a", "1"),
        ("XTRIM", "s", "MAXLEN", "0"), ("XTRIM", "s", "MAXLEN", "0"), ("XADD", "s", "4", "a", "1"),
        ("XDEL", "s", "4"), ("XDEL", "s", "4"), ("XSETID", "s", "9"),
        ("XGROUP", "CREATE", "s", "g", "0"), ("XGROUP", "CREATE", "t", "g", "0", "MKSTREAM"),
        ("XGROUP", "CREATECONSUMER", "s", "g", "c"), ("XGROUP", "CREATECONSUMER", "s", "g", "c"),
        ("XADD", "s", "10", "a", "1"), ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"),
        ("XCLAIM", "s", "g", "e", "0", "10"), ("XAUTOCLAIM", "s", "g", "f", "0", "0"),
        ("XGROUP", "SETID", "s", "g", "0"), ("XGROUP", "DELCONSUMER", "s", "g", "c"),
        ("XGROUP", "DESTROY", "s", "g"), ("XGROUP", "DESTROY", "s", "g"), ("XADD", "s", "NOMKSTREAM", "11", "a", "1"),
        ("XADD", "u", "NOMKSTREAM", "1", "a", "1"), ("DEL", "s"),
    ]
    seen = []
    for server in (shoal, redis_ref):
        c = server.client()
        c.flushall()
        seen.append(_events(server, c, commands))
        c.close()
    assert seen[0] == seen[1]
    assert (b"xgroup-createconsumer", b"s") in seen[0]


def test_watch_sees_only_what_redis_signals(shoal, redis_ref):
    probes = [("XADD", "s", "9", "a", "1"), ("XDEL", "s", "1"), ("XDEL", "s", "99"), ("XTRIM", "s", "MAXLEN", "1"),
              ("XTRIM", "s", "MAXLEN", "100"), ("XSETID", "s", "50"), ("XGROUP", "CREATE", "s", "g2", "0"),
              ("XGROUP", "SETID", "s", "g", "0"), ("XGROUP", "DESTROY", "s", "g"),
              ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"), ("XACK", "s", "g", "1"),
              ("XCLAIM", "s", "g", "c2", "0", "1")]
    outcomes = []
    for server in (shoal, redis_ref):
        a, b = server.client(), server.client()
        row = []
        for cmd in probes:
            a.flushall()
            for i in (1, 2, 3):
                a.execute_command("XADD", "s", i, "a", 1)
            a.execute_command("XGROUP", "CREATE", "s", "g", "0")
            a.execute_command("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
            a.execute_command("WATCH", "s")
            b.execute_command(*cmd)
            p = a.pipeline(transaction=True)
            p.ping()
            try:
                p.execute()
                row.append((cmd[0], "kept"))
            except redis.WatchError:
                row.append((cmd[0], "broken"))
        outcomes.append(row)
        a.close()
        b.close()
    assert outcomes[0] == outcomes[1]
    assert ("XADD", "broken") in outcomes[0] and ("XACK", "kept") in outcomes[0]


# --------------------------------------------------------------------------------------------------- big streams


def _xadd_many(port: int, key: bytes, first: int, n: int, batch: int = 2000) -> None:
    """XADD key <i> f v for i in [first, first + n), pipelined over a raw socket (client cost kept small)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        tmpl = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$%d\r\n%d\r\n$1\r\nf\r\n$1\r\nv\r\n"
        for base in range(first, first + n, batch):
            top = min(base + batch, first + n)
            s.sendall(b"".join(tmpl % (len(key), key, len(str(i)), i) for i in range(base, top)))
            want = top - base
            got = 0
            buf = b""
            while got < want:
                buf += s.recv(1 << 20)
                assert not buf.startswith(b"-"), buf[:200]
                got = buf.count(b"\r\n") // 2


def _per_op(fn, n: int = 300) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def test_a_million_entries_stay_fast_near_the_middle(shoal):
    """XRANGE and XADD on a 1M-entry stream against a 1k-entry one, per operation, over one connection.

    Both are O(log n) here (a bisect over node keys, then within a node of 100 entries), so the time should hardly
    grow; 10x is a generous bound that still catches any O(n) step (which would be ~1000x)."""
    c = shoal.client()
    c.delete("big", "small")
    _xadd_many(shoal.port, b"small", 1, 1000)
    _xadd_many(shoal.port, b"big", 1, 1_000_000)
    assert c.xlen("big") == 1_000_000
    small_range = _per_op(lambda: c.execute_command("XRANGE", "small", 500, 510))
    big_range = _per_op(lambda: c.execute_command("XRANGE", "big", 500000, 500010))
    small_rev = _per_op(lambda: c.execute_command("XREVRANGE", "small", 510, 500))
    big_rev = _per_op(lambda: c.execute_command("XREVRANGE", "big", 500010, 500000))
    counter = iter(range(2_000_000, 3_000_000))
    small_add = _per_op(lambda: c.execute_command("XADD", "small", next(counter), "f", "v"))
    big_add = _per_op(lambda: c.execute_command("XADD", "big", next(counter), "f", "v"))
    small_del = _per_op(lambda: c.execute_command("XDEL", "small", next(counter)), 100)
    big_del = _per_op(lambda: c.execute_command("XDEL", "big", 400000 + next(counter) % 1000), 100)
    assert len(c.execute_command("XRANGE", "big", 500000, 500010)) == 11
    for name, small, big in (("XRANGE", small_range, big_range), ("XREVRANGE", small_rev, big_rev),
                             ("XADD", small_add, big_add), ("XDEL", small_del, big_del)):
        assert big < 10 * small + 0.0005, f"{name}: {big * 1e6:.0f} us at 1M vs {small * 1e6:.0f} us at 1k"
    c.delete("big", "small")
    c.close()


# --------------------------------------------------------------------------------------------------- propagation


def test_writes_propagate_as_redis_propagates_them():
    """In process (no sockets): what AOF and replicas receive. XADD carries the ID it generated and an approximate
    trim turned exact at the length reached; XREADGROUP/XCLAIM/XAUTOCLAIM send the XCLAIM ... FORCE JUSTID and
    XGROUP SETID commands Redis sends, several wrapped in MULTI/EXEC."""
    from shoal.node import dispatch
    from shoal.node.client import Client
    from shoal.node.state import NodeState

    state = NodeState()
    state.config.set("stream-node-max-entries", "2")
    c = Client(state)
    sent = []
    state.propagate_hooks.append(lambda dbid, argv: sent.append(list(argv)))

    def run(*argv):
        return dispatch.execute(c, [a.encode() for a in argv])

    run("XADD", "s", "5-*", "f", "v")
    run("XADD", "s", "6", "f", "v")
    run("XADD", "s", "7", "f", "v")
    run("XADD", "s", "MAXLEN", "~", "1", "LIMIT", "5", "8-*", "f", "v")
    assert sent == [[b"XADD", b"s", b"5-0", b"f", b"v"], [b"XADD", b"s", b"6", b"f", b"v"],
                    [b"XADD", b"s", b"7", b"f", b"v"],
                    [b"XADD", b"s", b"MAXLEN", b"=", b"2", b"LIMIT", b"5", b"8-0", b"f", b"v"]]
    sent.clear()
    run("XGROUP", "CREATE", "s", "g", "0")
    run("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
    assert sent[0] == [b"XGROUP", b"CREATE", b"s", b"g", b"0"]
    assert sent[1] == [b"MULTI"] and sent[-1] == [b"EXEC"]
    assert sent[2] == [b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c"]
    claim = sent[3]
    assert claim[:6] == [b"XCLAIM", b"s", b"g", b"c", b"0", b"7-0"] and claim[8:] == [
        b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"7-0"]
    assert sent[4] == [b"XGROUP", b"SETID", b"s", b"g", b"7-0", b"ENTRIESREAD", b"3"]
    sent.clear()
    run("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert [a[:2] for a in sent] == [[b"MULTI"], [b"XCLAIM", b"s"], [b"XGROUP", b"SETID"], [b"EXEC"]]
    sent.clear()
    run("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")  # nothing new: nothing to propagate
    assert sent == []
    run("XCLAIM", "s", "g", "d", "0", "7-0", "JUSTID")
    assert len(sent) == 4 and sent[2][:6] == [b"XCLAIM", b"s", b"g", b"d", b"0", b"7-0"]
    sent.clear()
    run("XADD", "s", "MAXLEN", "~", "0", "LIMIT", "1", "9", "f", "v")  # LIMIT too small: nothing trimmed
    assert sent == [[b"XADD", b"s", b"MAXLEN", b"=", b"3", b"LIMIT", b"1", b"9", b"f", b"v"]]
