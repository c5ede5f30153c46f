"""Snapshots: SAVE, BGSAVE, the `save` rules, load on start, and the MISCONF gate after a failed background save.

The file is Redis 7.0's RDB (rdb.py). A save writes `temp-<pid>.rdb` in `dir`, fsyncs it, renames it over
`dbfilename` and fsyncs the directory, so a crash at any point leaves either the previous snapshot or the new one,
never a torn file. BGSAVE runs the same writer in a forked child (background.py says why a fork); the parent
learns the outcome from the cron, as Redis's serverCron does, and only then counts the changes made before the
fork as saved (`dirty -= dirty_at_fork`): writes that arrived during the save are still owed to the next one.
"""
from __future__ import annotations

import logging
import os
import time

from ..errors import CommandError
from ..resp import Simple
from . import rdb
from .files import fsync_dir, unlink_quietly

log = logging.getLogger("shoal.node")

RETRY_DELAY = 5  # seconds between automatic attempts after a failed background save (CONFIG_BGSAVE_RETRY_DELAY)

MISCONF_RDB = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
               "Commands that may modify the data set are disabled, because this instance is configured to report "
               "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
               "the Redis logs for details about the RDB error.")


class SnapshotLoadError(Exception):
    pass


def write_snapshot_file(state, filename: str) -> dict:
    """Write the dataset to `filename` the crash-safe way; returns what was written. Raises OSError."""
    tmp = f"temp-{os.getpid()}.rdb"
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            rdb.write_rdb(f, state)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.rename(tmp, filename)
        fsync_dir(os.path.dirname(os.path.abspath(filename)))
    except BaseException:
        unlink_quietly(tmp)
        raise
    return {"bytes": size, "keys": sum(len(db.data) for db in state.keyspace.dbs)}


class Snapshots:
    """The RDB half of persistence; one per node, driven by commands and the cron."""

    def __init__(self, state) -> None:
        self.state = state
        self.config = state.config
        self.last_bgsave_ok = True
        self.last_bgsave_try = 0
        self.last_bgsave_time_sec = -1
        self.bgsave_started = -1.0
        self.bgsave_scheduled = False
        self.dirty_at_fork = 0
        self.saves = 0
        self.last_cow_size = 0
        self.keys_loaded = 0
        self.keys_expired_on_load = 0
        self._killing = False
        self._child_pid = -1
        # the gate's recomputation (set by the persistence wiring, which also knows the AOF's state)
        self.on_status_change = lambda: None

    @property
    def filename(self) -> str:
        return self.config["dbfilename"]

    # ------------------------------------------------------------------ start-up

    def load_on_start(self) -> None:
        """Load `dbfilename` if it exists. A file that cannot be read stops the node (exit 1), as Redis: serving
        an empty dataset over a snapshot the operator has would be silent data loss at the next save."""
        try:
            f = open(self.filename, "rb")
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("Fatal error loading the DB, check server logs. Exiting. (%s)", e.strerror)
            raise SystemExit(1) from None
        t0 = time.perf_counter()
        state = self.state
        was_loading, state.loading = state.loading, True
        try:
            with f:
                info = rdb.load_rdb(f, state)
        except rdb.RdbError as e:
            log.warning("Internal error in RDB reading offset %d -> %s", e.offset, e.reason)
            log.warning("Terminating server after rdb file reading failure.")
            raise SystemExit(1) from None
        except OSError as e:
            log.warning("Short read or OOM loading DB. Unrecoverable error, aborting now. (%s)", e)
            raise SystemExit(1) from None
        finally:
            state.loading = was_loading
        self.keys_loaded = info.keys_loaded
        self.keys_expired_on_load = info.expired_skipped
        log.info("Loading RDB produced by version %s", info.aux.get("redis-ver", b"?").decode("latin-1"))
        log.info("Done loading RDB, keys loaded: %d, keys expired: %d.", info.keys_loaded, info.expired_skipped)
        log.info("DB loaded from disk: %.3f seconds", time.perf_counter() - t0)

    def debug_reload(self, save: bool, flush: bool, merge: bool) -> None:
        """DEBUG RELOAD: save (unless NOSAVE), empty the dataset (unless NOFLUSH), load the file back; MERGE lets
        the file's keys replace existing ones instead of failing on them. Raises CommandError."""
        if save:
            try:
                self.save()
            except OSError:
                raise CommandError("ERR") from None
        state = self.state
        if flush:
            for db in state.keyspace.dbs:
                db.flush()
        try:
            with open(self.filename, "rb") as f:
                rdb.load_rdb(f, state, strict=not merge)
        except (OSError, rdb.RdbError) as e:
            log.warning("Error loading the RDB dump in DEBUG RELOAD: %s", e)
            raise CommandError("ERR Error trying to load the RDB dump") from None
        log.warning("DB reloaded by DEBUG RELOAD")

    # ------------------------------------------------------------------ foreground save

    def save(self) -> None:
        """rdbSave: write the snapshot now, blocking the node. Raises OSError on failure (logged)."""
        try:
            write_snapshot_file(self.state, self.filename)
        except OSError as e:
            log.warning("Write error saving DB on disk: %s", e.strerror or e)
            raise
        log.info("DB saved on disk")
        self.state.dirty = 0
        self.state.last_save_time = int(time.time())
        self.saves += 1
        self._set_ok(True)

    def save_command(self) -> Simple:
        if self.state.background.busy("rdb"):
            raise CommandError("ERR Background save already in progress")
        try:
            self.save()
        except OSError:
            raise CommandError("ERR") from None
        return Simple("OK")

    def save_for_shutdown_or_flush(self) -> None:
        """FLUSHALL and SHUTDOWN: a snapshot in the foreground, after abandoning a background one that would
        otherwise rename an older dataset over it when it finishes."""
        self.kill_child()
        self.save()

    # ------------------------------------------------------------------ background save

    def bgsave_command(self, argv: list, in_exec: bool) -> Simple:
        schedule = False
        if len(argv) > 1:
            if len(argv) == 2 and argv[1].lower() == b"schedule":
                schedule = True
            else:
                raise CommandError("ERR syntax error")
        bg = self.state.background
        if bg.busy("rdb"):
            raise CommandError("ERR Background save already in progress")
        if bg.busy() or in_exec:
            if schedule or in_exec:
                self.bgsave_scheduled = True
                return Simple("Background saving scheduled")
            raise CommandError("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
                               "SCHEDULE in order to schedule a BGSAVE whenever possible.")
        if self.start_bgsave():
            return Simple("Background saving started")
        raise CommandError("ERR")

    def start_bgsave(self) -> bool:
        """rdbSaveBackground."""
        bg = self.state.background
        if bg.busy():
            return False
        state, filename = self.state, self.filename
        self.dirty_at_fork = state.dirty
        self.last_bgsave_try = int(time.time())

        def child() -> dict:
            return write_snapshot_file(state, filename)

        try:
            pid = bg.start("rdb", child, self._bgsave_done)
        except OSError as e:
            log.warning("Can't save in background: fork: %s", e.strerror)
            self._set_ok(False)
            return False
        self._child_pid = pid
        self.saves += 1
        self.bgsave_started = time.time()
        log.info("Background saving started by pid %d", pid)
        return True

    def _bgsave_done(self, ok: bool, kind: str) -> None:
        """backgroundSaveDoneHandler: runs in the parent once the child has been reaped."""
        pid, self._child_pid = self._child_pid, -1
        killed, self._killing = self._killing, False
        self.last_cow_size = self.state.background.last_report.cow_bytes
        if ok:
            log.info("Background saving terminated with success")
            self.state.dirty = max(0, self.state.dirty - self.dirty_at_fork)
            self.state.last_save_time = int(time.time())
            self._set_ok(True)
        elif killed:
            # stopped on purpose (SHUTDOWN, FLUSHALL): not an error that should block writes
            log.warning("Background saving terminated by signal %d", 10)
        else:
            error = self.state.background.last_report.error
            log.warning("Background saving error%s", f": {error}" if error else "")
            self._set_ok(False)
        unlink_quietly(f"temp-{pid}.rdb")
        if self.bgsave_started >= 0:
            self.last_bgsave_time_sec = int(time.time() - self.bgsave_started)
        self.bgsave_started = -1.0

    def kill_child(self) -> None:
        bg = self.state.background
        if bg.busy("rdb"):
            log.warning("There is a child saving an .rdb. Killing it!")
            self._killing = True
            pid = self._child_pid
            bg.kill("rdb")
            unlink_quietly(f"temp-{pid}.rdb")

    # ------------------------------------------------------------------ cron and the write gate

    def cron(self, now: float) -> None:
        """serverCron's save part: a save rule that is due starts a BGSAVE; a scheduled BGSAVE runs when no
        other child is busy. After a failure, automatic attempts wait RETRY_DELAY seconds."""
        if self.state.background.busy():
            return
        inow = int(now)
        may_retry = self.last_bgsave_ok or inow - self.last_bgsave_try > RETRY_DELAY
        if not may_retry:
            return
        dirty = self.state.dirty
        since = inow - self.state.last_save_time
        for seconds, changes in self.config["save"]:
            if dirty >= changes and since > seconds:
                log.info("%d changes in %d seconds. Saving...", changes, seconds)
                self.start_bgsave()
                return
        if self.bgsave_scheduled and self.start_bgsave():
            self.bgsave_scheduled = False

    def write_error(self) -> str | None:
        """The MISCONF text while the last background save failed and the operator asked writes to stop then."""
        if (not self.last_bgsave_ok and self.config["stop-writes-on-bgsave-error"] and self.config["save"]):
            return MISCONF_RDB
        return None

    def _set_ok(self, ok: bool) -> None:
        if ok != self.last_bgsave_ok:
            self.last_bgsave_ok = ok
            self.on_status_change()

    # ------------------------------------------------------------------ INFO

    def info_fields(self) -> list[tuple[str, object]]:
        """INFO persistence from rdb_changes_since_last_save to rdb_last_load_keys_loaded, in Redis's order."""
        busy = self.state.background.busy("rdb")
        return [
            ("rdb_changes_since_last_save", self.state.dirty),
            ("rdb_bgsave_in_progress", int(busy)),
            ("rdb_last_save_time", self.state.last_save_time),
            ("rdb_last_bgsave_status", "ok" if self.last_bgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.last_bgsave_time_sec),
            ("rdb_current_bgsave_time_sec", int(time.time() - self.bgsave_started) if busy else -1),
            ("rdb_saves", self.saves),
            ("rdb_last_cow_size", self.last_cow_size),
            ("rdb_last_load_keys_expired", self.keys_expired_on_load),
            ("rdb_last_load_keys_loaded", self.keys_loaded),
        ]
