"""Server administration commands: DBSIZE FLUSHDB FLUSHALL TIME SHUTDOWN LOLWUT, and `help_reply`, the shape of
every `<COMMAND> HELP` answer of the server commands.

FLUSHDB/FLUSHALL add the keys they removed to `dirty` and are propagated even when nothing was removed (Redis's
forceCommandPropagation), so a replica or AOF sees the flush of an already empty database too. ASYNC frees in
the background in Redis; here freeing a dict is immediate either way.
"""
from __future__ import annotations

import logging
import time

from ..errors import SYNTAX, CommandError
from ..resp import OK, Raw, Simple, Verbatim
from .registry import command

log = logging.getLogger("shoal.node")

SHOAL_VERSION = "0.1.0"
REDIS_VERSION = "7.0.15"


def help_reply(name: str, lines: list[str]) -> list:
    """`<NAME> HELP`: a title line, the subcommands with their descriptions, then HELP itself; status strings."""
    out = [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
    out.extend(lines)
    out.extend(["HELP", "    Print this help."])
    return [Simple(line) for line in out]


# --------------------------------------------------------------------------------------------------- keyspace size


@command("dbsize")
def dbsize(c, argv):
    # like Redis's dictSize: keys whose time has come but that were not yet deleted still count
    return len(c.db.data)


def _flush_flags(argv: list[bytes]) -> None:
    """[ASYNC|SYNC]: anything else, or more than one, is a syntax error."""
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    if len(argv) == 2 and argv[1].lower() not in (b"async", b"sync"):
        raise CommandError(SYNTAX)


def _force_propagate(c, argv, removed: int) -> None:
    # the dispatcher propagates a call that changed `dirty`; a flush that removed nothing must go out anyway
    st = c.state
    if not removed and st.propagate_hooks:
        st.propagate(c.dbid, argv)


@command("flushdb")
def flushdb(c, argv):
    _flush_flags(argv)
    removed = c.db.flush()
    c.state.dirty += removed
    _force_propagate(c, argv, removed)
    return OK


@command("flushall")
def flushall(c, argv):
    _flush_flags(argv)
    st = c.state
    removed = sum(db.flush() for db in st.keyspace.dbs)
    st.dirty += removed
    save = st.save_snapshot  # a snapshot after FLUSHALL when save points exist
    if save is not None and st.config["save"]:
        dirty = st.dirty
        save()
        st.dirty = dirty  # the snapshot must not hide the flush from replicas and the AOF
    _force_propagate(c, argv, removed)
    return OK


@command("time")
def time_(c, argv):
    now = time.time_ns() // 1000
    return [str(now // 1_000_000).encode(), str(now % 1_000_000).encode()]


# --------------------------------------------------------------------------------------------------- SHUTDOWN


@command("shutdown")
def shutdown(c, argv):
    flags = set()
    abort = False
    for a in argv[1:]:
        word = a.lower()
        if word in (b"nosave", b"save", b"now", b"force"):
            flags.add(word)
        elif word == b"abort":
            abort = True
        else:
            raise CommandError(SYNTAX)
    if (abort and flags) or {b"save", b"nosave"} <= flags:
        raise CommandError(SYNTAX)
    st = c.state
    if abort:
        # a shutdown here is never left waiting (no replicas to wait for), so there is nothing to abort
        raise CommandError("ERR No shutdown in progress.")
    if not _save_before_shutdown(st, flags):
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    log.warning("User requested shutdown...")
    st.shutdown_saved = True
    if st.shutdown_requested is not None:
        st.shutdown_requested()
    c.close_after_reply = True
    return Raw(b"")  # Redis exits without answering: the client sees the connection close


def _save_before_shutdown(st, flags: set) -> bool:
    """SAVE forces a snapshot, NOSAVE forbids it, neither saves when save points are configured. Without the
    persistence room there is nothing to save, exactly as Redis with no save points; a failed save stops the
    shutdown unless FORCE."""
    save = st.save_snapshot
    if st.loading:
        return True  # half a dataset must never overwrite the file it comes from (Redis forces NOSAVE here)
    wanted = b"save" in flags or (b"nosave" not in flags and bool(st.config["save"]))
    if not wanted or save is None:
        return True
    try:
        save()
    except Exception:
        log.exception("Error trying to save the DB, can't exit.")
        return b"force" in flags
    return True


# --------------------------------------------------------------------------------------------------- LOLWUT


_ART = (
    "        ~~~~        \n"
    "     ~~~~~~~~~~     \n"
    "  ><((('>  ><((('>  \n"
    "     ><((('>        \n"
    "  ~~~~~~~~~~~~~~~~  \n"
)


@command("lolwut")
def lolwut(c, argv):
    if len(argv) >= 3 and argv[1].lower() == b"version":
        from ..resp import string2ll
        if string2ll(argv[2]) is None:
            raise CommandError("ERR value is not an integer or out of range")
    text = f"{_ART}\nA shoal of fish, swimming as one.\nShoal ver. {SHOAL_VERSION} (Redis ver. {REDIS_VERSION})\n"
    return Verbatim(text.encode())
