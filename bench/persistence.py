"""Snapshot costs of Shoal next to Debian's redis-server: SAVE, load on start, and the client pause of BGSAVE.

    .venv/bin/python bench/persistence.py                  # 1,000,000 keys (DEBUG POPULATE)
    .venv/bin/python bench/persistence.py --keys 100000    # quicker
    .venv/bin/python bench/persistence.py --rounds 5       # more BGSAVE rounds (default 3), median shown

Both servers are started here, each on a free 127.0.0.1 port in its own temporary directory with `--save ""`
and `--enable-debug-command yes`, and both are filled with `DEBUG POPULATE N` (keys key:0 .. key:N-1, values
value:0 ...). Then, one server after the other for each step:

1. SAVE: wall-clock time of the SAVE command as the client sees it, and the size of dump.rdb.
2. Load on start: the server is stopped and started again on that file. Reported: the seconds of the server's
   own "DB loaded from disk: X seconds" log line, and the wall time from starting the process until PING is
   answered with PONG (a refused connection, a -LOADING reply, or no reply within 2 s is retried after 10 ms;
   a server that listens but does not answer while loading answers the waiting PING when done). The same wall time
   for the first start (empty directory) is shown too: it is the part of the load wall time that is process
   start-up, not loading.
3. BGSAVE client pause: a separate process sends GET and SET (alternating, random existing keys, the values
   DEBUG POPULATE wrote) one at a time over a raw socket and times each round trip with time.perf_counter.
   About 1.2 s after it starts, BGSAVE is sent from another connection, which then polls INFO persistence every
   10 ms until rdb_bgsave_in_progress is 0 again. Reported for the commands in flight during the save (from
   the BGSAVE to the poll that saw it finish): the largest and the 99th-percentile latency, the number of
   commands completed, and the same p99/max for the second before the BGSAVE as a baseline; from INFO:
   latest_fork_usec and rdb_last_cow_size; and, from /proc, the server's minor page faults over the save and
   the time its main thread waited for a CPU (the forked child competes with it for the cores).
   The largest pauses and when they happened (seconds after BGSAVE) are printed per round, so a pause can be
   told apart from the fork itself (which is at +0). `--rounds` BGSAVEs per server (default 3, the servers
   taking turns); the table shows the median of each figure, and the worst pause of all rounds.

A table with Shoal, Redis and Shoal/Redis per row follows. Every wait has a timeout; the servers are stopped and
their directories removed at the end, also on error or Ctrl-C. Numbers only, no pass/fail; on a 2-core machine
the latency rows in particular vary from run to run. See bench/README.md.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from run import HOST, Server, ratio  # noqa: E402  (server command lines, ports, stop(), ratios: bench/run.py)

KINDS = ("shoal", "redis")
START_TIMEOUT = 300.0  # seconds until PONG, also when loading a large file
COMMAND_TIMEOUT = 600.0  # seconds for one SAVE / DEBUG POPULATE / INFO
BGSAVE_TIMEOUT = 600.0  # seconds for a BGSAVE to finish
WARMUP_S = 0.2  # latency client connects and warms up, then runs BASELINE_S more before BGSAVE ...
BASELINE_S = 1.0
TAIL_S = 0.3  # ... and this long after it finished
POLL_S = 0.01
LOADED_RE = re.compile(rb"DB loaded from disk: ([0-9.]+) seconds")


# --------------------------------------------------------------------------- servers


class BenchServer(Server):
    """bench/run.py's Server (command line, stop()) with its own directory, DEBUG enabled, and a timed start
    that waits past -LOADING."""

    stop_timeout = 60.0  # a 1M-key Python process can take a while to exit

    def __init__(self, kind: str, root: str):
        workdir = tempfile.mkdtemp(prefix=f"{kind}-", dir=root)
        super().__init__(kind, workdir)
        if self.cmd is None:
            sys.exit(f"{kind}: executable not found (redis-server package / .venv/bin/shoal-node)")
        if kind == "shoal":
            self.cmd += ["--dir", workdir]  # run.py's shoal command has none: cwd is the default, made explicit
        self.cmd += ["--appendonly", "no", "--enable-debug-command", "yes"]
        self.starts = 0
        self.loading_replies = 0

    @property
    def dump(self) -> Path:
        return Path(self.workdir) / "dump.rdb"

    def start_timed(self) -> float:
        """Start the process; seconds until it answers PING with PONG."""
        self.starts += 1
        self.log = Path(self.workdir) / f"{self.name}-{self.starts}.log"
        self.loading_replies = 0
        with open(self.log, "wb") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}")
            reply = ping(self.port)
            if reply is not None and reply.startswith(b"+PONG"):
                return time.perf_counter() - t0
            if reply is not None and reply.startswith(b"-LOADING"):
                self.loading_replies += 1
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.name}: no PONG within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def loaded_seconds(self) -> float | None:
        m = LOADED_RE.search(self.log.read_bytes())
        return float(m.group(1)) if m else None

    def log_tail(self, n: int = 8) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()[-n:]
        except OSError:
            return ""
        return "".join(f"    | {line}\n" for line in lines)

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=COMMAND_TIMEOUT)


def ping(port: int) -> bytes | None:
    """The first reply line to PING, or None if nobody answered (refused, closed, or nothing within 2 s)."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(128) or None
    except OSError:
        return None


# --------------------------------------------------------------------------- the latency client (own process)


def _reply_complete(buf: bytes) -> bool:
    end = buf.find(b"\r\n")
    if end < 0:
        return False
    if buf[:1] != b"$":
        return True  # +OK, -ERR, :n: one line
    n = int(buf[1:end])
    return n < 0 or len(buf) >= end + 2 + n + 2


def latency_client(port: int, keys: int, stop, out, max_seconds: float) -> None:
    """GET/SET one at a time until `stop` is set (or max_seconds passed); sends back the start time (perf_counter,
    CLOCK_MONOTONIC: comparable across processes) and round-trip latency of each command, or an error text."""
    starts, lats = array("d"), array("d")
    rnd = random.Random(1)
    try:
        s = socket.create_connection((HOST, port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.perf_counter() + max_seconds
        i = 0
        while True:
            if i % 64 == 0 and (stop.is_set() or time.perf_counter() > deadline):
                break
            k = b"key:%d" % rnd.randrange(keys)
            if i & 1:
                v = b"value:" + k[4:]
                req = b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(k), k, len(v), v)
            else:
                req = b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(k), k)
            t0 = time.perf_counter()
            s.sendall(req)
            buf = s.recv(4096)
            while not _reply_complete(buf):
                more = s.recv(4096)
                if not more:
                    raise ConnectionError("server closed the connection")
                buf += more
            t1 = time.perf_counter()
            if buf[:1] == b"-":
                raise RuntimeError(buf.decode(errors="replace").strip())
            starts.append(t0)
            lats.append(t1 - t0)
            i += 1
        s.close()
        out.send(("ok", starts.tobytes(), lats.tobytes()))
    except Exception as e:  # noqa: BLE001  (reported to the parent, which fails the measurement)
        out.send(("error", f"{e.__class__.__name__}: {e}", b""))


# --------------------------------------------------------------------------- measurements


def info(r: redis.Redis, section: str) -> dict:
    return r.info(section)


def measure_save(server: BenchServer) -> dict:
    r = server.client()
    t0 = time.perf_counter()
    r.execute_command("SAVE")
    elapsed = time.perf_counter() - t0
    r.close()
    return {"save_s": elapsed, "file_mb": server.dump.stat().st_size / 1e6}


def measure_load(server: BenchServer, keys: int) -> dict:
    server.stop()
    wall = server.start_timed()
    r = server.client()
    n = r.dbsize()
    r.close()
    if n != keys:
        raise RuntimeError(f"{server.name} loaded {n} keys, expected {keys}")
    return {"load_log_s": server.loaded_seconds(), "load_wall_s": wall, "loading_replies": server.loading_replies}


def minor_faults(pid: int) -> int:
    """The process's minor page faults so far (/proc/PID/stat field 10): after a fork, each first write to a page
    still shared with the child is one, and copies that page."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[7])


def run_delay(pid: int) -> int:
    """Nanoseconds the process's main thread has spent runnable but waiting for a CPU (/proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat", "rb") as f:
        return int(f.read().split()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure_bgsave(server: BenchServer, keys: int) -> dict:
    r = server.client()
    rss = info(r, "memory")["used_memory_rss"]
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=latency_client, args=(server.port, keys, stop, sender, BGSAVE_TIMEOUT + 60))
    proc.start()
    sender.close()
    try:
        time.sleep(WARMUP_S)
        wait0, t_wait0 = run_delay(server.proc.pid), time.perf_counter()
        time.sleep(BASELINE_S)
        if not proc.is_alive():
            raise RuntimeError(f"latency client ended early: {receiver.recv() if receiver.poll(1) else '?'}")
        faults0 = minor_faults(server.proc.pid)
        wait1 = run_delay(server.proc.pid)
        t_bgsave = time.perf_counter()
        r.execute_command("BGSAVE")
        t_reply = time.perf_counter()
        deadline = t_bgsave + BGSAVE_TIMEOUT
        while True:
            p = info(r, "persistence")
            if not p["rdb_bgsave_in_progress"]:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{server.name}: BGSAVE still running after {BGSAVE_TIMEOUT:.0f} s")
            time.sleep(POLL_S)
        t_done = time.perf_counter()
        faults = minor_faults(server.proc.pid) - faults0
        wait2 = run_delay(server.proc.pid)
        time.sleep(TAIL_S)
    finally:
        stop.set()
        got = receiver.recv() if receiver.poll(60) else ("error", "latency client sent nothing within 60 s", b"")
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    if got[0] != "ok":
        raise RuntimeError(f"{server.name}: latency client: {got[1]}")
    if p["rdb_last_bgsave_status"] != "ok":
        raise RuntimeError(f"{server.name}: BGSAVE failed:\n{server.log_tail()}")
    stats = info(r, "stats")
    r.close()
    starts, lats = array("d"), array("d")
    starts.frombytes(got[1])
    lats.frombytes(got[2])
    # in flight during the save: the round trip overlaps [BGSAVE sent, finish seen]
    during = [(s - t_bgsave, lat) for s, lat in zip(starts, lats) if s < t_done and s + lat > t_bgsave]
    before = sorted(lat for s, lat in zip(starts, lats) if t_bgsave - BASELINE_S <= s and s + lat <= t_bgsave)
    completed = sum(1 for s, lat in zip(starts, lats) if t_bgsave <= s + lat <= t_done)
    during_lats = sorted(lat for _, lat in during)
    return {
        "bgsave_reply_ms": (t_reply - t_bgsave) * 1e3,
        "bgsave_s": t_done - t_bgsave,
        "rss_mb": rss / 1e6,
        "max_ms": during_lats[-1] * 1e3 if during_lats else float("nan"),
        "p99_ms": percentile(during_lats, 0.99) * 1e3,
        "served": completed,
        "base_p99_ms": percentile(before, 0.99) * 1e3,
        "base_max_ms": (before[-1] if before else float("nan")) * 1e3,
        "rate": completed / (t_done - t_bgsave),
        "base_rate": len(before) / BASELINE_S,
        "faults": faults,
        "runq_ms": (wait2 - wait1) / 1e6,
        "base_runq_ms": (wait1 - wait0) / 1e6 / (t_bgsave - t_wait0),
        "fork_usec": stats["latest_fork_usec"],
        "cow_mb": p["rdb_last_cow_size"] / 1e6,
        "top": sorted(during, key=lambda x: -x[1])[:5],
    }


# --------------------------------------------------------------------------- report

ROWS = [  # key, label, format
    ("start_empty_s", "start to PONG, empty dir (s)", "{:.3f}"),
    ("populate_s", "DEBUG POPULATE (s)", "{:.2f}"),
    ("save_s", "SAVE wall time (s)", "{:.3f}"),
    ("file_mb", "dump.rdb size (MB)", "{:.2f}"),
    ("load_log_s", "load: 'DB loaded from disk' (s)", "{:.3f}"),
    ("load_wall_s", "load: start to PONG (s)", "{:.3f}"),
    ("rss_mb", "used_memory_rss before BGSAVE (MB)", "{:.0f}"),
    ("bgsave_reply_ms", "BGSAVE command round trip (ms)", "{:.2f}"),
    ("bgsave_s", "BGSAVE until finish seen (s)", "{:.3f}"),
    ("max_ms", "BGSAVE: max GET/SET latency (ms)", "{:.2f}"),
    ("worst_ms", "BGSAVE: max latency, worst round (ms)", "{:.2f}"),
    ("p99_ms", "BGSAVE: p99 GET/SET latency (ms)", "{:.3f}"),
    ("served", "BGSAVE: commands served during save", "{:d}"),
    ("rate", "BGSAVE: commands/s during save", "{:.0f}"),
    ("faults", "BGSAVE: server's minor page faults", "{:d}"),
    ("runq_ms", "BGSAVE: server waiting for a CPU (ms)", "{:.1f}"),
    ("base_max_ms", "before BGSAVE: max latency (ms)", "{:.2f}"),
    ("base_p99_ms", "before BGSAVE: p99 latency (ms)", "{:.3f}"),
    ("base_rate", "before BGSAVE: commands/s", "{:.0f}"),
    ("base_runq_ms", "before BGSAVE: waiting for a CPU (ms/s)", "{:.1f}"),
    ("fork_usec", "latest_fork_usec", "{:d}"),
    ("cow_mb", "rdb_last_cow_size (MB)", "{:.2f}"),
]


def print_table(res: dict[str, dict]) -> None:
    headers = ["", "shoal", "redis", "shoal/redis"]
    rows = []
    for key, label, fmt in ROWS:
        a, b = res["shoal"].get(key), res["redis"].get(key)
        show = lambda v: "-" if v is None else fmt.format(v)  # noqa: E731
        q = ratio(a, b)
        rows.append([label, show(a), show(b), "-" if q is None else f"{q:.2f}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1_000_000, help="DEBUG POPULATE this many keys (default 1000000)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="BGSAVE measurements per server; the table shows the median (default 3)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that finally stops the servers

    root = tempfile.mkdtemp(prefix="shoal-bench-persistence-")
    servers: dict[str, BenchServer] = {}
    res: dict[str, dict] = {k: {} for k in KINDS}
    try:
        for kind in KINDS:
            servers[kind] = s = BenchServer(kind, root)
            res[kind]["start_empty_s"] = s.start_timed()
            print(f"started {kind:5} on {HOST}:{s.port} in {res[kind]['start_empty_s']:.3f} s", flush=True)
        for kind, s in servers.items():
            r = s.client()
            t0 = time.perf_counter()
            r.execute_command("DEBUG", "POPULATE", args.keys)
            res[kind]["populate_s"] = time.perf_counter() - t0
            if r.dbsize() != args.keys:
                raise RuntimeError(f"{kind}: DBSIZE {r.dbsize()} after DEBUG POPULATE {args.keys}")
            r.close()
            print(f"  {kind:5} DEBUG POPULATE {args.keys}: {res[kind]['populate_s']:.2f} s", flush=True)
        for kind, s in servers.items():
            res[kind] |= measure_save(s)
            print(f"  {kind:5} SAVE {res[kind]['save_s']:.3f} s, {res[kind]['file_mb']:.2f} MB", flush=True)
        for kind, s in servers.items():
            res[kind] |= measure_load(s, args.keys)
            x = res[kind]
            print(f"  {kind:5} restart: log {x['load_log_s']} s, PONG after {x['load_wall_s']:.3f} s "
                  f"({x['loading_replies']} -LOADING replies seen)", flush=True)
        rounds: dict[str, list[dict]] = {k: [] for k in KINDS}
        for i in range(args.rounds):  # servers alternate, so slow drift of the machine hits both alike
            for kind, s in servers.items():
                x = measure_bgsave(s, args.keys)
                rounds[kind].append(x)
                top = ", ".join(f"{lat * 1e3:.1f} ms at {at:+.3f} s" for at, lat in x["top"])
                print(f"  {kind:5} BGSAVE {i + 1}/{args.rounds}: reply after {x['bgsave_reply_ms']:.1f} ms, fork "
                      f"{x['fork_usec'] / 1e3:.1f} ms, done after {x['bgsave_s']:.3f} s; largest pauses: {top}",
                      flush=True)
        for kind in KINDS:  # the median round of each figure; and the worst pause of all rounds
            for key in rounds[kind][0]:
                if key != "top":
                    res[kind][key] = statistics.median_low([x[key] for x in rounds[kind]])
            res[kind]["worst_ms"] = max(x["max_ms"] for x in rounds[kind])
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{args.keys:,} keys (DEBUG POPULATE), measured one server at a time (the other idle); "
          f"{os.cpu_count()} CPUs")
    print_table(res)
    print(f"BGSAVE rows and the 'before BGSAVE' rows: median of {args.rounds} rounds (each figure on its own); one "
          "client, GET/SET alternating, one command at a time; 'during' = round trips overlapping BGSAVE sent .. "
          "finish seen.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
