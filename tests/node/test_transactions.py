"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Over sockets: redis-py pipelines and WATCH against a concurrent writer on a second connection, and raw RESP where
the exact bytes matter (EXECABORT texts, the RESP2/RESP3 null array). In-process (a NodeState driven through the
dispatcher): what EXEC hands to the propagation hooks (AOF, replicas), which is invisible over a socket.
The expected behaviour is redis-server 7.0.15's, checked by hand and in tests/differential/cases/transactions.txt.
"""
from __future__ import annotations

import time

import pytest
import redis

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.state import NodeState


# ------------------------------------------------------------------ redis-py


def test_pipeline_transaction(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", "1").incr("a").get("a").delete("a").exists("a")
    assert pipe.execute() == [True, 2, b"2", 1, 0]


def test_runtime_error_does_not_stop_the_rest(r):
    r.set("s", "text")
    pipe = r.pipeline(transaction=True)
    pipe.incr("s").set("t", "1").get("t")
    res = pipe.execute(raise_on_error=False)
    assert isinstance(res[0], redis.ResponseError)
    assert "not an integer" in str(res[0])
    assert res[1:] == [True, b"1"]


def test_watch_fails_on_concurrent_write(shoal, r):
    other = shoal.client()
    try:
        r.set("balance", 10)
        with r.pipeline() as pipe:
            pipe.watch("balance")
            value = int(pipe.get("balance"))
            other.set("balance", 99)  # a second client changes the key between WATCH and EXEC
            pipe.multi()
            pipe.set("balance", value - 1)
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert r.get("balance") == b"99"
    finally:
        other.close()


def test_watch_succeeds_without_interference(r):
    r.set("balance", 10)
    with r.pipeline() as pipe:
        pipe.watch("balance")
        value = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", value - 1)
        assert pipe.execute() == [True]
    assert r.get("balance") == b"9"


def test_transaction_helper_retries_after_watch_error(shoal, r):
    other = shoal.client()
    attempts = []
    try:
        r.set("n", 0)

        def work(pipe):
            attempts.append(1)
            n = int(pipe.get("n"))
            if len(attempts) == 1:
                other.incr("n")  # break the first attempt only
            pipe.multi()
            pipe.set("n", n + 10)

        r.transaction(work, "n")
        assert len(attempts) == 2
        assert r.get("n") == b"11"
    finally:
        other.close()


def test_execabort_after_queueing_error(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", "1")
    pipe.execute_command("NOSUCHCOMMAND")
    with pytest.raises(redis.ResponseError) as e:
        pipe.execute()
    # redis-py reports the queueing error that made the server answer EXECABORT
    assert "unknown command 'NOSUCHCOMMAND'" in str(e.value)
    assert r.get("a") is None


def test_watched_key_deleted_by_other_client(shoal, r):
    other = shoal.client()
    try:
        r.set("k", "v")
        with r.pipeline() as pipe:
            pipe.watch("k")
            other.delete("k")
            pipe.multi()
            pipe.set("k", "mine")
            with pytest.raises(redis.WatchError):
                pipe.execute()
    finally:
        other.close()


def test_watched_key_expiring_fails_exec(r):
    r.set("k", "v", px=30)
    with r.pipeline() as pipe:
        pipe.watch("k")
        time.sleep(0.08)
        pipe.multi()
        pipe.ping()
        with pytest.raises(redis.WatchError):
            pipe.execute()


def test_key_expired_before_watch_does_not_fail_exec(shoal, r):
    other = shoal.client()
    try:
        r.set("k", "v", px=10)
        time.sleep(0.05)
        with r.pipeline() as pipe:
            pipe.watch("k")
            other.get("k")  # the lazy delete of an already expired key is no change
            pipe.multi()
            pipe.ping()
            assert pipe.execute() == [True]
    finally:
        other.close()


def test_flushall_and_swapdb_break_watches(shoal, r):
    other = shoal.client()
    db1 = shoal.client(db=1)
    try:
        r.set("k", "1")
        with r.pipeline() as pipe:
            pipe.watch("k")
            other.flushall()
            pipe.multi()
            pipe.ping()
            with pytest.raises(redis.WatchError):
                pipe.execute()
        with r.pipeline() as pipe:
            pipe.watch("k")  # absent in db 0
            db1.set("k", "from-db1")
            other.swapdb(0, 1)  # now present in db 0
            pipe.multi()
            pipe.get("k")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert r.get("k") == b"from-db1"
    finally:
        other.close()
        db1.close()


# ------------------------------------------------------------------ raw replies


def test_error_texts(raw):
    c = raw()
    assert c.call("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert c.call("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert c.call("MULTI") == b"+OK\r\n"
    assert c.call("MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert c.call("WATCH", "k") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert c.call("SET", "k", "v") == b"+QUEUED\r\n"
    assert c.call("EXEC") == b"*1\r\n+OK\r\n"  # neither error aborted the transaction


def test_execabort_texts(raw):
    c = raw()
    c.send(["MULTI"], ["SET", "a"], ["SET", "b", "1"], ["EXEC"])
    assert c.read_raw(4) == (b"+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n"
                             b"-EXECABORT Transaction discarded because of previous errors.\r\n")
    c.send(["MULTI"], ["SET", "a", "1"], ["EXEC", "now"], ["EXEC"])
    assert c.read_raw(4) == (b"+OK\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of: wrong number of "
                             b"arguments for 'exec' command\r\n-ERR EXEC without MULTI\r\n")
    assert c.call("EXISTS", "a", "b") == b":0\r\n"


def test_watch_failure_is_a_null_array_in_both_protocols(raw):
    for proto, null in ((2, b"*-1\r\n"), (3, b"_\r\n")):
        c = raw()
        w = raw()
        if proto == 3:
            assert c.call("HELLO", "3").startswith(b"%7\r\n")
        c.call("WATCH", "k")
        w.call("SET", "k", proto)
        c.send(["MULTI"], ["PING"], ["EXEC"])
        assert c.read_raw(3) == b"+OK\r\n+QUEUED\r\n" + null


def test_exec_replies_keep_each_commands_encoding(raw):
    c = raw()
    c.call("SET", "s", "x")
    c.send(["MULTI"], ["GET", "s"], ["INCR", "s"], ["GET", "missing"], ["EXISTS", "s"], ["EXEC"])
    out = c.read_raw(6)
    assert out.endswith(b"*4\r\n$1\r\nx\r\n-ERR value is not an integer or out of range\r\n$-1\r\n:1\r\n")


def test_client_list_shows_a_transaction_in_progress(raw):
    c = raw()
    watcher = raw()
    c.send(["MULTI"], ["SET", "a", "1"], ["GET", "a"])
    c.read_raw(3)
    listing = watcher.call("CLIENT", "LIST").decode()
    lines = [ln for ln in listing.split("\n") if " flags=x " in ln]
    assert len(lines) == 1
    fields = dict(kv.split("=", 1) for kv in lines[0].split(" "))
    assert fields["multi"] == "2"
    assert fields["multi-mem"] == str((5 + 3 * 8) + (4 + 2 * 8))  # argument bytes + a pointer per argument
    c.call("DISCARD")


def test_disconnect_mid_multi_and_watch_leaves_nothing_behind(shoal, raw):
    c = raw()
    c.send(["WATCH", "k1", "k2"], ["MULTI"], ["SET", "k1", "v"])
    c.read_raw(3)
    c.close()
    other = raw()
    deadline = time.time() + 5
    while time.time() < deadline and b"flags=x" in other.call("CLIENT", "LIST"):
        time.sleep(0.02)
    assert other.call("GET", "k1") == b"$-1\r\n"  # the queued SET never ran


# ------------------------------------------------------------------ in-process: propagation


def _node():
    state = NodeState()
    calls = []
    state.propagate_hooks.append(lambda dbid, argv: calls.append((dbid, [bytes(a) for a in argv])))
    return state, Client(state), calls


def _run(client, *argv):
    return dispatch.execute(client, [a.encode() if isinstance(a, str) else a for a in argv])


def test_propagation_wraps_several_writes_in_multi_exec():
    state, c, calls = _node()
    for cmd in (("MULTI",), ("SET", "a", "1"), ("GET", "a"), ("SET", "b", "2"), ("EXEC",)):
        _run(c, *cmd)
    assert calls == [(0, [b"MULTI"]), (0, [b"SET", b"a", b"1"]), (0, [b"SET", b"b", b"2"]), (0, [b"EXEC"])]


def test_propagation_of_a_single_write_is_not_wrapped():
    # Redis 7.0 wraps only when a transaction propagates more than one command
    state, c, calls = _node()
    for cmd in (("MULTI",), ("SET", "a", "1"), ("GET", "a"), ("EXEC",)):
        _run(c, *cmd)
    assert calls == [(0, [b"SET", b"a", b"1"])]


def test_read_only_transaction_propagates_nothing():
    state, c, calls = _node()
    for cmd in (("MULTI",), ("GET", "a"), ("EXEC",)):
        _run(c, *cmd)
    assert calls == []
    assert state.dirty == 0


def test_propagation_follows_select_inside_the_transaction():
    state, c, calls = _node()
    for cmd in (("MULTI",), ("SET", "a", "1"), ("SELECT", "3"), ("SET", "b", "2"), ("EXEC",)):
        _run(c, *cmd)
    assert calls == [(0, [b"MULTI"]), (0, [b"SET", b"a", b"1"]), (3, [b"SET", b"b", b"2"]), (3, [b"EXEC"])]
    assert c.dbid == 3


def test_failed_exec_propagates_nothing_and_counts_nothing():
    state, c, calls = _node()
    other = Client(state)
    _run(c, "WATCH", "a")
    _run(other, "SET", "a", "x")
    calls.clear()
    dirty = state.dirty
    for cmd in (("MULTI",), ("SET", "a", "1"), ("EXEC",)):
        _run(c, *cmd)
    assert calls == [] and state.dirty == dirty
    assert state.keyspace[0].get(b"a") == b"x"


def test_watch_bookkeeping_is_released():
    state, c, _ = _node()
    _run(c, "WATCH", "a", "b", "a")
    assert c.watched == [(0, b"a"), (0, b"b")]
    assert state.keyspace[0].watched[b"a"] == {c}
    _run(c, "MULTI")
    _run(c, "EXEC")
    assert c.watched == [] and state.keyspace[0].watched == {}
    _run(c, "WATCH", "a")
    _run(c, "UNWATCH")
    assert state.keyspace[0].watched == {}
