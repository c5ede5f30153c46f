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
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from .resp import encode

if TYPE_CHECKING:
    from .client import Client
    from .dispatch import Blocked
    from .state import NodeState


class Waiter:
    __slots__ = ("client", "blocked", "keys", "event", "reply", "done")

    def __init__(self, client: "Client", blocked: "Blocked"):
        self.client = client
        self.blocked = blocked
        self.keys = [(client.dbid, k) for k in blocked.keys]
        self.event = trio.Event()
        self.reply: bytes | None = None
        self.done = False


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
        self.blocked_clients += 1
        return w

    def remove(self, w: Waiter) -> None:
        if w.client.blocked is w:
            w.client.blocked = None
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

    # ------------------------------------------------------------------ serving

    def serve_ready(self) -> None:
        """Offer every ready key to its waiters, oldest first, until no key is ready."""
        from .dispatch import Blocked

        rounds = 0
        while self.ready and rounds < 10000:
            rounds += 1
            dk = next(iter(self.ready))
            del self.ready[dk]
            q = self.waiters.get(dk)
            if not q:
                continue
            for w in list(q):
                if w.done:
                    continue
                c = w.client
                try:
                    value = w.blocked.retry()
                except Blocked:
                    continue  # nothing for this one (yet): it keeps its place
                except Exception as e:  # a retry that fails answers the client with the error
                    from .errors import CommandError
                    msg = e.msg if isinstance(e, CommandError) else "ERR internal error while serving a blocked client"
                    w.reply = b"-%s\r\n" % msg.encode()
                else:
                    w.reply = encode(value, c.proto)
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
