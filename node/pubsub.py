"""Pub/sub without I/O: who listens to which channel, shard channel or pattern, and delivery of messages.

The registry maps each channel to its subscribers (in subscription order, as Redis 7.0's per-channel client
lists) and each pattern to its compiled glob and subscribers; every client keeps the mirror image
(`client.channels`, `.patterns`, `.shard_channels`, insertion-ordered dicts used as sets) so that
unsubscribing everything and CLIENT LIST are cheap.

Delivery: a message is encoded once per protocol (RESP2 array, RESP3 push) and handed to each subscriber with
`client.push(bytes)`; the server shell sends it or queues it, and `client-output-buffer-limit pubsub` bounds the
queue of a subscriber that does not read. PUBLISH costs O(subscribers of the channel + number of distinct
patterns), as in Redis; pattern matching is node/glob.py's, bounded in time.

Keyspace notifications (`notify-keyspace-events`) arrive through `NodeState.notify_hook`, which this registry
installs: an event is published to `__keyspace@<db>__:<key>` (K) and `__keyevent@<db>__:<event>` (E).

The registry is created on first use (`PubSub.of(state)`): until something subscribes there is nothing to
deliver, so nothing needs to be wired before.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .glob import GlobPattern

if TYPE_CHECKING:
    from .client import Client
    from .state import NodeState

# The message kinds, as bulk strings ready to be joined into a frame.
_MESSAGE = b"$7\r\nmessage\r\n"
_SMESSAGE = b"$8\r\nsmessage\r\n"
_PMESSAGE = b"$8\r\npmessage\r\n"


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def confirmation(proto: int, kind: bytes, channel: bytes | None, count: int) -> bytes:
    """One (un)subscribe confirmation: [kind, channel or nil, subscription count]; a push in RESP3."""
    if channel is None:
        name = b"_\r\n" if proto == 3 else b"$-1\r\n"
    else:
        name = _bulk(channel)
    return b"%b%b%b:%d\r\n" % (b">3\r\n" if proto == 3 else b"*3\r\n", _bulk(kind), name, count)


class _PatternSubs:
    """One pattern's compiled matcher and its subscribers."""

    __slots__ = ("glob", "clients")

    def __init__(self, pattern: bytes):
        self.glob = GlobPattern(pattern)
        self.clients: dict = {}


class PubSub:
    def __init__(self, state: "NodeState"):
        self.state = state
        self.channels: dict[bytes, dict] = {}  # channel → {client: None}, in subscription order
        self.patterns: dict[bytes, _PatternSubs] = {}
        self.shard_channels: dict[bytes, dict] = {}
        # cluster mode: fn(channel, message, sharded) after a local PUBLISH/SPUBLISH, to pass it along the bus
        self.on_publish: Callable | None = None
        self._events: dict[str, bytes] = {}  # event name → its bytes (a handful of names, reused forever)

    @classmethod
    def of(cls, state: "NodeState") -> "PubSub":
        """The node's registry, created and wired on first use."""
        ps = getattr(state, "pubsub", None)
        if ps is None:
            ps = state.pubsub = cls(state)
            ps._install()
        return ps

    def _install(self) -> None:
        state = self.state
        other_hook = state.notify_hook
        if other_hook is None:
            state.notify_hook = self.notify_keyspace
        else:  # someone else listens to keyspace events too (modules): both are told
            def notify_both(*args, other_hook=other_hook) -> None:
                self.notify_keyspace(*args)
                other_hook(*args)

            state.notify_hook = notify_both
        previous = state.on_client_disconnect

        def on_disconnect(c: "Client", previous=previous) -> None:
            if c.channels or c.patterns or c.shard_channels:
                self.drop_client(c)
            if previous is not None:
                previous(c)

        state.on_client_disconnect = on_disconnect
        self._update_stats()

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, c: "Client", channel: bytes) -> bool:
        """True if `c` was not yet subscribed to `channel`."""
        return self._add(c, c.channels, self.channels, channel)

    def ssubscribe(self, c: "Client", channel: bytes) -> bool:
        return self._add(c, c.shard_channels, self.shard_channels, channel)

    def _add(self, c, mine: dict, registry: dict, channel: bytes) -> bool:
        if channel in mine:
            return False
        channel = bytes(channel)
        mine[channel] = None
        subs = registry.get(channel)
        if subs is None:
            subs = registry[channel] = {}
        subs[c] = None
        self._client_mode(c)
        self._update_stats()
        return True

    def unsubscribe(self, c: "Client", channel: bytes) -> bool:
        """True if `c` was subscribed to `channel`."""
        return self._remove(c, c.channels, self.channels, channel)

    def sunsubscribe(self, c: "Client", channel: bytes) -> bool:
        return self._remove(c, c.shard_channels, self.shard_channels, channel)

    def _remove(self, c, mine: dict, registry: dict, channel: bytes) -> bool:
        if channel not in mine:
            return False
        del mine[channel]
        subs = registry[channel]
        del subs[c]
        if not subs:
            del registry[channel]  # no empty entries: a client cycling through channels leaves nothing behind
        self._client_mode(c)
        self._update_stats()
        return True

    def psubscribe(self, c: "Client", pattern: bytes) -> bool:
        if pattern in c.patterns:
            return False
        pattern = bytes(pattern)
        c.patterns[pattern] = None
        entry = self.patterns.get(pattern)
        if entry is None:
            entry = self.patterns[pattern] = _PatternSubs(pattern)
        entry.clients[c] = None
        self._client_mode(c)
        self._update_stats()
        return True

    def punsubscribe(self, c: "Client", pattern: bytes) -> bool:
        if pattern not in c.patterns:
            return False
        del c.patterns[pattern]
        entry = self.patterns[pattern]
        del entry.clients[c]
        if not entry.clients:
            del self.patterns[pattern]
        self._client_mode(c)
        self._update_stats()
        return True

    def drop_client(self, c: "Client") -> None:
        """Forget every subscription of `c`, silently (disconnect, RESET)."""
        for ch in list(c.channels):
            self.unsubscribe(c, ch)
        for ch in list(c.shard_channels):
            self.sunsubscribe(c, ch)
        for pat in list(c.patterns):
            self.punsubscribe(c, pat)

    def drop_shard_channel(self, channel: bytes) -> None:
        """Cluster mode, when a slot leaves this node: unsubscribe every client from a shard channel, telling
        each one (Redis's pubsubShardUnsubscribeAllClients)."""
        subs = self.shard_channels.get(channel)
        if not subs:
            return
        for c in list(subs):
            self.sunsubscribe(c, channel)
            c.push(confirmation(c.proto, b"sunsubscribe", channel, len(c.shard_channels)))

    @staticmethod
    def _client_mode(c: "Client") -> None:
        # a client with subscriptions is a pub/sub client: its output falls under the pubsub buffer limits
        if c.kind == "normal" or c.kind == "pubsub":
            c.kind = "pubsub" if (c.channels or c.patterns or c.shard_channels) else "normal"

    def _update_stats(self) -> None:
        st = self.state.stats
        st.pubsub_channels = len(self.channels)
        st.pubsub_patterns = len(self.patterns)
        st.pubsubshard_channels = len(self.shard_channels)

    # ------------------------------------------------------------------ delivery

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to the channel's subscribers, then to every client whose pattern matches; returns the number
        of deliveries (a client subscribed twice, by name and by pattern, counts twice)."""
        receivers = 0
        subs = self.channels.get(channel)
        tail = None
        if subs:
            tail = b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(channel), channel, len(message), message)
            receivers = self._deliver(subs, _MESSAGE + tail, 3)
        if self.patterns:
            for entry in tuple(self.patterns.values()):
                if entry.glob.match(channel):
                    if tail is None:
                        tail = b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(channel), channel, len(message), message)
                    pat = entry.glob.pattern
                    receivers += self._deliver(entry.clients, _PMESSAGE + _bulk(pat) + tail, 4)
        return receivers

    def spublish(self, channel: bytes, message: bytes) -> int:
        """Shard channels: subscribers by name only, never patterns."""
        subs = self.shard_channels.get(channel)
        if not subs:
            return 0
        body = _SMESSAGE + b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(channel), channel, len(message), message)
        return self._deliver(subs, body, 3)

    @staticmethod
    def _deliver(clients: dict, body: bytes, n: int) -> int:
        """Send `body` (the frame without its header) to each client: one encoding per protocol, not per client."""
        resp2 = resp3 = None
        # a copy: a push may make the server drop a client over its output limit (never synchronously today,
        # but the registry must not depend on that)
        for c in tuple(clients):
            write = c.writer  # Client.push, inlined: this loop is PUBLISH's cost
            if write is None or c.closing:
                continue
            if c.proto == 3:
                if resp3 is None:
                    resp3 = b">%d\r\n%b" % (n, body)
                write(resp3)
            else:
                if resp2 is None:
                    resp2 = b"*%d\r\n%b" % (n, body)
                write(resp2)
        return len(clients)

    # ------------------------------------------------------------------ keyspace notifications

    def notify_keyspace(self, event: str, key: bytes, dbid: int, cls: str, flags: str) -> None:
        """`NodeState.notify_hook`: the class was already checked against the flags; K and E say where to publish."""
        if not self.channels and not self.patterns:
            return  # nobody listens to anything: skip building the channel names
        ev = self._events.get(event)
        if ev is None:
            ev = self._events[event] = event.encode()
        if "K" in flags:
            self.publish(b"__keyspace@%d__:%b" % (dbid, key), ev)
        if "E" in flags:
            self.publish(b"__keyevent@%d__:%b" % (dbid, ev), key)

    # ------------------------------------------------------------------ introspection

    def channel_list(self, pattern: bytes | None, shard: bool = False) -> list[bytes]:
        registry = self.shard_channels if shard else self.channels
        if pattern is None:
            return list(registry)
        glob = GlobPattern(pattern)
        return [ch for ch in registry if glob.match(ch)]

    def numsub(self, channel: bytes, shard: bool = False) -> int:
        subs = (self.shard_channels if shard else self.channels).get(channel)
        return len(subs) if subs else 0
