"""String commands."""
from __future__ import annotations

from ..errors import CommandError, WRONGTYPE
from ..resp import OK
from .registry import command


def _get_string(c, key):
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is bytes or v.__class__ is bytearray:
        return v
    raise CommandError(WRONGTYPE)


@command("get")
def get(c, argv):
    return _get_string(c, argv[1])


@command("set")
def set_(c, argv):
    if len(argv) == 3:
        c.db.set(argv[1], argv[2])
        c.state.dirty += 1
        return OK
    raise CommandError("ERR syntax error")
