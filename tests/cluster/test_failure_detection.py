"""Failure detection on real processes: a primary paused with SIGSTOP is flagged PFAIL by every other node, then
FAIL once a majority of primaries agree, within 2 x cluster-node-timeout + 1 s; after SIGCONT the flag clears as
the Redis Cluster specification says (a primary that still serves slots and was not failed over gets its FAIL
removed when it is reachable again and no failover happened).
"""
from __future__ import annotations

import os
import signal
import time

from tests.cluster.conftest import NODE_TIMEOUT_MS, create_cluster, start_cluster_nodes


def flags_of(observer, target_id: str) -> set[str]:
    for line in observer.client().execute_command("CLUSTER", "NODES").decode().splitlines():
        words = line.split()
        if words[0] == target_id:
            return set(words[2].split(","))
    return set()


def wait_flag(observers, target_id: str, pred, timeout: float) -> float:
    """Seconds until `pred(flags)` holds on every observer."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if all(pred(flags_of(o, target_id)) for o in observers):
            return time.time() - t0
        time.sleep(0.05)
    seen = {o.port: sorted(flags_of(o, target_id)) for o in observers}
    raise AssertionError(f"not reached within {timeout}s: {seen}")


def test_sigstop_primary_is_failed_then_cleared(capsys):
    nodes = start_cluster_nodes(5)
    try:
        create_cluster(nodes)
        victim, others = nodes[0], nodes[1:]
        vid = victim.client().execute_command("CLUSTER", "MYID").decode()
        os.kill(victim.proc.pid, signal.SIGSTOP)
        try:
            t_pfail = wait_flag(others, vid, lambda f: "fail?" in f or "fail" in f, 2 * NODE_TIMEOUT_MS / 1000 + 1)
            t_fail = wait_flag(others, vid, lambda f: "fail" in f, 2 * NODE_TIMEOUT_MS / 1000 + 1)
            for o in others:
                info = o.client().execute_command("CLUSTER", "INFO").decode()
                assert "cluster_state:fail" in info  # its slots are not served any more
        finally:
            os.kill(victim.proc.pid, signal.SIGCONT)
        t_clear = wait_flag(others, vid, lambda f: not ({"fail", "fail?"} & f), 4 * NODE_TIMEOUT_MS / 1000 + 2)
        for o in others:
            assert "cluster_state:ok" in o.client().execute_command("CLUSTER", "INFO").decode()
        with capsys.disabled():
            print(f"\nnode timeout {NODE_TIMEOUT_MS} ms: PFAIL everywhere after {t_pfail:.2f}s, FAIL everywhere "
                  f"after {t_fail:.2f}s, cleared {t_clear:.2f}s after SIGCONT")
    finally:
        for s in nodes:
            s.stop()
