"""What the append-only file costs: SET throughput of Shoal and Debian's redis-server with the AOF off, with
`appendfsync everysec` and with `appendfsync always`, measured in the same run.

    .venv/bin/python bench/aof_throughput.py                   # N = 100000 at -P 1, 4*N at -P 16
    .venv/bin/python bench/aof_throughput.py --requests 20000  # quicker
    .venv/bin/python bench/aof_throughput.py --modes everysec --pipelines 1

For each mode both servers are started, each on a free 127.0.0.1 port in its own temporary directory (`--dir`
there, `--save ""`, and for the AOF modes `--appendonly yes --appendfsync <policy>`, automatic rewrites off so
that none lands in the middle of a run); then `redis-benchmark -t set -c 50 -n N -P p` runs against one server
after the other, for each pipeline depth; then both are stopped and their directories removed. Before a server
is stopped its INFO persistence is checked (aof_enabled as asked, aof_last_write_status ok) and the size of its
AOF is shown, so a row cannot silently measure a server that was not writing the file.

Servers, ports and redis-benchmark runs come from bench/run.py (Server, run_benchmark). `always` fsyncs once per
event-loop turn in both servers, so it measures the disk under the temporary directory (shown in the header) as
much as the servers. Numbers only, no pass/fail: compare the ratios, within one run. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from run import HOST, Server, Spec, ratio, run_benchmark, version  # noqa: E402  (shared with bench/run.py)

KINDS = ("redis", "shoal")
MODES = {  # mode name -> extra server options
    "off": ("--appendonly", "no"),
    "everysec": ("--appendonly", "yes", "--appendfsync", "everysec"),
    "always": ("--appendonly", "yes", "--appendfsync", "always"),
}
SET = Spec("SET", ("-t", "set"))


class AofServer(Server):
    """bench/run.py's Server with its own directory and the AOF options of one mode."""

    def __init__(self, kind: str, mode: str, root: str):
        workdir = tempfile.mkdtemp(prefix=f"{kind}-{mode}-", dir=root)
        super().__init__(kind, workdir)
        if self.cmd is None:
            sys.exit(f"{kind}: executable not found (Debian package redis-server / .venv/bin/shoal-node)")
        if kind == "shoal":
            self.cmd += ["--dir", workdir]  # run.py's shoal command relies on its cwd; made explicit
        self.cmd += [*MODES[mode], "--auto-aof-rewrite-percentage", "0"]
        self.mode = mode

    def persistence(self) -> dict[str, str]:
        """INFO persistence over a plain socket (bench talks to servers over sockets only)."""
        with socket.create_connection((HOST, self.port), timeout=10) as s:
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n")
            buf = b""
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            header, rest = buf.split(b"\r\n", 1)
            size = int(header[1:])
            while len(rest) < size + 2:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        lines = rest[:size].decode().splitlines()
        return dict(line.split(":", 1) for line in lines if ":" in line)

    def check(self) -> str:
        """A note on what the server's AOF looked like after the runs ('' when as expected)."""
        try:
            info = self.persistence()
        except (OSError, ValueError) as e:
            return f"INFO failed: {e}"
        want = "0" if self.mode == "off" else "1"
        if info.get("aof_enabled") != want:
            return f"aof_enabled:{info.get('aof_enabled')} (expected {want})"
        if self.mode != "off" and info.get("aof_last_write_status") != "ok":
            return f"aof_last_write_status:{info.get('aof_last_write_status')}"
        return ""

    def aof_bytes(self) -> int:
        d = Path(self.workdir) / "appendonlydir"
        return sum(f.stat().st_size for f in d.iterdir()) if d.is_dir() else 0


def filesystem(path: str) -> str:
    try:
        out = subprocess.run(["df", "-T", path], capture_output=True, text=True, timeout=10).stdout.splitlines()
        dev, fstype = out[1].split()[:2]
        return f"{fstype} on {dev}"
    except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
        return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SET throughput with the AOF off / everysec / always, Shoal vs Redis.")
    p.add_argument("--requests", type=int, default=100_000, metavar="N",
                   help="requests per run at -P 1; pipelined runs use 4*N (default 100000)")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default 50)")
    p.add_argument("--pipelines", default="1,16", help="comma-separated -P values (default 1,16)")
    p.add_argument("--modes", default="everysec,always,off",
                   help="comma-separated AOF modes: everysec, always, off (default all three)")
    p.add_argument("--data-size", type=int, default=3, metavar="BYTES",
                   help="redis-benchmark -d, the SET value size (default 3, redis-benchmark's own default)")
    p.add_argument("--tmpdir", default=None, help="where the servers' directories go (default: the system's)")
    p.add_argument("--output", type=Path, default=None, help="also write the results as JSON to this path")
    args = p.parse_args(argv)
    args.pipelines = [int(x) for x in args.pipelines.split(",") if x.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown:
        p.error(f"unknown mode(s): {', '.join(sorted(unknown))}; known: {', '.join(MODES)}")
    return args


def requests_for(args: argparse.Namespace, pipeline: int) -> int:
    return args.requests if pipeline == 1 else args.requests * 4  # as bench/run.py


def print_table(rows: list[dict]) -> None:
    headers = ["aof", "pipeline", "redis ops/s", "shoal ops/s", "shoal/redis", "redis aof MB", "shoal aof MB"]

    def fmt(v, kind: str) -> str:
        if v is None:
            return "-"
        return {"ops": f"{v:,.0f}", "ratio": f"{v:.2f}", "mb": f"{v / 1e6:.1f}"}.get(kind, str(v))

    cells = [[r["mode"], str(r["pipeline"]), fmt(r["redis"], "ops"), fmt(r["shoal"], "ops"),
              fmt(r["shoal/redis"], "ratio"), fmt(r.get("redis_aof_bytes"), "mb"), fmt(r.get("shoal_aof_bytes"), "mb")]
             for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = lambda cs: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(cs, widths)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for c in cells:
        print(line(c))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("redis-benchmark"):
        print("redis-benchmark not found (Debian package redis-tools)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below stops the servers
    spec = Spec("SET", ("-d", str(args.data_size), *SET.args))
    root = tempfile.mkdtemp(prefix="shoal-aof-bench-", dir=args.tmpdir)
    print(f"servers' directories under {root} ({filesystem(root)}); -c {args.clients}, "
          f"-d {args.data_size}, N = {', '.join(f'{requests_for(args, p)} at -P {p}' for p in args.pipelines)}")
    rows: list[dict] = []
    results: list[dict] = []
    notes: list[str] = []
    servers: list[AofServer] = []
    try:
        for mode in args.modes:
            pair = {kind: AofServer(kind, mode, root) for kind in KINDS}
            servers += pair.values()
            for kind, server in pair.items():
                if not server.start():
                    sys.exit(f"{kind} ({mode}) did not start: {server.note}")
            by_pipeline: dict[int, dict] = {}
            for pipeline in args.pipelines:
                n = requests_for(args, pipeline)
                for kind, server in pair.items():  # one after the other: they share the CPUs and the disk
                    r = run_benchmark(server.port, spec, pipeline, n, args.clients)
                    r = {"mode": mode, "pipeline": pipeline, "server": kind} | r
                    results.append(r)
                    shown = f"{r['rps']:>12,.0f} ops/s" if "rps" in r else f"ERROR {r['error']}"
                    print(f"  aof {mode:8} -P {pipeline:<3} {kind:6} {shown}", flush=True)
                    by_pipeline.setdefault(pipeline, {})[kind] = r.get("rps")
            sizes = {}
            for kind, server in pair.items():
                note = server.check()
                if note:
                    notes.append(f"NOTE: {kind} with aof {mode}: {note}")
                sizes[kind] = server.aof_bytes() if mode != "off" else None
                server.stop()
                shutil.rmtree(server.workdir, ignore_errors=True)
            for pipeline, rps in by_pipeline.items():
                rows.append({"mode": mode, "pipeline": pipeline, "redis": rps.get("redis"), "shoal": rps.get("shoal"),
                             "shoal/redis": ratio(rps.get("shoal"), rps.get("redis")),
                             "redis_aof_bytes": sizes["redis"], "shoal_aof_bytes": sizes["shoal"]})
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)

    print()
    print_table(rows)
    for note in notes:
        print(note)
    print("aof MB: the AOF directory after all runs of that mode (both servers got the same commands).")
    print("Ratios compare servers measured in this run on this machine; no pass/fail.")
    if args.output:
        report = {"meta": {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
                           "filesystem": filesystem(args.tmpdir or tempfile.gettempdir()),
                           "redis_server": version(["redis-server", "--version"]),
                           "clients": args.clients, "data_size": args.data_size,
                           "requests": {str(p): requests_for(args, p) for p in args.pipelines}},
                  "table": rows, "results": results}
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
