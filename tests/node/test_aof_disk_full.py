"""A really full disk under the AOF: a 2 MB tmpfs mounted for the test (root only; skipped where mounting is not
permitted), with a 1 MB ballast file on it.

With `appendfsync everysec` the node fills the disk, the write that does not fit is undone (the file is cut back
to its last complete command) and kept in the AOF buffer, and from then on writes are refused with
"MISCONF Errors writing to the AOF file: No space left on device" while reads go on. Deleting the ballast lets the
cron's retry (once a second) write the buffer: writes are accepted again, and a restart — with
`aof-load-truncated no`, so a torn tail would refuse the start — has every acknowledged write. Debian's
redis-server 7 runs the same scenario as the reference for the texts and the behaviour.

With `appendfsync always` Redis cannot keep its promise after a failed write, so it exits; so does the node, and
a restart once space is free has every write it acknowledged. A rewrite whose child runs out of space fails
cleanly (no temp file left, the previous manifest in force, writes go on) and the next one, with room, succeeds.

Every scenario runs against both servers, and both behave the same, to the byte of the error texts.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import start_redis, start_shoal, wait_for
from tests.node.aof_util import aof_dir

TMPFS_SIZE = "2m"
BALLAST = 1 << 20
VALUE = b"v" * 8192  # ~1 MB of room left after the ballast: about 120 of these fit
MAX_WRITES = 2000  # the bounded fill loop: 16 MB, eight times the whole file system
MISCONF_ENOSPC = "MISCONF Errors writing to the AOF file: No space left on device"


@contextlib.contextmanager
def small_tmpfs():
    """A freshly mounted 2 MB tmpfs, unmounted afterwards whatever happens; skips the test if it cannot be mounted."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed")
    mnt = tempfile.mkdtemp(prefix="shoal-aof-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        reason = " ".join(r.stderr.split()) or f"exit status {r.returncode}"
        pytest.skip(f"cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): {reason}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)  # still busy: detach it lazily
        with contextlib.suppress(OSError):
            os.rmdir(mnt)


def _ballast(mnt: str) -> str:
    path = os.path.join(mnt, "ballast")
    with open(path, "wb") as f:
        f.write(b"\0" * BALLAST)  # tmpfs has no holes to hide in: these pages are really taken
    return path


def _start(kind: str, mnt: str, *args: str, workdir: str):
    """The server with `dir` on the tmpfs; its log and working directory stay on the normal disk."""
    start = start_shoal if kind == "shoal" else start_redis
    return start("--dir", mnt, *args, workdir=workdir)


def _stop(srv) -> None:
    srv.stop()
    srv.proc.wait(10)


def _fill(c) -> tuple[list[bytes], redis.ResponseError]:
    """SET 8 KB values until the server refuses a write; returns the acknowledged keys and the refusal."""
    acked = []
    for i in range(MAX_WRITES):
        key = b"fill:%d" % i
        try:
            c.set(key, VALUE)
        except redis.ResponseError as e:
            return acked, e
        acked.append(key)
    raise AssertionError(f"{MAX_WRITES} writes of {len(VALUE)} bytes were all accepted on a {TMPFS_SIZE} disk")


def _incr_files(mnt: str) -> list[str]:
    d = aof_dir(mnt)
    return [os.path.join(d, n) for n in os.listdir(d) if ".incr." in n]


EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0")


@pytest.mark.parametrize("kind", ["shoal", "redis"])
def test_full_disk_refuses_writes_then_recovers(kind):
    wd = tempfile.mkdtemp(prefix=f"{kind}-aof-full-wd-")
    with small_tmpfs() as mnt:
        ballast = _ballast(mnt)
        srv = _start(kind, mnt, *EVERYSEC, workdir=wd)
        try:
            c = srv.client()
            acked, refusal = _fill(c)
            assert str(refusal) == MISCONF_ENOSPC
            assert len(acked) > 50, "the disk filled up much earlier than it should have"
            info = c.info("persistence")
            assert info["aof_last_write_status"] == "err"
            # what could not be written stays buffered, and the file was cut back to its last whole command
            assert info["aof_buffer_length"] > 0
            assert sum(os.path.getsize(p) for p in _incr_files(mnt)) < len(acked) * len(VALUE)
            # still refused, with the same text, for any write; reads keep working
            with pytest.raises(redis.ResponseError) as e:
                c.incr("counter")
            assert str(e.value) == MISCONF_ENOSPC
            assert c.get(acked[0]) == VALUE and c.get(acked[-1]) == VALUE
            assert c.dbsize() == len(acked)
            assert c.exists("counter") == 0

            os.unlink(ballast)  # free the space: the cron retries the write once a second
            t0 = time.monotonic()
            wait_for(lambda: c.info("persistence")["aof_last_write_status"] == "ok", 5,
                     "writes to be accepted again after space was freed")
            recovered_after = time.monotonic() - t0
            assert c.info("persistence")["aof_buffer_length"] == 0
            for i in range(20):
                c.set(b"after:%d" % i, b"%d" % i)
                acked.append(b"after:%d" % i)
            assert "AOF write error looks solved, Redis can write again." in srv.log()
            c.close()
            _stop(srv)

            # a torn command at the end of the file would refuse this start
            srv = _start(kind, mnt, *EVERYSEC, "--aof-load-truncated", "no", workdir=wd)
            c = srv.client()
            values = c.mget(acked)
            missing = [k for k, v in zip(acked, values) if v is None]
            assert not missing, f"{len(missing)} acknowledged writes lost, first {missing[:5]}"
            assert all(v == VALUE for k, v in zip(acked, values) if k.startswith(b"fill:"))
            assert c.dbsize() == len(acked)
            print(f"\n{kind}: {len(acked) - 20} writes fitted, refused with {refusal}, writes accepted again "
                  f"{recovered_after:.2f}s after space was freed, all {len(acked)} acknowledged writes reloaded")
        finally:
            _stop(srv)


@pytest.mark.parametrize("kind", ["shoal", "redis"])
def test_full_disk_with_appendfsync_always_exits_and_loses_nothing(kind):
    wd = tempfile.mkdtemp(prefix=f"{kind}-aof-full-wd-")
    args = ("--appendonly", "yes", "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0")
    with small_tmpfs() as mnt:
        ballast = _ballast(mnt)
        srv = _start(kind, mnt, *args, workdir=wd)
        try:
            c = srv.client(socket_timeout=5, retry=Retry(NoBackoff(), 0))  # the node's exit: no reconnecting
            acked = []
            for i in range(MAX_WRITES):
                key = b"fill:%d" % i
                try:
                    c.set(key, VALUE)
                except (redis.ConnectionError, redis.TimeoutError):
                    break
                acked.append(key)
            else:
                raise AssertionError(f"{MAX_WRITES} writes were all accepted on a {TMPFS_SIZE} disk")
            assert srv.proc.wait(10) == 1
            assert "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..." \
                in srv.log()
            assert len(acked) > 50
            c.close()
            srv._log.close()
            os.unlink(ballast)
            srv = _start(kind, mnt, *args, "--aof-load-truncated", "no", workdir=wd)
            c = srv.client()
            values = c.mget(acked)
            assert all(v == VALUE for v in values), \
                f"{sum(v is None for v in values)} of {len(acked)} acknowledged writes lost"
            c.set("after", "restart")  # and there is room again
            print(f"\n{kind} always: exited on ENOSPC after {len(acked)} acknowledged writes, all reloaded")
        finally:
            _stop(srv)


@pytest.mark.parametrize("kind", ["shoal", "redis"])
def test_rewrite_on_a_full_disk_fails_cleanly_and_succeeds_once_there_is_room(kind):
    """The rewrite child runs out of space writing the new base: the rewrite fails (its temp file removed), the
    previous files and manifest stay in force, plain writes go on; with room again the next rewrite succeeds."""
    wd = tempfile.mkdtemp(prefix=f"{kind}-aof-full-wd-")
    args = (*EVERYSEC, "--aof-use-rdb-preamble", "no")
    with small_tmpfs() as mnt:
        ballast = _ballast(mnt)
        srv = _start(kind, mnt, *args, workdir=wd)
        try:
            c = srv.client()
            keys = [b"k:%d" % i for i in range(70)]  # ~570 KB in the incr file: a second copy cannot fit
            for k in keys:
                c.set(k, VALUE)
            c.bgrewriteaof()
            info = wait_for(lambda: (lambda i: i if i["aof_rewrites"] == 1 and not i["aof_rewrite_in_progress"]
                                     else None)(c.info("persistence")), 10, "the rewrite to end")
            assert info["aof_last_bgrewrite_status"] == "err"
            assert info["aof_rewrites_consecutive_failures"] == 1
            assert info["aof_last_write_status"] == "ok"
            assert sorted(os.listdir(mnt)) == ["appendonlydir", "ballast"]  # no temp file left behind
            assert sorted(os.listdir(aof_dir(mnt))) == [
                "appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof",
                "appendonly.aof.manifest"]
            c.set("during", "failure")
            keys.append(b"during")
            os.unlink(ballast)
            c.bgrewriteaof()
            info = wait_for(lambda: (lambda i: i if i["aof_rewrites"] == 2 and not i["aof_rewrite_in_progress"]
                                     else None)(c.info("persistence")), 10, "the second rewrite to end")
            assert info["aof_last_bgrewrite_status"] == "ok"
            assert info["aof_rewrites_consecutive_failures"] == 0
            assert sorted(os.listdir(aof_dir(mnt))) == [
                "appendonly.aof.2.base.aof", "appendonly.aof.3.incr.aof", "appendonly.aof.manifest"]
            c.close()
            _stop(srv)
            srv = _start(kind, mnt, *args, "--aof-load-truncated", "no", workdir=wd)
            assert srv.client().exists(*keys) == len(keys)
        finally:
            _stop(srv)
