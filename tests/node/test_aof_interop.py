"""AOF directories move between Shoal and Debian's redis-server 7.0.15 both ways: each loads what the other wrote
(base with and without the RDB preamble, plus incr files) to the same dataset, and redis-check-aof accepts
Shoal's directory.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import start_redis, start_shoal
from tests.node.aof_util import aof_dir, fingerprint, manifest_files, populate, raw_client, wait_rewrite_done

AOF = ("--appendonly", "yes", "--auto-aof-rewrite-percentage", "0")


def _write_dataset(srv, preamble: str) -> dict:
    c = raw_client(srv)
    populate(c)
    c.execute_command("CONFIG", "SET", "aof-use-rdb-preamble", preamble)
    c.execute_command("BGREWRITEAOF")
    wait_rewrite_done(srv.client(), 0)
    populate(c, tag=":after")
    c.execute_command("SELECT", 3)
    c.execute_command("SET", "db3", "x")
    c.execute_command("MULTI")
    c.execute_command("INCR", "counter")
    c.execute_command("LPUSH", "txlist", "a")
    c.execute_command("EXEC")
    c.execute_command("SELECT", 0)
    fp = fingerprint(c)
    c.close()
    assert len(fp) == 2 * 24 + 3 and {t for t, _, _ in fp.values()} == {"string", "list", "hash", "set", "zset",
                                                                        "stream"}
    return fp


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redis_loads_what_shoal_wrote(preamble):
    wd = tempfile.mkdtemp(prefix="shoal-aof-interop-")
    shoal = start_shoal(*AOF, workdir=wd)
    try:
        expected = _write_dataset(shoal, preamble)
    finally:
        shoal.stop()
    assert manifest_files(wd)[0][0].endswith(".rdb" if preamble == "yes" else ".aof")
    check = subprocess.run([shutil.which("redis-check-aof") or "redis-check-aof",
                            f"{aof_dir(wd)}/appendonly.aof.manifest"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "All AOF files and manifest are valid" in check.stdout, check.stdout
    ref = start_redis(*AOF, "--dir", wd, workdir=wd)
    try:
        c = raw_client(ref)
        assert fingerprint(c) == expected
        c.close()
    finally:
        ref.stop()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_shoal_loads_what_redis_wrote(preamble):
    wd = tempfile.mkdtemp(prefix="shoal-aof-interop-")
    ref = start_redis(*AOF, "--dir", wd, workdir=wd)
    try:
        expected = _write_dataset(ref, preamble)
    finally:
        ref.stop()
    shoal = start_shoal(*AOF, workdir=wd)
    try:
        c = raw_client(shoal)
        assert fingerprint(c) == expected
        # and Shoal goes on appending to Redis's incr file
        c.execute_command("SET", "appended-by", "shoal")
        c.close()
    finally:
        shoal.stop()
    ref = start_redis(*AOF, "--dir", wd, workdir=wd)
    try:
        assert ref.client().get("appended-by") == b"shoal"
    finally:
        ref.stop()


def test_info_persistence_has_redis_aof_fields():
    wd = tempfile.mkdtemp(prefix="shoal-aof-interop-")
    shoal = start_shoal(*AOF, workdir=wd)
    ref = start_redis(*AOF, "--dir", tempfile.mkdtemp(prefix="redis-aof-"))
    try:
        ours, theirs = shoal.client().info("persistence"), ref.client().info("persistence")
        fields = lambda i: [k for k in i if k.startswith(("aof_", "module_fork"))]  # noqa: E731
        assert fields(ours) == fields(theirs)
        for k in ("aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled", "aof_last_bgrewrite_status",
                  "aof_last_write_status", "aof_pending_rewrite", "aof_buffer_length", "aof_delayed_fsync",
                  "aof_base_size", "aof_current_size"):
            assert ours[k] == theirs[k], k
        shoal.client().set("k", "v")
        ref.client().set("k", "v")
        assert shoal.client().info("persistence")["aof_current_size"] == ref.client().info("persistence")[
            "aof_current_size"] > 0
        shoal.client().config_set("appendonly", "no")
        assert [k for k in shoal.client().info("persistence") if k.startswith("aof_")][-1] == "aof_last_cow_size"
    finally:
        shoal.stop()
        ref.stop()
