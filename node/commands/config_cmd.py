"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP. The rules and texts live in `node/config.py`; this module only
speaks the protocol."""
from __future__ import annotations

import logging

from ..config import ConfigError, ConfigSetError
from ..errors import SYNTAX, CommandError
from ..resp import OK, MapReply
from .registry import command
from .server_admin import help_reply

log = logging.getLogger("shoal.node")

REDACTED = b"(redacted)"


@command("config|get")
def config_get(c, argv):
    cfg = c.state.config
    seen: set[str] = set()
    out = []
    for arg in argv[2:]:
        for name, value in cfg.matching(arg.decode("utf-8", "surrogateescape")):
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            out.append((name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")))
    return MapReply(out)


@command("config|set")
def config_set(c, argv):
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    pairs = [(argv[i].decode("utf-8", "surrogateescape"), argv[i + 1].decode("utf-8", "surrogateescape"))
             for i in range(2, len(argv), 2)]
    try:
        c.state.config.set_many(pairs, client_addr=c.addr, loading=bool(c.state.loading))
    except ConfigSetError as e:
        raise CommandError(e.msg) from None
    finally:
        _redact(c, argv)
    return OK


def _redact(c, argv) -> None:
    """Passwords never reach the slowlog (or MONITOR): the value of a sensitive option is replaced in argv, which
    the dispatcher logs after the call, as Redis's redactClientCommandArgument does."""
    from ..config import SENSITIVE, lookup_option
    for i in range(2, len(argv) - 1, 2):
        o = lookup_option(argv[i].decode("utf-8", "surrogateescape"))
        if o is not None and o.flags & SENSITIVE:
            argv[i + 1] = REDACTED


@command("config|resetstat")
def config_resetstat(c, argv):
    reset_stats(c.state)
    return OK


def reset_stats(state) -> None:
    """CONFIG RESETSTAT: the INFO counters, per-command and per-error statistics, instantaneous metrics."""
    st = state.stats
    channels = st.pubsub_channels  # a count of live subscriptions, not a statistic
    st.reset()
    st.pubsub_channels = channels
    for cmd in state.table.all_commands():
        cmd.calls = cmd.usec = cmd.rejected_calls = cmd.failed_calls = 0
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        metrics.reset()


@command("config|rewrite")
def config_rewrite(c, argv):
    cfg = c.state.config
    if cfg.config_file is None:
        raise CommandError("ERR The server is running without a config file")
    try:
        cfg.rewrite()
    except OSError as e:
        log.warning("CONFIG REWRITE failed: %s", e.strerror)
        raise CommandError(f"ERR Rewriting config file: {e.strerror}") from None
    except ConfigError as e:
        raise CommandError(f"ERR {e}") from None
    log.warning("CONFIG REWRITE executed with success.")
    return OK


_HELP = [
    "GET <pattern>",
    "    Give the value of every parameter whose name matches the glob-style <pattern>.",
    "SET <directive> <value>",
    "    Change <directive> to <value>; several pairs change together or not at all.",
    "RESETSTAT",
    "    Zero the statistics that INFO shows.",
    "REWRITE",
    "    Write the running configuration back into the configuration file.",
]


@command("config|help")
def config_help(c, argv):
    return help_reply("CONFIG", _HELP)
