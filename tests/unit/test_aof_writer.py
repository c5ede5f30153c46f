"""The AOF's write path in-process (node/persistence/aof.py): what reaches the buffer for each propagated write,
how it is flushed, and how a failing disk is reported — with a real NodeState and files in a temp dir, no server.
"""
from __future__ import annotations

import errno
import os

import pytest

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.persistence.aof import ON, Aof
from shoal.node.persistence.aof_format import iter_commands
from shoal.node.persistence.background import BackgroundJobs
from shoal.node.state import NodeState


@pytest.fixture
def setup(tmp_path):
    state = NodeState()
    state.background = BackgroundJobs()
    aof = Aof(state)
    aof.status = ON
    path = str(tmp_path / "incr.aof")
    aof.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    state.propagate_hooks.append(aof.feed)
    client = Client(state)

    def run(*args):
        return dispatch.execute(client, [a.encode() if isinstance(a, str) else a for a in args])

    def written():
        with open(path, "rb") as f:
            return [argv for argv, _, _ in iter_commands(f.read())]

    yield state, aof, run, written
    if aof.fd >= 0:
        os.close(aof.fd)


def test_writes_are_buffered_with_select_and_flushed_before_replies(setup):
    state, aof, run, written = setup
    assert state.before_reply is None
    run("GET", "nothing")
    assert state.before_reply is None and not aof.buf  # reads cost nothing
    run("SET", "a", "1")
    run("SELECT", "2")
    run("LPUSH", "l", "x")
    assert state.before_reply is not None  # armed while there is something to write
    state.before_reply()
    assert state.before_reply is None and not aof.buf
    assert written() == [[b"SELECT", b"0"], [b"SET", b"a", b"1"], [b"SELECT", b"2"], [b"LPUSH", b"l", b"x"]]
    assert aof.current_size == os.fstat(aof.fd).st_size


def test_publish_is_not_written_and_empty_transactions_vanish(setup):
    state, aof, run, written = setup
    run("PUBLISH", "ch", "hello")
    run("SPUBLISH", "ch", "hello")
    run("MULTI")
    run("PUBLISH", "ch", "1")
    run("PUBLISH", "ch", "2")
    run("EXEC")
    run("MULTI")
    run("SET", "k", "v")
    run("PUBLISH", "ch", "3")
    run("INCR", "n")
    run("EXEC")
    aof.flush(True)
    cmds = [a[0].upper() for a in written()]
    assert cmds == [b"SELECT", b"MULTI", b"SET", b"INCR", b"EXEC"]


def test_expiry_is_written_as_absolute_time(setup):
    state, aof, run, written = setup
    run("SET", "k", "v", "EX", "100")
    run("EXPIRE", "k", "200")
    aof.flush(True)
    cmds = written()
    assert [c[0].upper() for c in cmds[1:]] == [b"SET", b"PEXPIREAT"]
    assert cmds[1][3].upper() == b"PXAT"


def test_a_failing_disk_refuses_writes_until_a_write_succeeds_again(setup, tmp_path):
    state, aof, run, written = setup
    good_fd = aof.fd
    aof.fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    run("SET", "a", "1")
    state.before_reply()
    assert aof.last_write_errno == errno.ENOSPC
    assert aof.write_error() == "MISCONF Errors writing to the AOF file: No space left on device"
    assert state.write_refusal == aof.write_error()  # without the lead's gate, the AOF sets the node's own
    reply = run("SET", "b", "2")
    assert reply.startswith(b"-MISCONF Errors writing to the AOF file")
    assert aof.buf  # the failed write is kept for the retry
    assert dict(aof.info_fields())["aof_last_write_status"] == "err"
    os.close(aof.fd)
    aof.fd = good_fd
    aof.cron(aof._last_error_retry + 2)  # the once-a-second retry
    assert aof.write_error() is None and state.write_refusal is None
    assert written()[1] == [b"SET", b"a", b"1"]
    assert run("SET", "b", "2") == b"+OK\r\n"


def test_always_fsyncs_and_everysec_hands_fsync_to_the_thread(setup):
    state, aof, run, written = setup
    state.config.set("appendfsync", "always")
    run("SET", "a", "1")
    state.before_reply()
    assert aof.fsync_offset == aof.current_size
    state.config.set("appendfsync", "everysec")
    aof.last_fsync = 0  # a second has passed since the last fsync
    run("SET", "b", "2")
    state.before_reply()
    assert aof.fsync_offset == aof.current_size  # asked of the background thread
    aof.bio.drain()
    assert aof.bio.pending_fsync == 0 and aof.bio.fsync_errno == 0


def test_everysec_postpones_the_write_while_an_fsync_runs(setup, monkeypatch):
    state, aof, run, written = setup
    monkeypatch.setattr(aof.bio, "fsync_in_progress", lambda: True)
    run("SET", "a", "1")
    state.before_reply()
    assert aof.buf and aof.flush_postponed_start  # not written yet: the disk is busy syncing
    aof.flush_postponed_start -= 3  # more than two seconds later
    aof.flush(False)
    assert not aof.buf and aof.delayed_fsync == 1
    assert written()[1] == [b"SET", b"a", b"1"]


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_output_is_held_until_one_write_per_loop_turn_covers_it(setup, policy):
    """Group commit: replies (and any other output, reads included) wait until the buffer is written — with
    `always` also fsynced — by one callback per event-loop turn, which then releases them in order."""
    import trio

    state, aof, run, written = setup
    state.config.set("appendfsync", policy)
    sent = []

    class Server:
        def _write(self, io, data):
            if state.before_reply is not None and state.before_reply(io, data):
                return
            sent.append((io, data))

    aof.server = Server()
    writes, fsyncs = [], []
    real_write, real_sync = os.write, os.fdatasync

    async def main():
        os.write = lambda fd, data: (writes.append(fd), real_write(fd, data))[1]
        os.fdatasync = lambda fd: (fsyncs.append(fd), real_sync(fd))[1]
        try:
            for i, io in enumerate(["c1", "c2", "c3"]):
                aof.server._write(io, run("SET", f"k{i}", "v"))
            aof.server._write("reader", run("GET", "k0"))  # observes k0: must not leave before the write
            assert sent == [] and len(aof.held) == 4
            await trio.sleep(0.01)
        finally:
            os.write, os.fdatasync = real_write, real_sync
        assert [io for io, _ in sent] == ["c1", "c2", "c3", "reader"]
        assert writes == [aof.fd]  # one write for the three clients
        assert len(fsyncs) == (1 if policy == "always" else 0)
        assert [a[1] for a in written()[1:]] == [b"k0", b"k1", b"k2"]
        assert state.before_reply is None  # nothing pending any more: output goes straight out again
        aof.server._write("c4", run("GET", "k1"))
        assert sent[-1] == ("c4", b"$1\r\nv\r\n")

    trio.run(main)
