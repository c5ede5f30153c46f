"""A new AOF base written from the keyspace: either an RDB (`aof-use-rdb-preamble yes`, helper RDB's codec) or
commands that rebuild every key, as Redis's rewriteAppendOnlyFileRio writes them.

Runs in the forked rewrite child (node/persistence/background.py), so it only reads the keyspace and writes a
file: no trio, no sockets, no changes to shared state.

Command form, per key (AOF_REWRITE_ITEMS_PER_CMD = 64 elements per command, as Redis batches them):
    string  SET k v
    list    RPUSH k e1 .. e64 ...
    set     SADD k m1 .. m64 ...
    zset    ZADD k s1 m1 .. s64 m64 ...      (scores as %.17g)
    hash    HMSET k f1 v1 .. f64 v64 ...
    stream  XADD k id f v ... per entry (or `XADD k MAXLEN 0 0-1 x y` for an empty stream), XSETID k last
            ENTRIESADDED n MAXDELETEDID id, per group XGROUP CREATE k g id ENTRIESREAD n, then per consumer its
            pending entries as XCLAIM k g c 0 id TIME ms RETRYCOUNT n JUSTID FORCE, or XGROUP CREATECONSUMER
            for a consumer without any
and PEXPIREAT k ms for a key with a time to live. Each database starts with SELECT.
"""
from __future__ import annotations

import os
import time

from ..types.hash import HashValue
from ..types.list import ListValue
from ..types.set import SetValue
from ..types.stream import StreamValue, fmt_id
from ..types.zset import ZSet
from .aof_format import encode_command
from .files import unlink_quietly

ITEMS_PER_CMD = 64
AUTOSYNC_BYTES = 4 * 1024 * 1024  # aof-rewrite-incremental-fsync: fsync every 4 MB, as Redis's rio does


class SyncingWriter:
    """A buffered binary file that, when asked, fsyncs every AUTOSYNC_BYTES so the kernel never holds a huge
    amount of dirty pages for one final fsync (which would stall the parent's own AOF fsyncs)."""

    def __init__(self, f, autosync: bool):
        self.f = f
        self.autosync = autosync
        self.unsynced = 0
        self.written = 0

    def write(self, data) -> int:
        n = self.f.write(data)
        self.written += len(data)
        if self.autosync:
            self.unsynced += len(data)
            if self.unsynced >= AUTOSYNC_BYTES:
                self.f.flush()
                os.fsync(self.f.fileno())
                self.unsynced = 0
        return n

    def flush(self) -> None:
        self.f.flush()

    def fileno(self) -> int:
        return self.f.fileno()

    def tell(self) -> int:
        return self.f.tell()


def _d(score: float) -> bytes:
    return b"%.17g" % score


def _batches(items: list, per: int):
    for i in range(0, len(items), per):
        yield items[i:i + per]


def key_commands(key: bytes, value) -> list[bytes]:
    """The encoded commands that rebuild one key (without its expiry)."""
    if isinstance(value, (bytes, bytearray)):
        return [encode_command((b"SET", key, bytes(value)))]
    if isinstance(value, ListValue):
        return [encode_command([b"RPUSH", key, *chunk]) for chunk in _batches(list(value), ITEMS_PER_CMD)]
    if isinstance(value, SetValue):
        return [encode_command([b"SADD", key, *chunk]) for chunk in _batches(value.members(), ITEMS_PER_CMD)]
    if isinstance(value, ZSet):
        out = []
        for chunk in _batches(list(value), ITEMS_PER_CMD):
            argv = [b"ZADD", key]
            for score, member in chunk:
                argv.append(_d(score))
                argv.append(member)
            out.append(encode_command(argv))
        return out
    if isinstance(value, HashValue):
        out = []
        for chunk in _batches(value.items(), ITEMS_PER_CMD):
            argv = [b"HMSET", key]
            for f, v in chunk:
                argv.append(f)
                argv.append(v)
            out.append(encode_command(argv))
        return out
    if isinstance(value, StreamValue):
        return stream_commands(key, value)
    raise TypeError(f"no AOF form for a value of type {type(value).__name__}")


def stream_commands(key: bytes, s: StreamValue) -> list[bytes]:
    out = []
    if s.length:
        for eid, fv in s.entries():
            out.append(encode_command([b"XADD", key, fmt_id(eid), *fv]))
    else:
        # an empty stream still exists as a key: create it with one entry trimmed away at once
        out.append(encode_command((b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y")))
    out.append(encode_command((b"XSETID", key, fmt_id(s.last_id), b"ENTRIESADDED", b"%d" % s.entries_added,
                               b"MAXDELETEDID", fmt_id(s.max_deleted))))
    for name, grp in (s.groups or {}).items():
        out.append(encode_command((b"XGROUP", b"CREATE", key, name, fmt_id(grp.last_id), b"ENTRIESREAD",
                                   b"%d" % grp.entries_read)))
        for cname, cons in grp.consumers.items():
            if not cons.pel:
                out.append(encode_command((b"XGROUP", b"CREATECONSUMER", key, name, cname)))
                continue
            for eid, nack in cons.pel.items():
                out.append(encode_command((b"XCLAIM", key, name, cname, b"0", fmt_id(eid), b"TIME",
                                           b"%d" % nack.delivery_time, b"RETRYCOUNT",
                                           b"%d" % nack.delivery_count, b"JUSTID", b"FORCE")))
    return out


def write_aof_commands(f, state) -> int:
    """Every key of every database as commands into `f`; returns the number of keys written."""
    keys = 0
    if state.config["aof-timestamp-enabled"]:
        f.write(b"#TS:%d\r\n" % int(time.time()))  # the point in time the rewrite describes
    delay = state.config["rdb-key-save-delay"]  # a testing knob Redis applies to AOF rewrites too (microseconds)
    for db in state.keyspace.dbs:
        data = db.data
        if not data:
            continue
        f.write(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(b"%d" % db.id), db.id))
        expires = db.expires
        for key, value in data.items():
            if value.__class__ is bytes:
                f.write(encode_command((b"SET", key, value)))
            else:
                for cmd in key_commands(key, value):
                    f.write(cmd)
            when = expires.get(key)
            if when is not None:
                f.write(encode_command((b"PEXPIREAT", key, b"%d" % when)))
            keys += 1
            if delay > 0:
                time.sleep(delay / 1e6)
    return keys


def write_base(path: str, state, *, preamble: bool, autosync: bool) -> dict:
    """Write a complete base file at `path` (via a temp file in the same directory, fsync'd, renamed).
    Returns what the child reports (keys written, bytes)."""
    tmp = os.path.join(os.path.dirname(path) or ".", f"temp-rewriteaof-{os.getpid()}.aof")
    try:
        with open(tmp, "wb", buffering=1 << 20) as raw:
            f = SyncingWriter(raw, autosync)
            if preamble:
                from . import rdb
                rdb.write_rdb(f, state, aux={"aof-base": 1})
                keys = sum(len(db.data) for db in state.keyspace.dbs)
            else:
                keys = write_aof_commands(f, state)
            raw.flush()
            os.fsync(raw.fileno())
            size = f.written
        os.rename(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return {"keys": keys, "bytes": size}
