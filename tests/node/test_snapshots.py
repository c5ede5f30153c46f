"""Snapshots through a real shoal-node process: SAVE, BGSAVE (SCHEDULE), LASTSAVE, save rules, load on start,
SIGTERM/SHUTDOWN/FLUSHALL saves, the MISCONF gate after a failed background save, kill -9 during a BGSAVE, and
dump files crossing between shoal-node and Debian's redis-server in both directions.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
import time

import pytest
import redis

from tests.conftest import ServerProcess, free_port, shoal_argv, start_redis, start_shoal, wait_for
from tests.node.helpers import Raw
from tests.node.aof_util import fingerprint, populate, raw_client

MISCONF_RDB = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
               "Commands that may modify the data set are disabled, because this instance is configured to report "
               "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
               "the Redis logs for details about the RDB error.")


def raw(srv) -> redis.Redis:
    """A client that leaves replies as they came (status texts such as "Background saving started")."""
    return raw_client(srv)


def persistence(c) -> dict:
    return c.info("persistence")


def bgsave_done(c) -> bool:
    return persistence(c)["rdb_bgsave_in_progress"] == 0


@pytest.fixture
def nodes():
    started = []
    yield started
    for s in started:
        s.stop()


def node(nodes, *args, workdir=None):
    srv = start_shoal(*args, workdir=workdir)
    nodes.append(srv)
    return srv


def workdir() -> str:
    return tempfile.mkdtemp(prefix="shoal-rdb-")


# ------------------------------------------------------------------------------------------------- the commands

def test_save_bgsave_lastsave_and_info(nodes):
    wd = workdir()
    srv = node(nodes, workdir=wd)
    c = srv.client()
    before = c.lastsave()
    c.set("a", "1")
    c.rpush("l", "x", "y")
    info = persistence(c)
    assert info["rdb_changes_since_last_save"] == 3  # RPUSH counts each element, as in Redis
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_bgsave_in_progress"] == 0
    time.sleep(1.1)  # LASTSAVE has a resolution of one second
    assert c.save() is True
    assert os.path.exists(os.path.join(wd, "dump.rdb"))
    assert c.lastsave() > before
    assert persistence(c)["rdb_changes_since_last_save"] == 0
    c.set("b", "2")
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    wait_for(lambda: bgsave_done(c), what="the BGSAVE to finish")
    info = persistence(c)
    assert info["rdb_changes_since_last_save"] == 0
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_saves"] == 2
    assert info["rdb_last_bgsave_time_sec"] >= 0
    assert c.info("stats")["total_forks"] == 1
    assert "Background saving terminated with success" in srv.log()
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        raw(srv).execute_command("BGSAVE", "NOW")
    # no temporary file is left behind
    assert sorted(f for f in os.listdir(wd) if f.endswith(".rdb")) == ["dump.rdb"]


def test_bgsave_in_progress_and_schedule(nodes):
    srv = node(nodes, "--rdb-key-save-delay", "5000")  # 5 ms per key in the child: a save that lasts ~1 s
    c = srv.client()
    for i in range(200):
        c.set(f"k{i}", i)
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    assert persistence(c)["rdb_bgsave_in_progress"] == 1
    assert persistence(c)["rdb_current_bgsave_time_sec"] >= 0
    with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
        raw(srv).execute_command("BGSAVE")
    with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
        raw(srv).execute_command("BGSAVE", "SCHEDULE")
    with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
        c.execute_command("SAVE")
    # a rewrite waits for the snapshot child, then runs
    assert raw(srv).execute_command("BGREWRITEAOF") == b"Background append only file rewriting scheduled"
    wait_for(lambda: persistence(c)["aof_rewrites"] == 1 and persistence(c)["aof_rewrite_in_progress"] == 0,
             what="the scheduled rewrite")
    assert persistence(c)["rdb_last_bgsave_status"] == "ok"


def test_bgsave_while_a_rewrite_runs(nodes):
    srv = node(nodes, "--rdb-key-save-delay", "5000")
    c = srv.client()
    for i in range(200):
        c.set(f"k{i}", i)
    assert raw(srv).execute_command("BGREWRITEAOF") == b"Background append only file rewriting started"
    with pytest.raises(redis.ResponseError, match=r"^Another child process is active \(AOF\?\): can't BGSAVE right "
                                                  r"now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever "
                                                  r"possible.$"):
        raw(srv).execute_command("BGSAVE")
    assert raw(srv).execute_command("BGSAVE", "SCHEDULE") == b"Background saving scheduled"
    wait_for(lambda: persistence(c)["rdb_saves"] == 1 and bgsave_done(c), what="the scheduled BGSAVE")
    # inside a transaction BGSAVE is always scheduled, as in Redis
    p = c.pipeline(transaction=True)
    p.execute_command("BGSAVE")
    assert p.execute() == [True]  # redis-py turns the status into True; the text is checked above
    wait_for(lambda: persistence(c)["rdb_saves"] == 2 and bgsave_done(c), what="the BGSAVE from EXEC")


def test_save_rules_start_a_bgsave(nodes):
    wd = workdir()
    srv = node(nodes, "--save", "1 3", workdir=wd)
    c = srv.client()
    assert c.config_get("save") == {"save": "1 3"}
    c.set("a", 1)
    c.set("b", 2)
    time.sleep(2.2)
    assert persistence(c)["rdb_saves"] == 0  # 2 changes: the rule asks for 3
    c.set("c", 3)
    wait_for(lambda: persistence(c)["rdb_saves"] == 1 and bgsave_done(c), what="the rule's BGSAVE")
    assert "3 changes in 1 seconds. Saving..." in srv.log()
    assert persistence(c)["rdb_changes_since_last_save"] == 0
    assert os.path.exists(os.path.join(wd, "dump.rdb"))


# ------------------------------------------------------------------------------------------------- load on start

def test_every_type_survives_shutdown_save_and_restart(nodes):
    wd = workdir()
    srv = node(nodes, "--dbfilename", "snap.rdb", workdir=wd)
    c = raw_client(srv)
    populate(c)
    expected = fingerprint(c)
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", "SAVE")
    srv.proc.wait(10)
    srv = node(nodes, "--dbfilename", "snap.rdb", workdir=wd)
    c = raw_client(srv)
    assert fingerprint(c) == expected
    assert persistence(srv.client())["rdb_last_load_keys_loaded"] == len(expected)
    assert "DB loaded from disk" in srv.log()


def test_sigterm_saves_when_save_points_exist_and_nosave_does_not(nodes):
    wd = workdir()
    srv = node(nodes, "--save", "3600 1", workdir=wd)
    srv.client().set("kept", "1")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    assert os.path.exists(os.path.join(wd, "dump.rdb"))
    srv = node(nodes, "--save", "3600 1", workdir=wd)
    c = srv.client()
    assert c.get("kept") == b"1"
    c.set("lost", "1")
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", "NOSAVE")
    srv.proc.wait(10)
    srv = node(nodes, workdir=wd)
    assert srv.client().get("kept") == b"1" and srv.client().get("lost") is None


def test_flushall_writes_an_empty_snapshot(nodes):
    wd = workdir()
    srv = node(nodes, "--save", "3600 100", workdir=wd)
    c = srv.client()
    c.set("a", "1")
    c.save()
    c.flushall()
    assert persistence(c)["rdb_changes_since_last_save"] >= 1  # the flush itself is still owed to replicas/AOF
    srv.stop()
    srv = node(nodes, workdir=wd)
    assert srv.client().dbsize() == 0


def test_a_corrupt_snapshot_stops_the_node_naming_the_offset():
    wd = workdir()
    srv = start_shoal(workdir=wd)
    c = srv.client()
    c.set("a", "hello")
    c.save()
    srv.stop()
    path = os.path.join(wd, "dump.rdb")
    data = bytearray(open(path, "rb").read())
    data[-9] ^= 0xFF  # the EOF opcode becomes something else
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(RuntimeError) as e:
        start_shoal(workdir=wd)
    text = str(e.value)
    assert "exited with 1" in text
    assert "Internal error in RDB reading offset" in text
    assert "Terminating server after rdb file reading failure." in text
    assert "Traceback" not in text


# ------------------------------------------------------------------------------------------------- failures

def test_failed_bgsave_refuses_writes_until_a_save_succeeds(nodes):
    wd = workdir()
    srv = node(nodes, "--save", "3600 1", workdir=wd)
    c = srv.client()
    c.set("big", os.urandom(300_000))
    c.save()
    # the child inherits the file-size limit: its write fails with EFBIG
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
    c.set("more", "1")
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    wait_for(lambda: persistence(c)["rdb_last_bgsave_status"] == "err", what="the BGSAVE to fail")
    with pytest.raises(redis.ResponseError) as e:
        c.set("refused", "1")
    assert str(e.value) == MISCONF_RDB
    with pytest.raises(redis.ResponseError, match="^MISCONF"):
        c.ping()
    assert c.get("more") == b"1"  # reads go on
    conn = Raw(srv)
    assert conn.call("SAVE") == b"-ERR\r\n"  # Redis's bare error for a failed SAVE
    conn.close()
    assert "Background saving error" in srv.log()
    # the previous snapshot was not touched by the failed attempts
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    wait_for(lambda: persistence(c)["rdb_last_bgsave_status"] == "ok", what="the BGSAVE to succeed")
    assert c.set("accepted", "1") is True
    # stop-writes-on-bgsave-error no: a failed save is reported but writes go on
    c.config_set("stop-writes-on-bgsave-error", "no")
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
    raw(srv).execute_command("BGSAVE")
    wait_for(lambda: persistence(c)["rdb_last_bgsave_status"] == "err", what="the BGSAVE to fail")
    assert c.set("still", "1") is True
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_kill_9_during_bgsave_keeps_the_previous_snapshot(nodes):
    wd = workdir()
    srv = node(nodes, "--rdb-key-save-delay", "100", workdir=wd)
    c = srv.client()
    for i in range(0, 20_000, 1000):
        c.mset({f"old{j}": j for j in range(i, i + 1000)})
    c.save()
    previous = open(os.path.join(wd, "dump.rdb"), "rb").read()
    c.set("new", "1")
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    child = int(wait_for(lambda: _children(srv.proc.pid), what="the child")[0])
    wait_for(lambda: os.path.exists(os.path.join(wd, f"temp-{child}.rdb")), what="the child's temp file")
    srv.proc.kill()
    srv.proc.wait(10)
    os.kill(child, signal.SIGKILL)  # kill -9 of the parent leaves the child orphaned: it dies too, mid-write
    assert open(os.path.join(wd, "dump.rdb"), "rb").read() == previous
    srv = node(nodes, workdir=wd)
    c = srv.client()
    assert c.dbsize() == 20_000 and c.get("old19999") == b"19999" and c.get("new") is None


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


# ------------------------------------------------------------------------------------------------- with Redis

def test_redis_serves_the_dump_a_shoal_node_saved(nodes):
    wd = workdir()
    srv = node(nodes, workdir=wd)
    c = raw_client(srv)
    populate(c)
    expected = fingerprint(c)
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    wait_for(lambda: bgsave_done(srv.client()), what="the BGSAVE")
    srv.stop()
    ref = start_redis("--dir", wd, "--dbfilename", "dump.rdb", workdir=wd)
    nodes.append(ref)
    assert fingerprint(raw_client(ref)) == expected


def test_a_shoal_node_starts_on_the_dump_redis_saved(nodes):
    wd = workdir()
    ref = start_redis("--dir", wd, "--dbfilename", "dump.rdb", workdir=wd)
    nodes.append(ref)
    rc = raw_client(ref)
    populate(rc)
    rc.hset("lz", mapping={f"f{i}": "v" * 50 for i in range(40)})  # LZF-compressed listpack in Redis's file
    expected = fingerprint(rc)
    assert rc.save() == b"OK"
    ref.stop()
    srv = node(nodes, workdir=wd)
    assert fingerprint(raw_client(srv)) == expected


# ------------------------------------------------------------------------------------------------- scale and disk

def test_bgsave_of_a_million_keys_while_a_client_works(nodes, capsys):
    n = 1_000_000
    wd = workdir()
    srv = node(nodes, "--enable-debug-command", "yes", workdir=wd)
    c = srv.client(socket_timeout=60)
    assert c.execute_command("DEBUG", "POPULATE", n) in (True, b"OK")
    worker = srv.client()
    latencies = []

    def step(i: int) -> None:
        t = time.perf_counter()
        worker.set(f"w{i}", i)
        assert worker.get(f"key:{i}") == f"value:{i}".encode()
        latencies.append(time.perf_counter() - t)

    for i in range(200):
        step(i)
    before = len(latencies)
    assert raw(srv).execute_command("BGSAVE") == b"Background saving started"
    i = 200
    deadline = time.time() + 120
    while time.time() < deadline:
        step(i)
        i += 1
        if i % 50 == 0 and bgsave_done(c):
            break
    during = latencies[before:]
    info = persistence(c)
    assert info["rdb_last_bgsave_status"] == "ok"
    # writes made while the child was saving are still owed to the next save
    assert info["rdb_changes_since_last_save"] == i - 200
    fork_us = c.info("stats")["latest_fork_usec"]
    with capsys.disabled():
        print(f"\nBGSAVE of {n} keys: {len(during)} SET+GET pairs served during the save, longest "
              f"{max(during) * 1000:.1f} ms (fork {fork_us / 1000:.1f} ms), median "
              f"{sorted(during)[len(during) // 2] * 1000:.2f} ms; copy-on-write {info['rdb_last_cow_size'] >> 20} MB")
    srv.stop()
    srv = node(nodes, workdir=wd)
    c = srv.client()
    assert c.dbsize() == n + 200
    assert c.get("key:999999") == b"value:999999" and c.get("w199") == b"199"


class Tmpfs:
    """A small RAM disk to fill up; skips the test where mounting is not allowed (not root, a container)."""

    def __init__(self, size: str = "2m") -> None:
        self.path = tempfile.mkdtemp(prefix="shoal-tmpfs-")
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.path],
                             capture_output=True, text=True)
        if out.returncode != 0:
            os.rmdir(self.path)
            pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")

    def close(self) -> None:
        subprocess.run(["umount", "-l", self.path], capture_output=True)
        os.rmdir(self.path)


def test_a_full_disk_stops_writes_and_freed_space_resumes_them(nodes):
    disk = Tmpfs("2m")
    try:
        ballast = os.path.join(disk.path, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * 1_500_000)
        srv = node(nodes, "--dir", disk.path, "--save", "1 1", workdir=disk.path)
        c = srv.client()
        payload = os.urandom(200_000)
        acked = []
        for i in range(8):  # bounded: the disk has room for about two of these
            try:
                c.set(f"k{i}", payload)
                acked.append(i)
            except redis.ResponseError as e:
                assert str(e) == MISCONF_RDB
                break
            wait_for(lambda: bgsave_done(c) and persistence(c)["rdb_changes_since_last_save"] == 0
                     or persistence(c)["rdb_last_bgsave_status"] == "err", what="the rule's BGSAVE")
        wait_for(lambda: persistence(c)["rdb_last_bgsave_status"] == "err", what="the disk to fill")
        with pytest.raises(redis.ResponseError) as e:
            c.set("refused", "1")
        assert str(e.value) == MISCONF_RDB
        assert c.get(f"k{acked[-1]}") == payload  # reads go on
        assert "No space left on device" in srv.log()
        os.unlink(ballast)
        # the save rule retries 5 s after a failure; then writes are accepted again
        wait_for(lambda: persistence(c)["rdb_last_bgsave_status"] == "ok", timeout=20, what="a retried save")
        c.set("accepted", "1")
        srv.stop()
        srv = node(nodes, "--dir", disk.path, workdir=disk.path)
        c = srv.client()
        assert all(c.get(f"k{i}") == payload for i in acked)
        assert c.get("accepted") == b"1"
        srv.stop()
    finally:
        disk.close()


def test_debug_reload(nodes):
    srv = node(nodes, "--enable-debug-command", "yes")
    c = raw_client(srv)
    populate(c)
    expected = fingerprint(c)
    assert c.execute_command("DEBUG", "RELOAD") == b"OK"
    assert fingerprint(c) == expected
    c.execute_command("SET", "after", "1")
    assert c.execute_command("DEBUG", "RELOAD", "NOSAVE") == b"OK"  # the file on disk wins
    assert c.execute_command("EXISTS", "after") == 0
    c.execute_command("SET", "after", "1")
    with pytest.raises(redis.ResponseError, match="^Error trying to load the RDB dump$"):
        c.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH")  # the file's keys are present already
    assert c.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == b"OK"
    assert c.execute_command("EXISTS", "after") == 1
    assert fingerprint(c, dbs=[5]) == {k: v for k, v in expected.items() if k[0] == 5}
    with pytest.raises(redis.ResponseError, match="^DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE "
                                                  "options.$"):
        c.execute_command("DEBUG", "RELOAD", "FAST")


def test_clients_get_loading_while_the_dataset_loads(nodes):
    wd = workdir()
    srv = node(nodes, workdir=wd)
    c = srv.client()
    c.mset({f"k{i}": i for i in range(300)})
    c.save()
    srv.stop()
    # 300 keys x 10 ms: three seconds of loading to look at
    port = free_port()
    argv = shoal_argv(port, "--key-load-delay", "10000")
    proc = subprocess.Popen(argv, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        where = ServerProcess(argv, port, wd, "loading")  # only its address: the process is `proc`
        conn = wait_for(lambda: _connect(where), what="the port to open")
        # raw bytes: redis-py retries -LOADING on its own, as if it were a broken connection
        assert conn.call("GET", "k1") == b"-LOADING Redis is loading the dataset in memory\r\n"
        assert conn.call("PING") == b"-LOADING Redis is loading the dataset in memory\r\n"
        assert b"\r\nloading:1\r\n" in conn.value("INFO", "persistence")  # INFO and CONFIG are served while loading
        assert conn.value("CONFIG", "GET", "port") == [b"port", str(port).encode()]
        wait_for(lambda: b"\r\nloading:0\r\n" in conn.value("INFO", "persistence"), what="the load to finish")
        assert conn.value("GET", "k299") == b"299" and conn.value("DBSIZE") == 300
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _connect(srv):
    try:
        return Raw(srv)
    except OSError:
        return None
