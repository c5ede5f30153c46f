"""nodes.conf (`cluster-config-file`): where a node keeps its view of the cluster across restarts.

The text itself (Redis's line format) is gossip/view.py's business; this module owns the file: loading it,
saving it so that a crash leaves either the old or the new version (temp file in the same directory, fsync,
rename, fsync of the directory), and the lock that stops two nodes from sharing one file.

The lock is Redis's (clusterLockConfig): `flock(LOCK_EX|LOCK_NB)` held for the process lifetime. flock rather than
POSIX record locks because a flock belongs to an open file, not to a process, so two nodes (or two ConfigFile
objects in one test process) exclude each other, and a real redis-server and a Shoal node exclude each other too.
Because a save replaces the file by rename, a lock on the old inode would protect nothing: every save locks the
temp file before renaming it into place and only then lets go of the old one, and `lock()` checks that the inode
it locked is still the one the path names (retrying if a save replaced it meanwhile).
"""
from __future__ import annotations

import fcntl
import os
import time

from shoal.gossip.view import ClusterView, ConfigFileError
from shoal.node.persistence.files import fsync_dir, unlink_quietly

__all__ = ["ConfigFile", "ConfigFileError", "ConfigFileLockedError", "ConfigFileLockError"]


class ConfigFileLockedError(Exception):
    """Another process holds the lock on this nodes.conf (the message is Redis's log line)."""


class ConfigFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_fd = -1  # an open descriptor of the current file, flock'ed; -1 until lock()

    # ---------------------------------------------------------------- load

    def load(self) -> ClusterView | None:
        """The view the file holds; None when there is none yet (missing or empty file, as Redis treats both).
        Raises ConfigFileError (with Redis's "Unrecoverable error: corrupted cluster config file" text) for a
        corrupt file: the node must log it and exit 1."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        if not data.strip():
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise ConfigFileError(line, data.splitlines()[line - 1].decode("utf-8", "replace"),
                                  "not UTF-8") from None
        return ClusterView.from_config(text)

    # ---------------------------------------------------------------- save

    def save(self, text: str, fsync: bool = True) -> None:
        """Replace the file with `text` by a rename, so it is never seen half written; with `fsync` (the node
        always asks for it) the new content and the rename are on disk before returning. Raises OSError when it
        cannot (Redis exits then: "Fatal: can't update cluster config file."; the caller decides)."""
        dirname = os.path.dirname(os.path.abspath(self.path))
        tmp = f"{self.path}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        keep = False
        try:
            if self._lock_fd >= 0:
                # nobody else can know this inode yet, so the lock is granted at once; it must be held before the
                # rename makes the inode visible under the real name
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            data = text.encode("utf-8")
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if fsync:
                os.fsync(fd)
            os.rename(tmp, self.path)
            if fsync:
                fsync_dir(dirname)
            keep = self._lock_fd >= 0
        except BaseException:
            unlink_quietly(tmp)
            raise
        finally:
            if keep:
                old, self._lock_fd = self._lock_fd, fd
                os.close(old)
            else:
                os.close(fd)

    # ---------------------------------------------------------------- lock

    def lock(self) -> None:
        """Take the exclusive lock for this process's lifetime (creating an empty file if there is none, as
        Redis). Raises ConfigFileLockedError with Redis's message when another node holds it, OSError when the file
        cannot be opened."""
        if self._lock_fd >= 0:
            return
        for _ in range(100):  # a concurrent save may replace the file between open and flock: bounded retries
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigFileLockedError(
                    f"Sorry, the cluster configuration file {self.path} is already used by a different Redis "
                    "Cluster node. Please make sure that different nodes use different cluster configuration "
                    "files.") from None
            except OSError:
                os.close(fd)
                raise
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return
            os.close(fd)  # we locked an inode a save has just replaced: lock the current one instead
        raise OSError(f"Impossible to lock {self.path}: the file keeps being replaced")

    def unlock(self) -> None:
        """Let go of the lock (tests; a process's exit does this by itself)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    @property
    def locked(self) -> bool:
        return self._lock_fd >= 0


ConfigFileLockError = ConfigFileLockedError  # the name the brief used
