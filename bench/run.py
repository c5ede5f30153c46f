"""Benchmark Shoal against Debian's redis-server and the trio+hiredis "ceiling".

    .venv/bin/python bench/run.py            # full run (what `make bench` does)
    .venv/bin/python bench/run.py --quick    # smoke run with small request counts
    .venv/bin/python bench/run.py --only redis,ceiling --tests SET,GET

Every server is started here on a free 127.0.0.1 port and stopped at the end
(also on Ctrl-C or error). Results are throughput ratios to Redis measured in
the same run on the same machine; there is no pass/fail. See bench/README.md.

To add a test group, append Spec(...) entries to SPECS below.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import pubsub_fanout  # noqa: E402  (a custom runner for one row of SPECS)

REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"  # all traffic stays on loopback
SERVERS = ("redis", "shoal", "ceiling")
BENCH_TIMEOUT = 300  # seconds per redis-benchmark run
SETUP_TIMEOUT = 60  # seconds per setup command
START_TIMEOUT = 10  # seconds for a server to answer PING


@dataclass(frozen=True)
class Spec:
    """One benchmark row.

    name:    label in the table and JSON.
    args:    what follows the common redis-benchmark options: either a builtin
             test (["-t", "set"]) or a command line (["ZRANGE", "z", "0", "99"],
             ["-r", "100000", "LPUSH", "mylist", "__rand_int__"]).
    servers: which servers run it (the ceiling only knows GET/SET).
    setup:   commands sent with redis-cli before the benchmark, e.g. to fill a
             sorted set: [["ZADD", "z", "1", "a", "2", "b"]].
    runner:  instead of redis-benchmark, fn(port, pipeline, requests, clients) -> a
             result dict like run_benchmark's ("rps", or "error"); e.g. the pub/sub
             fan-out, whose rps is delivered messages per second.
    """

    name: str
    args: tuple[str, ...]
    servers: tuple[str, ...] = SERVERS
    setup: tuple[tuple[str, ...], ...] = field(default=())
    runner: object = None


NO_CEILING = ("redis", "shoal")

SPECS: list[Spec] = [
    Spec("SET", ("-t", "set")),  # before GET, so GET finds its key
    Spec("GET", ("-t", "get")),
    Spec("INCR", ("-t", "incr"), NO_CEILING),
    Spec("LPUSH", ("-t", "lpush"), NO_CEILING),
    Spec("LPOP", ("-t", "lpop"), NO_CEILING),  # right after LPUSH: pops the list it filled (same key, same -n)
    Spec("MSET (10 keys)", ("-t", "mset"), NO_CEILING),
    # data types: random members (-r) so sets, hashes and sorted sets grow as they would in use
    Spec("SADD", ("-r", "100000", "-t", "sadd"), NO_CEILING),
    Spec("HSET", ("-r", "100000", "-t", "hset"), NO_CEILING),
    Spec("ZADD", ("-r", "100000", "-t", "zadd"), NO_CEILING),
    Spec("XADD", ("XADD", "bench:stream", "*", "f", "v"), NO_CEILING),
    Spec("ZRANGE 100", ("ZRANGE", "bench:z100", "0", "99"), NO_CEILING,
         setup=(("DEL", "bench:z100"),
                ("ZADD", "bench:z100", *[x for i in range(100) for x in (str(i), f"member:{i}")]))),
    # redis-benchmark's own lrange_100 also prints a row for the LPUSH that fills its list, which run_benchmark
    # cannot take; this is the same command (LRANGE mylist 0 99 on a 600-element list of 3-byte values)
    Spec("LRANGE_100", ("LRANGE", "bench:list600", "0", "99"), NO_CEILING,
         setup=(("DEL", "bench:list600"), ("RPUSH", "bench:list600", *["xxx"] * 600))),
    # 100 subscribers on one channel; rps = delivered messages/s (bench/pubsub_fanout.py)
    Spec("PUBLISH fan-out x100", (), NO_CEILING, runner=pubsub_fanout.run),
]


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+")
    except OSError:
        return False


def find_shoal() -> str | None:
    venv_bin = REPO_ROOT / ".venv" / "bin" / "shoal-node"
    if venv_bin.exists():
        return str(venv_bin)
    return shutil.which("shoal-node")


def server_command(name: str, port: int, workdir: str) -> list[str] | None:
    if name == "redis":
        exe = shutil.which("redis-server")
        return exe and [exe, "--port", str(port), "--bind", HOST, "--save", "",
                        "--appendonly", "no", "--daemonize", "no", "--dir", workdir]
    if name == "shoal":
        exe = find_shoal()
        return exe and [exe, "--port", str(port), "--bind", HOST, "--save", ""]
    if name == "ceiling":
        return [sys.executable, str(BENCH_DIR / "ceiling.py"), "--port", str(port), "--bind", HOST]
    raise ValueError(name)


class Server:
    stop_timeout = 5.0  # seconds to exit after SIGTERM before SIGKILL

    def __init__(self, name: str, workdir: str):
        self.name, self.workdir = name, workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.cmd = server_command(name, self.port, workdir)
        self.log = Path(workdir) / f"{name}.log"
        self.note = ""

    def start(self) -> bool:
        if not self.cmd:
            self.note = {"shoal": "shoal-node not installed (neither .venv/bin/shoal-node "
                                  "nor on PATH; try `make venv`)",
                         "redis": "redis-server not found (Debian package redis-server)",
                         }.get(self.name, f"{self.name}: executable not found")
            return False
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)  # we stop it, not Ctrl-C
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.note = f"{self.name}: exited with code {self.proc.returncode}"
                break
            if answers_ping(self.port):
                return True
            time.sleep(0.1)
        else:
            self.note = f"{self.name}: no PING reply within {START_TIMEOUT} s"
        tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
        self.note += "".join(f"\n    | {line}" for line in tail)
        self.stop()
        return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# --------------------------------------------------------------------------- benchmark


def run_setup(port: int, spec: Spec) -> None:
    for command in spec.setup:
        subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), *command], check=True,
                       stdout=subprocess.DEVNULL, timeout=SETUP_TIMEOUT)


def run_benchmark(port: int, spec: Spec, pipeline: int, requests: int, clients: int) -> dict:
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-q", "--csv", "-c", str(clients),
           "-n", str(requests), "-P", str(pipeline), *spec.args]
    result = {"cmd": cmd, "requests": requests, "clients": clients}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        return result | {"error": f"timed out after {BENCH_TIMEOUT} s"}
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode != 0 or len(rows) != 1:
        detail = (errors or proc.stdout.strip().splitlines() or ["no output"])[-1]
        return result | {"error": f"exit {proc.returncode}: {detail}"}
    row = rows[0]
    result |= {"bench_test": row.pop("test"), "rps": float(row.pop("rps"))}
    result |= {key: float(value) for key, value in row.items()}  # latency columns, ms
    if errors:
        result["stderr"] = errors[:5]
    return result


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def build_table(results: list[dict], specs: list[Spec], pipelines: list[int]) -> list[dict]:
    rps = {(r["test"], r["pipeline"], r["server"]): r.get("rps") for r in results}
    table = []
    for pipeline in pipelines:
        for spec in specs:
            get = lambda server: rps.get((spec.name, pipeline, server))  # noqa: E731
            redis, shoal, ceiling = get("redis"), get("shoal"), get("ceiling")
            table.append({"test": spec.name, "pipeline": pipeline, "redis": redis,
                          "shoal": shoal, "shoal/redis": ratio(shoal, redis),
                          "ceiling": ceiling, "shoal/ceiling": ratio(shoal, ceiling),
                          "ceiling/redis": ratio(ceiling, redis)})
    return table


def print_table(table: list[dict]) -> None:
    headers = ["test", "pipeline", "redis ops/s", "shoal ops/s", "shoal/redis",
               "ceiling ops/s", "shoal/ceiling"]
    keys = ["test", "pipeline", "redis", "shoal", "shoal/redis", "ceiling", "shoal/ceiling"]

    def fmt(key: str, value) -> str:
        if value is None:
            return "-"
        if "/" in key:
            return f"{value:.2f}"
        return f"{value:,.0f}" if isinstance(value, float) else str(value)

    rows = [[fmt(k, row[k]) for k in keys] for row in table]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark Shoal vs redis-server vs the ceiling.")
    p.add_argument("--requests", type=int, default=100_000, metavar="N",
                   help="requests per run at -P 1; pipelined runs use 4*N (default 100000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 5000 requests (20000 pipelined)")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    p.add_argument("--pipelines", default="1,16", help="comma-separated -P values (default 1,16)")
    p.add_argument("--only", default=",".join(SERVERS),
                   help="comma-separated servers to run: redis,shoal,ceiling (default all)")
    p.add_argument("--tests", default="", help="comma-separated spec names to run (default all)")
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "latest.json",
                   help="JSON output path (default bench/results/latest.json)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SERVERS)
    if unknown:
        p.error(f"unknown server(s) in --only: {', '.join(sorted(unknown))}")
    args.pipelines = [int(x) for x in args.pipelines.split(",")]
    if args.quick:
        args.requests = 5_000
    wanted = {t.strip().upper() for t in args.tests.split(",") if t.strip()}
    args.specs = [s for s in SPECS if not wanted or s.name.upper() in wanted]
    if not args.specs:
        p.error(f"no spec matches --tests; known: {', '.join(s.name for s in SPECS)}")
    return args


def requests_for(args: argparse.Namespace, pipeline: int) -> int:
    return args.requests if pipeline == 1 else args.requests * 4


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("redis-benchmark"):
        print("redis-benchmark not found (Debian package redis-tools)", file=sys.stderr)
        return 2
    # Turn SIGTERM into an exception so the finally block below stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: list[dict] = []
    servers: dict[str, Server] = {}
    notes: list[str] = []
    workdir = tempfile.mkdtemp(prefix="shoal-bench-")
    try:
        for name in args.only:
            server = Server(name, workdir)
            servers[name] = server
            print(f"starting {name:8} on {HOST}:{server.port} ...", end=" ", flush=True)
            if server.start():
                print("ok")
            else:
                print("SKIPPED")
                print(f"NOTE: {server.note}")
                notes.append(f"NOTE: {name} was skipped ({server.note.splitlines()[0]}); "
                             f"its columns show '-'.")
        running = [s for s in servers.values() if s.proc and s.proc.poll() is None]
        if not running:
            print("no server could be started", file=sys.stderr)
            return 1

        # Interleave servers per test so slow drift of the machine hits all alike.
        for pipeline in args.pipelines:
            n = requests_for(args, pipeline)
            for spec in args.specs:
                for server in running:
                    if server.name not in spec.servers:
                        continue
                    if server.proc.poll() is not None:
                        print(f"  {server.name} died (exit {server.proc.returncode})")
                        continue
                    run_setup(server.port, spec)
                    if spec.runner is not None:
                        r = spec.runner(server.port, pipeline, n, args.clients)
                    else:
                        r = run_benchmark(server.port, spec, pipeline, n, args.clients)
                    r = {"test": spec.name, "pipeline": pipeline, "server": server.name} | r
                    results.append(r)
                    shown = f"{r['rps']:>12,.0f} ops/s" if "rps" in r else f"ERROR {r['error']}"
                    print(f"  {spec.name:16} -P {pipeline:<3} {server.name:8} {shown}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    table = build_table(results, args.specs, args.pipelines)
    print()
    print_table(table)
    for note in notes:
        print(note)
    print("Ratios compare servers measured in this run on this machine; no pass/fail.")

    report = {
        "meta": {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "redis_server": version(["redis-server", "--version"]),
            "redis_benchmark": version(["redis-benchmark", "--version"]),
            "clients": args.clients, "pipelines": args.pipelines,
            "requests": {str(p): requests_for(args, p) for p in args.pipelines},
            "quick": args.quick,
        },
        "servers": {name: {"cmd": s.cmd, "started": s.proc is not None and not s.note,
                           "note": s.note or None} for name, s in servers.items()},
        "table": table,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
