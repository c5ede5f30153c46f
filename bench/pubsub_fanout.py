"""PUBLISH fan-out: delivered messages per second to many subscribers.

    .venv/bin/python bench/pubsub_fanout.py                   # redis and shoal, 100 subscribers
    .venv/bin/python bench/pubsub_fanout.py --messages 20000 --pipeline 16

`SUBSCRIBERS` raw connections subscribe to one channel; redis-benchmark publishes `messages` fixed-size messages
to it over one connection (pipelined or not), and this process reads every subscriber socket until all
deliveries arrived, counting bytes (each delivery is one fixed-size frame, so no parsing is needed). The rate is
deliveries / time from the first PUBLISH to the last byte received. bench/run.py uses `run` as the runner of its
"PUBLISH fan-out" row, where `rps` means delivered messages per second.
"""
from __future__ import annotations

import selectors
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
SUBSCRIBERS = 100
CHANNEL = b"bench-fanout"
PAYLOAD = b"m" * 16
TIMEOUT = 120.0  # seconds for one run, all deliveries included


def _frame_size() -> int:
    frame = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(CHANNEL), CHANNEL, len(PAYLOAD), PAYLOAD)
    return len(frame)


def _subscribe(port: int, n: int) -> list[socket.socket]:
    confirm = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%b\r\n:1\r\n" % (len(CHANNEL), CHANNEL)
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%b\r\n" % (len(CHANNEL), CHANNEL))
        socks.append(s)
    for s in socks:
        got = b""
        while len(got) < len(confirm):
            chunk = s.recv(len(confirm) - len(got))
            if not chunk:
                raise ConnectionError("subscriber connection closed before confirming")
            got += chunk
        if got != confirm:
            raise ValueError(f"unexpected subscribe confirmation {got!r}")
        s.setblocking(False)
    return socks


def run(port: int, pipeline: int = 1, requests: int = 100_000, clients: int = 1,
        subscribers: int = SUBSCRIBERS) -> dict:
    """One fan-out run against the server on `port`; `requests` is scaled down so a run stays short
    (requests // 20 messages, each delivered to every subscriber). Returns run.py's result shape."""
    messages = max(100, requests // 20)
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(clients), "-n", str(messages), "-P", str(pipeline),
           "-q", "PUBLISH", CHANNEL.decode(), PAYLOAD.decode()]
    result = {"cmd": cmd, "requests": messages, "clients": clients, "subscribers": subscribers}
    socks = _subscribe(port, subscribers)
    expected = messages * _frame_size()
    want_total = expected * subscribers
    received = dict.fromkeys(range(subscribers), 0)
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    buf = bytearray(1 << 20)
    total = 0
    try:
        t0 = time.perf_counter()
        publisher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + TIMEOUT
        t_last = t0
        while total < want_total and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    n = s.recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    n = 0
                if n == 0:
                    sel.unregister(s)
                    continue
                received[key.data] += n
                total += n
                t_last = time.perf_counter()
            if not sel.get_map():
                break
        out, err = publisher.communicate(timeout=TIMEOUT)
    finally:
        for s in socks:
            s.close()
        sel.close()
    elapsed = t_last - t0
    delivered = total // _frame_size()
    result["delivered"] = delivered
    result["seconds"] = round(elapsed, 3)
    if publisher.returncode != 0:
        return result | {"error": f"redis-benchmark exit {publisher.returncode}: {err.strip()[-200:]}"}
    if delivered < messages * subscribers:
        return result | {"error": f"only {delivered} of {messages * subscribers} deliveries arrived"}
    result["rps"] = delivered / elapsed if elapsed > 0 else 0.0
    result["publish_rps"] = messages / elapsed if elapsed > 0 else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse
    import shutil
    import tempfile

    from run import Server  # bench/run.py: starts redis-server / shoal-node on free loopback ports

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--pipeline", type=int, default=1)
    p.add_argument("--publishers", type=int, default=1, help="publishing connections (redis-benchmark -c)")
    p.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    p.add_argument("--only", default="redis,shoal")
    args = p.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="shoal-fanout-")
    rates = {}
    servers = []
    try:
        for name in args.only.split(","):
            srv = Server(name, workdir)
            servers.append(srv)
            if not srv.start():
                print(f"{name}: not started ({srv.note})")
                continue
            r = run(srv.port, args.pipeline, args.messages * 20, args.publishers, subscribers=args.subscribers)
            srv.stop()
            if "error" in r:
                print(f"{name:6} ERROR {r['error']}")
                continue
            rates[name] = r["rps"]
            print(f"{name:6} {r['rps']:>12,.0f} deliveries/s  ({r['publish_rps']:,.0f} PUBLISH/s, "
                  f"{r['delivered']:,} deliveries in {r['seconds']} s)")
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if "redis" in rates and "shoal" in rates:
        print(f"shoal/redis {rates['shoal'] / rates['redis']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
