"""The protocol over real sockets (BAD_INPUT.md, "The protocol" 1-5, 7, 9): malformed requests, limits, abrupt
disconnects, pipelining and inline commands, against a shoal-node, with redis-server 7.0 as the judge of every
byte the client gets back. After each abuse the node must still serve other clients and keep its data.

`exchange()` sends a payload, half-closes the socket (so both servers see the end of the input and hang up once
they have answered everything), and returns every byte the server wrote: the whole conversation, compared as one.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.conftest import start_redis, start_shoal

SENTINEL_KEY = b"protocol:sentinel"
SENTINEL_VALUE = b"still here \x00\xff"
RESET = b"<connection reset>"


def exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Everything the server on `port` sends back for `payload` until it closes the connection.

    The payload is sent from a thread while we read, so a server that answers and hangs up mid-payload is seen
    the same way for both servers. A reset is marked at the end (Linux resets when a server closes with input
    still unread), after the bytes that came before it.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send():
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                break
            out += data
    except ConnectionResetError:
        out += RESET
    except socket.timeout:
        raise AssertionError(f"port {port}: no end of conversation within {timeout}s; got {bytes(out[:300])!r}")
    finally:
        sender.join(timeout)
        sock.close()
    return bytes(out)


def answer(port: int, payload: bytes) -> bytes:
    """The server's output without the reset marker: whether a close was a FIN or a reset is a TCP detail."""
    return exchange(port, payload).replace(RESET, b"")


def raw_call(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        return s.recv(65536)


def multibulk(*argv: bytes) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


def assert_healthy(srv) -> None:
    """The node answers a new client and still holds the sentinel key."""
    assert srv.alive, f"the node died:\n{srv.log()}"
    c = srv.client()
    try:
        assert c.ping() is True
        assert c.get(SENTINEL_KEY) == SENTINEL_VALUE
    finally:
        c.close()
    assert "Traceback" not in srv.log(), srv.log()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module", autouse=True)
def sentinel(shoal, redis_ref):
    for srv in (shoal, redis_ref):
        c = srv.client()
        c.set(SENTINEL_KEY, SENTINEL_VALUE)
        c.close()
    yield


# --------------------------------------------------------------------------------------------------- items 1-4

# (id, payload): each is sent on its own connection to both servers; the complete output must be identical
MALFORMED = [
    # 1. multibulk counts
    ("negative multibulk ignored", b"*-10\r\nPING\r\n"),
    ("zero multibulk ignored", b"*0\r\n*1\r\n$4\r\nPING\r\n"),
    ("multibulk above INT_MAX", b"*2147483648\r\n"),
    ("multibulk above 1M waits (7.0 allows up to INT_MAX)", b"*1048577\r\n$4\r\nPING\r\n"),
    ("multibulk not a number", b"*abc\r\n"),
    ("multibulk empty count", b"*\r\n"),
    ("multibulk with plus sign", b"*+1\r\n$4\r\nPING\r\n"),
    ("multibulk count leading zero", b"*01\r\n$4\r\nPING\r\n"),
    # 2. bulk lengths
    ("bulk above proto-max-bulk-len", b"*1\r\n$536870913\r\n"),
    ("bulk negative", b"*1\r\n$-1\r\n"),
    ("bulk minus zero", b"*1\r\n$-0\r\n"),
    ("bulk not a number", b"*1\r\n$x\r\n"),
    ("bulk leading zero", b"*1\r\n$04\r\nPING\r\n"),
    # 3. a non-'$' where a bulk is expected
    ("simple string argument", b"*1\r\n+PING\r\n"),
    ("integer argument", b"*2\r\n$4\r\nECHO\r\n:1\r\n"),
    ("nested array", b"*1\r\n*1\r\n$4\r\nPING\r\n"),
    ("error argument", b"*1\r\n-ERR\r\n"),
    ("verbatim argument", b"*1\r\n=8\r\ntxt:PING\r\n"),
    ("big number argument", b"*2\r\n$4\r\nECHO\r\n(12\r\n"),
    ("simple string argument then partial header", b"*1\r\n+PING\r\n*1\r"),
    ("letter where a bulk is expected", b"*1\r\nPING\r\n"),
    # 4. inline requests
    ("inline over 64KB without newline", b"x" * (64 * 1024 + 10)),
    ("mbulk count over 64KB without CR", b"*" + b"1" * (64 * 1024 + 10)),
    ("mbulk count over 64KB of letters", b"*" + b"a" * (64 * 1024 + 10)),
    ("bulk count over 64KB without CR", b"*1\r\n$" + b"a" * (64 * 1024 + 10)),
    ("unbalanced double quote", b'ECHO "abc\r\n'),
    ("unbalanced single quote", b"ECHO 'abc\r\n"),
    ("closing quote not followed by space", b'ECHO "a"b\r\n'),
    ("requests before a fault are answered", b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n+x\r\n"),
    # a header ended by '\r' and any byte: Redis skips the byte
    ("header ended by CR and a stray byte", b"*1\rX$4\r\nPING\r\n"),
    ("header ended by a lone CR", b"*\r\x00"),
    # NUL bytes inside a header or an inline line (Redis looks for the line end with strchr)
    ("NUL in a multibulk header", b"*1\x00\r\n$4\r\nPING\r\n"),
    ("NUL in an inline line", b"PI\x00NG\r\n"),
]


@pytest.mark.parametrize("payload", [p for _, p in MALFORMED], ids=[i for i, _ in MALFORMED])
def test_malformed_requests_answered_as_redis(shoal, redis_ref, payload):
    theirs = answer(redis_ref.port, payload)
    ours = answer(shoal.port, payload)
    assert ours == theirs, f"\npayload      {payload[:120]!r}\nredis-server {theirs[:300]!r}\nshoal-node   {ours[:300]!r}"
    assert_healthy(shoal)


INLINE = [
    b"PING\r\n",
    b"PING\n",
    b"ping hello\r\n",
    b"\r\n\n   \r\n\t\nPING\r\n",
    b'ECHO "a b"\r\n',
    b"ECHO 'it\\'s'\r\n",
    b'ECHO "\\x41\\x00\\n\\t\\"q"\r\n',
    b'ECHO "\\xZZ"\r\n',
    b"SET protocol:inline v1\nGET protocol:inline\r\nECHO x\n",
    b'SET "protocol:in line" "va lue"\r\nGET "protocol:in line"\r\n',
    b"ECHO\r\n",
    b"NOSUCHCOMMAND a b\r\n",
    b"PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
    b"ECHO a\rb\r\n",
    b"  ECHO   spaced   \r\n",
    b"QUIT\r\nPING\r\n",
]


@pytest.mark.parametrize("payload", INLINE, ids=[repr(p)[2:30] for p in INLINE])
def test_inline_commands_as_redis(shoal, redis_ref, payload):
    assert answer(shoal.port, payload) == answer(redis_ref.port, payload)
    assert_healthy(shoal)


# hypothesis: request streams with garbage, both servers must answer byte for byte alike

VOCAB = [b"PING", b"ECHO", b"GET", b"SET", b"ping", b"hyp:a", b"hyp:b", b"x", b"", b"\x00", b"a b", b"\r\n",
         b"*1", b"$3", b"+x"]
GARBAGE = [b"\r\n", b"\r", b"\n", b"*", b"$", b"+x\r\n", b":1\r\n", b"*-1\r\n", b"$-1\r\n", b"*1\r\n", b"$2\r\n",
           b"\x00", b'"', b"'", b" ", b"*0\r\n", b"$99999999999\r\n", b"=5\r\ntxt:x\r\n"]


@st.composite
def stream(draw):
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        argv = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4))
        if argv[0] in (b"PING", b"ping") and len(argv) > 2:
            argv = argv[:2]
        if draw(st.booleans()):
            parts.append(multibulk(*argv))
        else:
            parts.append(b" ".join(a for a in argv if a and b"\r" not in a and b"\n" not in a) + b"\r\n")
        if draw(st.integers(0, 3)) == 0:
            parts.append(draw(st.one_of(st.sampled_from(GARBAGE), st.binary(min_size=1, max_size=4))))
    return b"".join(parts)


_DANGEROUS = re.compile(rb"shutdown|flush|debug|config|client|save|replicaof|slaveof|monitor|sync", re.I)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(payload=stream())
@example(payload=b"*2\r\n$4\r\nECHO\r\n$3\r\nab\x00\r\n")
def test_random_streams_answered_as_redis(shoal, redis_ref, payload):
    assume(_DANGEROUS.search(payload) is None)
    theirs = answer(redis_ref.port, payload)
    ours = answer(shoal.port, payload)
    assert ours == theirs, f"\npayload      {payload!r}\nredis-server {theirs!r}\nshoal-node   {ours!r}"


# --------------------------------------------------------------------------------------------------- item 5


def test_declared_500mb_bulk_then_silence_costs_only_what_arrived(shoal):
    pid = shoal.proc.pid
    before = rss_bytes(pid)
    conns = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", shoal.port), timeout=5)
            s.sendall(b"*3\r\n$3\r\nSET\r\n$13\r\nprotocol:huge\r\n$524288000\r\n" + b"x" * (1024 * 1024))
            conns.append(s)
        time.sleep(0.3)
        # still waiting for the rest of their values, not refused for a protocol error
        assert not any(_closed_within(s, 0.01) for s in conns)
        assert_healthy(shoal)
        grown = rss_bytes(pid) - before
        # 4 MB received in all; allow generous slack for buffers, never anything near the declared 2 GB
        assert grown < 64 * 1024 * 1024, f"RSS grew by {grown} bytes for 4 MB received"
    finally:
        for s in conns:
            s.close()
    c = shoal.client()
    assert c.exists("protocol:huge") == 0
    c.close()


# --------------------------------------------------------------------------------------------------- item 7


def _start_pair(*args: str):
    ours = start_shoal(*args)
    try:
        theirs = start_redis(*args)
    except BaseException:
        ours.stop()
        raise
    return ours, theirs


@pytest.fixture(scope="module")
def limited_pair():
    """A shoal-node and a redis-server with maxclients 5 and a 1 MB query buffer limit."""
    pair = _start_pair("--maxclients", "5", "--client-query-buffer-limit", "1mb")
    yield pair
    for srv in pair:
        srv.stop()


@pytest.fixture(scope="module")
def idle_pair():
    """A shoal-node and a redis-server that close clients idle for 1 s."""
    pair = _start_pair("--timeout", "1")
    yield pair
    for srv in pair:
        srv.stop()


def _open_clients(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"PING\r\n")
        assert s.recv(64) == b"+PONG\r\n"
        out.append(s)
    return out


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def test_maxclients_refuses_the_sixth_client_like_redis(limited_pair):
    replies = []
    for srv in limited_pair:
        held = _open_clients(srv.port, 5)
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as extra:
                extra.sendall(b"PING\r\n")
                got = b""
                extra.settimeout(5)
                try:
                    while True:
                        d = extra.recv(4096)
                        if not d:
                            break
                        got += d
                except ConnectionResetError:
                    pass
                replies.append(got)
            # a slot freed is a slot usable again
            held.pop().close()
            deadline = time.monotonic() + 5
            while True:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as again:
                    again.sendall(b"PING\r\n")
                    if again.recv(64) == b"+PONG\r\n":
                        break
                assert time.monotonic() < deadline, f"{srv.name}: a freed client slot was never reusable"
                time.sleep(0.05)
        finally:
            for s in held:
                s.close()
    ours, theirs = replies
    assert theirs == b"-ERR max number of clients reached\r\n"
    assert ours == theirs


def test_query_buffer_limit_closes_an_unfinished_request_like_redis(limited_pair):
    big_bulk = b"*3\r\n$3\r\nSET\r\n$7\r\nqbuf:kk\r\n$2000000\r\n" + b"x" * 1_500_000
    results = []
    for srv in limited_pair:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            try:
                s.sendall(big_bulk)
            except OSError:
                pass
            results.append(_closed_within(s, 5))
        finally:
            s.close()
        c = srv.client()
        assert c.ping() is True
        assert c.exists("qbuf:kk") == 0
        c.close()
    assert results == [True, True], f"closed (shoal, redis) = {results}"
    assert_limited_node_healthy(limited_pair[0])


def test_query_buffer_limit_spares_a_big_request_of_small_arguments(limited_pair):
    # 1.8 MB in 60 arguments of 30 KB, arriving over many reads: Redis 7.0 counts only the unparsed query buffer
    # against the limit, not the arguments already parsed, so it runs the command
    request = multibulk(b"RPUSH", b"qbuf:list", *[b"y" * 30000] * 60)
    replies = []
    for srv in limited_pair:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            try:
                for i in range(0, len(request), 65536):
                    s.sendall(request[i:i + 65536])
                    time.sleep(0.002)
                replies.append(read_exactly(s, len(b":60\r\n"), 5))
            except OSError as e:
                replies.append(f"connection failed: {e}".encode())
        srv.client().delete("qbuf:list")
    ours, theirs = replies
    assert theirs == b":60\r\n"
    assert ours == theirs


def assert_limited_node_healthy(srv) -> None:
    c = srv.client()
    try:
        assert c.ping() is True
    finally:
        c.close()
    assert "Traceback" not in srv.log(), srv.log()


def test_query_buffer_limit_does_not_count_finished_requests(limited_pair):
    # 3 MB of small complete requests in one go: nothing is pending for long, nobody is closed
    payload = b"".join(multibulk(b"SET", b"qbuf:%d" % (i % 10), b"v" * 300) for i in range(10_000))
    expected = b"+OK\r\n" * 10_000
    for srv in limited_pair:
        assert answer(srv.port, payload) == expected


def test_idle_clients_closed_after_timeout(idle_pair):
    ours, theirs = idle_pair
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for srv in (ours, theirs)]
    busy = socket.create_connection(("127.0.0.1", ours.port), timeout=5)
    try:
        start = time.monotonic()
        closed = [False, False]
        while time.monotonic() - start < 5 and not all(closed):
            busy.sendall(b"PING\r\n")
            assert busy.recv(64) == b"+PONG\r\n", "an active client was closed by the idle timeout"
            for i, s in enumerate(idle):
                if not closed[i]:
                    closed[i] = _closed_within(s, 0.2)
        assert closed == [True, True], f"idle client closed (shoal, redis) = {closed}"
        assert time.monotonic() - start >= 0.9  # and not before its time
    finally:
        busy.close()
        for s in idle:
            s.close()


# --------------------------------------------------------------------------------------------------- item 9


def test_disconnect_mid_command_leaves_no_trace(shoal):
    for cut in (5, 20, 33, 40):
        payload = multibulk(b"SET", b"protocol:partial", b"hello world")[:cut]
        with socket.create_connection(("127.0.0.1", shoal.port), timeout=5) as s:
            s.sendall(payload)
    c = shoal.client()
    assert c.exists("protocol:partial") == 0
    c.close()
    assert_healthy(shoal)


def read_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
    """n bytes from sock, or fewer if the deadline passes or the peer closes first."""
    got = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while len(got) < n:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(min(1 << 20, n - len(got)))
            if not data:
                break
            got += data
    except (socket.timeout, ConnectionResetError):
        pass
    return bytes(got)


def get_raw(port: int, key: bytes, size: int, timeout: float = 5.0) -> bytes:
    """GET a value of known size over a raw socket, with a hard deadline (redis-py would retry on timeouts)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(multibulk(b"GET", key))
        reply = read_exactly(s, len(b"$%d\r\n" % size) + size + 2, timeout)
    return reply


def test_reply_bigger_than_the_socket_buffer_arrives_whole(shoal):
    # a reply the kernel cannot take in one send goes through the backlog and its flusher
    value = os.urandom(12 * 1024 * 1024)
    c = shoal.client()
    c.set("protocol:bigreply", value)
    c.close()
    reply = get_raw(shoal.port, b"protocol:bigreply", len(value))
    expected = b"$%d\r\n" % len(value) + value + b"\r\n"
    assert len(reply) == len(expected), f"got {len(reply)} of {len(expected)} bytes of the reply"
    assert reply == expected
    assert_healthy(shoal)


def test_disconnect_mid_reply_keeps_the_node_and_the_data(shoal):
    big = os.urandom(4 * 1024 * 1024)
    c = shoal.client()
    c.set("protocol:big", big)
    c.close()
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", shoal.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(multibulk(b"GET", b"protocol:big") * 5)
        s.recv(1000)  # take a little, then vanish in the middle of 20 MB of replies
        s.close()
    # and a pipeline abandoned before any reply was read
    with socket.create_connection(("127.0.0.1", shoal.port), timeout=5) as s:
        s.sendall(multibulk(b"PING") * 10_000)
    assert get_raw(shoal.port, b"protocol:big", len(big)) == b"$%d\r\n" % len(big) + big + b"\r\n"
    assert_healthy(shoal)


def test_pipeline_of_10k_commands_in_one_write(shoal, redis_ref):
    reqs = []
    for i in range(2500):
        reqs.append(multibulk(b"SET", b"pipe:%d" % i, b"value-%d" % i))
        reqs.append(multibulk(b"GET", b"pipe:%d" % i))
        reqs.append(multibulk(b"ECHO", b"x" * (i % 100)))
        reqs.append(b"PING\r\n" if i % 2 else multibulk(b"PING"))
    payload = b"".join(reqs)
    ours = answer(shoal.port, payload)
    assert ours == answer(redis_ref.port, payload)
    assert ours.count(b"+PONG\r\n") == 2500 and ours.count(b"+OK\r\n") == 2500
    assert b"$10\r\nvalue-2499\r\n" in ours
    assert_healthy(shoal)
