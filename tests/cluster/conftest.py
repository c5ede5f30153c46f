"""Local clusters of real shoal-node processes on 127.0.0.1 (and, for comparison, of Debian's redis-server).

`start_cluster_nodes(n)` starts n cluster-enabled nodes, each in its own directory with its own nodes.conf, on
free client ports with free bus ports; `create_cluster(nodes)` runs Redis's own admin tool
(`redis-cli --cluster create`) over them and waits until every node reports `cluster_state:ok`. Fixtures stop
the processes by PID at the end of the test.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from tests.conftest import ServerProcess, free_port, shoal_argv

NODE_TIMEOUT_MS = 2000  # short, so failure-detection tests run in seconds


def _cluster_args(cport: int, extra) -> list[str]:
    return ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(cport),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS), *extra]


def start_cluster_node(*extra: str, workdir: str | None = None, port: int | None = None,
                       cport: int | None = None, kind: str = "shoal") -> ServerProcess:
    wd = workdir or tempfile.mkdtemp(prefix=f"{kind}-cluster-")
    for attempt in range(3):
        p = port or free_port()
        cp = cport or free_port()
        if kind == "shoal":
            argv = shoal_argv(p, *_cluster_args(cp, extra))
        else:
            exe = shutil.which("redis-server")
            if exe is None:
                pytest.skip("redis-server is not installed")
            argv = [exe, "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    *_cluster_args(cp, extra)]
        srv = ServerProcess(argv, p, wd, kind)
        srv.cport = cp
        try:
            return srv.start()
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == 2 or port:
                raise
    raise AssertionError("unreachable")


def start_cluster_nodes(n: int, *extra: str, kind: str = "shoal") -> list[ServerProcess]:
    nodes = []
    try:
        for _ in range(n):
            nodes.append(start_cluster_node(*extra, kind=kind))
    except BaseException:
        for s in nodes:
            s.stop()
        raise
    return nodes


def redis_cli(*args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("redis-cli")
    if exe is None:
        pytest.skip("redis-cli is not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, input=input)


def wait_cluster_ok(nodes, timeout: float = 30.0) -> None:
    """Every node says cluster_state:ok and knows every other node."""
    deadline = time.time() + timeout
    pending = list(nodes)
    while time.time() < deadline:
        still = []
        for s in pending:
            try:
                info = s.client().execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                known = int(text.split("cluster_known_nodes:")[1].split()[0])
                if "cluster_state:ok" not in text or known < len(nodes):
                    still.append(s)
            except (redis.RedisError, IndexError, ValueError):
                still.append(s)
        if not still:
            return
        pending = still
        time.sleep(0.1)
    raise AssertionError(f"cluster not ok after {timeout}s on ports {[s.port for s in pending]}")


def create_cluster(nodes, replicas: int = 0) -> subprocess.CompletedProcess:
    out = redis_cli("--cluster", "create", *[f"127.0.0.1:{s.port}" for s in nodes],
                    "--cluster-replicas", str(replicas), "--cluster-yes")
    assert out.returncode == 0, out.stdout + out.stderr
    wait_cluster_ok(nodes)
    return out


@pytest.fixture
def cluster3():
    """Three primaries made by `redis-cli --cluster create`."""
    nodes = start_cluster_nodes(3)
    try:
        create_cluster(nodes)
        yield nodes
    finally:
        for s in nodes:
            s.stop()
