"""CLIENT subcommands against a real shoal-node: names, LIST/INFO format and filters, KILL, PAUSE, REPLY, SETINFO,
NO-EVICT, UNBLOCK, HELP. Raw sockets where replies are deliberately missing (CLIENT REPLY) or where the
connection itself is the subject (KILL); every wait is bounded. Expected texts are redis-server 7.0.15's.
"""
from __future__ import annotations

import time

import pytest
import redis

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.state import NodeState

# Redis 7.0's CLIENT LIST fields, in order
FIELDS_70 = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub", "multi",
             "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events",
             "cmd", "user", "redir", "resp"]


def info_fields(line: bytes | str) -> dict:
    if isinstance(line, bytes):
        line = line.decode()
    return dict(kv.split("=", 1) for kv in line.strip().split(" "))


# ------------------------------------------------------------------ names and ids


def test_id_setname_getname(r):
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"  # redis-py decodes names
    assert r.client_setname("") is True
    assert r.client_getname() is None


@pytest.mark.parametrize("bad", ["a b", "a\nb", "tab\there", "caf\u00e9", "del\x7f"])
def test_setname_rejects_unprintable_names(r, bad):
    with pytest.raises(redis.ResponseError) as e:
        r.client_setname(bad)
    assert str(e.value) == "Client names cannot contain spaces, newlines or special characters."


def test_ids_increase(raw):
    a, b = raw(), raw()
    assert a.value("CLIENT", "ID") < b.value("CLIENT", "ID")


# ------------------------------------------------------------------ LIST and INFO


def test_client_info_has_redis_70_fields_in_order(raw):
    c = raw()
    line = c.value("CLIENT", "INFO").decode()
    assert line.endswith("\n")
    assert [kv.split("=", 1)[0] for kv in line.strip().split(" ")] == FIELDS_70
    f = info_fields(line)
    assert f["id"] == str(c.value("CLIENT", "ID"))
    assert f["cmd"] == "client|info"
    assert f["flags"] == "N" and f["db"] == "0" and f["multi"] == "-1" and f["user"] == "default"
    assert f["resp"] == "2" and f["redir"] == "-1" and f["name"] == ""
    assert f["argv-mem"] == str(len("CLIENT") + len("INFO"))
    host, port = c.sock.getsockname()
    assert f["addr"] == f"{host}:{port}"
    assert f["laddr"].endswith(f":{c.sock.getpeername()[1]}")


def test_client_list_parsed_by_redis_py(r, shoal):
    other = shoal.client()
    try:
        other.client_setname("other-conn")
        other.get("k")
        me = r.client_id()
        clients = r.client_list()
        by_id = {int(c["id"]): c for c in clients}
        mine = by_id[me]
        assert mine["cmd"] == "client|list"
        assert mine["lib-name"] == "redis-py"  # redis-py sent CLIENT SETINFO on connect
        theirs = [c for c in clients if c["name"] == "other-conn"]
        assert len(theirs) == 1 and theirs[0]["cmd"] == "get"
        assert int(theirs[0]["age"]) >= 0 and int(theirs[0]["idle"]) >= 0
    finally:
        other.close()


def test_client_list_filters(raw):
    a, b, c = raw(), raw(), raw()
    ids = [x.value("CLIENT", "ID") for x in (a, b, c)]
    out = a.value("CLIENT", "LIST", "ID", ids[2], ids[0], ids[2], 999999).decode()
    assert [info_fields(ln)["id"] for ln in out.strip().split("\n")] == [str(ids[2]), str(ids[0]), str(ids[2])]
    normal = {info_fields(ln)["id"] for ln in a.value("CLIENT", "LIST", "TYPE", "normal").decode().strip().split("\n")}
    assert {str(i) for i in ids} <= normal
    assert a.call("CLIENT", "LIST", "TYPE", "pubsub") == b"$0\r\n\r\n"
    assert a.call("CLIENT", "LIST", "TYPE", "bogus") == b"-ERR Unknown client type 'bogus'\r\n"
    assert a.call("CLIENT", "LIST", "ID", "1", "x") == b"-ERR Invalid client ID\r\n"
    assert a.call("CLIENT", "LIST", "TYPE", "normal", "ID", "1") == b"-ERR syntax error\r\n"


def test_client_list_cmd_field_follows_the_last_command(raw):
    a, b = raw(), raw()
    bid = b.value("CLIENT", "ID")
    assert info_fields(a.value("CLIENT", "LIST", "ID", bid))["cmd"] == "client|id"
    b.call("NOSUCHCOMMAND")
    assert info_fields(a.value("CLIENT", "LIST", "ID", bid))["cmd"] == "NULL"
    b.call("SELECT", "4")
    f = info_fields(a.value("CLIENT", "LIST", "ID", bid))
    assert f["cmd"] == "select" and f["db"] == "4"


def test_client_info_is_verbatim_in_resp3(raw):
    c = raw()
    c.call("HELLO", "3")
    out = c.call("CLIENT", "INFO")
    assert out.startswith(b"=") and b"\r\ntxt:id=" in out and b" resp=3\n\r\n" in out


def test_flags_reflect_state(raw):
    c = raw()
    c.call("CLIENT", "NO-EVICT", "on")
    assert info_fields(c.value("CLIENT", "INFO"))["flags"] == "e"
    c.call("CLIENT", "NO-EVICT", "off")
    c.call("WATCH", "k")
    raw().call("SET", "k", "1")
    assert info_fields(c.value("CLIENT", "INFO"))["flags"] == "d"  # a broken WATCH
    c.call("UNWATCH")
    assert info_fields(c.value("CLIENT", "INFO"))["flags"] == "N"


# ------------------------------------------------------------------ SETINFO (Redis 7.2)


def test_setinfo(raw):
    c = raw()
    assert c.call("CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"+OK\r\n"
    assert c.call("CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"+OK\r\n"
    line = c.value("CLIENT", "INFO").decode()
    assert line.strip().endswith("resp=2 lib-name=mylib lib-ver=1.2.3")
    assert c.call("CLIENT", "SETINFO", "foo", "x") == b"-ERR Unrecognized option 'foo'\r\n"
    assert c.call("CLIENT", "SETINFO", "lib-name", "a b") == \
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    assert c.call("CLIENT", "SETINFO", "lib-name") == b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"


# ------------------------------------------------------------------ KILL


def test_kill_another_connection_by_id(raw):
    a, b = raw(), raw()
    bid = b.value("CLIENT", "ID")
    assert a.call("CLIENT", "KILL", "ID", bid) == b":1\r\n"
    assert b.closed_by_server()
    assert a.call("PING") == b"+PONG\r\n"
    assert a.call("CLIENT", "KILL", "ID", bid) == b":0\r\n"


def test_kill_old_form_by_address(raw):
    a, b = raw(), raw()
    addr = info_fields(b.value("CLIENT", "INFO"))["addr"]
    assert a.call("CLIENT", "KILL", addr) == b"+OK\r\n"
    assert b.closed_by_server()
    assert a.call("CLIENT", "KILL", addr) == b"-ERR No such client\r\n"


def test_kill_filters_combine(raw):
    a, b = raw(), raw()
    bid = b.value("CLIENT", "ID")
    laddr = info_fields(b.value("CLIENT", "INFO"))["laddr"]
    # every filter must match: a wrong ADDR spares b
    assert a.call("CLIENT", "KILL", "ID", bid, "ADDR", "1.2.3.4:5") == b":0\r\n"
    assert a.call("CLIENT", "KILL", "ID", bid, "LADDR", laddr, "TYPE", "normal", "USER", "default") == b":1\r\n"
    assert b.closed_by_server()


def test_kill_skipme(raw):
    a = raw()
    aid = a.value("CLIENT", "ID")
    assert a.call("CLIENT", "KILL", "ID", aid) == b":0\r\n"  # SKIPME yes by default
    assert a.call("CLIENT", "KILL", "ID", aid, "SKIPME", "no") == b":1\r\n"  # the reply still arrives
    assert a.closed_by_server()


def test_kill_maxage(raw):
    a, b = raw(), raw()
    bid = b.value("CLIENT", "ID")
    assert a.call("CLIENT", "KILL", "ID", bid, "MAXAGE", "100") == b":0\r\n"
    time.sleep(1.1)
    assert a.call("CLIENT", "KILL", "ID", bid, "MAXAGE", "1") == b":1\r\n"
    assert b.closed_by_server()


def test_kill_errors(raw):
    a = raw()
    assert a.call("CLIENT", "KILL", "ID", "x") == b"-ERR client-id should be greater than 0\r\n"
    assert a.call("CLIENT", "KILL", "TYPE", "bogus") == b"-ERR Unknown client type 'bogus'\r\n"
    assert a.call("CLIENT", "KILL", "USER", "nobody") == b"-ERR No such user 'nobody'\r\n"
    assert a.call("CLIENT", "KILL", "SKIPME", "maybe") == b"-ERR syntax error\r\n"
    assert a.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME") == b"-ERR syntax error\r\n"


# ------------------------------------------------------------------ PAUSE


def test_pause_write_holds_writers_while_readers_pass(raw):
    admin, writer, reader = raw(), raw(), raw()
    try:
        t0 = time.monotonic()
        assert admin.call("CLIENT", "PAUSE", "1000", "WRITE") == b"+OK\r\n"
        writer.send(["SET", "k", "v"])
        assert reader.call("GET", "k") == b"$-1\r\n"  # a read is not held
        assert reader.call("PING") == b"+PONG\r\n"
        assert time.monotonic() - t0 < 0.8
        assert writer.read_raw() == b"+OK\r\n"  # released when the pause ends
        assert 0.8 <= time.monotonic() - t0 < 5
        assert reader.call("GET", "k") == b"$1\r\nv\r\n"
    finally:
        admin.call("CLIENT", "UNPAUSE")


def test_unpause_releases_held_clients_early(raw):
    admin, writer = raw(), raw()
    try:
        assert admin.call("CLIENT", "PAUSE", "10000", "WRITE") == b"+OK\r\n"
        t0 = time.monotonic()
        writer.send(["SET", "k", "v"])
        time.sleep(0.2)
        assert admin.call("CLIENT", "UNPAUSE") == b"+OK\r\n"
        assert writer.read_raw() == b"+OK\r\n"
        assert time.monotonic() - t0 < 2
    finally:
        admin.call("CLIENT", "UNPAUSE")


def test_pause_all_holds_readers_too(raw):
    admin, reader = raw(), raw()
    try:
        assert admin.call("CLIENT", "PAUSE", "300") == b"+OK\r\n"
        t0 = time.monotonic()
        assert reader.call("GET", "k") == b"$-1\r\n"
        assert 0.2 <= time.monotonic() - t0 < 3
    finally:
        admin.call("CLIENT", "UNPAUSE")


def test_a_second_pause_keeps_the_later_end_and_the_stricter_kind(raw):
    admin, reader = raw(), raw()
    try:
        t0 = time.monotonic()
        admin.call("CLIENT", "PAUSE", "600", "WRITE")
        admin.call("CLIENT", "PAUSE", "50", "ALL")  # not held: CLIENT PAUSE is not a write
        assert reader.call("GET", "k") == b"$-1\r\n"  # held by ALL until the WRITE pause's later end
        assert 0.45 <= time.monotonic() - t0 < 3
    finally:
        admin.call("CLIENT", "UNPAUSE")


def test_pause_errors(raw):
    a = raw()
    assert a.call("CLIENT", "PAUSE", "x") == b"-ERR timeout is not an integer or out of range\r\n"
    assert a.call("CLIENT", "PAUSE", "-1") == b"-ERR timeout is negative\r\n"
    assert a.call("CLIENT", "PAUSE", "x", "foo") == b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
    assert a.call("CLIENT", "Pause", "0", "write", "x") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'Pause'. Try CLIENT HELP.\r\n"


# ------------------------------------------------------------------ REPLY


def test_reply_off_silences_until_on(raw):
    c = raw()
    c.send(["CLIENT", "REPLY", "OFF"], ["SET", "a", "1"], ["GET", "a"], ["NOSUCHCOMMAND"],
           ["CLIENT", "REPLY", "ON"], ["GET", "a"])
    assert c.read_raw(2) == b"+OK\r\n$1\r\n1\r\n"  # only ON's reply and the last GET's


def test_reply_skip_drops_exactly_the_next_reply(raw):
    c = raw()
    c.send(["CLIENT", "REPLY", "SKIP"], ["SET", "a", "2"], ["GET", "a"], ["GET", "a"])
    assert c.read_raw(2) == b"$1\r\n2\r\n$1\r\n2\r\n"


def test_reply_skip_while_off_stays_off(raw):
    c = raw()
    c.send(["CLIENT", "REPLY", "OFF"], ["CLIENT", "REPLY", "SKIP"], ["SET", "a", "3"], ["GET", "a"],
           ["CLIENT", "REPLY", "ON"], ["ECHO", "back"])
    assert c.read_raw(2) == b"+OK\r\n$4\r\nback\r\n"


def test_reply_skip_then_on(raw):
    c = raw()
    c.send(["CLIENT", "REPLY", "SKIP"], ["CLIENT", "REPLY", "ON"], ["PING"])
    assert c.read_raw(2) == b"+OK\r\n+PONG\r\n"  # ON's own reply is not the one skipped


def test_reply_errors(raw):
    c = raw()
    assert c.call("CLIENT", "REPLY", "bogus") == b"-ERR syntax error\r\n"


# ------------------------------------------------------------------ UNBLOCK, HELP


def test_unblock_of_a_client_not_blocked(raw):
    a, b = raw(), raw()
    bid = b.value("CLIENT", "ID")
    assert a.call("CLIENT", "UNBLOCK", bid) == b":0\r\n"
    assert a.call("CLIENT", "UNBLOCK", bid, "ERROR") == b":0\r\n"
    assert a.call("CLIENT", "UNBLOCK", bid, "bad") == b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"


def test_unblock_a_client_blocked_in_blpop(raw):
    a, b = raw(), raw()
    aid = a.value("CLIENT", "ID")
    for reason, expected in ((None, b"*-1\r\n"), ("ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")):
        a.send(["BLPOP", "nothing", "0"])
        deadline = time.time() + 5
        while b"flags=b" not in b.call("CLIENT", "LIST", "ID", aid) and time.time() < deadline:
            time.sleep(0.01)
        args = ["CLIENT", "UNBLOCK", aid] + ([reason] if reason else [])
        assert b.call(*args) == b":1\r\n"
        assert a.read_raw() == expected
        assert b.call(*args) == b":0\r\n"


def test_unblock_calls_the_blocking_managers_hook():
    state = NodeState()
    a, b = Client(state), Client(state)
    state.clients[a.id] = a
    state.clients[b.id] = b
    seen = []
    b.blocked = object()  # what the blocking manager sets while b is parked
    b.unblock = seen.append
    assert dispatch.execute(a, [b"CLIENT", b"UNBLOCK", str(b.id).encode(), b"ERROR"]) == b":1\r\n"
    assert dispatch.execute(a, [b"CLIENT", b"UNBLOCK", str(b.id).encode()]) == b":1\r\n"
    assert seen == [True, False]


def test_help_names_every_subcommand(r):
    lines = [ln.decode() if isinstance(ln, bytes) else ln for ln in r.execute_command("CLIENT", "HELP")]
    assert lines[0].startswith("CLIENT <subcommand>")
    heads = {ln.split(" ")[0] for ln in lines[1:] if not ln.startswith(" ")}
    assert heads == {"ID", "GETNAME", "SETNAME", "INFO", "LIST", "KILL", "PAUSE", "UNPAUSE", "REPLY", "NO-EVICT",
                     "SETINFO", "UNBLOCK", "HELP"}
