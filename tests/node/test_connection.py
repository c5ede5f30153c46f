"""Connection commands against a real shoal-node: PING ECHO QUIT SELECT SWAPDB HELLO RESET, and AUTH with a node
started with --requirepass (including the pre-authentication request size limits of CVE-2021-32675).
Expected texts are redis-server 7.0.15's; tests/differential/cases/connection.txt compares them byte for byte.
"""
from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import start_shoal
from tests.node.helpers import Raw

PASSWORD = "s3cret pass"


@pytest.fixture(scope="module")
def secured():
    """A node that requires a password."""
    srv = start_shoal("--requirepass", PASSWORD)
    yield srv
    srv.stop()


def hello_bytes(proto: int, cid: int) -> bytes:
    head = b"%7\r\n" if proto == 3 else b"*14\r\n"
    return head + (b"$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:%d\r\n"
            b"$2\r\nid\r\n:%d\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            b"$7\r\nmodules\r\n*0\r\n") % (proto, cid)


# ------------------------------------------------------------------ PING ECHO QUIT


def test_ping_echo(r, raw):
    assert r.ping() is True
    assert raw().call("PING", "hi") == b"$2\r\nhi\r\n"
    assert r.echo(b"bin\x00ary\r\n") == b"bin\x00ary\r\n"
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'ping' command"):
        r.execute_command("PING", "a", "b")


def test_quit_replies_then_closes(raw):
    c = raw()
    c.send(["QUIT"], ["PING"])
    assert c.read_raw() == b"+OK\r\n"
    assert c.closed_by_server()


# ------------------------------------------------------------------ SELECT SWAPDB


def test_select_keeps_databases_apart(raw):
    c = raw()
    c.call("SET", "k", "zero")
    assert c.call("SELECT", "1") == b"+OK\r\n"
    assert c.call("GET", "k") == b"$-1\r\n"
    c.call("SET", "k", "one")
    assert c.call("SELECT", "0") == b"+OK\r\n"
    assert c.call("GET", "k") == b"$4\r\nzero\r\n"
    assert c.call("SELECT", "16") == b"-ERR DB index is out of range\r\n"
    assert c.call("SELECT", "x") == b"-ERR value is not an integer or out of range\r\n"


def test_swapdb_with_redis_py(shoal, r):
    db1 = shoal.client(db=1)
    try:
        r.set("k", "from-0")
        db1.set("j", "from-1")
        assert r.swapdb(0, 1) is True
        assert r.get("k") is None and r.get("j") == b"from-1"
        assert db1.get("k") == b"from-0"
        with pytest.raises(redis.ResponseError, match="invalid first DB index"):
            r.execute_command("SWAPDB", "x", "1")
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            r.swapdb(0, 16)
    finally:
        db1.flushdb()
        db1.close()


def test_swapdb_is_seen_by_clients_of_both_databases(raw):
    a, b = raw(), raw()
    b.call("SELECT", "1")
    a.call("SET", "k", "v")
    assert a.call("SWAPDB", "0", "1") == b"+OK\r\n"
    assert a.call("GET", "k") == b"$-1\r\n"
    assert b.call("GET", "k") == b"$1\r\nv\r\n"  # b still has database 1 selected, which now holds the data


# ------------------------------------------------------------------ HELLO


def test_hello_3_map_with_redis_py(r3):
    info = r3.execute_command("HELLO")
    assert list(info) == [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"] or \
        list(info) == ["server", "version", "proto", "id", "mode", "role", "modules"]
    values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}
    assert values["proto"] == 3 and values["modules"] == []
    assert values["id"] == r3.client_id()
    assert values["server"] in (b"redis", "redis") and values["version"] in (b"7.0.15", "7.0.15")


def test_hello_exact_bytes_and_protocol_switch(raw):
    c = raw()
    cid = c.value("CLIENT", "ID")
    assert c.call("HELLO") == hello_bytes(2, cid)
    assert c.call("HELLO", "3") == hello_bytes(3, cid)  # the reply is already in RESP3
    assert c.call("GET", "missing") == b"_\r\n"
    assert c.call("HELLO", "2") == hello_bytes(2, cid)
    assert c.call("GET", "missing") == b"$-1\r\n"


def test_hello_setname_and_errors(raw):
    c = raw()
    c.call("HELLO", "3", "SETNAME", "via-hello")
    assert c.call("CLIENT", "GETNAME") == b"$9\r\nvia-hello\r\n"
    assert c.call("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
    assert c.call("HELLO", "x") == b"-ERR Protocol version is not an integer or out of range\r\n"
    assert c.call("HELLO", "3", "AUTH", "default") == b"-ERR Syntax error in HELLO option 'AUTH'\r\n"
    assert c.call("HELLO", "2", "SETNAME", "a b") == \
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    assert c.call("HELLO", "2", "AUTH", "nobody", "pw") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


# ------------------------------------------------------------------ RESET


def test_reset_returns_the_connection_to_its_defaults(raw):
    c = raw()
    c.call("SELECT", "2")
    c.call("CLIENT", "SETNAME", "before")
    c.call("HELLO", "3")
    c.call("WATCH", "k")
    c.send(["MULTI"], ["SET", "k", "v"])
    c.read_raw(2)
    assert c.call("RESET") == b"+RESET\r\n"
    assert c.call("EXEC") == b"-ERR EXEC without MULTI\r\n"
    info = dict(kv.split("=", 1) for kv in c.value("CLIENT", "INFO").decode().split())
    assert info["db"] == "0" and info["resp"] == "2" and info["name"] == "" and info["flags"] == "N"
    assert c.call("GET", "k") == b"$-1\r\n"


def test_reset_turns_replies_back_on(raw):
    c = raw()
    c.send(["CLIENT", "REPLY", "OFF"], ["PING"], ["RESET"], ["PING"])
    assert c.read_raw(2) == b"+RESET\r\n+PONG\r\n"


# ------------------------------------------------------------------ AUTH


def test_auth_without_a_password_configured(r, raw):
    c = raw()
    assert c.call("AUTH", "x") == (b"-ERR AUTH <password> called without any password configured for the default "
                                   b"user. Are you sure your configuration is correct?\r\n")
    assert c.call("AUTH", "nobody", "x") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert r.execute_command("AUTH", "default", "anything") is True  # the nopass default user takes any password


def test_requirepass_refuses_until_auth(secured):
    c = Raw(secured)
    try:
        assert c.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
        assert c.call("HELLO", "3") == (b"-NOAUTH HELLO must be called with the client already authenticated, "
                                        b"otherwise the HELLO AUTH <user> <pass> option can be used to "
                                        b"authenticate the client and select the RESP protocol version at the "
                                        b"same time\r\n")
        assert c.call("AUTH", "wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert c.call("AUTH", "default", "wrong") == \
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert c.call("AUTH", "a", "b", "c") == b"-ERR syntax error\r\n"
        assert c.call("AUTH", PASSWORD) == b"+OK\r\n"
        assert c.call("GET", "k") == b"$-1\r\n"
        assert c.call("AUTH", "wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert c.call("GET", "k") == b"$-1\r\n"  # a failed AUTH does not log an authenticated client out
        assert c.call("RESET") == b"+RESET\r\n"
        assert c.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"  # RESET logs out
    finally:
        c.close()


def test_hello_auth_on_a_secured_node(secured):
    c = Raw(secured)
    try:
        cid_reply = c.call("HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "me")
        assert cid_reply.startswith(b"%7\r\n") and b"$5\r\nproto\r\n:3\r\n" in cid_reply
        assert c.call("CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    finally:
        c.close()


def test_redis_py_with_password(secured):
    good = secured.client(password=PASSWORD)
    try:
        assert good.set("k", "v") is True and good.get("k") == b"v"
    finally:
        good.close()
    bad = secured.client(password="nope", retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(redis.AuthenticationError):
            bad.ping()
    finally:
        bad.close()


def test_unauthenticated_clients_may_only_send_small_requests(secured):
    big = Raw(secured)
    try:
        big.send_bytes(b"*20\r\n")  # more than 10 arguments before AUTH (CVE-2021-32675)
        out = big.read_raw()
        assert out.startswith(b"-ERR Protocol error: unauthenticated multibulk length")
        assert big.closed_by_server()
    finally:
        big.close()
    bulk = Raw(secured)
    try:
        bulk.send_bytes(b"*2\r\n$3\r\nGET\r\n$20000\r\n")  # a bulk over 16 KB before AUTH
        assert bulk.read_raw().startswith(b"-ERR Protocol error: unauthenticated bulk length")
        assert bulk.closed_by_server()
    finally:
        bulk.close()
    ok = Raw(secured)
    try:
        assert ok.call("AUTH", PASSWORD) == b"+OK\r\n"
        args = [f"k{i}" for i in range(20)]
        assert ok.call("DEL", *args) == b":0\r\n"  # the limits are gone once authenticated
        assert ok.call("SET", "big", "x" * 20000) == b"+OK\r\n"
    finally:
        ok.close()


def test_unauthenticated_flood_that_never_reads_holds_bounded_memory(secured):
    # CVE-2025-21605: a client that never authenticates and never reads its NOAUTH errors must not make the node's
    # memory grow. Shoal stops reading a client whose replies the kernel does not take, so what it holds is at
    # most one read's worth of replies.
    import socket
    import time

    c = secured.client(password=PASSWORD)
    rss_before = c.info("memory")["used_memory_rss"]
    flood = socket.create_connection((secured.host, secured.port))
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.setblocking(False)
    chunk = b"*1\r\n$4\r\nPING\r\n" * 4096
    sent = 0
    deadline = time.time() + 5
    while time.time() < deadline and sent < 200 * 1024 * 1024:
        try:
            sent += flood.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)  # the node stopped reading us: exactly the point
    assert c.ping()  # others are still served
    rss_after = c.info("memory")["used_memory_rss"]
    assert rss_after - rss_before < 64 * 1024 * 1024, (rss_before, rss_after, sent)
    flood.close()
    assert c.ping()
