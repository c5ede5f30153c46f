"""One command's way through the node, in Redis's processCommand order:

lookup → arity → auth → cluster routing → MULTI queueing → pub/sub context → (OOM) → call → statistics,
slowlog, propagation. Everything here is synchronous: a command runs to completion on the keyspace, so commands,
MULTI/EXEC and scripts are atomic without locks.

`execute(client, argv)` returns the encoded reply bytes (b"" when the client asked for no reply).
"""
from __future__ import annotations

import logging
import time

from .client import REPLY_ON, REPLY_SKIP, REPLY_SKIP_NEXT, Client
from .commands.registry import FAST, LOADING, NO_AUTH, NO_MULTI, SKIP_SLOWLOG, WRITE, Command, arity_error
from .blocking import Blocked  # noqa: F401  (commands raise it; re-exported for them)
from .errors import CommandError
from .resp import QUEUED, ErrorReply, Raw, encode, encode_error

log = logging.getLogger("shoal.node")

_perf_ns = time.perf_counter_ns

# commands that run right away inside MULTI instead of being queued
_MULTI_IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
_PUBSUB_ALLOWED = frozenset({"ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
                             "punsubscribe", "quit", "reset"})
# commands that propagate their own effects (EXEC wraps its writes in MULTI ... EXEC): `call` does not
# propagate their argv when they changed the dataset
SELF_PROPAGATING: set[str] = {"exec"}


def _cstr(b: bytes, limit: int) -> str:
    """printf's `%.*s` of a C string: up to `limit` bytes, stopping at a NUL."""
    nul = b.find(b"\0", 0, limit)
    return b[:limit if nul < 0 else nul].decode("utf-8", "surrogateescape")


def _args_preview(argv: list[bytes]) -> str:
    # Redis lists arguments until the text reaches 128 bytes, each cut to what is left of those 128
    out = ""
    n = 0
    for a in argv[1:]:
        if n >= 128:
            break
        s = "'" + _cstr(a, 128 - n) + "' "
        out += s
        n += len(s.encode("utf-8", "surrogateescape"))
    return out


def unknown_command_error(argv: list[bytes]) -> str:
    return f"ERR unknown command '{_cstr(argv[0], 128)}', with args beginning with: {_args_preview(argv)}"


def lookup(client: Client, argv: list[bytes]) -> tuple[Command | None, str | None]:
    """The command for argv, or an error text (unknown command/subcommand, wrong arity)."""
    table = client.state.table
    cmd = table.by_bytes.get(argv[0])
    if cmd is None:
        cmd = table.lookup(argv[0])
        if cmd is None:
            return None, unknown_command_error(argv)
    if cmd.subcommands and (len(argv) >= 2 or cmd.fn is None):  # bare COMMAND runs; bare CONFIG is an arity error
        if len(argv) < 2:
            return None, arity_error(cmd.name).msg
        try:
            sub = cmd.subcommands.get(argv[1].decode("utf-8").lower())
        except UnicodeDecodeError:
            sub = None
        if sub is None:
            return None, f"ERR unknown subcommand '{_cstr(argv[1], 128)}'. Try {cmd.name.upper()} HELP."
        cmd = sub
    a = cmd.arity
    n = len(argv)
    if n != a and (a > 0 or n < -a):
        cmd.rejected_calls += 1
        return None, arity_error(cmd.name).msg
    return cmd, None


def execute(client: Client, argv: list[bytes]) -> bytes:
    state = client.state
    # hot path: a plain command spelled in lower or upper case, right arity, no special client or node state
    cmd = state.lookup_bytes(argv[0])
    if cmd is None or cmd.needs_lookup or (len(argv) != cmd.arity and (cmd.arity > 0 or len(argv) < -cmd.arity)):
        cmd, error = lookup(client, argv)
        if cmd is None:
            if error.startswith("ERR unknown command"):
                client.last_cmd = "NULL"
            return _reject(client, "exec" if argv[0].lower() == b"exec" else None, error)
    client.last_cmd = cmd.name  # Redis's c->lastcmd: CLIENT LIST shows the command being run
    if state.gated or client.in_multi or not client.authenticated or client.channels or client.patterns \
            or client.shard_channels:
        refused = _gate(client, cmd, argv)
        if refused is not None:
            return refused
    else:
        router = state._router  # cluster mode: the only check a plain client needs, without _gate's others
        if router is not None:
            redirect = router(client, cmd, argv)
            if redirect is not None:
                cmd.rejected_calls += 1
                return _error_reply(client, redirect)
    return call(client, cmd, argv)


def _gate(client: Client, cmd: Command, argv: list[bytes]) -> bytes | None:
    """The checks only some clients or modes need: AUTH, cluster routing, MULTI queueing, RESP2 pub/sub context,
    OOM. Returns the reply that replaces the call, or None to go on."""
    state = client.state
    bits = cmd.bits
    if not client.authenticated and not bits & NO_AUTH:
        cmd.rejected_calls += 1
        return _reject(client, cmd.name, "NOAUTH Authentication required.")
    # the hooks are read through their private attributes: the properties (state.py) are for setting them, and
    # four property calls were a measurable part of every command's cost in cluster mode
    router = state._router
    if router is not None:
        redirect = router(client, cmd, argv)
        if redirect is not None:
            cmd.rejected_calls += 1
            if cmd.name == "exec" and client.in_multi:
                # the queue's keys are checked together at EXEC: Redis discards the transaction and answers the
                # redirection itself (-MOVED / -CROSSSLOT ..., no EXECABORT)
                from .commands.transactions import discard_transaction
                discard_transaction(client)
            elif client.in_multi:
                client.dirty_exec = True
            return _error_reply(client, redirect)
    if state._oom_check is not None:
        # before MULTI queueing, as Redis: eviction runs before every command, and the hook refuses denyoom
        # commands, commands queued into a MULTI, and an EXEC of denyoom commands while over maxmemory
        oom = state.oom_check(client, cmd)
        if oom is not None:
            cmd.rejected_calls += 1
            return _reject(client, cmd.name, oom)
    if state._loading and not bits & LOADING:
        cmd.rejected_calls += 1
        return _reject(client, cmd.name, "LOADING Redis is loading the dataset in memory")
    write_gate = state._write_gate
    if write_gate is not None:
        writes = bool(bits & WRITE or cmd.name == "exec" and client.in_multi
                      and any(c.bits & WRITE for c, _ in client.multi_queue))
        refusal = write_gate(client, cmd, writes)  # Redis's order: after OOM, before MULTI queueing
        if refusal is not None:
            cmd.rejected_calls += 1
            return _reject(client, cmd.name, refusal)
    if client.in_multi and cmd.name not in _MULTI_IMMEDIATE:
        if bits & NO_MULTI:
            cmd.rejected_calls += 1
            return _reject(client, cmd.name, "ERR Command not allowed inside a transaction")
        client.multi_queue.append((cmd, argv))
        return QUEUED
    if client.proto == 2 and (client.channels or client.patterns or client.shard_channels) \
            and cmd.name not in _PUBSUB_ALLOWED:
        cmd.rejected_calls += 1
        return _reject(client, cmd.name, f"ERR Can't execute '{cmd.name}': only (P|S)SUBSCRIBE / "
                                         "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    if state._write_refusal is not None and (bits & WRITE or cmd.name == "ping") and not state.is_replica:
        cmd.rejected_calls += 1
        return _reject(client, cmd.name, state.write_refusal)
    return None


def call(client: Client, cmd: Command, argv: list[bytes]) -> bytes:
    """Run a command that passed every check (also used by EXEC and scripts); returns the encoded reply."""
    state = client.state
    dirty = state.dirty
    t0 = _perf_ns()
    try:
        reply = cmd.fn(client, argv)
    except CommandError as e:
        cmd.failed_calls += 1
        out = _error_reply(client, e.msg)
    except Blocked as b:
        if not client.no_block:
            raise
        # inside MULTI/EXEC or a script a blocking command does not block: it answers as if it timed out
        out = encode(b.on_timeout(), client.proto)
    except Exception:
        log.exception("internal error in %s", cmd.name)
        cmd.failed_calls += 1
        state.stats.unexpected_error_replies += 1
        out = _error_reply(client, f"ERR internal error while running '{cmd.name}'; see the server log")
    else:
        # the common reply shapes inline; everything else through the general encoder
        rt = reply.__class__
        if rt is Raw:
            out = reply
        elif rt is bytes:
            out = b"$%d\r\n%b\r\n" % (len(reply), reply)
        elif rt is int:
            out = b":%d\r\n" % reply
        elif reply is None:
            out = b"$-1\r\n" if client.proto == 2 else b"_\r\n"
        elif rt is ErrorReply:
            cmd.failed_calls += 1
            out = _error_reply(client, str(reply))
        else:
            out = encode(reply, client.proto)
    dur = (_perf_ns() - t0) // 1000
    cmd.calls += 1
    cmd.usec += dur
    if dur >= state.slow_call_us:
        _record_slow_call(client, cmd, argv, dur)
    # only growth counts: SAVE resets `dirty` and must not be propagated (Redis clamps the difference at 0)
    if state.propagate_hooks and state.dirty > dirty and cmd.name not in SELF_PROPAGATING:
        state.propagate(client.dbid, argv)
    return out


def _record_slow_call(client: Client, cmd: Command, argv: list[bytes], dur: int) -> None:
    """SLOWLOG and LATENCY bookkeeping, for the rare call that took at least one of their thresholds."""
    state = client.state
    if dur >= state.slowlog_threshold >= 0 and not cmd.bits & SKIP_SLOWLOG:
        state.slowlog_add(client, argv, dur)
    if state.latency_threshold_ms and dur >= state.latency_threshold_ms * 1000:
        from .commands.latency import latency_add_sample
        latency_add_sample(state, "fast-command" if cmd.bits & FAST else "command", dur // 1000)


def filter_reply(client: Client, out: bytes) -> bytes:
    """CLIENT REPLY OFF/SKIP: drop this reply. SKIP drops exactly the reply after the CLIENT REPLY SKIP call."""
    mode = client.reply_mode
    if mode == REPLY_SKIP_NEXT:  # this was the CLIENT REPLY SKIP call itself
        client.reply_mode = REPLY_SKIP
    elif mode == REPLY_SKIP:
        client.reply_mode = REPLY_ON
    return b""


def _reject(client: Client, name: str | None, msg: str) -> bytes:
    """Redis's rejectCommand: a command refused before it ran flags an open transaction, and a refused EXEC
    aborts it, giving the reason without its ERR code."""
    if client.in_multi:
        client.dirty_exec = True
    if name == "exec":
        client.in_multi = False
        client.multi_queue = []
        client.dirty_exec = False
        client.unwatch_all()
        reason = msg[4:] if msg.startswith("ERR ") else msg
        return _error_reply(client, "EXECABORT Transaction discarded because of: " + reason)
    return _error_reply(client, msg)


def _error_reply(client: Client, msg: str) -> bytes:
    st = client.state.stats
    st.total_error_replies += 1
    code = msg.split(" ", 1)[0]
    st.errorstats[code] = st.errorstats.get(code, 0) + 1
    return encode_error(msg)
