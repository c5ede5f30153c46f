"""The append-only file with real shoal-node processes: data survives restarts for every type, transactions land
as one block, torn tails are cut and logged, corruption is refused with its offset, rewrites (with and without
the RDB preamble, by command and automatic), switching AOF on and off at run time, the pre-7.0 single-file
upgrade, and MISCONF while the file cannot be written.
"""
from __future__ import annotations

import os
import resource
import tempfile
import time

import pytest
import redis

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.persistence import rdb
from shoal.node.persistence.aof_format import encode_command, iter_commands
from shoal.node.state import NodeState
from tests.conftest import start_shoal, wait_for
from tests.node.aof_util import (AOF_DIR, MANIFEST, aof_dir, base_path, fingerprint, last_incr_path,
                                 manifest_files, populate, raw_client, wait_rewrite_done)

# automatic rewrites only where a test asks for them
AOF = ("--appendonly", "yes", "--auto-aof-rewrite-percentage", "0")


def _workdir() -> str:
    return tempfile.mkdtemp(prefix="shoal-aof-")


def _restart(srv, *args, kill: bool = False):
    if kill:
        srv.proc.kill()
        srv.proc.wait(10)
        srv._log.close()
    else:
        srv.stop()
    return start_shoal(*args, workdir=srv.workdir)


def _start_fails(*args, workdir: str) -> str:
    """Start a node that must refuse to start; returns its log."""
    with pytest.raises(RuntimeError) as e:
        srv = start_shoal(*args, workdir=workdir)
        srv.stop()
    assert "exited with 1" in str(e.value), str(e.value)[-3000:]
    return str(e.value)


def _commands(path: str) -> list[list[bytes]]:
    with open(path, "rb") as f:
        return [argv for argv, _, _ in iter_commands(f.read())]


# --------------------------------------------------------------------------------------------------- restart


@pytest.mark.parametrize("mode", ["incr-only", "rewrite-rdb-preamble", "rewrite-aof-commands"])
def test_every_type_survives_a_restart(mode):
    wd = _workdir()
    preamble = "no" if mode == "rewrite-aof-commands" else "yes"
    args = (*AOF, "--aof-use-rdb-preamble", preamble)
    srv = start_shoal(*args, workdir=wd)
    try:
        c = raw_client(srv)
        populate(c)
        if mode != "incr-only":
            assert c.execute_command("BGREWRITEAOF") == b"Background append only file rewriting started"
            i = wait_rewrite_done(srv.client(), 0)
            assert i["aof_last_bgrewrite_status"] == "ok" and i["aof_base_size"] > 0
            populate(c, tag=":after")  # the incr file opened by the rewrite holds these
            files = manifest_files(wd)
            suffix = ".rdb" if preamble == "yes" else ".aof"
            assert files == [(f"appendonly.aof.2.base{suffix}", "b"), ("appendonly.aof.2.incr.aof", "i")]
            # the files the rewrite made obsolete are deleted
            wait_for(lambda: sorted(os.listdir(aof_dir(wd))) == sorted([MANIFEST, *(n for n, _ in files)]),
                     what="history files to be removed")
            if preamble == "no":
                cmds = _commands(base_path(wd))
                assert [b"PEXPIREAT", b"s:ttl"] == cmds[[a[:2] for a in cmds].index([b"PEXPIREAT", b"s:ttl"])][:2]
                assert max(len(a) for a in cmds if a[0] == b"RPUSH") == 2 + 64  # batches of 64 elements
        before = fingerprint(c)
        c.close()
        # kill -9: nothing may depend on a clean shutdown
        srv = _restart(srv, *args, kill=True)
        c = raw_client(srv)
        assert fingerprint(c) == before
        c.close()
    finally:
        srv.stop()


def test_start_with_empty_directory_creates_base_incr_and_manifest():
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    try:
        assert manifest_files(wd) == [("appendonly.aof.1.base.rdb", "b"), ("appendonly.aof.1.incr.aof", "i")]
        srv.client().set("k", "v")
        i = srv.client().info("persistence")
        # Redis counts only what it loaded: the base made at start-up is not in the sizes until a rewrite
        assert i["aof_enabled"] == 1 and i["aof_base_size"] == 0
        assert i["aof_current_size"] == os.path.getsize(last_incr_path(wd))
        assert "Creating AOF base file appendonly.aof.1.base.rdb on server start" in srv.log()
        srv = _restart(srv, *AOF)
        assert srv.client().get("k") == b"v"
        assert "Opening AOF incr file appendonly.aof.1.incr.aof on server start" in srv.log()
    finally:
        srv.stop()


def test_custom_file_and_directory_names():
    wd = _workdir()
    args = (*AOF, "--appendfilename", "data.aof", "--appenddirname", "aofs")
    srv = start_shoal(*args, workdir=wd)
    try:
        srv.client().set("k", "v")
        assert sorted(os.listdir(os.path.join(wd, "aofs"))) == ["data.aof.1.base.rdb", "data.aof.1.incr.aof",
                                                                "data.aof.manifest"]
        srv = _restart(srv, *args)
        assert srv.client().get("k") == b"v"
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------------- transactions


def test_transactions_and_publish_in_the_file():
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    try:
        c = srv.client()
        c.set("before", "1")
        p = c.pipeline(transaction=True)
        p.set("a", "1").incr("n").lpush("l", "x").get("a").publish("ch", "m")
        p.execute()
        c.publish("ch", "outside")
        p = c.pipeline(transaction=True)
        p.get("a").publish("ch", "only")  # nothing to write: no MULTI/EXEC in the file
        p.execute()
        c.set("after", "1")
        names = [a[0].upper() for a in _commands(last_incr_path(wd))]
        assert names == [b"SELECT", b"SET", b"MULTI", b"SET", b"INCRBY", b"LPUSH", b"EXEC", b"SET"]
        assert b"PUBLISH" not in open(last_incr_path(wd), "rb").read().upper()
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------------- damage


def _prepared_node():
    """A stopped node whose incr file holds a few writes; returns (workdir, incr path, its size)."""
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    c = srv.client()
    c.set("a", "1")
    c.rpush("l", "x", "y")
    c.set("b", "2")
    srv.stop()
    path = last_incr_path(wd)
    return wd, path, os.path.getsize(path)


TAILS = {
    "torn-command": encode_command([b"SET", b"torn", b"value"])[:-7],
    "multi-without-exec": encode_command([b"MULTI"]) + encode_command([b"SET", b"torn", b"v"]),
    "torn-inside-multi": encode_command([b"MULTI"]) + encode_command([b"SET", b"x", b"v"]) +
                         encode_command([b"SET", b"torn", b"v"])[:9],
}


@pytest.mark.parametrize("tail", sorted(TAILS))
def test_a_torn_tail_is_cut_and_logged(tail):
    wd, path, size = _prepared_node()
    with open(path, "ab") as f:
        f.write(TAILS[tail])
    srv = start_shoal(*AOF, workdir=wd)
    try:
        c = srv.client()
        assert c.get("b") == b"2" and c.exists("torn", "x") == 0
        log = srv.log()
        name = os.path.basename(path)
        if tail == "multi-without-exec":
            assert f"Revert incomplete MULTI/EXEC transaction in AOF file {name}" in log
        assert f"!!! Warning: short read while loading the AOF file {name}!!!" in log
        assert f"!!! Truncating the AOF {name} at offset {size} !!!" in log
        assert f"AOF {name} loaded anyway because aof-load-truncated is enabled" in log
        assert os.path.getsize(path) == size
        c.set("c", "3")  # appended after the cut, and loadable again
        srv = _restart(srv, *AOF)
        assert srv.client().mget("a", "b", "c") == [b"1", b"2", b"3"]
    finally:
        srv.stop()


def test_a_torn_tail_is_refused_when_truncated_loading_is_off():
    wd, path, size = _prepared_node()
    with open(path, "ab") as f:
        f.write(TAILS["torn-command"])
    log = _start_fails(*AOF, "--aof-load-truncated", "no", workdir=wd)
    assert (f"Unexpected end of file reading the append only file {os.path.basename(path)}. You can: 1) Make a "
            "backup of your AOF file") in log
    assert os.path.getsize(path) == size + len(TAILS["torn-command"])  # untouched


def test_corruption_in_the_middle_is_refused_with_its_offset():
    wd, path, size = _prepared_node()
    data = bytearray(open(path, "rb").read())
    offset = data.index(b"*5\r\n$5\r\nrpush") if b"rpush" in data else data.index(b"*4\r\n$5\r\nRPUSH")
    data[offset] = ord("!")
    open(path, "wb").write(data)
    log = _start_fails(*AOF, workdir=wd)
    name = os.path.basename(path)
    assert f"Bad file format reading the append only file {name}: make a backup of your AOF file" in log
    assert f"offset {offset} of {name}" in log
    assert os.path.getsize(path) == size


def test_a_corrupt_rdb_base_is_refused():
    wd, path, size = _prepared_node()
    base = base_path(wd)
    data = bytearray(open(base, "rb").read())
    data[20] ^= 0xFF
    open(base, "wb").write(data)
    log = _start_fails(*AOF, workdir=wd)
    assert f"Error reading the RDB base file {os.path.basename(base)}, AOF loading aborted" in log


def test_a_truncated_file_that_is_not_the_last_is_refused():
    wd = _workdir()
    args = (*AOF, "--aof-use-rdb-preamble", "no")
    srv = start_shoal(*args, workdir=wd)
    c = srv.client()
    c.set("a", "1")
    c.bgrewriteaof()
    wait_rewrite_done(c, 0)
    c.set("b", "2")
    srv.stop()
    base = base_path(wd)
    with open(base, "ab") as f:
        f.write(encode_command([b"SET", b"x", b"y"])[:10])
    log = _start_fails(*args, workdir=wd)
    assert "Fatal error: the truncated file is not the last file" in log


def test_manifest_problems_are_refused():
    wd, path, size = _prepared_node()
    with open(os.path.join(wd, AOF_DIR, MANIFEST), "a") as f:
        f.write("file appendonly.aof.9.incr.aof seq 1 type i\n")
    log = _start_fails(*AOF, workdir=wd)
    assert "Found a non-monotonic sequence number" in log
    with open(os.path.join(wd, AOF_DIR, MANIFEST), "w") as f:
        f.write("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.7.incr.aof seq 7 type i\n")
    log = _start_fails(*AOF, workdir=wd)
    assert "Unable to obtain the AOF file appendonly.aof.7.incr.aof length" in log


# --------------------------------------------------------------------------------------------------- rewrites


def test_bgrewriteaof_replies_and_in_progress_error():
    wd = _workdir()
    args = (*AOF, "--aof-use-rdb-preamble", "no", "--rdb-key-save-delay", "20000")
    srv = start_shoal(*args, workdir=wd)
    try:
        c = srv.client()
        for i in range(40):
            c.set(f"k{i}", i)
        r = raw_client(srv)
        assert r.execute_command("BGREWRITEAOF") == b"Background append only file rewriting started"
        with pytest.raises(redis.ResponseError, match="^Background append only file rewriting already in progress$"):
            r.execute_command("BGREWRITEAOF")
        i = c.info("persistence")
        assert i["aof_rewrite_in_progress"] == 1 and i["aof_current_rewrite_time_sec"] >= 0
        c.set("during", "rewrite")  # goes to the new incr file
        i = wait_rewrite_done(c, 0)
        assert i["aof_rewrites"] == 1 and i["aof_last_rewrite_time_sec"] >= 0
        assert [a for a in _commands(last_incr_path(wd)) if a[0].upper() == b"SET"] == [[b"SET", b"during", b"rewrite"]]
        srv = _restart(srv, *AOF)
        c = srv.client()
        assert c.dbsize() == 41 and c.get("during") == b"rewrite"
    finally:
        srv.stop()


def test_bgrewriteaof_inside_a_transaction_is_scheduled():
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    try:
        c = srv.client()
        c.set("k", "v")
        p = raw_client(srv).pipeline(transaction=True)
        p.execute_command("BGREWRITEAOF")
        assert p.execute() == [b"Background append only file rewriting scheduled"]
        wait_rewrite_done(c, 0)  # the cron starts it once the transaction is over
        assert manifest_files(wd)[0] == ("appendonly.aof.2.base.rdb", "b")
    finally:
        srv.stop()


def test_automatic_rewrite_on_growth():
    wd = _workdir()
    args = ("--appendonly", "yes", "--auto-aof-rewrite-percentage", "100", "--auto-aof-rewrite-min-size", "64kb")
    srv = start_shoal(*args, workdir=wd)
    try:
        c = srv.client()
        for i in range(20):
            c.set(f"k{i}", b"v" * 5000)
        i = wait_rewrite_done(c, 0)
        assert "Starting automatic rewriting of AOF on" in srv.log()
        assert manifest_files(wd)[0] == ("appendonly.aof.2.base.rdb", "b")
        assert i["aof_base_size"] >= 100_000
        # right after a rewrite the size is the base's: no new rewrite until it doubles again
        time.sleep(0.5)
        assert c.info("persistence")["aof_rewrites"] == 1
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------------- run time


def test_config_set_appendonly_on_and_off():
    wd = _workdir()
    srv = start_shoal(workdir=wd)
    try:
        c = srv.client()
        c.set("old", "1")
        assert not os.path.exists(os.path.join(wd, AOF_DIR))
        assert c.config_set("appendonly", "yes")
        i = wait_for(lambda: (lambda i: i if i["aof_rewrites"] == 1 and not i["aof_rewrite_in_progress"]
                              else None)(c.info("persistence")), what="AOF to be switched on")
        assert i["aof_enabled"] == 1
        assert manifest_files(wd) == [("appendonly.aof.1.base.rdb", "b"), ("appendonly.aof.1.incr.aof", "i")]
        c.set("new", "2")
        assert c.config_set("appendonly", "no")
        assert c.info("persistence")["aof_enabled"] == 0
        c.set("unlogged", "3")
        srv.stop()
        srv = start_shoal(*AOF, workdir=wd)
        c = srv.client()
        assert c.mget("old", "new", "unlogged") == [b"1", b"2", None]
    finally:
        srv.stop()


@pytest.mark.parametrize("preamble", [False, True])
def test_old_style_single_file_is_upgraded(preamble):
    wd = _workdir()
    with open(os.path.join(wd, "appendonly.aof"), "wb") as f:
        if preamble:  # Redis 4-6 with aof-use-rdb-preamble: an RDB, then the commands written since
            state = NodeState()
            dispatch.execute(Client(state), [b"SET", b"from-preamble", b"1"])
            rdb.write_rdb(f, state, aux={"aof-base": 1})
        f.write(encode_command([b"SELECT", b"0"]) + encode_command([b"SET", b"legacy", b"yes"]) +
                encode_command([b"RPUSH", b"list", b"a", b"b"]))
    srv = start_shoal(*AOF, workdir=wd)
    try:
        c = srv.client()
        assert c.get("legacy") == b"yes" and c.lrange("list", 0, -1) == [b"a", b"b"]
        assert c.get("from-preamble") == (b"1" if preamble else None)
        assert ("Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory "
                "(appendonlydir).") in srv.log()
        assert not os.path.exists(os.path.join(wd, "appendonly.aof"))
        assert manifest_files(wd) == [("appendonly.aof", "b"), ("appendonly.aof.1.incr.aof", "i")]
        c.set("later", "1")
        srv = _restart(srv, *AOF)
        assert srv.client().mget("legacy", "later") == [b"yes", b"1"]
    finally:
        srv.stop()


def test_aof_wins_over_a_snapshot():
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    srv.client().set("from-aof", "1")
    srv.stop()
    # a snapshot holding something else (written by a node without AOF)
    other = tempfile.mkdtemp(prefix="shoal-aof-")
    rdb_node = start_shoal(*AOF, "--aof-use-rdb-preamble", "yes", workdir=other)
    rdb_node.client().set("from-rdb", "1")
    rdb_node.client().bgrewriteaof()
    wait_rewrite_done(rdb_node.client(), 0)
    rdb_node.stop()
    os.rename(base_path(other), os.path.join(wd, "dump.rdb"))
    srv = start_shoal(*AOF, workdir=wd)
    try:
        assert srv.client().keys("*") == [b"from-aof"]
    finally:
        srv.stop()


def test_misconf_while_the_file_cannot_be_written():
    wd = _workdir()
    srv = start_shoal(*AOF, workdir=wd)
    try:
        c = srv.client()
        c.set("big", b"x" * 200_000)  # the incr file is now larger than the log, so only the AOF hits the limit
        limit = os.path.getsize(last_incr_path(wd)) + 100
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        c.set("overflow", b"y" * 1000)  # in memory; its AOF write fails and stays buffered
        # (with everysec the write may first be postponed behind a running fsync, for up to 2 s)
        wait_for(lambda: c.info("persistence")["aof_last_write_status"] == "err", what="the write to fail")
        with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to the AOF file: File too large$"):
            c.set("refused", "1")
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            c.ping()
        assert c.get("big") is not None  # reads still work
        assert c.info("persistence")["aof_last_write_status"] == "err"
        assert os.path.getsize(last_incr_path(wd)) <= limit  # the short write was undone
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_for(lambda: c.info("persistence")["aof_last_write_status"] == "ok", what="the write error to clear")
        c.set("accepted", "1")
        assert "AOF write error looks solved, Redis can write again." in srv.log()
        srv = _restart(srv, *AOF)
        assert srv.client().exists("big", "overflow", "accepted", "refused") == 3
    finally:
        srv.stop()


def test_timestamp_annotations_are_written_and_skipped_on_load():
    wd = _workdir()
    args = (*AOF, "--aof-timestamp-enabled", "yes", "--aof-use-rdb-preamble", "no")
    srv = start_shoal(*args, workdir=wd)
    try:
        c = srv.client()
        c.set("a", "1")
        c.bgrewriteaof()
        wait_rewrite_done(c, 0)
        assert open(base_path(wd), "rb").read().startswith(b"#TS:")
        second = int(time.time())
        wait_for(lambda: int(time.time()) > second, what="the next second")
        c.set("b", "2")  # the first write of a new second is preceded by its time
        assert b"#TS:" in open(last_incr_path(wd), "rb").read()
        srv = _restart(srv, *args)
        assert srv.client().mget("a", "b") == [b"1", b"2"]
    finally:
        srv.stop()


def test_bgrewriteaof_with_aof_off_writes_a_loadable_directory():
    wd = _workdir()
    srv = start_shoal(workdir=wd)
    try:
        c = srv.client()
        c.set("k", "v")
        assert c.info("persistence")["aof_enabled"] == 0
        c.bgrewriteaof()
        wait_rewrite_done(c, 0)
        assert manifest_files(wd) == [("appendonly.aof.1.base.rdb", "b")]  # no incr file: nothing is appended
        c.bgrewriteaof()
        wait_rewrite_done(c, 1)
        assert manifest_files(wd) == [("appendonly.aof.2.base.rdb", "b")]
        srv.stop()
        srv = start_shoal(*AOF, workdir=wd)
        assert srv.client().get("k") == b"v"
        assert manifest_files(wd) == [("appendonly.aof.2.base.rdb", "b"), ("appendonly.aof.1.incr.aof", "i")]
    finally:
        srv.stop()
