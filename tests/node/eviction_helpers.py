"""Helpers for the maxmemory and memory-accounting tests: bulk loading over a raw socket (fast enough for a
million keys), a server process's resident memory, and INFO fields."""
from __future__ import annotations

import socket
import time


def resp(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def send_commands(srv, cmds: list[bytes], chunk: int = 20000, timeout: float = 120.0) -> None:
    """Send encoded commands in chunks and wait for all their replies (a PING closes each chunk); the replies
    themselves are not looked at."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as s:
        for i in range(0, len(cmds), chunk):
            s.sendall(b"".join(cmds[i:i + chunk]) + b"PING\r\n")
            tail = b""
            while not tail.endswith(b"+PONG\r\n"):
                assert time.monotonic() < deadline, "bulk load timed out"
                data = s.recv(1 << 20)
                assert data, "server closed the connection"
                tail = (tail + data)[-16:]


def rss(srv) -> int:
    """Resident set size of a server process, in bytes (/proc/<pid>/statm)."""
    with open(f"/proc/{srv.proc.pid}/statm") as f:
        return int(f.read().split()[1]) * 4096


def used_memory(r) -> int:
    return int(r.info("memory")["used_memory"])


def evicted_keys(r) -> int:
    return int(r.info("stats")["evicted_keys"])


def wait_until(cond, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()
