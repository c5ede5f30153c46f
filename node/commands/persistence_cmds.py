"""SAVE, BGSAVE, LASTSAVE and BGREWRITEAOF: thin doors into node/persistence, which owns the files and children."""
from __future__ import annotations

from ..errors import CommandError
from .registry import command


def _persistence(c):
    p = c.state.persistence
    if p is None:  # a node built without its persistence (some unit tests): say so rather than pretend
        raise CommandError("ERR persistence is not available on this node")
    return p


@command("save")
def save(c, argv):
    return _persistence(c).snapshots.save_command()


@command("bgsave")
def bgsave(c, argv):
    return _persistence(c).snapshots.bgsave_command(argv, in_exec=c.no_block)


@command("lastsave")
def lastsave(c, argv):
    return c.state.last_save_time


@command("bgrewriteaof")
def bgrewriteaof(c, argv):
    return _persistence(c).aof.bgrewriteaof(in_exec=c.no_block)
