"""The server shell: start-up flags, clean shutdown on signals, output buffer limits, many clients at once."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis

from tests.conftest import free_port, shoal_argv, start_shoal


def test_unknown_option_fails_startup_with_a_clear_message():
    port = free_port()
    proc = subprocess.run(shoal_argv(port, "--no-such-option", "1"), capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"no-such-option" in proc.stderr + proc.stdout
    assert b"Bad directive" in proc.stderr + proc.stdout


def test_invalid_option_value_fails_startup():
    port = free_port()
    proc = subprocess.run(shoal_argv(port, "--maxclients", "many"), capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"maxclients" in proc.stderr + proc.stdout


def test_config_file_and_flags(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# a comment\nmaxclients 123\nhz 20\n")
    port = free_port()
    argv = [sys.executable, "-m", "shoal.cluster.main", str(conf), "--port", str(port), "--bind", "127.0.0.1",
            "--save", ""]
    from tests.conftest import ServerProcess
    srv = ServerProcess(argv, port, str(tmp_path), "shoal").start()
    try:
        c = srv.client()
        assert c.config_get("maxclients") == {"maxclients": "123"}
        assert c.config_get("hz") == {"hz": "20"}
    finally:
        srv.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(sig):
    srv = start_shoal()
    try:
        srv.client().set("k", "v")
        srv.proc.send_signal(sig)
        assert srv.proc.wait(15) == 0
        assert "ready to exit" in srv.log()
        assert "Traceback" not in srv.log()
    finally:
        srv.stop()


def test_slow_reader_of_big_replies_is_disconnected_and_others_are_served():
    srv = start_shoal("--client-output-buffer-limit", "normal 1mb 0 0")
    try:
        c = srv.client()
        c.set("big", b"x" * (512 * 1024))
        slow = socket.create_connection((srv.host, srv.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # ask for ~40 MB of replies and never read them
        slow.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 80)
        deadline = time.time() + 20
        closed = False
        while time.time() < deadline and not closed:
            info = c.client_list()
            closed = len(info) == 1
            time.sleep(0.1)
        assert closed, "the slow reader was not disconnected"
        assert c.get("big") == b"x" * (512 * 1024)
        assert srv.alive
        slow.close()
    finally:
        srv.stop()


def test_many_concurrent_clients():
    srv = start_shoal()
    errors = []

    def worker(i):
        try:
            c = redis.Redis(host=srv.host, port=srv.port, socket_timeout=10)
            for j in range(50):
                c.set(f"k{i}:{j}", j)
                assert int(c.get(f"k{i}:{j}")) == j
            c.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert srv.client().dbsize() == 40 * 50
    finally:
        srv.stop()


def test_client_disconnecting_mid_reply_does_not_disturb_others():
    srv = start_shoal()
    try:
        c = srv.client()
        c.set("big", b"y" * (4 * 1024 * 1024))
        for _ in range(5):
            s = socket.create_connection((srv.host, srv.port))
            s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 4)
            s.recv(1000)
            s.close()  # with most of the reply unread
        assert c.ping()
        assert len(c.get("big")) == 4 * 1024 * 1024
    finally:
        srv.stop()
