"""Blocking list commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP) with several real concurrent clients.

Every scenario runs twice: against a shoal-node and against Debian's redis-server 7.0.15, with the same
expectations, so the test states Redis's behaviour and checks that we have it. Waiting clients are threads with
their own connections; "client N is now blocked" is observed through INFO's blocked_clients before anything is
pushed, so the order the clients blocked in is the order the test intends. Every wait is bounded.
"""
from __future__ import annotations

import socket
import time

import hiredis
import pytest
import redis

from tests.node.helpers import DEADLINE, Blocker, block, blocked_count, wait_blocked


@pytest.fixture
def r(srv):
    c = srv.client()
    yield c
    # a failed test must not leave clients waiting into the next one
    for line in c.client_list():
        if "b" in line["flags"]:
            c.execute_command("CLIENT", "UNBLOCK", line["id"])
    c.close()


def still_blocked(b: Blocker, r, seconds: float = 0.2) -> bool:
    b.join(seconds)
    return b.is_alive()


# --------------------------------------------------------------------------------------------------- serving order


def test_first_come_first_served_on_push(srv, r):
    waiters = [block(srv, r, "BLPOP", "k", 0) for _ in range(3)]
    assert r.rpush("k", "a", "b", "c") == 3
    assert [w.outcome() for w in waiters] == [(b"k", b"a"), (b"k", b"b"), (b"k", b"c")]
    assert r.exists("k") == 0
    assert blocked_count(r) == 0


def test_one_element_for_three_waiters_serves_only_the_first(srv, r):
    waiters = [block(srv, r, "BRPOP", "k", 0) for _ in range(3)]
    r.lpush("k", "only")
    assert waiters[0].outcome() == (b"k", b"only")
    assert still_blocked(waiters[1], r) and still_blocked(waiters[2], r, 0)
    r.lpush("k", "x", "y")  # list is [y, x]: BRPOP takes from the tail
    assert waiters[1].outcome() == (b"k", b"x")
    assert waiters[2].outcome() == (b"k", b"y")


def test_served_after_exec_not_during(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    p = r.pipeline(transaction=True)
    p.rpush("k", "x")
    p.llen("k")  # inside EXEC nobody has been served yet
    p.rpush("k", "y")
    assert p.execute() == [1, 1, 2]
    assert w.outcome() == (b"k", b"x")
    assert r.lrange("k", 0, -1) == [b"y"]


def test_push_and_pop_in_one_exec_leaves_the_client_blocked(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    p = r.pipeline(transaction=True)
    p.rpush("k", "x")
    p.lpop("k")
    assert p.execute() == [1, b"x"]
    assert still_blocked(w, r)
    r.rpush("k", "z")
    assert w.outcome() == (b"k", b"z")


def test_multiple_keys_served_by_the_first_that_gets_data(srv, r):
    w = block(srv, r, "BLPOP", "a", "b", "c", 0)
    r.rpush("c", "from-c")
    assert w.outcome() == (b"c", b"from-c")


def test_served_from_the_key_that_became_ready_first(srv, r):
    # both keys get data in one EXEC; b was written first, so the client is served from b (not from its first key)
    w = block(srv, r, "BLPOP", "a", "b", 0)
    p = r.pipeline(transaction=True)
    p.rpush("b", "x")
    p.rpush("a", "y")
    p.execute()
    assert w.outcome() == (b"b", b"x")
    assert r.lrange("a", 0, -1) == [b"y"]


def test_a_key_named_twice_waits_once(srv, r):
    w1 = block(srv, r, "BLPOP", "k", "k", 0)
    w2 = block(srv, r, "BRPOP", "k", "other", "k", 0)
    r.rpush("k", "1", "2", "3")
    assert (w1.outcome(), w2.outcome()) == ((b"k", b"1"), (b"k", b"3"))
    assert r.lrange("k", 0, -1) == [b"2"]
    w3 = block(srv, r, "BLPOP", "k2", "k2", 0)
    r.execute_command("CLIENT", "UNBLOCK", w3.client_id)
    assert w3.outcome() is None
    r.rpush("k2", "left alone")  # no stale waiter takes it
    assert r.lrange("k2", 0, -1) == [b"left alone"]


def test_lpush_of_several_elements_feeds_several_waiters(srv, r):
    w1 = block(srv, r, "BLPOP", "k", 0)
    w2 = block(srv, r, "BLMPOP", 0, 1, "k", "LEFT", "COUNT", 2)
    r.lpush("k", "1", "2", "3", "4")  # list is [4, 3, 2, 1]
    assert w1.outcome() == (b"k", b"4")
    assert w2.outcome() == [b"k", [b"3", b"2"]]
    assert r.lrange("k", 0, -1) == [b"1"]


# --------------------------------------------------------------------------------------------------- timeouts


def test_timeout_is_a_double(srv, r):
    w = Blocker(srv, "BLPOP", "k", "0.25")
    w.start()
    assert w.outcome() is None
    assert 0.2 <= w.elapsed < 2.0
    w = Blocker(srv, "BLMOVE", "k", "d", "LEFT", "LEFT", "0.1")
    w.start()
    assert w.outcome() is None
    assert 0.08 <= w.elapsed < 2.0
    assert blocked_count(r) == 0


def test_zero_blocks_until_served(srv, r):
    w = block(srv, r, "BRPOPLPUSH", "src", "dst", 0)
    assert still_blocked(w, r, 1.0)
    r.rpush("src", "late")
    assert w.outcome() == b"late"
    assert r.lrange("dst", 0, -1) == [b"late"]


def test_timeouts_reply_null_array_in_both_protocols(srv):
    def raw(proto: int, *cmd) -> bytes:
        with socket.create_connection((srv.host, srv.port), timeout=DEADLINE) as s:
            if proto == 3:
                s.sendall(b"HELLO 3\r\n")
                _read_one(s)
            s.sendall(_encode(cmd))
            return _read_one(s)

    for cmd in (("BLPOP", "nokey", "0.01"), ("BRPOP", "a", "b", "0.01"), ("BLMOVE", "a", "b", "LEFT", "RIGHT", "0.01"),
                ("BRPOPLPUSH", "a", "b", "0.01"), ("BLMPOP", "0.01", "1", "a", "LEFT")):
        assert raw(2, *cmd) == b"*-1\r\n", cmd
        assert raw(3, *cmd) == b"_\r\n", cmd


# --------------------------------------------------------------------------------------------------- disconnects


def test_client_that_hangs_up_leaves_no_trace(srv, r):
    # a raw socket: redis-py would reconnect and send BLPOP again
    gone = socket.create_connection((srv.host, srv.port), timeout=DEADLINE)
    gone.sendall(_encode(("BLPOP", "k", "0")))
    wait_blocked(r, 1)
    gone.close()
    wait_blocked(r, 0)
    w = block(srv, r, "BLPOP", "k", 0)
    r.rpush("k", "v")
    assert w.outcome() == (b"k", b"v")
    assert r.exists("k") == 0


def test_client_that_pipelined_more_and_hangs_up_leaves_no_trace(srv, r):
    s = socket.create_connection((srv.host, srv.port), timeout=DEADLINE)
    s.sendall(_encode(("BLPOP", "k", "0")) + _encode(("PING",)))
    wait_blocked(r, 1)
    s.close()
    wait_blocked(r, 0)
    r.rpush("k", "kept")
    assert r.lrange("k", 0, -1) == [b"kept"]


def test_pipelined_commands_run_after_the_blocked_one(srv, r):
    with socket.create_connection((srv.host, srv.port), timeout=DEADLINE) as s:
        s.sendall(_encode(("BLPOP", "k", "0")) + _encode(("LLEN", "k")) + _encode(("PING",)))
        wait_blocked(r, 1)
        r.rpush("k", "a", "b")
        assert _read_one(s) == b"*2\r\n$1\r\nk\r\n$1\r\na\r\n"
        assert _read_one(s) == b":1\r\n"
        assert _read_one(s) == b"+PONG\r\n"


# --------------------------------------------------------------------------------------------------- MULTI


def test_blocking_commands_inside_multi_do_not_block(srv, r):
    p = r.pipeline(transaction=True)
    p.execute_command("BLPOP", "k", 0)
    p.execute_command("BLMOVE", "k", "d", "LEFT", "LEFT", 0)
    p.execute_command("BLMPOP", 0, 1, "k", "RIGHT")
    p.rpush("k", "x")
    p.execute_command("BRPOP", "k", 0)
    t0 = time.monotonic()
    assert p.execute() == [None, None, None, 1, (b"k", b"x")]
    assert time.monotonic() - t0 < 2
    assert blocked_count(r) == 0


# --------------------------------------------------------------------------------------------------- chains and types


def test_blmove_chain_feeds_the_next_waiter(srv, r):
    mover = block(srv, r, "BLMOVE", "a", "b", "RIGHT", "LEFT", 0)
    popper = block(srv, r, "BLPOP", "b", 0)
    r.rpush("a", "m")
    assert mover.outcome() == b"m"
    assert popper.outcome() == (b"b", b"m")
    assert r.exists("a", "b") == 0


def test_brpoplpush_chain_of_three(srv, r):
    w1 = block(srv, r, "BRPOPLPUSH", "a", "b", 0)
    w2 = block(srv, r, "BRPOPLPUSH", "b", "c", 0)
    w3 = block(srv, r, "BLPOP", "c", 0)
    r.rpush("a", "v")
    assert (w1.outcome(), w2.outcome(), w3.outcome()) == (b"v", b"v", (b"c", b"v"))
    assert r.exists("a", "b", "c") == 0


def test_brpoplpush_onto_its_own_source(srv, r):
    w = block(srv, r, "BRPOPLPUSH", "q", "q", 0)
    r.rpush("q", "1")
    assert w.outcome() == b"1"
    assert r.lrange("q", 0, -1) == [b"1"]


def test_wrong_type_while_blocked_stays_blocked(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    r.set("k", "string")
    assert still_blocked(w, r)
    r.delete("k")
    r.rpush("k", "v")
    assert w.outcome() == (b"k", b"v")


def test_other_key_serves_while_one_has_the_wrong_type(srv, r):
    w = block(srv, r, "BLPOP", "a", "b", 0)
    p = r.pipeline(transaction=True)
    p.rpush("a", "1")
    p.set("a", "str")
    p.rpush("b", "2")
    p.execute()
    assert w.outcome() == (b"b", b"2")


def test_blmove_destination_of_wrong_type_answers_wrongtype_then_next_waiter(srv, r):
    r.set("dst", "x")
    mover = block(srv, r, "BLMOVE", "src", "dst", "LEFT", "LEFT", 0)
    popper = block(srv, r, "BLPOP", "src", 0)
    r.rpush("src", "v")
    err = mover.outcome()
    assert isinstance(err, redis.ResponseError) and str(err).startswith("WRONGTYPE")
    assert popper.outcome() == (b"src", b"v")


def test_blocking_on_wrong_type_key_fails_at_once(srv, r):
    r.set("s", "x")
    for cmd in (("BLPOP", "nokey", "s", 0), ("BLMPOP", 0, 2, "nokey", "s", "LEFT")):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            r.execute_command(*cmd)
    # BLMOVE checks the destination only once there is something to move: it blocks
    w = block(srv, r, "BLMOVE", "nokey", "s", "LEFT", "LEFT", 0)
    r.execute_command("CLIENT", "UNBLOCK", w.client_id)
    assert w.outcome() is None


def test_blmpop_count_served_from_the_right(srv, r):
    w = block(srv, r, "BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2)
    r.rpush("b", "1", "2", "3")
    assert w.outcome() == [b"b", [b"3", b"2"]]
    assert r.lrange("b", 0, -1) == [b"1"]


def test_served_in_resp3(srv, r):
    with socket.create_connection((srv.host, srv.port), timeout=DEADLINE) as s:
        s.sendall(b"HELLO 3\r\n")
        _read_one(s)
        s.sendall(_encode(("BLMPOP", "0", "1", "k", "LEFT", "COUNT", "5")))
        wait_blocked(r, 1)
        r.rpush("k", "a", "b")
        assert _read_one(s) == b"*2\r\n$1\r\nk\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"


# --------------------------------------------------------------------------------------------------- admin


def test_client_unblock_timeout_and_error(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    assert r.execute_command("CLIENT", "UNBLOCK", w.client_id) == 1
    assert w.outcome() is None
    w = block(srv, r, "BLMOVE", "k", "d", "LEFT", "LEFT", 0)
    assert r.execute_command("CLIENT", "UNBLOCK", w.client_id, "ERROR") == 1
    err = w.outcome()
    assert isinstance(err, redis.ResponseError) and "UNBLOCKED client unblocked via CLIENT UNBLOCK" in str(err)
    assert r.execute_command("CLIENT", "UNBLOCK", w.client_id) == 0
    r.rpush("k", "v")  # nobody is left waiting
    assert r.lrange("k", 0, -1) == [b"v"]


def test_swapdb_serves_clients_whose_key_arrives(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    other = srv.client(db=1)
    other.rpush("k", "from-db1")
    r.swapdb(0, 1)
    assert w.outcome() == (b"k", b"from-db1")
    other.flushall()
    other.close()


def test_blocked_client_shows_in_client_list_and_info(srv, r):
    w = block(srv, r, "BLPOP", "k", 0)
    flags = {line["id"]: line["flags"] for line in r.client_list()}
    assert "b" in flags[str(w.client_id)]
    assert blocked_count(r) == 1
    assert r.info("clients")["clients_in_timeout_table"] == 0
    w2 = block(srv, r, "BLPOP", "k", 100)
    assert r.info("clients")["clients_in_timeout_table"] == 1
    r.rpush("k", "v", "w")
    assert (w.outcome(), w2.outcome()) == ((b"k", b"v"), (b"k", b"w"))
    assert blocked_count(r) == 0
    assert r.info("clients")["clients_in_timeout_table"] == 0


def test_killed_blocked_client_is_not_served(srv, r):
    s = socket.create_connection((srv.host, srv.port), timeout=DEADLINE)
    s.sendall(_encode(("CLIENT", "ID")) + _encode(("BLPOP", "k", "0")))
    victim = int(_read_one(s)[1:-2])
    wait_blocked(r, 1)
    assert r.execute_command("CLIENT", "KILL", "ID", victim) == 1
    wait_blocked(r, 0)
    r.rpush("k", "kept")
    assert r.lrange("k", 0, -1) == [b"kept"]
    s.close()


# --------------------------------------------------------------------------------------------------- raw helpers


def _encode(cmd) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in cmd]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _read_one(s: socket.socket) -> bytes:
    """Exactly one reply's bytes (read byte-wise so nothing of a later reply is consumed)."""
    reader = hiredis.Reader()
    buf = b""
    while True:
        ch = s.recv(1)
        assert ch, "connection closed"
        buf += ch
        reader.feed(ch)
        if reader.gets() is not False:
            return buf
