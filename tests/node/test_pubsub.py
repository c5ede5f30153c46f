"""Pub/sub between real clients: delivery in both protocols, patterns, shard channels, ordering, clean-up on
disconnect and RESET, CLIENT LIST fields, INFO counters, bounded pattern matching, and the slow subscriber cut
off by `client-output-buffer-limit pubsub` while the publisher keeps its pace.

Replies of a single connection are compared byte for byte with redis-server in
tests/differential/cases/pubsub.txt; here several connections talk to each other.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from tests.conftest import start_shoal

DEADLINE = 5.0


def cmd(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


class Raw:
    """A raw connection that reads exactly the bytes it expects (with a deadline)."""

    def __init__(self, port: int, rcvbuf: int | None = None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args) -> None:
        self.sock.sendall(cmd(*args))

    def expect(self, want: bytes) -> None:
        got = self.read(len(want))
        assert got == want

    def read(self, n: int) -> bytes:
        deadline = time.monotonic() + DEADLINE
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(1 << 16)
            if not data:
                break
            self.buf += data
        got, self.buf = self.buf[:n], self.buf[n:]
        return got

    def skip_hello_reply(self) -> None:
        """Consume one HELLO reply (RESP2 or RESP3): it ends with the empty `modules` array. Reading to a known end
        instead of waiting for silence keeps the test right on a loaded machine."""
        end = b"$7\r\nmodules\r\n*0\r\n"
        deadline = time.monotonic() + DEADLINE
        while end not in self.buf and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(1 << 16)
            if not data:
                break
            self.buf += data
        i = self.buf.index(end) + len(end)
        self.buf = self.buf[i:]

    def nothing_pending(self, wait: float = 0.1) -> bool:
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            return not self.buf
        self.buf += data
        return False

    def close(self) -> None:
        self.sock.close()


def bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def frame(proto: int, *items) -> bytes:
    head = b">" if proto == 3 else b"*"
    body = b"".join(bulk(i) if isinstance(i, bytes) else b":%d\r\n" % i for i in items)
    return b"%b%d\r\n%b" % (head, len(items), body)


def wait_until(fn, timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.02)
    return False


def subscriber(port: int, proto: int, verb: bytes, *channels: bytes) -> Raw:
    s = Raw(port)
    if proto == 3:
        s.send("HELLO", "3")
        assert s.read(len(b"%7\r\n")) == b"%7\r\n"
        s.skip_hello_reply()
    s.send(verb, *channels)
    for i, ch in enumerate(channels, 1):
        s.expect(frame(proto, verb.lower(), ch, i))
    return s


@pytest.mark.parametrize("proto", [2, 3])
def test_message_reaches_other_clients(r, shoal, proto):
    s = subscriber(shoal.port, proto, b"SUBSCRIBE", b"news", b"\x00bin ary")
    try:
        assert r.publish("news", "hello") == 1
        s.expect(frame(proto, b"message", b"news", b"hello"))
        assert r.publish(b"\x00bin ary", b"\r\n\xff") == 1
        s.expect(frame(proto, b"message", b"\x00bin ary", b"\r\n\xff"))
        assert r.publish("other", "x") == 0
        assert s.nothing_pending()
    finally:
        s.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_pattern_and_channel_subscriptions_each_deliver(r, shoal, proto):
    s = subscriber(shoal.port, proto, b"SUBSCRIBE", b"news.tech")
    s.send("PSUBSCRIBE", "news.*")
    s.expect(frame(proto, b"psubscribe", b"news.*", 2))
    try:
        assert r.publish("news.tech", "m1") == 2  # once by name, once by pattern
        s.expect(frame(proto, b"message", b"news.tech", b"m1"))
        s.expect(frame(proto, b"pmessage", b"news.*", b"news.tech", b"m1"))
        assert r.publish("news.art", "m2") == 1
        s.expect(frame(proto, b"pmessage", b"news.*", b"news.art", b"m2"))
        assert r.execute_command("PUBSUB", "NUMPAT") == 1
        assert r.pubsub_numsub("news.tech") == [(b"news.tech", 1)]
    finally:
        s.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_shard_channels_ignore_patterns(r, shoal, proto):
    s = subscriber(shoal.port, proto, b"SSUBSCRIBE", b"orders")
    s.send("PSUBSCRIBE", "*")
    s.expect(frame(proto, b"psubscribe", b"*", 1))  # shard subscriptions are counted apart
    try:
        assert r.execute_command("SPUBLISH", "orders", "o1") == 1
        s.expect(frame(proto, b"smessage", b"orders", b"o1"))
        assert r.execute_command("SPUBLISH", "nobody", "x") == 0
        # a classic PUBLISH does not reach shard subscribers, only the pattern
        assert r.publish("orders", "o2") == 1
        s.expect(frame(proto, b"pmessage", b"*", b"orders", b"o2"))
        assert s.nothing_pending()
        assert r.execute_command("PUBSUB", "SHARDCHANNELS") == [b"orders"]
        assert r.execute_command("PUBSUB", "SHARDNUMSUB", "orders") == [b"orders", 1]
    finally:
        s.close()


def test_many_subscribers_and_order_per_publisher(r, shoal):
    subs = [subscriber(shoal.port, 2 + i % 2, b"SUBSCRIBE", b"seq") for i in range(6)]
    try:
        n = 2000
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.publish("seq", str(i))
        assert pipe.execute() == [6] * n
        for i, s in enumerate(subs):
            proto = 2 + i % 2
            want = b"".join(frame(proto, b"message", b"seq", str(j).encode()) for j in range(n))
            assert s.read(len(want)) == want
    finally:
        for s in subs:
            s.close()


def test_redis_py_pubsub_api(shoal, r):
    for proto in (2, 3):
        c = shoal.client(protocol=proto)
        p = c.pubsub()
        try:
            p.subscribe("a")
            p.psubscribe("b*")
            assert wait_until(lambda: r.pubsub_numsub("a") == [(b"a", 1)])
            seen = []
            deadline = time.monotonic() + DEADLINE
            while len(seen) < 2 and time.monotonic() < deadline:
                m = p.get_message(timeout=0.2)
                if m:
                    seen.append(m["type"])
            assert seen == ["subscribe", "psubscribe"]
            r.publish("a", "1")
            r.publish("bee", "2")
            got = []
            deadline = time.monotonic() + DEADLINE
            while len(got) < 2 and time.monotonic() < deadline:
                m = p.get_message(timeout=0.2)
                if m:
                    got.append((m["type"], m["channel"], m["data"]))
            assert got == [("message", b"a", b"1"), ("pmessage", b"bee", b"2")]
        finally:
            p.close()
            c.close()


def test_disconnect_forgets_every_subscription(r, shoal):
    s = subscriber(shoal.port, 2, b"SUBSCRIBE", *[b"ch%d" % i for i in range(50)])
    s.send("PSUBSCRIBE", "p1*", "p2*")
    s.read(len(frame(2, b"psubscribe", b"p1*", 51)) * 2)
    s.send("SSUBSCRIBE", "sh")
    s.expect(frame(2, b"ssubscribe", b"sh", 1))
    stats = r.info("stats")
    assert (stats["pubsub_channels"], stats["pubsub_patterns"], stats["pubsubshard_channels"]) == (50, 2, 1)
    s.close()
    assert wait_until(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0)
    assert r.execute_command("PUBSUB", "CHANNELS") == []
    assert r.execute_command("PUBSUB", "SHARDCHANNELS") == []
    stats = r.info("stats")
    assert (stats["pubsub_channels"], stats["pubsub_patterns"], stats["pubsubshard_channels"]) == (0, 0, 0)
    assert r.publish("ch1", "x") == 0


def test_reset_leaves_pubsub_mode(r, shoal):
    s = subscriber(shoal.port, 2, b"SUBSCRIBE", b"a")
    try:
        s.send("PSUBSCRIBE", "x*")
        s.expect(frame(2, b"psubscribe", b"x*", 2))
        s.send("GET", "k")
        s.expect(b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                 b"allowed in this context\r\n")
        s.send("RESET")
        s.expect(b"+RESET\r\n")
        assert r.pubsub_numsub("a") == [(b"a", 0)]
        assert r.execute_command("PUBSUB", "NUMPAT") == 0
        assert r.publish("a", "gone") == 0
        s.send("GET", "k")
        s.expect(b"$-1\r\n")
        line = [c for c in r.client_list() if c["cmd"] == "get" and c["sub"] == "0"]
        assert line and line[0]["flags"] == "N"
    finally:
        s.close()


def test_client_list_fields_and_kill_by_type(r, shoal):
    s = subscriber(shoal.port, 2, b"SUBSCRIBE", b"a", b"b")
    s.send("PSUBSCRIBE", "p*")
    s.expect(frame(2, b"psubscribe", b"p*", 3))
    s.send("SSUBSCRIBE", "s1", "s2", "s3")
    s.read(sum(len(frame(2, b"ssubscribe", b"s1", i)) for i in (1, 2, 3)))
    try:
        mine = [c for c in r.client_list() if c["sub"] != "0"]
        assert len(mine) == 1
        assert (mine[0]["sub"], mine[0]["psub"], mine[0]["ssub"], mine[0]["flags"]) == ("2", "1", "3", "P")
        assert r.client_list(_type="pubsub")[0]["id"] == mine[0]["id"]
        assert all(c["id"] != mine[0]["id"] for c in r.client_list(_type="normal"))
        assert r.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        assert s.read(1) == b""  # closed
        assert wait_until(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0)
        assert r.execute_command("PUBSUB", "SHARDNUMSUB", "s1") == [b"s1", 0]
    finally:
        s.close()


def test_unsubscribe_everything_confirms_each_in_subscription_order(r, shoal):
    names = [b"c%d" % i for i in range(20)]
    s = subscriber(shoal.port, 2, b"SUBSCRIBE", *names)
    try:
        s.send("UNSUBSCRIBE")
        for i, ch in enumerate(names):
            s.expect(frame(2, b"unsubscribe", ch, len(names) - 1 - i))
        s.send("GET", "k")  # out of pub/sub mode
        s.expect(b"$-1\r\n")
    finally:
        s.close()


def test_subscribed_clients_are_exempt_from_idle_timeout(r, shoal):
    s = subscriber(shoal.port, 2, b"SUBSCRIBE", b"idle")
    idle = Raw(shoal.port)
    r.config_set("timeout", 1)
    try:
        idle.send("PING")
        idle.expect(b"+PONG\r\n")
        time.sleep(2.5)
        assert idle.read(1) == b""  # the plain client was closed
        assert r.publish("idle", "still here") == 1
        s.expect(frame(2, b"message", b"idle", b"still here"))
    finally:
        r.config_set("timeout", 0)
        s.close()
        idle.close()


def test_pattern_matching_is_bounded(r, shoal):
    # CVE-2022-36021: such a pattern made Redis's recursive matcher exponential
    evil = b"*a" * 40 + b"b"
    s = subscriber(shoal.port, 2, b"PSUBSCRIBE", evil)
    try:
        t0 = time.monotonic()
        for _ in range(20):
            assert r.publish(b"a" * 5000, "x") == 0
        assert r.execute_command("PUBSUB", "CHANNELS", evil) == []
        assert time.monotonic() - t0 < 2.0
        assert r.publish(b"a" * 100 + b"b", "y") == 1
        assert s.read(5) == b"*4\r\n$"
    finally:
        s.close()


def test_protocol_switch_changes_the_message_format(r, shoal):
    s = subscriber(shoal.port, 3, b"SUBSCRIBE", b"fmt")
    try:
        s.send("HELLO", "2")  # allowed: RESP3 subscribers may run any command
        assert s.read(4) == b"*14\r"
        s.skip_hello_reply()
        assert r.publish("fmt", "x") == 1
        s.expect(frame(2, b"message", b"fmt", b"x"))
    finally:
        s.close()


# ----------------------------------------------------------------------------------- slow subscribers


@pytest.fixture(scope="module")
def limited():
    srv = start_shoal("--client-output-buffer-limit", "pubsub 256kb 128kb 1")
    yield srv
    srv.stop()


def _publish_many(c: redis.Redis, n: int, payload: bytes) -> float:
    t0 = time.monotonic()
    pipe = c.pipeline(transaction=False)
    for i in range(n):
        pipe.publish("flood", payload)
        if i % 100 == 99:
            pipe.execute()
    pipe.execute()
    return time.monotonic() - t0


def test_slow_subscriber_is_cut_off_while_the_publisher_keeps_going(limited):
    c = limited.client()
    payload = b"x" * 10_000
    n = 1500  # 15 MB: far beyond the 256 KB hard limit
    baseline = _publish_many(c, n, payload)  # nobody listening
    stalled = Raw(limited.port, rcvbuf=4096)  # never reads
    stalled.send("SUBSCRIBE", "flood")
    fast = subscriber(limited.port, 2, b"SUBSCRIBE", b"flood")
    assert wait_until(lambda: c.pubsub_numsub("flood") == [(b"flood", 2)])
    received = bytearray()
    try:
        def drain():  # the healthy subscriber reads everything
            want = len(frame(2, b"message", b"flood", payload)) * n
            deadline = time.monotonic() + 30
            fast.sock.settimeout(1)
            while len(received) < want and time.monotonic() < deadline:
                try:
                    data = fast.sock.recv(1 << 20)
                except socket.timeout:
                    continue
                if not data:
                    break
                received.extend(data)

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        elapsed = _publish_many(c, n, payload)
        t.join(35)
        # the stalled subscriber cost the publisher little: it was dropped, not waited for
        assert elapsed < max(4 * baseline, baseline + 3.0), (elapsed, baseline)
        assert wait_until(lambda: c.pubsub_numsub("flood") == [(b"flood", 1)])
        assert all(int(cl["omem"]) <= 256 * 1024 for cl in c.client_list())  # its queue went with it
        one = frame(2, b"message", b"flood", payload)
        assert bytes(received) == one * n  # every message, in order, to the subscriber that reads
        # the stalled one got a prefix of the stream, then the connection closed
        stalled.sock.settimeout(5)
        got = bytearray()
        while True:
            try:
                data = stalled.sock.recv(1 << 20)
            except (socket.timeout, ConnectionResetError):
                break
            if not data:
                break
            got.extend(data)
        confirm = frame(2, b"subscribe", b"flood", 1)
        assert got.startswith(confirm)
        body = bytes(got[len(confirm):])
        assert len(body) < len(one) * n
        assert body == (one * (len(body) // len(one) + 1))[:len(body)]  # at most once, in order
        assert c.ping()
    finally:
        stalled.close()
        fast.close()
        c.close()
