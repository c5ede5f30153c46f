"""How well does Shoal's approximated eviction choose, next to Debian's redis-server running the same workload?

    .venv/bin/python bench/eviction_accuracy.py                      # all allkeys-* policies and volatile-ttl
    .venv/bin/python bench/eviction_accuracy.py --policies allkeys-lru --fit 10000

Each server gets a maxmemory that holds about `--fit` keys of this workload: its own budget is calibrated first
(the workload run unpaced, the budget searched until about `fit` keys stay; Shoal's keys cost more than Redis's),
so both keep the same number of keys and the comparison is about which keys they keep, not how many. Then, in
paced rounds (the same wall time on both: the LRU clock ticks in seconds), the workload writes 3 x fit new keys
in all and, between writes, reads keys with a skew: 80% of the reads go to a hot set (the first fit/10 keys
written), 20% to any key written so far. Reported per server: keys evicted, the hit rate of all reads, the hit
rate of the hot set during the last third of the run, and the part of the hot set still present at the end.
Not a pass/fail test; the ratios Shoal/Redis are the point.

Both servers are started here on free 127.0.0.1 ports and stopped at the end. Talks to them over sockets only.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
POLICIES = ("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-ttl")
VALUE_SIZE = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(kind: str, workdir: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "redis":
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server (Debian's redis-server package) is not installed")
        argv = [exe, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--daemonize", "no"]
    else:
        node = REPO_ROOT / ".venv" / "bin" / "shoal-node"
        argv = ([str(node)] if node.exists() else [sys.executable, "-m", "shoal.cluster.main"]) + \
            ["--port", str(port), "--bind", HOST, "--save", ""]
    log = open(os.path.join(workdir, f"{kind}.log"), "ab")
    proc = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            if redis.Redis(host=HOST, port=port, socket_timeout=2).ping():
                return proc, port
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{kind} did not start; see {workdir}/{kind}.log")


def key(i: int) -> bytes:
    return b"key:%08d" % i


def per_key_cost(r: redis.Redis, volatile: bool) -> float:
    """used_memory per key of this workload, measured on 20000 keys."""
    r.flushall()
    before = r.info("memory")["used_memory"]
    p = r.pipeline(transaction=False)
    for i in range(20000):
        p.set(key(i), b"v" * VALUE_SIZE, ex=100000 if volatile else None)
    p.execute()
    cost = (r.info("memory")["used_memory"] - before) / 20000
    r.flushall()
    return cost


def calibrate(r: redis.Redis, budget: float, fit: int, rounds: int, seed: int, volatile: bool) -> tuple[int, int]:
    """The memory budget (above the empty server's used_memory) with which the server keeps about `fit` keys at
    the end of the workload (run unpaced), and the keys it kept. Searched, not computed: a Python dict under
    churn is resized to 3 x its live keys, rounded up to a power of two, so the tables cost jumps by a factor of
    two at some budget and the number of keys kept jumps with it (values in between may not exist); the search
    takes the smallest budget found that keeps at least 97% of `fit`, else the closest."""
    lo = hi = None
    best = None
    for _ in range(8):
        r.flushall()
        r.config_set("maxmemory", 0)
        base = r.info("memory")["used_memory"]
        r.config_set("maxmemory", int(base + budget))
        run_workload(r, fit, rounds, 0.0, seed, volatile)
        time.sleep(0.3)  # let a cron tick finish the evictions
        kept = r.dbsize()
        r.config_set("maxmemory", 0)
        r.flushall()
        score = (kept < 0.97 * fit, abs(kept - fit))
        if best is None or score < best[0]:
            best = (score, int(budget), kept)
        if abs(kept - fit) <= 0.03 * fit:
            break
        if kept < fit:
            lo = budget
            budget = (lo + hi) / 2 if hi is not None else budget * fit / max(1, kept) * 1.05
        else:
            hi = budget
            budget = (lo + hi) / 2 if lo is not None else budget * fit / max(1, kept)
    return best[1], best[2]


def run_workload(r: redis.Redis, fit: int, rounds: int, round_s: float, seed: int, volatile: bool) -> dict:
    rnd = random.Random(seed)
    total = 3 * fit
    per_round = total // rounds
    hot_n = max(1, fit // 10)
    reads_per_round = per_round
    written = 0
    hits = reads = 0
    late_hot_hits = late_hot_reads = 0
    for rnd_i in range(rounds):
        t0 = time.monotonic()
        p = r.pipeline(transaction=False)
        for i in range(written, written + per_round):
            # volatile keys get TTLs in write order plus noise, so volatile-ttl has something to rank
            p.set(key(i), b"v" * VALUE_SIZE, ex=(100000 + i + rnd.randrange(fit)) if volatile else None)
        p.execute()
        written += per_round
        hot_known = min(hot_n, written)
        picks = [rnd.randrange(hot_known) if rnd.random() < 0.8 else rnd.randrange(written)
                 for _ in range(reads_per_round)]
        got = r.mget([key(i) for i in picks])
        late = rnd_i >= rounds * 2 // 3
        for i, v in zip(picks, got):
            reads += 1
            hits += v is not None
            if late and i < hot_n:
                late_hot_reads += 1
                late_hot_hits += v is not None
        spare = round_s - (time.monotonic() - t0)
        if spare > 0:
            time.sleep(spare)
    present = r.mget([key(i) for i in range(hot_n)])
    info = r.info()
    return {
        "evicted": info["evicted_keys"],
        "kept": r.dbsize(),
        "hit_rate": hits / reads,
        "late_hot_hit_rate": late_hot_hits / max(1, late_hot_reads),
        "hot_present": sum(v is not None for v in present) / hot_n,
        "used_over_max": info["used_memory"] - info["maxmemory"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--fit", type=int, default=20000, help="keys each server's maxmemory holds (default 20000)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--round-seconds", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="eviction-bench-")
    servers = {kind: start(kind, workdir) for kind in ("redis", "shoal")}
    results = {}
    try:
        for policy in args.policies.split(","):
            volatile = policy.startswith("volatile-")
            for kind, (_, port) in servers.items():
                r = redis.Redis(host=HOST, port=port, socket_timeout=60)
                r.config_set("maxmemory", 0)
                cost = per_key_cost(r, volatile)
                r.config_set("maxmemory-policy", policy)
                budget, _ = calibrate(r, cost * args.fit, args.fit, args.rounds, args.seed, volatile)
                r.config_resetstat()
                r.config_set("maxmemory", r.info("memory")["used_memory"] + budget)
                results[policy, kind] = run_workload(r, args.fit, args.rounds, args.round_seconds, args.seed,
                                                     volatile)
                results[policy, kind]["per_key"] = budget / args.fit
                r.config_set("maxmemory", 0)
                r.flushall()
                r.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"workload: {3 * args.fit} keys written ({VALUE_SIZE}-byte values), maxmemory holding ~{args.fit}, "
          f"{args.rounds} rounds of {args.round_seconds}s, reads 80% to a hot set of {max(1, args.fit // 10)} keys")
    head = f"{'policy':15} {'server':6} {'budget/key':>6} {'evicted':>8} {'kept':>6} {'hit rate':>8} " \
           f"{'hot hit (late)':>14} {'hot kept':>8} {'used-max':>9}"
    print(head)
    print("-" * len(head))
    for policy in args.policies.split(","):
        for kind in ("redis", "shoal"):
            x = results[policy, kind]
            print(f"{policy:15} {kind:6} {x['per_key']:6.0f} {x['evicted']:8d} {x['kept']:6d} {x['hit_rate']:8.3f} "
                  f"{x['late_hot_hit_rate']:14.3f} {x['hot_present']:8.3f} {x['used_over_max']:9d}")
        a, b = results[policy, "shoal"], results[policy, "redis"]
        print(f"{policy:15} {'ratio':6} {'':6} {a['evicted'] / max(1, b['evicted']):8.2f} "
              f"{a['kept'] / max(1, b['kept']):6.2f} {a['hit_rate'] / max(1e-9, b['hit_rate']):8.2f} "
              f"{a['late_hot_hit_rate'] / max(1e-9, b['late_hot_hit_rate']):14.2f} "
              f"{a['hot_present'] / max(1e-9, b['hot_present']):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
