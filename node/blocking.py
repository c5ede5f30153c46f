"""Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, ...), served as Redis serves them.

A blocking command that finds nothing to do raises `dispatch.Blocked(keys, timeout, retry, on_timeout)` before
touching anything. The server shell parks that client here (`wait`). Any write to a key someone waits on marks
the key ready (`Database.touch` → `key_modified`); after the command that wrote it has finished — after the whole
EXEC, or the whole script — `serve_ready()` walks the ready keys in order and offers each to its waiters first
come, first served, by running their `retry()` right there, atomically, on the keyspace. A retry that still
finds nothing raises Blocked again and the client keeps waiting (at the same place in the queue); one that
succeeds hands its reply to the parked task, which sends it.

So a pushed element goes to the longest-waiting client, a client blocked on several keys is served by whichever
becomes ready first, and a retry that pushes (BLMOVE) makes its destination ready in turn.

Before each `retry()` the manager sets `blocked.ready_key` to the key being offered: Redis serves a client from
that key only (BLPOP a b, woken by b, pops b even if a filled up in the same EXEC). A retry that changed the data
may set `blocked.argv` to what should be propagated (BLPOP served → LPOP key); the manager propagates it.
A client that hung up is dropped from every queue at once (`cancel`), so it is never served an element it
cannot receive.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import trio

from .resp import encode

log = logging.getLogger("shoal.node")

if TYPE_CHECKING:
    from .client import Client
    from .state import NodeState


class Blocked(Exception):
    """Raised by a blocking command that must wait. The server shell parks the client until `keys` change or
    `timeout` (absolute, seconds since the epoch; 0 = forever) passes, then re-runs `retry()` or sends
    `on_timeout()`. Implemented by the blocking-commands work; the shape is fixed here."""

    def __init__(self, keys, timeout: float, retry, on_timeout):
        super().__init__("blocked")
        self.keys = keys
        self.timeout = timeout
        self.retry = retry
        self.on_timeout = on_timeout


class Waiter:
    __slots__ = ("client", "blocked", "keys", "event", "reply", "done")

    def __init__(self, client: "Client", blocked: "Blocked"):
        self.client = client
        self.blocked = blocked
        # a key named twice (BLPOP k k 0) waits once, as in Redis's blockForKeys
        self.keys = list(dict.fromkeys((client.dbid, k) for k in blocked.keys))
        self.event = trio.Event()
        self.reply: bytes | None = None
        self.done = False

    @property
    def timeout(self) -> float:
        """Absolute deadline (epoch seconds, 0 = none), for INFO's clients_in_timeout_table."""
        return self.blocked.timeout


class BlockingManager:
    def __init__(self, state: "NodeState"):
        self.state = state
        self.waiters: dict[tuple[int, bytes], deque[Waiter]] = {}
        self.ready: dict[tuple[int, bytes], None] = {}  # insertion-ordered set of keys to offer
        self.blocked_clients = 0

    # ------------------------------------------------------------------ registration

    def add(self, client: "Client", blocked: "Blocked") -> Waiter:
        w = Waiter(client, blocked)
        for dk in w.keys:
            q = self.waiters.get(dk)
            if q is None:
                q = self.waiters[dk] = deque()
                self.state.keyspace[dk[0]].blocked[dk[1]] = True
            q.append(w)
        client.blocked = w
        # CLIENT UNBLOCK calls client.unblock(error) while the client waits here
        client.unblock = lambda error: self.unblock(
            client, b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n" if error
            else encode(blocked.on_timeout(), client.proto))
        self.blocked_clients += 1
        return w

    def remove(self, w: Waiter) -> None:
        if w.client.blocked is w:
            w.client.blocked = None
            w.client.unblock = None
            self.blocked_clients -= 1
        for dk in w.keys:
            q = self.waiters.get(dk)
            if q is None:
                continue
            try:
                q.remove(w)
            except ValueError:
                pass
            if not q:
                del self.waiters[dk]
                self.state.keyspace[dk[0]].blocked.pop(dk[1], None)

    def key_modified(self, dbid: int, key: bytes) -> None:
        if (dbid, key) in self.waiters:
            self.ready[(dbid, key)] = None

    def on_swapdb(self, a: int, b: int) -> None:
        """SWAPDB: waiters stay with their database number, whose contents changed; every waited key that now
        exists there is ready (Redis's scanDatabaseForReadyKeys)."""
        for dk in self.waiters:
            if dk[0] in (a, b) and dk[1] in self.state.keyspace[dk[0]].data:
                self.ready[dk] = None

    def cancel(self, client: "Client") -> None:
        """The client hung up while blocked: leave its queues now, before anything can be served to it."""
        w = client.blocked
        if w is not None and not w.done:
            w.done = True
            self.remove(w)
            w.event.set()

    # ------------------------------------------------------------------ serving

    def serve_ready(self) -> None:
        """Offer every ready key to its waiters, oldest first, until no key is ready."""


        state = self.state
        rounds = 0
        while self.ready and rounds < 10000:
            rounds += 1
            dk = next(iter(self.ready))
            del self.ready[dk]
            q = self.waiters.get(dk)
            if not q:
                continue
            db = state.keyspace[dk[0]]
            for w in list(q):
                if w.done:
                    continue
                c = w.client
                if c.closing:  # hung up (or killed) but its task has not run yet: never serve it
                    self.cancel(c)
                    continue
                if dk[1] not in db.data and not getattr(w.blocked, "unblock_on_nokey", False):
                    continue  # the key is gone: nothing for this one (a blocked XREADGROUP still hears of it)
                w.blocked.ready_key = dk[1]
                dirty = state.dirty
                try:
                    value = w.blocked.retry()
                except Blocked:
                    continue  # nothing for this one (yet): it keeps its place
                except Exception as e:  # a retry that fails answers the client with the error
                    from .errors import CommandError
                    if isinstance(e, CommandError):
                        msg = e.msg
                    else:
                        log.exception("internal error while serving blocked client %d", c.id)
                        msg = "ERR internal error while serving a blocked client"
                    w.reply = b"-%s\r\n" % msg.encode()
                else:
                    w.reply = encode(value, c.proto)
                    argv = getattr(w.blocked, "argv", None)
                    if argv and state.dirty != dirty and state.propagate_hooks:
                        state.propagate(c.dbid, argv)
                self._finish(w)
                if dk not in self.waiters:
                    break

    def _finish(self, w: Waiter) -> None:
        w.done = True
        self.remove(w)
        w.event.set()

    def unblock(self, client: "Client", reply: bytes) -> bool:
        """CLIENT UNBLOCK: end the wait with `reply` (the timeout reply, or an UNBLOCKED error)."""
        w = client.blocked
        if w is None or w.done:
            return False
        w.reply = reply
        self._finish(w)
        return True

    async def wait(self, client: "Client", blocked: "Blocked", on_disconnect=None) -> bytes:
        """Park `client` until served, unblocked or timed out; returns the encoded reply."""
        w = self.add(client, blocked)
        try:
            if blocked.timeout:
                with trio.move_on_at(_trio_deadline(blocked.timeout)):
                    await w.event.wait()
            else:
                await w.event.wait()
        finally:
            if not w.done:
                w.done = True
                self.remove(w)
        if w.reply is None:
            return encode(blocked.on_timeout(), client.proto)
        return w.reply


def _trio_deadline(epoch_seconds: float) -> float:
    import time
    return trio.current_time() + max(0.0, epoch_seconds - time.time())
