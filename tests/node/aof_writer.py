"""A separate writer process for the AOF crash tests: THREADS connections each SET keys w<t>:<i> = <i> one at a
time and record every acknowledged key (with the time of its reply) in an ack file, until the server goes away or
SECONDS pass. Usage: python aof_writer.py PORT ACKFILE SECONDS [THREADS]

The ack file is written with plain os.write after each reply: this process is not the one killed, so whatever it
recorded is what the server acknowledged.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time


def writer(port: int, tid: int, fd: int, lock: threading.Lock, deadline: float) -> None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    buf = b""
    i = 0
    try:
        while time.time() < deadline:
            key = b"w%d:%d" % (tid, i)
            val = b"%d" % i
            sock.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
            while b"\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            if line != b"+OK":
                return
            with lock:
                os.write(fd, b"%s %.6f\n" % (key, time.time()))
            i += 1
    except OSError:
        return
    finally:
        sock.close()


def main() -> None:
    port, ackfile, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    fd = os.open(ackfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lock = threading.Lock()
    deadline = time.time() + seconds
    ts = [threading.Thread(target=writer, args=(port, t, fd, lock, deadline)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.close(fd)


if __name__ == "__main__":
    main()
