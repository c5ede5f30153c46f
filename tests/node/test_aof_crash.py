"""kill -9 while a separate process writes: every write the node acknowledged must be there after a restart.

With `appendfsync always` the write and its fsync happen before the reply, so nothing acknowledged can be lost.
With `everysec` the write also happens before the reply, except when it is postponed behind a background fsync
that is still running (Redis's behaviour, for up to 2 s): the test counts what was lost and checks that only
writes acknowledged in the last ~2 s before the kill can be among them. (kill -9 kills the process, not the
machine: data written to the kernel survives either way; fsync matters for power loss, which a test cannot do.)

The same under a BGREWRITEAOF: the node is killed while its rewrite child is half-way through the new base, with
the child killed too or left to finish as an orphan; the previous manifest, base and incr files must load, with
every acknowledged write, whatever temp file the child left behind (see the section below).
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

from tests.conftest import start_shoal, wait_for
from tests.node.aof_util import aof_dir, manifest_files, manifest_lines, wait_rewrite_done

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aof_writer.py")


def _crash_run(policy: str, seconds_before_kill: float = 1.5) -> tuple[int, int, list[float]]:
    """Returns (acknowledged, lost, ages in seconds before the kill of the lost ones)."""
    wd = tempfile.mkdtemp(prefix="shoal-aof-crash-")
    args = ("--appendonly", "yes", "--appendfsync", policy, "--auto-aof-rewrite-percentage", "0")
    srv = start_shoal(*args, workdir=wd)
    ackfile = os.path.join(wd, "acks.txt")
    writer = subprocess.Popen([sys.executable, WRITER, str(srv.port), ackfile, "20", "4"])
    try:
        time.sleep(seconds_before_kill)
        killed_at = time.time()
        srv.proc.kill()
        srv.proc.wait(10)
        srv._log.close()
        writer.wait(15)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(5)
    acks = []
    with open(ackfile, "rb") as f:
        for line in f:
            key, t = line.split()
            acks.append((key, float(t)))
    srv = start_shoal(*args, workdir=wd)
    try:
        c = srv.client()
        lost = []
        keys = [k for k, _ in acks]
        for i in range(0, len(keys), 1000):
            values = c.mget(keys[i:i + 1000])
            for (k, t), v in zip(acks[i:i + 1000], values):
                if v != k.split(b":")[1]:
                    lost.append(killed_at - t)
    finally:
        srv.stop()
    return len(acks), len(lost), lost


def test_always_loses_no_acknowledged_write():
    acked, lost, _ = _crash_run("always")
    print(f"\nalways crash test: {acked} acknowledged writes, {lost} lost after kill -9")
    assert acked > 500, "the writer should have been acknowledged many writes before the kill"
    assert lost == 0


def test_everysec_loses_at_most_the_postponed_writes():
    acked, lost, ages = _crash_run("everysec")
    print(f"\neverysec crash test: {acked} acknowledged writes, {lost} lost after kill -9")
    assert acked > 500
    assert all(age < 2.5 for age in ages), f"a write acknowledged {max(ages):.2f}s before the kill was lost"


# ----------------------------------------------------------------------------------- kill -9 during a rewrite
#
# A rewrite opens a new INCR file (persisting a manifest that lists it) and forks a child that writes the new
# BASE into `temp-rewriteaof-<child pid>.aof` in `dir`, renamed `temp-rewriteaof-bg-<child pid>.aof` when done;
# only the parent, once the child has exited, renames it into the AOF directory and persists a manifest naming
# it. So a kill -9 at any point of the child's work must leave the previous manifest (base + the old incr + the
# new incr) valid and complete, with every acknowledged write in one of the two incr files, and the temp file of
# the child a harmless leftover.
#
# The rewrite is made slow with `rdb-key-save-delay` (microseconds per key; Shoal honours it in the command-form
# rewrite only, not in the RDB writer, hence `aof-use-rdb-preamble no`): a plain rewrite of 300k keys takes ~0.3 s,
# too short to aim a kill at.

CRASH_REWRITE_ARGS = ("--appendonly", "yes", "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0",
                      "--aof-use-rdb-preamble", "no")
FILL_KEYS = 4000  # x 1 ms per key in the rewrite child: ~4 s, killed after ~1 s


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (scans /proc: /proc/<pid>/task/<pid>/children needs CONFIG_PROC_CHILDREN)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def _gone(pid: int) -> bool:
    """True when `pid` has exited (no longer exists, or is a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X")


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _read_acks(ackfile: str) -> list[bytes]:
    with open(ackfile, "rb") as f:
        return [line.split()[0] for line in f]


def _missing(c, keys: list[bytes]) -> list[bytes]:
    out = []
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for k, v in zip(chunk, c.mget(chunk)):
            if v != k.split(b":")[1]:
                out.append(k)
    return out


def _kill_during_rewrite(kill_child: bool) -> dict:
    """Fill, rewrite once (so there is a real base), fill more (into the incr file), then under a write load
    start a slow BGREWRITEAOF and kill -9 the node while its child runs. Returns what the checks need."""
    wd = tempfile.mkdtemp(prefix="shoal-aof-crash-rw-")
    srv = start_shoal(*CRASH_REWRITE_ARGS, workdir=wd)
    ackfile = os.path.join(wd, "acks.txt")
    writer = None
    child_pid = None
    try:
        c = srv.client()
        half = FILL_KEYS // 2
        p = c.pipeline(transaction=False)
        for i in range(half):
            p.set(f"fill:{i}", f"{i}".ljust(500, "."))
        p.execute()
        c.bgrewriteaof()
        wait_rewrite_done(c, 0)  # appendonly.aof.2.base.aof now holds the first half
        for i in range(half, FILL_KEYS):
            p.set(f"fill:{i}", f"{i}".ljust(500, "."))
        p.execute()  # the second half is in appendonly.aof.2.incr.aof
        c.config_set("rdb-key-save-delay", 1000)
        writer = subprocess.Popen([sys.executable, WRITER, str(srv.port), ackfile, "20", "4"])
        time.sleep(0.3)
        c.bgrewriteaof()
        assert c.info("persistence")["aof_rewrite_in_progress"] == 1
        children = wait_for(lambda: _children(srv.proc.pid), 5, "the rewrite child to appear")
        assert len(children) == 1, children
        child_pid = children[0]
        time.sleep(1.0)  # the child is about a quarter of the way through
        info = c.info("persistence")
        assert info["aof_rewrite_in_progress"] == 1, "the rewrite finished before the kill: make it slower"
        c.close()
        manifest_before = manifest_lines(wd)
        # the base and the incr file the rewrite closed are not written any more: their bytes must survive as is
        frozen = {name: _digest(os.path.join(aof_dir(wd), name)) for name, _ in manifest_files(wd)[:2]}
        srv.proc.kill()  # kill -9
        srv.proc.wait(10)
        srv._log.close()
        killed_at = time.time()
        if kill_child:
            os.kill(child_pid, signal.SIGKILL)
        writer.wait(15)
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
            writer.wait(5)
        if srv.proc.poll() is None:
            srv.stop()
    if not kill_child:
        # the orphan goes on writing its base (nobody will ever install it) and exits on its own
        wait_for(lambda: _gone(child_pid), 15, "the orphaned rewrite child to finish")
    return {"wd": wd, "manifest": manifest_before, "frozen": frozen, "child": child_pid, "acks": _read_acks(ackfile),
            "killed_at": killed_at}


def _check_restart_after_rewrite_crash(run: dict) -> tuple[int, int]:
    wd = run["wd"]
    # the manifest the node wrote when it opened the rewrite's incr file is still the one on disk, naming the
    # previous base and both incr files, all present
    assert manifest_lines(wd) == run["manifest"]
    files = manifest_files(wd)
    assert [t for _, t in files] == ["b", "i", "i"], files
    assert files[0][0] == "appendonly.aof.2.base.aof"
    for name, _ in files:
        assert os.path.isfile(os.path.join(aof_dir(wd), name)), name
    assert {name: _digest(os.path.join(aof_dir(wd), name)) for name in run["frozen"]} == run["frozen"]
    srv = start_shoal(*CRASH_REWRITE_ARGS, workdir=wd)
    try:
        c = srv.client()
        assert c.info("persistence")["aof_last_write_status"] == "ok"
        fill = [f"fill:{i}".encode() for i in range(FILL_KEYS)]
        values = []
        for i in range(0, FILL_KEYS, 1000):
            values += c.mget(fill[i:i + 1000])
        assert values == [f"{i}".ljust(500, ".").encode() for i in range(FILL_KEYS)]
        lost = _missing(c, run["acks"])
        # the node keeps working on the same directory: a new rewrite continues the sequence and gets rid of the
        # old files; a restart after it has the same data
        before = c.info("persistence")["aof_rewrites"]
        c.config_set("rdb-key-save-delay", 0)
        c.bgrewriteaof()
        wait_rewrite_done(c, before)
        assert manifest_files(wd)[0][0] == "appendonly.aof.3.base.aof"
        dbsize = c.dbsize()
        c.close()
        srv.stop()
        srv = start_shoal(*CRASH_REWRITE_ARGS, workdir=wd)
        assert srv.client().dbsize() == dbsize
        # plus at most one write per writer thread that was in the file but whose reply the kill cut off
        assert FILL_KEYS + len(run["acks"]) <= dbsize <= FILL_KEYS + len(run["acks"]) + 4
    finally:
        srv.stop()
    return len(run["acks"]), len(lost)


def test_kill_9_of_node_and_rewrite_child_keeps_the_previous_aof():
    run = _kill_during_rewrite(kill_child=True)
    # the child was caught mid-way: its temp base is there, never renamed into the AOF directory
    leftovers = [n for n in os.listdir(run["wd"]) if n.startswith("temp-rewriteaof-")]
    assert leftovers == [f"temp-rewriteaof-{run['child']}.aof"], leftovers
    acked, lost = _check_restart_after_rewrite_crash(run)
    print(f"\nkill -9 during rewrite (child killed too): {acked} acknowledged writes, {lost} lost")
    assert acked > 300
    assert lost == 0


def test_kill_9_of_node_while_the_orphaned_rewrite_child_completes():
    run = _kill_during_rewrite(kill_child=False)
    # the orphan finished its base and renamed it to the name the parent would have looked for: a complete file
    # that no manifest names, which the restart must ignore
    leftovers = [n for n in os.listdir(run["wd"]) if n.startswith("temp-rewriteaof-")]
    assert leftovers == [f"temp-rewriteaof-bg-{run['child']}.aof"], leftovers
    acked, lost = _check_restart_after_rewrite_crash(run)
    print(f"\nkill -9 during rewrite (orphaned child completed): {acked} acknowledged writes, {lost} lost")
    assert acked > 300
    assert lost == 0
