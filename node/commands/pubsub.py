"""Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH, the sharded SSUBSCRIBE SUNSUBSCRIBE
SPUBLISH, and PUBSUB CHANNELS NUMSUB NUMPAT SHARDCHANNELS SHARDNUMSUB HELP. The registry and delivery are in
node/pubsub.py.

A (un)subscribe command answers with one confirmation per channel, all of them its reply (pushes in RESP3), so
the reply is pre-encoded here. In RESP2 the dispatcher keeps a subscribed client to the few commands Redis
allows (dispatch._gate); PING answers ["pong", arg] there (connection.py).
"""
from __future__ import annotations

from ..errors import CommandError
from ..pubsub import PubSub, confirmation
from ..resp import Raw, Simple
from .connection import RESET_HOOKS
from .registry import command


def _not_in_deny_blocking(c, name: str, multi_ok: bool) -> None:
    # Redis refuses a subscription where a reply per command is expected (CLIENT_DENY_BLOCKING: inside EXEC,
    # scripts); SUBSCRIBE and PSUBSCRIBE are let through inside MULTI for backward compatibility, SSUBSCRIBE not
    if c.no_block and not (multi_ok and c.in_multi):
        raise CommandError(f"ERR {name} isn't allowed for a DENY BLOCKING client")


def _subscribe(c, argv, kind: bytes, multi_ok: bool, add, count) -> Raw:
    """The three SUBSCRIBE flavours: one confirmation per name, with the subscription count after it."""
    _not_in_deny_blocking(c, kind.decode().upper(), multi_ok)
    out = []
    for name in argv[1:]:
        add(c, name)
        out.append(confirmation(c.proto, kind, name, count(c)))
    return Raw(b"".join(out))


@command("subscribe")
def subscribe(c, argv):
    return _subscribe(c, argv, b"subscribe", True, PubSub.of(c.state).subscribe, _classic_count)


@command("psubscribe")
def psubscribe(c, argv):
    return _subscribe(c, argv, b"psubscribe", True, PubSub.of(c.state).psubscribe, _classic_count)


@command("ssubscribe")
def ssubscribe(c, argv):
    return _subscribe(c, argv, b"ssubscribe", False, PubSub.of(c.state).ssubscribe, _shard_count)


def _unsubscribe(c, argv, kind: bytes, mine: dict, remove, count) -> Raw:
    """The three UNSUBSCRIBE flavours: the named ones (confirmed even when not subscribed), or all of them
    (one confirmation with a nil name when there were none)."""
    names = argv[1:] if len(argv) > 1 else list(mine)
    out = []
    for name in names:
        remove(c, name)
        out.append(confirmation(c.proto, kind, name, count(c)))
    if not out:
        out.append(confirmation(c.proto, kind, None, count(c)))
    return Raw(b"".join(out))


def _classic_count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _shard_count(c) -> int:
    return len(c.shard_channels)


@command("unsubscribe")
def unsubscribe(c, argv):
    ps = PubSub.of(c.state)
    return _unsubscribe(c, argv, b"unsubscribe", c.channels, ps.unsubscribe, _classic_count)


@command("punsubscribe")
def punsubscribe(c, argv):
    ps = PubSub.of(c.state)
    return _unsubscribe(c, argv, b"punsubscribe", c.patterns, ps.punsubscribe, _classic_count)


@command("sunsubscribe")
def sunsubscribe(c, argv):
    ps = PubSub.of(c.state)
    return _unsubscribe(c, argv, b"sunsubscribe", c.shard_channels, ps.sunsubscribe, _shard_count)


def _reset_hook(c) -> None:
    # RESET leaves pub/sub mode silently
    if c.channels or c.patterns or c.shard_channels:
        PubSub.of(c.state).drop_client(c)


RESET_HOOKS.append(_reset_hook)


# --------------------------------------------------------------------------------------------------- publishing


def _propagate(c, argv) -> None:
    # Redis forces PUBLISH/SPUBLISH to the replicas outside cluster mode (the cluster bus carries them there);
    # nothing changed `dirty`, so the dispatcher would not propagate it
    st = c.state
    if st.propagate_hooks and not st.config["cluster-enabled"]:
        st.propagate(c.dbid, argv)


@command("publish")
def publish(c, argv):
    ps = PubSub.of(c.state)
    n = ps.publish(argv[1], argv[2])
    if ps.on_publish is not None:
        ps.on_publish(argv[1], argv[2], False)
    _propagate(c, argv)
    return n


@command("spublish")
def spublish(c, argv):
    ps = PubSub.of(c.state)
    n = ps.spublish(argv[1], argv[2])
    if ps.on_publish is not None:
        ps.on_publish(argv[1], argv[2], True)
    _propagate(c, argv)
    return n


# --------------------------------------------------------------------------------------------------- PUBSUB

_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


def _syntax_error(argv) -> CommandError:
    sub = argv[1][:128].decode("utf-8", "replace")
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try PUBSUB HELP.")


@command("pubsub|help")
def pubsub_help(c, argv):
    return [Simple(line) for line in _HELP]


@command("pubsub|channels")
def pubsub_channels(c, argv):
    if len(argv) > 3:
        raise _syntax_error(argv)
    return PubSub.of(c.state).channel_list(argv[2] if len(argv) == 3 else None)


@command("pubsub|shardchannels")
def pubsub_shardchannels(c, argv):
    if len(argv) > 3:
        raise _syntax_error(argv)
    return PubSub.of(c.state).channel_list(argv[2] if len(argv) == 3 else None, shard=True)


def _numsub(c, argv, shard: bool) -> list:
    # a flat array even in RESP3, as Redis 7.0 answers
    ps = PubSub.of(c.state)
    out = []
    for ch in argv[2:]:
        out.append(ch)
        out.append(ps.numsub(ch, shard))
    return out


@command("pubsub|numsub")
def pubsub_numsub(c, argv):
    return _numsub(c, argv, False)


@command("pubsub|shardnumsub")
def pubsub_shardnumsub(c, argv):
    return _numsub(c, argv, True)


@command("pubsub|numpat")
def pubsub_numpat(c, argv):
    # the number of distinct patterns (Redis 7.0 counts its pattern dict, not the subscriptions)
    return len(PubSub.of(c.state).patterns)
