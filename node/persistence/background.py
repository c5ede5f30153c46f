"""Background saves in a forked child, as Redis does them.

Why fork: the keyspace is a graph of Python objects that one thread mutates between every two awaits. A
consistent snapshot needs either a frozen copy or a second view that the writer cannot disturb. Copying 1M keys
in the parent stalls clients for about as long as writing them; an incremental copy-on-write scheme would put a
"was this key saved yet?" check on every write path. `fork()` gives the child the kernel's copy-on-write view of
the whole heap at one instant, and the parent pauses only for the page-table copy (measured in
`latest_fork_usec`). The price is memory: CPython's reference counts make the child touch every object it
serializes, so the pages it reads get copied (reported as `rdb_last_cow_size`), up to about the dataset's size,
the same worst case Redis documents for write-heavy workloads.

The child must not touch trio or any socket: it closes every descriptor it inherited except the pipe it reports
on, disables the garbage collector (whose traversals would copy pages for nothing), runs `child_fn`, and leaves
with `os._exit`. The parent reaps it from the cron (`poll`), never blocking.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("shoal.node")


@dataclass
class Job:
    kind: str  # "rdb" or "aof"
    pid: int
    started: float
    on_done: Callable[[bool, str], None]
    read_fd: int
    report: bytearray = field(default_factory=bytearray)


@dataclass
class ChildReport:
    """What the child said before it exited (JSON over a pipe)."""
    cow_bytes: int = 0
    error: str = ""
    extra: dict = field(default_factory=dict)


class BackgroundJobs:
    """At most one forked child at a time, as in Redis (a BGREWRITEAOF asked for during a BGSAVE waits)."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self.latest_fork_usec = 0
        self.total_forks = 0
        self.last_report = ChildReport()
        self.last_exit_ok = True

    # ------------------------------------------------------------------ parent side

    def busy(self, kind: str | None = None) -> bool:
        return self.job is not None and (kind is None or self.job.kind == kind)

    def pid(self, kind: str | None = None) -> int:
        return self.job.pid if self.busy(kind) else -1

    def started_at(self, kind: str | None = None) -> float | None:
        return self.job.started if self.busy(kind) else None

    def start(self, kind: str, child_fn: Callable[[], object], on_done: Callable[[bool, str], None]) -> int:
        """Fork; the child runs `child_fn()` (its return value, if a dict, is reported back as `extra`).
        `on_done(ok, kind)` runs in the parent when the child has exited. Raises OSError if fork fails."""
        if self.job is not None:
            raise RuntimeError(f"a background {self.job.kind} job is already running")
        r, w = os.pipe()
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(r)
            _run_child(child_fn, w)
        self.latest_fork_usec = (time.perf_counter_ns() - t0) // 1000
        self.total_forks += 1
        os.close(w)
        os.set_blocking(r, False)
        self.job = Job(kind, pid, time.time(), on_done, r)
        return pid

    def poll(self, now: float | None = None) -> None:
        """Cron: collect the child's report and reap it once it has exited."""
        job = self.job
        if job is None:
            return
        self._drain(job)
        try:
            pid, status = os.waitpid(job.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = job.pid, 1 << 8
        if pid == 0:
            return
        self._drain(job)
        os.close(job.read_fd)
        self.job = None
        report = ChildReport()
        try:
            data = json.loads(bytes(job.report) or b"{}")
            report = ChildReport(int(data.get("cow", 0)), str(data.get("error", "")), dict(data.get("extra", {})))
        except (ValueError, TypeError):
            pass
        self.last_report = report
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not ok and report.error:
            log.warning("Background %s child failed: %s", job.kind, report.error)
        elif os.WIFSIGNALED(status):
            log.warning("Background %s child terminated by signal %d", job.kind, os.WTERMSIG(status))
        self.last_exit_ok = ok
        job.on_done(ok, job.kind)

    def kill(self, kind: str | None = None, *, wait: bool = True) -> bool:
        """Stop a running child (SHUTDOWN, FLUSHALL, a rewrite that lost its point); its on_done sees failure."""
        job = self.job
        if job is None or (kind is not None and job.kind != kind):
            return False
        try:
            os.kill(job.pid, signal.SIGUSR1)  # the child treats it as "abandon the file", as Redis's children do
        except ProcessLookupError:
            pass
        if wait:
            try:
                os.waitpid(job.pid, 0)
            except ChildProcessError:
                pass
            os.close(job.read_fd)
            self.job = None
            self.last_exit_ok = False
            job.on_done(False, job.kind)
        return True

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the running child has exited (SHUTDOWN waiting for a save, tests)."""
        deadline = time.time() + timeout
        while self.job is not None and time.time() < deadline:
            self.poll()
            if self.job is not None:
                time.sleep(0.005)

    @staticmethod
    def _drain(job: Job) -> None:
        while True:
            try:
                chunk = os.read(job.read_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                return
            if not chunk:
                return
            job.report += chunk


# ---------------------------------------------------------------------- child side


def _run_child(child_fn: Callable[[], object], report_fd: int) -> None:
    code = 1
    report: dict = {}
    try:
        gc.disable()
        signal.signal(signal.SIGUSR1, lambda *_: os._exit(2))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _close_inherited(keep=report_fd)
        extra = child_fn()
        report["extra"] = extra if isinstance(extra, dict) else {}
        code = 0
    except OSError as e:  # a full or failing disk: the parent logs the one line, as Redis does
        report["error"] = e.strerror or str(e)
    except BaseException as e:  # noqa: BLE001  (whatever happened, the child must leave through os._exit)
        report["error"] = f"{e.__class__.__name__}: {e}"
        try:  # a bug, not an I/O failure: its traceback is worth the noise
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        except OSError:
            pass
    try:
        report["cow"] = private_dirty_bytes()
        os.write(report_fd, json.dumps(report).encode())
    except Exception:  # noqa: BLE001
        pass
    os._exit(code)


def _close_inherited(keep: int) -> None:
    """Listening sockets and client connections belong to the parent: a child holding them would keep a port
    bound after the node exits and hide a closed connection from its client until the child ends."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)


def private_dirty_bytes() -> int:
    """Memory this process has copied since the fork (its private dirty pages): the copy-on-write cost."""
    try:
        with open("/proc/self/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
