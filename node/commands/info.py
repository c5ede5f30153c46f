"""INFO [section ...]: the text is built by `node/info.py`; in RESP3 it is a verbatim string."""
from __future__ import annotations

from ..info import info_text
from ..resp import Verbatim
from .registry import command


@command("info")
def info(c, argv):
    return Verbatim(info_text(c.state, [a.decode("utf-8", "replace") for a in argv[1:]]))
