"""Replaying the AOF at start: the manifest's base (an RDB, or commands) then its incr files, in order, through a
client that has no connection (Redis's AOF fake client).

What each kind of damage leads to, as in Redis 7.0 (loadSingleAppendOnlyFile / loadAppendOnlyFiles):
- the *last* file ends inside a command: with `aof-load-truncated yes` the torn command is cut off (the file is
  truncated to the end of the last complete command) and loading goes on; otherwise start-up is refused;
- the last file ends inside a MULTI without its EXEC: the whole transaction is reverted the same way;
- a torn command in any other file, bytes that are not a command, an unknown command, a missing file or an RDB
  base that does not load: start-up is refused, naming the file (and here also the byte offset).

Failures raise `AofLoadError` after logging Redis's lines; the caller turns it into exit code 1.
"""
from __future__ import annotations

import logging
import mmap
import os
import time

from .. import dispatch
from ..blocking import Blocked
from ..client import Client
from ..errors import CommandError
from .aof_format import BadFormat, Truncated, iter_commands
from .aof_manifest import Manifest

log = logging.getLogger("shoal.node")

OK, TRUNCATED, EMPTY, NOT_EXIST = "ok", "truncated", "empty", "not_exist"


class AofLoadError(Exception):
    """Loading cannot go on; the reason has been logged."""


class AofFakeClient(Client):
    """The client the AOF's commands run as: never blocks, never gets replies."""

    __slots__ = ()

    def __init__(self, state):
        super().__init__(state, "", "", -1)
        self.no_block = True
        self.authenticated = True


def load_files(state, manifest: Manifest, dirname: str, old_style_name: str) -> tuple[str, int, int]:
    """Load every file the manifest lists into `state`'s keyspace. Returns (status, total size, base size).
    `old_style_name` is `appendfilename`: a base with that exact name is a pre-7.0 AOF (RDB preamble + commands)."""
    files = manifest.files()
    if not files:
        return NOT_EXIST, 0, 0
    total = 0
    for info in files:
        try:
            total += os.stat(os.path.join(dirname, info.name)).st_size
        except OSError as e:
            log.warning("Unable to obtain the AOF file %s length. stat: %s", info.name, e.strerror)
            raise AofLoadError(f"AOF file {info.name} is missing or unreadable: {e.strerror}") from None
    if total == 0:
        return EMPTY, 0, 0
    base_size = 0
    status = OK
    hooks = state.propagate_hooks
    state.propagate_hooks = []  # replaying must not feed the AOF (or replicas) what it reads
    was_loading, state.loading = state.loading, True
    try:
        for i, info in enumerate(files):
            last = i == len(files) - 1
            is_base = info is manifest.base
            if is_base:
                base_size = os.stat(os.path.join(dirname, info.name)).st_size
            t0 = time.perf_counter()
            ret = load_single(state, dirname, info.name, last=last, old_style=info.name == old_style_name)
            if ret in (OK, TRUNCATED):
                log.info("DB loaded from %s file %s: %.3f seconds", "base" if is_base else "incr", info.name,
                         time.perf_counter() - t0)
            if ret == TRUNCATED:
                status = TRUNCATED
    finally:
        state.loading = was_loading
        state.propagate_hooks = hooks
    return status, total, base_size


def load_single(state, dirname: str, name: str, *, last: bool, old_style: bool = False) -> str:
    path = os.path.join(dirname, name)
    try:
        f = open(path, "r+b" if last else "rb")
    except FileNotFoundError as e:
        log.warning("The append log file %s doesn't exist: %s", name, e.strerror)
        return NOT_EXIST
    except OSError as e:
        log.warning("Fatal error: can't open the append log file %s for reading: %s", name, e.strerror)
        raise AofLoadError(f"can't open {name}: {e.strerror}") from None
    cut = None  # (offset to cut at, offset where the damage was seen) for a torn tail
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return EMPTY
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            pos = 0
            if buf[:5] == b"REDIS":
                pos = _load_rdb_part(state, f, name, old_style, size)
            client = AofFakeClient(state)
            try:
                in_multi, before_multi = _replay(client, buf, pos, size, name)
                if in_multi:
                    log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s", name)
                    cut = (before_multi, size)
            except Truncated as t:
                cut = (t.valid_up_to, t.offset)
            except BadFormat as e:
                log.warning("Bad file format reading the append only file %s: make a backup of your AOF file, "
                            "then use ./redis-check-aof --fix <filename.manifest>", name)
                log.warning("The bytes at offset %d of %s are not a command (%s)", e.offset, name, e.what)
                raise AofLoadError(f"bad file format in {name} at offset {e.offset}: {e.what}") from None
            finally:
                _discard_transaction(client)
    if cut is not None:  # the mapping is closed: the file may shrink now
        return _cut(path, name, cut[0], cut[1], last, state)
    return OK


def _load_rdb_part(state, f, name: str, old_style: bool, size: int) -> int:
    """An RDB base, or the RDB preamble of an old-style AOF. Returns the offset where commands may follow."""
    from . import rdb
    log.info("Reading RDB preamble from AOF file..." if old_style else "Reading RDB base file on AOF loading...")
    f.seek(0)
    try:
        info = rdb.load_rdb(f, state)
    except rdb.RdbError as e:
        if old_style:
            log.warning("Error reading the RDB preamble of the AOF file %s, AOF loading aborted", name)
        else:
            log.warning("Error reading the RDB base file %s, AOF loading aborted", name)
        offset = getattr(e, "offset", None)
        log.warning("RDB error in %s%s: %s", name, f" at offset {offset}" if offset is not None else "", e)
        raise AofLoadError(f"RDB error in {name} at offset {offset}: {e}") from None
    end = getattr(info, "size", 0) or f.tell()
    if old_style:
        log.info("Reading the remaining AOF tail...")
    return min(end, size)


def _replay(client: AofFakeClient, buf, pos: int, size: int, name: str) -> tuple[bool, int]:
    """Run the commands of buf[pos:size]. Returns (still inside MULTI?, offset of that MULTI). A torn command
    inside a transaction reverts the whole transaction (Truncated carries the MULTI's offset then)."""
    before_multi = pos
    table = client.state.table
    by_bytes = table.by_bytes.get
    try:
        for argv, start, stop in iter_commands(buf, pos, size):
            cmd = by_bytes(argv[0])
            n = len(argv)
            if cmd is None or cmd.needs_lookup or (n != cmd.arity and (cmd.arity > 0 or n < -cmd.arity)):
                cmd, err = dispatch.lookup(client, argv)
                if cmd is None:
                    name0 = argv[0].decode("utf-8", "replace")
                    if err.startswith("ERR unknown command"):
                        log.warning("Unknown command '%s' reading the append only file %s", name0, name)
                    else:
                        log.warning("Command '%s' at offset %d of the append only file %s cannot run: %s", name0,
                                    start, name, err)
                    raise AofLoadError(f"unknown or malformed command '{name0}' in {name} at offset {start}")
            if cmd.name == "multi":
                before_multi = start
            if client.in_multi and cmd.name != "exec":
                client.multi_queue.append((cmd, argv))
            else:
                _run(client, cmd, argv, name, start)
    except Truncated as t:
        if client.in_multi:
            raise Truncated(before_multi, t.offset) from None
        raise
    return client.in_multi, before_multi


def _run(client, cmd, argv, name: str, offset: int) -> None:
    try:
        cmd.fn(client, argv)
    except (CommandError, Blocked):
        pass  # the command failed when it first ran too (or would block): its reply went nowhere then as now
    except Exception:
        log.exception("Internal error running '%s' from the append only file %s at offset %d", cmd.name, name,
                      offset)
        raise AofLoadError(f"internal error replaying {name} at offset {offset}") from None


def _discard_transaction(client) -> None:
    client.in_multi = False
    client.multi_queue = []


def _cut(path: str, name: str, valid_up_to: int, at: int, last: bool, state) -> str:
    """A torn tail: truncate the file to `valid_up_to` when allowed (Redis's uxeof path)."""
    if state.config["aof-load-truncated"] and last:
        log.warning("!!! Warning: short read while loading the AOF file %s!!!", name)
        log.warning("!!! Truncating the AOF %s at offset %d !!!", name, valid_up_to)
        try:
            os.truncate(path, valid_up_to)
        except OSError as e:
            log.warning("Error truncating the AOF file %s: %s", name, e.strerror)
        else:
            log.warning("AOF %s loaded anyway because aof-load-truncated is enabled", name)
            return TRUNCATED
    elif state.config["aof-load-truncated"]:
        log.warning("Fatal error: the truncated file is not the last file")
        log.warning("The append only file %s ends inside a command (offset %d of %d); it is not the last file, "
                    "so it cannot be cut", name, valid_up_to, at)
        raise AofLoadError(f"{name} is truncated at offset {valid_up_to} but is not the last file")
    log.warning("Unexpected end of file reading the append only file %s. You can: 1) Make a backup of your AOF "
                "file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the "
                "'aof-load-truncated' configuration option to yes and restart the server.", name)
    raise AofLoadError(f"{name} ends inside a command after offset {valid_up_to}")
