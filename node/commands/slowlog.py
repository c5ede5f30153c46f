"""SLOWLOG GET / LEN / RESET / HELP over `state.slowlog`, which the dispatcher fills (newest first) through
`state.slowlog_add` for calls that took at least `slowlog-log-slower-than` microseconds."""
from __future__ import annotations

from ..errors import CommandError
from ..resp import OK, string2ll
from .registry import command
from .server_admin import help_reply


@command("slowlog|get")
def slowlog_get(c, argv):
    log = c.state.slowlog
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for "
                           f"'{argv[1][:128].decode('utf-8', 'replace')}'. Try SLOWLOG HELP.")
    count = 10
    if len(argv) == 3:
        n = string2ll(argv[2])
        if n is None or n < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        count = len(log) if n == -1 else n
    return [[eid, ts, usec, list(args), peer, name or b""] for eid, ts, usec, args, peer, name in log[:count]]


@command("slowlog|len")
def slowlog_len(c, argv):
    return len(c.state.slowlog)


@command("slowlog|reset")
def slowlog_reset(c, argv):
    c.state.slowlog.clear()
    return OK


_HELP = [
    "GET [<count>]",
    "    Give the <count> newest entries (10 by default, -1 for all). Each entry holds:",
    "    its id, when it ran (unix time), how long it took in microseconds, its arguments,",
    "    the client's address and the client's name.",
    "LEN",
    "    Give the number of entries kept.",
    "RESET",
    "    Drop every entry.",
]


@command("slowlog|help")
def slowlog_help(c, argv):
    return help_reply("SLOWLOG", _HELP)
