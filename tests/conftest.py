"""Fixtures shared by every test tier: real `shoal-node` and `redis-server` processes on 127.0.0.1.

`ServerProcess` starts a process on a free port, waits until it answers PING, and stops it at teardown (its log
is printed if a test failed, to make failures explainable).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server process (shoal-node or redis-server) on 127.0.0.1:port."""

    def __init__(self, argv: list[str], port: int, workdir: str, name: str):
        self.argv = argv
        self.port = port
        self.host = "127.0.0.1"
        self.workdir = workdir
        self.name = name
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> "ServerProcess":
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                    # -NOAUTH and the like mean it is up; -LOADING means not yet (a dataset is loading)
                    if reply.startswith((b"+PONG", b"-")) and not reply.startswith(b"-LOADING"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer on port {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, **kw) -> redis.Redis:
        # redis-py 8 speaks RESP3 by default; the tests choose explicitly (RESP2 unless protocol=3 is given)
        kw.setdefault("protocol", 2)
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host=self.host, port=self.port, **kw)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_for(pred, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """Poll `pred` until it returns something true (returned), or fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def shoal_argv(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shoal.cluster.main", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            *extra]


def start_shoal(*extra: str, workdir: str | None = None) -> ServerProcess:
    wd = workdir or tempfile.mkdtemp(prefix="shoal-test-")
    for attempt in range(3):
        # free_port() releases the port before the node binds it: another process may take it in between
        port = free_port()
        try:
            return ServerProcess(shoal_argv(port, *extra), port, wd, "shoal").start()
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_redis(*extra: str, workdir: str | None = None) -> ServerProcess:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server (Debian's redis-server package) is not installed")
    port = free_port()
    wd = workdir or tempfile.mkdtemp(prefix="redis-ref-")
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", *extra]
    return ServerProcess(argv, port, wd, "redis").start()


@pytest.fixture(scope="module")
def shoal():
    """One shoal-node per test module."""
    srv = start_shoal()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def redis_ref():
    """Debian's redis-server, the reference, one per test module."""
    srv = start_redis()
    yield srv
    srv.stop()


@pytest.fixture
def r(shoal):
    """A redis-py client (RESP2) on a flushed shoal-node."""
    c = shoal.client()
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def r3(shoal):
    """A redis-py client speaking RESP3."""
    c = shoal.client(protocol=3)
    c.flushall()
    yield c
    c.close()


def pytest_runtest_makereport(item, call):
    # attach server logs to failures
    if call.when == "call" and call.excinfo is not None:
        for name in ("shoal", "redis_ref"):
            srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(srv, ServerProcess):
                item.add_report_section("call", f"{name} log", srv.log())
