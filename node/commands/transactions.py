"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Queueing happens in the dispatcher (`dispatch.execute` appends `(cmd, argv)` to `client.multi_queue` and flags
`client.dirty_exec` when a command cannot be queued). Here EXEC runs the queue; a command never awaits, so the
whole queue runs with nothing else in between, as in Redis.

WATCH keeps two indexes, like Redis: `db.watched[key]` → the clients watching it (so a write can find them in
O(1)), and `client.watched` → `(dbid, key)` (so UNWATCH and disconnect can let go). A write to a watched key sets
`client.dirty_cas` (`Database.touch`), and EXEC then answers a null array. Redis 7.0 also fails EXEC when a
watched key has expired since WATCH, but not for a key that was already expired when it was WATCHed: those are in
`client.watched_expired`, and deleting them is no change (see `Database.touch`).
"""
from __future__ import annotations

from .. import dispatch  # module, not names: dispatch imports this package while it loads
from ..errors import CommandError
from ..resp import NULL_ARRAY, OK, Raw, encode
from .registry import command

EXECABORT = "EXECABORT Transaction discarded because of previous errors."


def discard_transaction(c) -> None:
    """Leave MULTI: drop the queue and the error flags, unwatch everything (multi.c discardTransaction)."""
    c.in_multi = False
    c.multi_queue = []
    c.dirty_exec = False
    c.unwatch_all()  # also clears dirty_cas


def watch_key(c, key: bytes) -> None:
    db = c.db
    clients = db.watched.get(key)
    if clients is None:
        clients = db.watched[key] = set()
    elif c in clients:
        return  # already watched in this database
    clients.add(c)
    entry = (c.dbid, key)
    c.watched.append(entry)
    if db.is_expired(key):
        c.watched_expired.add(entry)


def watched_key_expired(c) -> bool:
    """A key that was live at WATCH time has expired since (multi.c isWatchedKeyExpired)."""
    keyspace = c.state.keyspace
    expired_at_watch = c.watched_expired
    for entry in c.watched:
        if entry in expired_at_watch:
            continue
        dbid, key = entry
        if keyspace[dbid].is_expired(key):
            return True
    return False


@command("multi")
def multi(c, argv):
    if c.in_multi:
        raise CommandError("ERR MULTI calls can not be nested")
    c.in_multi = True
    c.multi_queue = []
    c.dirty_exec = False
    return OK


@command("discard")
def discard(c, argv):
    if not c.in_multi:
        raise CommandError("ERR DISCARD without MULTI")
    discard_transaction(c)
    return OK


@command("exec")
def exec_(c, argv):
    if not c.in_multi:
        raise CommandError("ERR EXEC without MULTI")
    if c.watched and not c.dirty_cas and watched_key_expired(c):
        c.dirty_cas = True
    if c.dirty_exec:
        discard_transaction(c)
        raise CommandError(EXECABORT)
    if c.dirty_cas:
        discard_transaction(c)
        return NULL_ARRAY
    queue = c.multi_queue
    # unwatch first: our own writes must not waste time flagging us
    c.unwatch_all()
    # `in_multi` stays set while the queue runs, as Redis keeps CLIENT_MULTI (CLIENT LIST shows flags=x)
    try:
        replies = _run_queue(c, queue)
    finally:
        discard_transaction(c)
    return Raw(b"*%d\r\n%s" % (len(replies), b"".join(replies)))


def _run_queue(c, queue) -> list[bytes]:
    """Run every queued command, each reply encoded as it would be alone (errors stay elements; one failing
    command does not stop the rest). Writes are propagated (AOF, replicas) after the fact, wrapped in
    MULTI ... EXEC when there is more than one, as Redis 7.0's propagatePendingCommands does; the EXEC call
    itself is not propagated by the dispatcher (dispatch.SELF_PROPAGATING)."""
    state = c.state
    hooks = state.propagate_hooks
    ops: list = []
    if hooks:
        state.propagate_hooks = [lambda dbid, argv: ops.append((dbid, argv))]
    replies = []
    no_block = c.no_block
    c.no_block = True  # blocking commands answer at once inside EXEC (Redis's CLIENT_DENY_BLOCKING)
    try:
        for cmd, argv in queue:
            try:
                replies.append(dispatch.call(c, cmd, argv))
            except dispatch.Blocked as b:
                # a blocking command inside EXEC answers at once, as if its timeout had passed
                replies.append(encode(b.on_timeout(), c.proto))
    finally:
        c.no_block = no_block
        if hooks:
            state.propagate_hooks = hooks
    if ops:
        wrap = len(ops) > 1
        if wrap:
            state.propagate(ops[0][0], [b"MULTI"])
        for dbid, argv in ops:
            state.propagate(dbid, argv)
        if wrap:
            state.propagate(ops[-1][0], [b"EXEC"])
    return replies


@command("watch")
def watch(c, argv):
    if c.in_multi:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    for key in argv[1:]:
        watch_key(c, key)
    return OK


@command("unwatch")
def unwatch(c, argv):
    c.unwatch_all()
    return OK
