"""File-system steps every persistence writer shares: the crash-safe rename needs its directory synced, and a
temporary file left by a failed or killed writer is removed without caring whether it was ever created."""
from __future__ import annotations

import os


def fsync_dir(dirname: str) -> None:
    """A rename or a new file is durable only once its directory is synced."""
    fd = os.open(dirname or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
