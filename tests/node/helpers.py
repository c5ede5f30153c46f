"""Helpers shared by the tests in tests/node: a raw RESP connection (and a fixture that hands them out and closes
them), an in-process node that records keyspace events and propagation, and the fixture that runs a test against
both a shoal-node and the reference redis-server.

Blocking tests (test_blocking.py, test_streams.py) share the client that runs one blocking command on a thread.

Fixtures defined here are made available to every node test by tests/node/conftest.py.
"""
from __future__ import annotations

import socket
import threading
import time

import hiredis
import pytest
import redis

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.state import NodeState


class Raw:
    """One raw RESP connection. Tests never send more than they read, so all bytes received belong to the
    replies asked for."""

    def __init__(self, srv, timeout: float = 5.0):
        self.sock = socket.create_connection((srv.host, srv.port), timeout=timeout)

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *cmds) -> None:
        out = b""
        for argv in cmds:
            argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
            out += b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)
        self.sock.sendall(out)

    def read_raw(self, n: int = 1) -> bytes:
        reader = hiredis.Reader()
        buf = b""
        got = 0
        while got < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed after {buf!r}")
            buf += data
            reader.feed(data)
            while reader.gets() is not False:
                got += 1
        return buf

    def call(self, *argv) -> bytes:
        self.send(argv)
        return self.read_raw()

    def value(self, *argv):
        reader = hiredis.Reader()
        reader.feed(self.call(*argv))
        return reader.gets()

    def closed_by_server(self, within: float = 5.0) -> bool:
        self.sock.settimeout(within)
        try:
            return self.sock.recv(1024) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(shoal, r):  # `r` flushes the node first
    """A factory of Raw connections (to the module's node unless another server is given), closed afterwards."""
    conns = []

    def make(srv=None):
        c = Raw(srv or shoal)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.close()


class EventNode:
    """A NodeState driven through the real dispatcher, recording keyspace events and propagated commands."""

    def __init__(self):
        self.state = NodeState()
        self.state.notify_flags = "KEA"
        self.events: list[tuple[str, bytes]] = []
        self.state.notify_hook = lambda event, key, dbid, cls, flags: self.events.append((event, key))
        self.propagated: list[list[bytes]] = []
        self.state.propagate_hooks.append(lambda dbid, argv: self.propagated.append([bytes(a) for a in argv]))
        self.client = Client(self.state)

    def __call__(self, *args) -> bytes:
        return dispatch.execute(self.client, [a.encode() if isinstance(a, str) else a for a in args])

    def take(self) -> list:
        ev, self.events = self.events, []
        return ev

    def take_propagated(self) -> list:
        p, self.propagated = self.propagated, []
        return p


def assert_each_change_breaks_watch(srv, r, key: str, changes, read) -> None:
    """Each of `changes` (a function of a second client), made between WATCH `key` and EXEC, must fail the
    transaction, which queues read(pipeline, key)."""
    other = srv.client()
    try:
        for change in changes:
            p = r.pipeline()
            p.watch(key)
            change(other)
            p.multi()
            read(p, key)
            with pytest.raises(redis.WatchError):
                p.execute()
    finally:
        other.close()


@pytest.fixture
def node():
    return EventNode()


@pytest.fixture(params=["shoal", "redis_ref"])
def srv(request):
    """The test runs once against a shoal-node and once against redis-server, each flushed first."""
    server = request.getfixturevalue(request.param)
    c = server.client()
    c.flushall()
    c.close()
    return server


# ------------------------------------------------------------------ blocking commands on their own threads

DEADLINE = 5.0  # seconds any single wait for a blocked client may take


class Blocker(threading.Thread):
    """One client on its own connection running one (blocking) command. A subclass sets raw_replies to get the
    server's replies without redis-py's parsing."""

    raw_replies = False

    def __init__(self, srv, *cmd, protocol: int = 2, db: int = 0):
        super().__init__(daemon=True)
        self.conn = srv.client(protocol=protocol, db=db)
        if self.raw_replies:
            self.conn.response_callbacks.clear()
        self.client_id = self.conn.client_id()
        self.cmd = cmd
        self.result = None
        self.error: Exception | None = None
        self.elapsed = 0.0
        self.done = threading.Event()

    def run(self):
        t0 = time.monotonic()
        try:
            self.result = self.conn.execute_command(*self.cmd)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            self.error = e
        self.elapsed = time.monotonic() - t0
        self.done.set()

    def outcome(self, timeout: float = DEADLINE):
        """The reply, or the exception the command raised."""
        self.join(timeout)
        assert not self.is_alive(), f"{self.cmd} still blocked"
        return self.result if self.error is None else self.error

    def finish(self):
        """The reply, once the command is done; closes the connection."""
        assert self.done.wait(DEADLINE), f"{self.cmd} still blocked"
        self.conn.close()
        return self.result


def blocked_count(admin) -> int:
    """INFO's blocked_clients, asked through a client whose replies redis-py parses."""
    return int(admin.info("clients")["blocked_clients"])


def wait_blocked(admin, n: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while blocked_count(admin) != n:
        assert time.monotonic() < deadline, f"expected {n} blocked clients, have {blocked_count(admin)}"
        time.sleep(0.01)


def block(srv, admin, *cmd, blocker=Blocker, **kw) -> Blocker:
    """Start a client on `cmd` and return once the server counts it as blocked."""
    before = blocked_count(admin)
    b = blocker(srv, *cmd, **kw)
    b.start()
    wait_blocked(admin, before + 1)
    return b


def assert_ops_scale(build, per_op, big_n: int, small_n: int, factor: float) -> dict:
    """On a fresh node, build a collection of `big_n` and one of `small_n` elements (`build(client, key, n)`), time
    each operation on both (`per_op(client, key, n)` → {name: seconds per op}) and check that no operation on the big
    one is `factor` times slower or more. Returns {name: (µs small, µs big, ratio)}."""
    from tests.conftest import start_shoal

    srv = start_shoal()
    try:
        c = srv.client()
        t0 = time.perf_counter()
        build(c, "big", big_n)
        build_s = time.perf_counter() - t0
        build(c, "small", small_n)
        big = per_op(c, "big", big_n)
        small = per_op(c, "small", small_n)
        report = {k: (round(small[k] * 1e6, 1), round(big[k] * 1e6, 1), round(big[k] / small[k], 2)) for k in big}
        print(f"\n{big_n} build {build_s:.1f}s; per-op µs ({small_n}, {big_n}, ratio): {report}")
        for name, (_, _, ratio) in report.items():
            assert ratio < factor, f"{name}: {report[name]}"
        c.close()
        return report
    finally:
        srv.stop()
