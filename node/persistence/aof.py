"""The append-only file, Redis 7.0's multi-part form: every write command is appended to an INCR file, a rewrite
replaces everything before it with a new BASE, and a manifest names the files (see aof_manifest.py).

The write path, as Redis's feedAppendOnlyFile / flushAppendOnlyFile:
- `feed(dbid, argv)` is a propagate hook: each write that changed the dataset is encoded as a RESP array into an
  in-memory buffer (with a SELECT when the database changes). PUBLISH/SPUBLISH are propagated to replicas only
  (Redis's PROPAGATE_REPL), so they are filtered out here by name. A transaction arrives as MULTI, its writes,
  EXEC, all during one command, so it reaches the file in one write(2).
- Before replies leave the node, `state.before_reply` (armed only while the AOF has something pending, so a read
  costs one attribute test) makes sure the buffer is in the file: the client is told "OK" only after its write is
  in the kernel, so a kill -9 cannot lose an acknowledged write. As Redis writes once per event-loop turn, the
  hook holds the output back and one callback per trio scheduling round (`group_commit`) writes the buffer for
  every client served in that round, then releases their output in order: one write(2) for many clients instead
  of one each (measured about 1.4x the throughput of a write per client with 50 clients).
- fsync policy: `always` fsyncs before replying — as a group commit: the hook keeps the output back (every
  output, reads included, so no client can observe a write before it is synced) and one fsync per event-loop
  turn releases all of it, as Redis's beforeSleep does; `everysec` asks the background thread (aof_bio.py) to fsync at
  most once a second, and while that fsync is still running postpones writing for up to 2 s (counted in
  aof_delayed_fsync) rather than blocking the event loop on a disk that is busy syncing; `no` leaves it to the OS.
- A failed or short write is undone (ftruncate to the last good size) and the data stays buffered; with `always`
  the node exits (the reply may already be owed and Redis's contract is broken), otherwise writes are refused with
  "MISCONF Errors writing to the AOF file: <reason>" until a retry (every cron second) succeeds.

Rewrite (BGREWRITEAOF, automatic growth, or switching AOF on): the parent opens a new INCR file that receives
writes from then on, and forks a child (the lead's BackgroundJobs) that writes a new BASE from the keyspace it
sees at the fork. When the child succeeds, the parent renames its file into the directory, writes a manifest of
the new base + the INCR opened at the start, and deletes the old files. If anything fails the old manifest and
files stay valid; nothing the parent wrote meanwhile is lost since it went to the new INCR file either way.

Switching AOF on at run time (CONFIG SET appendonly yes) is AOF_WAIT_REWRITE: writes go to a temporary INCR file
only while the child runs (before that the child's snapshot will contain them), and the switch completes when the
first base is in place.
"""
from __future__ import annotations

import errno
import logging
import os
import time

from ..config import ConfigError
from . import aof_manifest as mf
from .aof_bio import FsyncWorker
from .aof_format import encode_command, select_command
from .aof_loader import EMPTY, NOT_EXIST, AofLoadError, load_files
from .aof_rewrite import write_base
from .files import unlink_quietly

log = logging.getLogger("shoal.node")

OFF, ON, WAIT_REWRITE = "off", "on", "wait_rewrite"

# propagated to replicas only, never to the AOF (Redis's PROPAGATE_REPL for PUBLISH and SPUBLISH)
_REPL_ONLY = frozenset({b"publish", b"spublish"})
_MULTI = frozenset({b"multi", b"MULTI"})
_EXEC = frozenset({b"exec", b"EXEC"})

WRITE_ERROR_LOG_RATE = 30  # seconds between two logs of the same write error (AOF_WRITE_LOG_ERROR_RATE)
REWRITE_LIMIT_THRESHOLD = 3  # consecutive failed rewrites before automatic ones are delayed
REWRITE_LIMIT_MAX_MINUTES = 60


def _now() -> int:
    return int(time.time())


class Aof:
    def __init__(self, state):
        self.state = state
        self.config = state.config
        self.status = OFF
        self.fd = -1
        self.buf: list[bytes] = []
        self.selected_db = -1
        self._multi_at = -1  # buffer index of a MULTI not yet followed by anything
        self.manifest = mf.Manifest()
        self.current_size = 0  # base + incr files, bytes
        self.last_incr_size = 0  # the open incr file, bytes
        self.rewrite_base_size = 0
        self.fsync_offset = 0
        self.last_fsync = _now()
        self.flush_postponed_start = 0
        self.delayed_fsync = 0
        self.last_write_ok = True
        self.last_write_errno = 0
        self._last_error_log = 0
        self._last_error_retry = 0.0
        self.rewrite_scheduled = False
        self.rewrite_time_start = -1.0
        self.rewrite_time_last = -1
        self.lastbgrewrite_ok = True
        self.rewrites = 0
        self.consecutive_failures = 0
        self.last_cow_size = 0
        self.child_pid = -1
        self._child_rdb = True  # the format the running child writes (fixed at fork time)
        self._killing = False
        self._limit_delay_minutes = 0
        self._limit_next_time = 0
        self.bio = FsyncWorker()
        self._write_error_shown: str | None = None
        # set by the lead's persistence wiring to recompute the node's write gate; without it the AOF sets
        # state.write_refusal itself
        self.on_write_status_change = None
        self.timestamps = bool(self.config["aof-timestamp-enabled"])
        self._cur_timestamp = 0
        self.config.on_change("aof-timestamp-enabled", lambda v, old: setattr(self, "timestamps", bool(v)))
        # appendfsync always: output held until the next group fsync (see before_reply)
        self.server = None
        self.held: list = []
        self._releasing = False
        self._commit_scheduled = False
        self._token = None

    # ------------------------------------------------------------------ names

    @property
    def dirname(self) -> str:
        return self.config["appenddirname"]

    @property
    def filename(self) -> str:
        return self.config["appendfilename"]

    def _path(self, name: str) -> str:
        return os.path.join(self.dirname, name)

    # ------------------------------------------------------------------ start-up

    def load_on_start(self) -> None:
        """aofLoadManifestFromDisk + loadDataFromDisk (AOF part) + aofOpenIfNeededOnServerStart +
        aofDelHistoryFiles. Raises SystemExit(1) when Redis would refuse to start."""
        try:
            # the manifest is read even with AOF off, as Redis does: BGREWRITEAOF and switching AOF on later
            # continue its sequence numbers
            self._read_manifest()
            if not self.config["appendonly"]:
                self._delete_history()
                return
            self.status = ON
            self._upgrade_if_needed()
            t0 = time.perf_counter()
            ret, total, base = load_files(self.state, self.manifest, self.dirname, self.filename)
            if ret != NOT_EXIST:
                log.info("DB loaded from append only file: %.3f seconds", time.perf_counter() - t0)
            if ret not in (NOT_EXIST, EMPTY):
                self.current_size = total
                self.rewrite_base_size = base
                self.fsync_offset = total
            self._open_on_start()
            self._delete_history()
        except AofLoadError as e:
            log.warning("AOF loading failed: %s", e)
            raise SystemExit(1) from None
        except mf.ManifestError as e:
            log.warning("*** FATAL AOF MANIFEST FILE ERROR ***")
            if e.linenum:
                log.warning("Reading the manifest file, at line %d", e.linenum)
                log.warning(">>> '%s'", e.line)
            log.warning("%s", e.msg)
            raise SystemExit(1) from None
        except OSError as e:
            log.warning("AOF start-up failed: %s", e)
            raise SystemExit(1) from None

    def _read_manifest(self) -> None:
        if not os.path.isdir(self.dirname):
            log.debug("The AOF directory %s doesn't exist", self.dirname)
            return
        m = mf.load(self.dirname, self.filename)
        if m is None:
            log.debug("The AOF manifest file %s doesn't exist", mf.manifest_name(self.filename))
            return
        self.manifest = m

    def _upgrade_if_needed(self) -> None:
        """A pre-7.0 `appendonly.aof` in `dir` becomes the base of a new manifest (Redis's aofUpgradePrepare)."""
        name = self.filename
        if not os.path.isfile(name):
            return
        m = self.manifest
        if not (not os.path.isdir(self.dirname) or m.empty
                or (m.base is not None and not m.incrs and m.base.name == name
                    and not os.path.exists(self._path(name)))):
            return
        os.makedirs(self.dirname, exist_ok=True)
        m = mf.Manifest(base=mf.AofInfo(name, 1, mf.BASE), base_seq=1)
        mf.persist(m, self.dirname, name)
        try:
            os.rename(name, self._path(name))
        except OSError as e:
            log.warning("Error trying to move the old AOF file %s into dir %s: %s", name, self.dirname, e.strerror)
            raise
        self.manifest = m
        log.info("Successfully migrated an old-style AOF file (%s) into the AOF directory (%s).", name,
                 self.dirname)

    def _open_on_start(self) -> None:
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as e:
            log.warning("Can't open or create append-only dir %s: %s", self.dirname, e.strerror)
            raise
        m = self.manifest
        had_incr = bool(m.incrs)
        if m.empty:
            # an empty dataset still gets a base file, so the directory always describes a loadable dataset
            base = m.new_base(self.filename, self.config["aof-use-rdb-preamble"])
            write_base(self._path(base), self.state, preamble=self.config["aof-use-rdb-preamble"],
                       autosync=self.config["aof-rewrite-incremental-fsync"])
            log.info("Creating AOF base file %s on server start", base)
        name = m.last_incr(self.filename)
        self.fd = os.open(self._path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        mf.persist(m, self.dirname, self.filename)
        # as in Redis, a base created here is not counted in aof_current_size / aof_base_size (both stay 0
        # until the first rewrite): the sizes come from what was loaded
        self.last_incr_size = os.fstat(self.fd).st_size
        log.info("%s AOF incr file %s on server start", "Opening" if had_incr else "Creating", name)

    def _size(self, name: str) -> int:
        try:
            return os.stat(self._path(name)).st_size
        except OSError:
            return 0

    # ------------------------------------------------------------------ feeding

    def feed(self, dbid: int, argv: list) -> None:
        """Propagate hook: buffer one write (see the module docstring for what is filtered)."""
        if self.status is not ON and not (self.status is WAIT_REWRITE and self.child_pid != -1):
            return
        name = argv[0]
        buf = self.buf
        n = len(name)
        if n == 4:
            if name in _EXEC or name.lower() == b"exec":
                if self._multi_at >= 0 and self._multi_at == len(buf) - 1:
                    del buf[self._multi_at]  # nothing of the transaction reached the AOF: drop MULTI, skip EXEC
                    self._multi_at = -1
                    self._disarm_if_empty()
                    return
                self._multi_at = -1
                buf.append(b"*1\r\n$4\r\nEXEC\r\n")
                self._arm()
                return
        elif n == 5:
            if name in _MULTI or name.lower() == b"multi":
                if self.timestamps:
                    self._annotate_time()
                if dbid != self.selected_db:
                    buf.append(select_command(dbid))
                    self.selected_db = dbid
                self._multi_at = len(buf)
                buf.append(b"*1\r\n$5\r\nMULTI\r\n")
                self._arm()
                return
        elif (n == 7 or n == 8) and name.lower() in _REPL_ONLY:
            return
        if self.timestamps:
            self._annotate_time()
        if dbid != self.selected_db:
            buf.append(select_command(dbid))
            self.selected_db = dbid
        buf.append(encode_command(argv))
        self._multi_at = -1
        self._arm()

    def _annotate_time(self) -> None:
        """aof-timestamp-enabled: a `#TS:<unix time>` line before the first command of each second (loaders skip
        it; redis-check-aof can cut a file at a point in time with it)."""
        now = _now()
        if now > self._cur_timestamp:
            self._cur_timestamp = now
            self.buf.append(b"#TS:%d\r\n" % now)

    def _arm(self) -> None:
        st = self.state
        if st.before_reply is None:
            st.before_reply = self.before_reply

    def _disarm_if_empty(self) -> None:
        if not self.buf and not self.held and self.state.before_reply == self.before_reply:
            self.state.before_reply = None

    def before_reply(self, io=None, data: bytes = b"") -> bool:
        """Server hook, called before output leaves the node while the AOF has something pending. Returns True
        when it keeps `data` back: until the buffer is written (one write per event-loop turn for every client
        served in it, instead of one per client), and with appendfsync always until an fsync covers every write
        made so far. The server gets held output back through `_write`, in order. Without a server (tests,
        tools) it writes at once."""
        if self._releasing:
            return False
        if self.held:  # output is held: everything after it waits too, in order
            self.held.append((io, data))
            return True
        if self.server is not None and io is not None:
            if self.buf or (self.fsync_offset < self.current_size and self.config["appendfsync"] == "always"):
                self.held.append((io, data))
                self._schedule_group_commit()
                return True
        elif self.buf:
            self.flush(False)
        self._disarm_if_empty()
        return False

    def _schedule_group_commit(self) -> None:
        """Redis writes (and with `always` fsyncs) once per event-loop turn for every client served in it. Here
        that happens in a callback trio runs after the tasks already runnable: every client whose request arrived
        in the same turn has buffered its command and queued its reply by then, and one write (+ fsync) releases
        them all."""
        if self._commit_scheduled:
            return
        if self._token is None:
            import trio
            self._token = trio.lowlevel.current_trio_token()
        self._commit_scheduled = True
        self._token.run_sync_soon(self._group_commit_callback)

    def _group_commit_callback(self) -> None:
        # an exception escaping a run_sync_soon callback would take trio down with it
        try:
            self.group_commit()
        except Exception:
            log.exception("error while writing the AOF buffer; held output is released")
            held, self.held = self.held, []
            self._releasing = True
            try:
                for io, data in held:
                    self.server._write(io, data)
            except Exception:
                log.exception("error while releasing held output")
            finally:
                self._releasing = False

    def group_commit(self) -> None:
        self._commit_scheduled = False
        if self.fd >= 0:
            if self.buf:
                self.flush(False, defer_always_fsync=True)
            skip = self.config["no-appendfsync-on-rewrite"] and self.state.background.busy()
            if self.config["appendfsync"] == "always" and self.fsync_offset < self.current_size and not skip:
                self._fsync_or_exit(_now())
        held, self.held = self.held, []
        self._releasing = True
        try:
            for io, data in held:
                self.server._write(io, data)
        finally:
            self._releasing = False
        self._disarm_if_empty()

    # ------------------------------------------------------------------ writing

    def flush(self, force: bool, defer_always_fsync: bool = False) -> None:
        """flushAppendOnlyFile: write the buffer (one write for all of it) and fsync as the policy says
        (`always` leaves its fsync to group_commit when `defer_always_fsync`)."""
        if self.fd < 0:
            self.buf.clear()
            return
        policy = self.config["appendfsync"]
        now = _now()
        if not self.buf:
            # everysec: data written without a write since may still wait for its fsync
            if policy == "everysec" and self.fsync_offset != self.current_size and now > self.last_fsync \
                    and not self.bio.fsync_in_progress():
                self._try_fsync(policy, now, False)
            return
        sync_in_progress = policy == "everysec" and self.bio.fsync_in_progress()
        if sync_in_progress and not force:
            if not self.flush_postponed_start:
                self.flush_postponed_start = now
                return
            if now - self.flush_postponed_start < 2:
                return
            self.delayed_fsync += 1
            log.info("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without "
                     "waiting for fsync to complete, this may slow down Redis.")
        data = self.buf[0] if len(self.buf) == 1 else b"".join(self.buf)
        written, err = _write_all(self.fd, data)
        self.flush_postponed_start = 0
        if written != len(data):
            self._write_failed(data, written, err, policy, now)
            return
        if not self.last_write_ok:
            log.warning("AOF write error looks solved, Redis can write again.")
            self.last_write_ok = True
            self._write_status_changed()
        self.current_size += written
        self.last_incr_size += written
        self.buf.clear()
        self._multi_at = -1
        if defer_always_fsync and policy == "always":
            return
        self._try_fsync(policy, now, sync_in_progress)

    def _write_failed(self, data: bytes, written: int, err: int, policy: str, now: int) -> None:
        can_log = now - self._last_error_log > WRITE_ERROR_LOG_RATE
        if can_log:
            self._last_error_log = now
        if written <= 0:
            if can_log:
                log.warning("Error writing to the AOF file: %s", os.strerror(err))
            self.last_write_errno = err
            written = 0
        else:
            if can_log:
                log.warning("Short write while writing to the AOF file: (nwritten=%d, expected=%d)", written,
                            len(data))
            try:
                os.ftruncate(self.fd, self.last_incr_size)
                written = 0  # undone: the file ends where it did
            except OSError as e:
                if can_log:
                    log.warning("Could not remove short write from the append-only file.  Redis may refuse to "
                                "load the AOF the next time it starts.  ftruncate: %s", e.strerror)
            self.last_write_errno = err or errno.ENOSPC
        if policy == "always":
            log.warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...")
            logging.shutdown()
            os._exit(1)
        if written > 0:
            self.current_size += written
            self.last_incr_size += written
            rest = data[written:]
            self.buf[:] = [rest]
        else:
            self.buf[:] = [data]
        self._multi_at = -1
        if self.last_write_ok:
            self.last_write_ok = False
            self._write_status_changed()

    def _fsync_or_exit(self, now: int) -> None:
        """appendfsync always: a write we cannot make durable breaks the promise made to the client, so the
        node stops, as Redis does."""
        try:
            os.fdatasync(self.fd)
        except OSError as e:
            log.warning("Can't persist AOF for fsync error when the AOF fsync policy is 'always': %s. "
                        "Exiting...", e.strerror)
            logging.shutdown()
            os._exit(1)
        self.fsync_offset = self.current_size
        self.last_fsync = now

    def _try_fsync(self, policy: str, now: int, sync_in_progress: bool) -> None:
        if self.config["no-appendfsync-on-rewrite"] and self.state.background.busy():
            return
        if policy == "always":
            self._fsync_or_exit(now)
        elif policy == "everysec" and now > self.last_fsync:
            if not sync_in_progress:
                self.bio.fsync(self.fd)
                self.fsync_offset = self.current_size
            self.last_fsync = now

    # ------------------------------------------------------------------ the write gate

    def write_error(self) -> str | None:
        """The MISCONF error writes get while the AOF cannot be written (None when all is well)."""
        if self.status is OFF:
            return None
        if not self.last_write_ok:
            return f"MISCONF Errors writing to the AOF file: {os.strerror(self.last_write_errno)}"
        if self.bio.fsync_errno:
            return f"MISCONF Errors writing to the AOF file: {os.strerror(self.bio.fsync_errno)}"
        return None

    def _write_status_changed(self) -> None:
        shown = self.write_error()
        if shown == self._write_error_shown:
            return
        self._write_error_shown = shown
        if self.on_write_status_change is not None:
            self.on_write_status_change()
        else:
            self.state.write_refusal = shown

    # ------------------------------------------------------------------ rewrite

    def bgrewriteaof(self, in_exec: bool = False):
        """BGREWRITEAOF's reply (a status text) or a CommandError, as Redis's bgrewriteaofCommand."""
        from ..errors import CommandError
        from ..resp import Simple
        bg = self.state.background
        if bg.busy("aof"):
            raise CommandError("ERR Background append only file rewriting already in progress")
        if bg.busy() or in_exec:
            self.rewrite_scheduled = True
            self.consecutive_failures = 0
            return Simple("Background append only file rewriting scheduled")
        if self.start_rewrite():
            return Simple("Background append only file rewriting started")
        raise CommandError("ERR Can't execute an AOF background rewriting. Please check the server logs for more "
                           "information.")

    def start_rewrite(self) -> bool:
        """rewriteAppendOnlyFileBackground."""
        bg = self.state.background
        if bg.busy():
            return False
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as e:
            log.warning("Can't open or create append-only dir %s: %s", self.dirname, e.strerror)
            self.lastbgrewrite_ok = False
            return False
        self.selected_db = -1  # the new incr file starts with a SELECT
        self.flush(True)
        if not self._open_new_incr():
            self.lastbgrewrite_ok = False
            return False
        self.rewrites += 1
        preamble = bool(self.config["aof-use-rdb-preamble"])
        autosync = bool(self.config["aof-rewrite-incremental-fsync"])
        state = self.state

        def child() -> dict:
            tmp = f"temp-rewriteaof-bg-{os.getpid()}.aof"
            info = write_base(tmp, state, preamble=preamble, autosync=autosync)
            log.info("Successfully created the temporary AOF base file %s", tmp)
            return info

        try:
            pid = bg.start("aof", child, self._rewrite_done)
        except OSError as e:
            self.lastbgrewrite_ok = False
            log.warning("Can't rewrite append only file in background: fork: %s", e.strerror)
            return False
        self._child_rdb = preamble
        self.child_pid = pid
        log.info("Background append only file rewriting started by pid %d", pid)
        self.rewrite_scheduled = False
        self.rewrite_time_start = time.time()
        return True

    def _open_new_incr(self) -> bool:
        """openNewIncrAofForAppend: new writes go to a new incr file from now on (a temporary one while AOF is
        being switched on)."""
        if self.status is OFF:
            return True
        temp_m = None
        if self.status is WAIT_REWRITE:
            name = mf.temp_incr_name(self.filename)
        else:
            temp_m = self.manifest.copy()
            name = temp_m.new_incr(self.filename)
        try:
            newfd = os.open(self._path(name), os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            log.warning("Can't open the append-only file %s: %s", name, e.strerror)
            return False
        if temp_m is not None:
            try:
                mf.persist(temp_m, self.dirname, self.filename)
            except OSError as e:
                log.warning("Can't persist the AOF manifest while opening %s: %s", name, e.strerror)
                os.close(newfd)
                return False
        log.info("Creating AOF incr file %s on background rewrite", name)
        if self.fd != -1:
            # everysec may sync it late, always has synced it already: either way not on the event loop
            self.bio.fsync_and_close(self.fd)
            self.fsync_offset = self.current_size
            self.last_fsync = _now()
        self.fd = newfd
        self.last_incr_size = 0
        if temp_m is not None:
            self.manifest = temp_m
        return True

    def _rewrite_done(self, ok: bool, kind: str) -> None:
        """backgroundRewriteDoneHandler: called from the cron once the child has exited."""
        pid, self.child_pid = self.child_pid, -1
        killed, self._killing = self._killing, False
        report = getattr(self.state.background, "last_report", None)
        if report is not None:
            self.last_cow_size = report.cow_bytes
        if ok:
            self._install_new_base(pid)
        elif killed:
            log.warning("Background AOF rewrite terminated by signal %d", 10)
        else:
            self.lastbgrewrite_ok = False
            self.consecutive_failures += 1
            log.warning("Background AOF rewrite terminated with error")
        for tmp in (f"temp-rewriteaof-bg-{pid}.aof", f"temp-rewriteaof-{pid}.aof"):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if self.status is WAIT_REWRITE:
            self.buf.clear()
            self._disarm_if_empty()
            try:
                os.unlink(self._path(mf.temp_incr_name(self.filename)))
                log.info("Removing the temp incr aof file %s in the background", mf.temp_incr_name(self.filename))
            except OSError:
                pass
        if self.rewrite_time_start >= 0:
            self.rewrite_time_last = int(time.time() - self.rewrite_time_start)
        self.rewrite_time_start = -1.0
        if self.status is WAIT_REWRITE:
            self.rewrite_scheduled = True

    def _install_new_base(self, pid: int) -> None:
        log.info("Background AOF rewrite terminated with success")
        tmpfile = f"temp-rewriteaof-bg-{pid}.aof"
        m = self.manifest.copy()
        base = m.new_base(self.filename, self._child_rdb)
        base_path = self._path(base)
        try:
            os.rename(tmpfile, base_path)
        except OSError as e:
            log.warning("Error trying to rename the temporary AOF base file %s into %s: %s", tmpfile, base_path,
                        e.strerror)
            self._rewrite_failed()
            return
        log.info("Successfully renamed the temporary AOF base file %s into %s", tmpfile, base)
        new_incr_path = None
        if self.status is WAIT_REWRITE:
            temp_name = mf.temp_incr_name(self.filename)
            incr = m.new_incr(self.filename)
            new_incr_path = self._path(incr)
            try:
                os.rename(self._path(temp_name), new_incr_path)
            except OSError as e:
                log.warning("Error trying to rename the temporary AOF incr file %s into %s: %s", temp_name,
                            new_incr_path, e.strerror)
                unlink_quietly(base_path)
                self._rewrite_failed()
                return
            log.info("Successfully renamed the temporary AOF incr file %s into %s", temp_name, incr)
        m.retire_incrs(keep_last=self.fd != -1)
        try:
            mf.persist(m, self.dirname, self.filename)
        except OSError as e:
            log.warning("Can't persist the AOF manifest after the rewrite: %s", e.strerror)
            unlink_quietly(base_path)
            if new_incr_path:
                unlink_quietly(new_incr_path)
            self._rewrite_failed()
            return
        self.manifest = m
        if self.fd != -1:
            self.selected_db = -1
            self.current_size = self._size(base) + self.last_incr_size
            self.rewrite_base_size = self.current_size
            self.fsync_offset = self.current_size
            self.last_fsync = _now()
        self._delete_history()
        self.lastbgrewrite_ok = True
        self.consecutive_failures = 0
        log.info("Background AOF rewrite finished successfully")
        if self.status is WAIT_REWRITE:
            self.status = ON

    def _rewrite_failed(self) -> None:
        self.lastbgrewrite_ok = False
        self.consecutive_failures += 1

    def _delete_history(self) -> None:
        m = self.manifest
        if self.config["aof-disable-auto-gc"] or not m.history:
            return
        for a in m.history:
            log.info("Removing the history file %s in the background", a.name)
            self.bio.unlink(self._path(a.name))
        m.history = []
        try:
            mf.persist(m, self.dirname, self.filename)
        except OSError as e:
            log.warning("Can't persist the AOF manifest after removing history files: %s", e.strerror)

    def _rewrite_limited(self, now: int) -> bool:
        """aofRewriteLimited: after 3 failures in a row, automatic rewrites wait 1, 2, 4 ... 60 minutes."""
        if self.consecutive_failures < REWRITE_LIMIT_THRESHOLD:
            self._limit_delay_minutes = 0
            self._limit_next_time = 0
            return False
        if self._limit_next_time:
            if now < self._limit_next_time:
                return True
            self._limit_next_time = 0
            return False
        self._limit_delay_minutes = min(REWRITE_LIMIT_MAX_MINUTES, max(1, self._limit_delay_minutes * 2))
        self._limit_next_time = now + self._limit_delay_minutes * 60
        log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in %d "
                    "minutes", self._limit_delay_minutes)
        return True

    def kill_child(self) -> None:
        """killAppendOnlyChild: stop a running rewrite (its on_done sees the kill)."""
        bg = self.state.background
        if not bg.busy("aof"):
            return
        log.info("Killing running AOF rewrite child: %d", self.child_pid)
        self._killing = True
        bg.kill("aof")

    # ------------------------------------------------------------------ on / off at run time

    def on_appendonly_change(self, new, old) -> None:
        if new and self.status is OFF:
            if not self.start():
                raise ConfigError("Unable to turn on AOF. Check server logs.")
        elif not new and self.status is not OFF:
            self.stop()

    def start(self, in_exec: bool = False) -> bool:
        """startAppendOnly."""
        self.status = WAIT_REWRITE
        bg = self.state.background
        if bg.busy() and not bg.busy("aof"):
            self.rewrite_scheduled = True
            log.warning("AOF was enabled but there is already another background operation. An AOF background "
                        "was scheduled to start when possible.")
        elif in_exec:
            self.rewrite_scheduled = True
            log.warning("AOF was enabled during a transaction. An AOF background was scheduled to start when "
                        "possible.")
        else:
            if bg.busy("aof"):
                log.warning("AOF was enabled but there is already an AOF rewriting in background. Stopping "
                            "background AOF and starting a rewrite now.")
                self.kill_child()
            if not self.start_rewrite():
                self.status = OFF
                log.warning("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. "
                            "Check the above logs for more info about the error.")
                return False
        self.last_fsync = _now()
        if self.bio.fsync_errno:
            log.warning("AOF reopen, just ignore the AOF fsync error in bio job")
            self.bio.fsync_errno = 0
        if not self.last_write_ok:
            log.warning("AOF reopen, just ignore the last error.")
            self.last_write_ok = True
        self._write_status_changed()
        return True

    def stop(self) -> None:
        """stopAppendOnly: flush, fsync and close; a running rewrite is abandoned."""
        self.flush(True)
        if self.fd != -1:
            self.bio.drain()
            try:
                os.fsync(self.fd)
                self.fsync_offset = self.current_size
                self.last_fsync = _now()
            except OSError as e:
                log.warning("Fail to fsync the AOF file: %s", e.strerror)
            os.close(self.fd)
        self.fd = -1
        self.selected_db = -1
        self.status = OFF
        self.rewrite_scheduled = False
        self.last_incr_size = 0
        self.kill_child()
        self.buf.clear()
        self._multi_at = -1
        self._disarm_if_empty()
        self._write_status_changed()

    def on_shutdown(self) -> None:
        """prepareForShutdown's AOF part: abandon a rewrite, write what is buffered and fsync it."""
        self.kill_child()
        if self.held:
            self.group_commit()
        if self.status is not OFF and self.fd != -1:
            self.flush(True)
            log.info("Calling fsync() on the AOF file.")
            self.bio.drain()
            try:
                os.fsync(self.fd)
            except OSError as e:
                log.warning("Fail to fsync the AOF file: %s", e.strerror)

    # ------------------------------------------------------------------ cron

    def cron(self, now: float) -> None:
        bg = self.state.background
        inow = int(now)
        if not bg.busy() and self.rewrite_scheduled and not self._rewrite_limited(inow):
            self.start_rewrite()
        if self.status is ON and not bg.busy():
            perc = self.config["auto-aof-rewrite-percentage"]
            if perc and self.current_size > self.config["auto-aof-rewrite-min-size"]:
                base = self.rewrite_base_size or 1
                growth = self.current_size * 100 // base - 100
                if growth >= perc and not self._rewrite_limited(inow):
                    log.info("Starting automatic rewriting of AOF on %d%% growth", growth)
                    self.start_rewrite()
        if self.status is OFF:
            return
        if self.flush_postponed_start or not self.buf:
            self.flush(False)  # a postponed write, or an everysec fsync still owed
        if not self.last_write_ok and now - self._last_error_retry >= 1:
            self._last_error_retry = now
            self.flush(False)
        if self.bio.fsync_errno or self._write_error_shown:
            self._write_status_changed()

    # ------------------------------------------------------------------ INFO

    def info_fields(self) -> list[tuple[str, object]]:
        """The AOF lines of INFO persistence, in Redis's order (from aof_enabled to the end of the section)."""
        bg = self.state.background
        rewriting = bg.busy("aof")
        write_ok = self.last_write_ok and not self.bio.fsync_errno
        fields: list[tuple[str, object]] = [
            ("aof_enabled", int(self.status is not OFF)),
            ("aof_rewrite_in_progress", int(rewriting)),
            ("aof_rewrite_scheduled", int(self.rewrite_scheduled)),
            ("aof_last_rewrite_time_sec", self.rewrite_time_last),
            ("aof_current_rewrite_time_sec",
             int(time.time() - self.rewrite_time_start) if self.rewrite_time_start >= 0 else -1),
            ("aof_last_bgrewrite_status", "ok" if self.lastbgrewrite_ok else "err"),
            ("aof_rewrites", self.rewrites),
            ("aof_rewrites_consecutive_failures", self.consecutive_failures),
            ("aof_last_write_status", "ok" if write_ok else "err"),
            ("aof_last_cow_size", self.last_cow_size),
            ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
        ]
        if self.status is not OFF:
            fields += [
                ("aof_current_size", self.current_size),
                ("aof_base_size", self.rewrite_base_size),
                ("aof_pending_rewrite", int(self.rewrite_scheduled)),
                ("aof_buffer_length", sum(map(len, self.buf))),
                ("aof_pending_bio_fsync", self.bio.pending_fsync),
                ("aof_delayed_fsync", self.delayed_fsync),
            ]
        return fields


def _write_all(fd: int, data: bytes) -> tuple[int, int]:
    """aofWrite: retry short writes; returns (bytes written, errno of the failure or 0)."""
    total = 0
    view = memoryview(data)
    while total < len(data):
        try:
            n = os.write(fd, view[total:])
        except InterruptedError:
            continue
        except OSError as e:
            return total, e.errno or errno.EIO
        if n == 0:
            return total, errno.ENOSPC
        total += n
    return total, 0


def attach(aof: Aof, state, server=None) -> Aof:
    """Plug a loaded AOF into the node: propagation, the before-reply flush, the cron, CONFIG SET, shutdown.
    Only after `load_on_start`: replaying the file must not feed the file."""
    aof.server = server
    state.propagate_hooks.append(aof.feed)
    state.cron_hooks.append(aof.cron)
    state.config.on_change("appendonly", aof.on_appendonly_change)
    # switching to always: fsyncs still queued for the background thread finish first (Redis drains its bio job)
    state.config.on_change("appendfsync", lambda new, old: aof.bio.drain() if new == "always" else None)
    if server is not None:
        async def _shutdown_hook() -> None:
            aof.on_shutdown()
        server.shutdown_hooks.append(_shutdown_hook)
    state.aof = aof
    return aof
