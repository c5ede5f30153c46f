"""Argument parsing shared by command modules (no commands here)."""
from __future__ import annotations

from ..errors import NOT_INTEGER, CommandError
from ..resp import string2ll


def parse_ll(arg: bytes) -> int:
    """A strict signed 64-bit integer argument (Redis's getLongLongFromObjectOrReply), else the standard error."""
    v = string2ll(arg)
    if v is None:
        raise CommandError(NOT_INTEGER)
    return v
