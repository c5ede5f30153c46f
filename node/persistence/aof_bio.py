"""The AOF's background I/O thread (Redis's bio): fsync for `appendfsync everysec`, and fsync-then-close or
unlink of files a rewrite left behind, off the event loop.

Only this thread ever blocks on the disk for these jobs; the event loop just queues them. It touches no Python
object of the node: jobs carry file descriptors and paths. The status of the last fsync is kept (as Redis's
aof_bio_fsync_status) so that a failing disk refuses writes with MISCONF until an fsync succeeds again.
"""
from __future__ import annotations

import collections
import os
import threading


class FsyncWorker:
    def __init__(self) -> None:
        self._jobs: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.pending_fsync = 0  # fsync jobs queued or running (aof_pending_bio_fsync)
        self.pending = 0  # all jobs queued or running
        self.fsync_errno = 0  # 0 when the last fsync succeeded

    def fsync(self, fd: int) -> None:
        self._submit(("fsync", fd))

    def fsync_and_close(self, fd: int) -> None:
        self._submit(("close", fd))

    def unlink(self, path: str) -> None:
        self._submit(("unlink", path))

    def fsync_in_progress(self) -> bool:
        return self.pending_fsync > 0

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every queued job is done (switching to `always`, shutdown)."""
        with self._cond:
            self._cond.wait_for(lambda: self.pending == 0, timeout)

    def _submit(self, job) -> None:
        with self._cond:
            self._jobs.append(job)
            self.pending += 1
            if job[0] == "fsync":
                self.pending_fsync += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="aof-bio", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                kind, arg = self._jobs.popleft()
            try:
                if kind == "fsync":
                    self._fsync(arg)
                elif kind == "close":
                    self._fsync(arg)
                    os.close(arg)
                else:
                    os.unlink(arg)
            except OSError:
                pass
            finally:
                with self._cond:
                    self.pending -= 1
                    if kind == "fsync":
                        self.pending_fsync -= 1
                    self._cond.notify_all()

    def _fsync(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError as e:
            # EBADF/EINVAL: the file was closed or swapped meanwhile (a rewrite opened a new incr file); not an
            # error of the disk
            if e.errno not in (9, 22):
                self.fsync_errno = e.errno
            return
        self.fsync_errno = 0
