"""Cluster mode against Redis Cluster, in one run:

    .venv/bin/python bench/cluster.py                    # all three parts
    .venv/bin/python bench/cluster.py --parts routing    # one part: cluster, routing, gossip
    .venv/bin/python bench/cluster.py --requests 50000

1. `cluster`: three Shoal primaries and three redis-server primaries, each trio made into a cluster by
   `redis-cli --cluster create`; `redis-benchmark --cluster -t set,get -c 50` at -P 1 and -P 16 against each.
2. `routing`: what cluster mode costs a single node: one node with `cluster-enabled yes` owning all 16384 slots
   against the same node standalone (redis-benchmark -t set,get -c 50, -P 1 and -P 16). Shoal and Redis both.
3. `gossip`: six idle nodes of each kind in one cluster for `--gossip-seconds`: CPU each process used (from
   /proc/<pid>/stat), bus messages per second (CLUSTER INFO's cluster_stats_messages_sent) and bytes sent per
   second on the process's TCP connections (`ss -tinp`; in an idle cluster those are the bus links).

Servers run on free 127.0.0.1 ports in temporary directories and are always stopped. Numbers, not pass/fail: the
ratios Shoal/Redis of one run are what to compare.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import HOST, answers_ping, find_shoal, free_port, ratio  # noqa: E402

TIMEOUT = 300


class Node:
    """One cluster-enabled (or not) server process."""

    def __init__(self, kind: str, cluster: bool = True) -> None:
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bench-cluster-{kind}-")
        self.port = free_port()
        self.cport = free_port()
        args = ["--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        if cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port",
                     str(self.cport)]
        exe = find_shoal() if kind == "shoal" else shutil.which("redis-server")
        if exe is None:
            raise SystemExit(f"{kind}: executable not found")
        self.proc = subprocess.Popen([exe, *args], cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while not answers_ping(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise SystemExit(f"{kind} on port {self.port} did not start")
            time.sleep(0.05)

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port), *args], capture_output=True,
                             text=True, timeout=60)
        return out.stdout

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_cluster(nodes: list[Node]) -> None:
    out = subprocess.run(["redis-cli", "--cluster", "create", *[f"{HOST}:{n.port}" for n in nodes],
                          "--cluster-yes"], capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        raise SystemExit(f"cluster create failed:\n{out.stdout[-2000:]}{out.stderr}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes):
            return
        time.sleep(0.2)
    raise SystemExit("cluster did not reach cluster_state:ok")


def benchmark(port: int, tests: str, pipeline: int, requests: int, cluster: bool) -> dict[str, float]:
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-t", tests, "-c", "50", "-n", str(requests),
           "-P", str(pipeline), "-q", "--csv"]
    if cluster:
        cmd.insert(1, "--cluster")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    rps = {}
    for line in out.stdout.splitlines():
        m = re.match(r'"(\w+)","([\d.]+)"', line)
        if m:
            rps[m.group(1)] = float(m.group(2))
    return rps


def print_rows(title: str, rows: list[tuple[str, float | None, float | None]]) -> None:
    print(f"\n{title}")
    print(f"{'':34} {'redis':>12} {'shoal':>12} {'shoal/redis':>12}")
    for name, r, s in rows:
        q = ratio(s, r)
        print(f"{name:34} {r or 0:>12,.0f} {s or 0:>12,.0f} {q if q is not None else float('nan'):>12.2f}")


def part_cluster(requests: int) -> None:
    results = {}
    for kind in ("redis", "shoal"):
        nodes = [Node(kind) for _ in range(3)]
        try:
            make_cluster(nodes)
            for p in (1, 16):
                results[kind, p] = benchmark(nodes[0].port, "set,get", p, requests * (4 if p > 1 else 1), True)
        finally:
            for n in nodes:
                n.stop()
    rows = [(f"{t} -P {p} (3 primaries)", results["redis", p].get(t), results["shoal", p].get(t))
            for p in (1, 16) for t in ("SET", "GET")]
    print_rows("redis-benchmark --cluster, ops/s", rows)


def part_routing(requests: int) -> None:
    results = {}
    for kind in ("redis", "shoal"):
        for cluster in (False, True):
            n = Node(kind, cluster=cluster)
            try:
                if cluster:
                    n.cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
                    deadline = time.monotonic() + 10
                    while "cluster_state:ok" not in n.cli("CLUSTER", "INFO") and time.monotonic() < deadline:
                        time.sleep(0.05)
                for p in (1, 16):
                    results[kind, cluster, p] = benchmark(n.port, "set,get", p, requests * (4 if p > 1 else 1),
                                                          False)
            finally:
                n.stop()
    print("\nrouting cost on one node: ops/s with cluster-enabled / ops/s standalone")
    print(f"{'':20} {'redis':>8} {'shoal':>8}")
    for p in (1, 16):
        for t in ("SET", "GET"):
            cells = [ratio(results[k, True, p].get(t), results[k, False, p].get(t)) for k in ("redis", "shoal")]
            print(f"{t + ' -P ' + str(p):20} " + " ".join(f"{c if c else float('nan'):>8.2f}" for c in cells))


def part_gossip(seconds: float) -> None:
    usage = {}
    for kind in ("redis", "shoal"):
        nodes = [Node(kind) for _ in range(6)]
        try:
            make_cluster(nodes[:3])
            for n in nodes[3:]:
                subprocess.run(["redis-cli", "--cluster", "add-node", f"{HOST}:{n.port}", f"{HOST}:{nodes[0].port}"],
                               capture_output=True, timeout=TIMEOUT)
            time.sleep(2)
            cpu0 = [n.cpu_seconds() for n in nodes]
            wrote0 = _tcp_bytes_sent()
            stats0 = [_bus_stats(n) for n in nodes]
            time.sleep(seconds)
            cpu = [(n.cpu_seconds() - c) / seconds for n, c in zip(nodes, cpu0)]
            wrote1 = _tcp_bytes_sent()
            wrote = [(wrote1.get(n.proc.pid, 0) - wrote0.get(n.proc.pid, 0)) / seconds for n in nodes]
            stats = [{k: (v - s0.get(k, 0)) / seconds for k, v in _bus_stats(n).items()}
                     for n, s0 in zip(nodes, stats0)]
            usage[kind] = (cpu, stats, wrote)
        finally:
            for n in nodes:
                n.stop()
    print(f"\nidle 6-node cluster over {seconds:.0f}s, per node (mean)")
    for kind, (cpu, stats, wrote) in usage.items():
        sent = sum(s.get("cluster_stats_messages_sent", 0) for s in stats) / len(stats)
        print(f"{kind:6} CPU {100 * sum(cpu) / len(cpu):5.2f}% of a core, bus messages sent {sent:6.1f}/s, "
              f"bus bytes sent {sum(wrote) / len(wrote):8.0f}/s")


def _tcp_bytes_sent() -> dict[int, int]:
    """pid → bytes sent on its established TCP connections (`ss -tinp`: the kernel's per-socket counters, so
    both servers are measured the same way, whatever system call they write with). In an idle cluster the
    established connections are the bus links."""
    out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True, text=True, timeout=30)
    sent: dict[int, int] = {}
    pid = None
    for line in out.stdout.splitlines():
        m = re.search(r"pid=(\d+)", line)
        if m:
            pid = int(m.group(1))
            continue
        m = re.search(r"bytes_sent:(\d+)", line)
        if m and pid is not None:
            sent[pid] = sent.get(pid, 0) + int(m.group(1))
            pid = None
    return sent


def _bus_stats(n: Node) -> dict[str, float]:
    out = {}
    for line in n.cli("CLUSTER", "INFO").splitlines():
        k, _, v = line.strip().partition(":")
        if k in ("cluster_stats_messages_sent", "cluster_stats_messages_received"):
            out[k] = float(v)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="cluster,routing,gossip")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--gossip-seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    parts = args.parts.split(",")
    if "cluster" in parts:
        part_cluster(args.requests)
    if "routing" in parts:
        part_routing(args.requests)
    if "gossip" in parts:
        part_gossip(args.gossip_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
