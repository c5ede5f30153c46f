"""The cluster bus: the trio shell around the pure parts (messages.py, view.py, failure.py).

It listens on `cluster-port` (default: port + 10000) and keeps one outbound link per known node, reconnecting with
a backoff; inbound links are accepted from anyone (with `cluster-secret` set, a frame without the right MAC drops
the link). What travels and how it is handled follows the Redis Cluster spec and Redis 7.0's cluster_legacy.c:

- every link is bidirectional for us: a PING or MEET is answered with a PONG on the same link, any message may
  arrive on any link, and the sender is identified by the id in the header, not by the link;
- a cron runs every 100 ms: expire handshakes, (re)connect links, once a second ping the node with the oldest pong
  among 5 random ones, ping every node whose pong is older than half the node timeout, flag PFAIL, promote to FAIL;
- a PING/PONG/MEET carries the sender's epochs, role and claimed slots (applied through `view.claim_slots`: a higher
  config epoch wins; a sender with a stale claim is sent an UPDATE) and gossip about ~1/10 of the nodes (at least 3)
  plus every PFAIL node; gossip introduces unknown nodes and carries failure reports from primaries.

Every message is handled synchronously on receipt (no await between decode and the view change), so the view is
only ever changed by one piece of code at a time, like the keyspace. After a change `on_view_change()` is called:
the composition root saves nodes.conf and recomputes the cluster state there.
"""
from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections import Counter, deque
from typing import Callable

import trio

from . import failure
from .messages import (EMPTY_BITMAP, GOSSIP_TYPES, DecodeError, FrameReader, GossipEntry, Header, Message, MsgType,
                       bitmap_to_slots, encode, slots_to_bitmap)
from .view import (FAIL, HANDSHAKE, MYSELF, NOADDR, NOFAILOVER, PFAIL, PRIMARY, REPLICA, ClusterView, NodeRecord,
                   random_node_id)

log = logging.getLogger("shoal.gossip")

CRON_INTERVAL = 0.1  # s: clusterCron runs 10 times a second
BLACKLIST_TTL = 60_000  # ms a forgotten node may not be re-added by gossip (CLUSTER_BLACKLIST_TTL)
RECONNECT_MIN, RECONNECT_MAX = 100, 1000  # ms between connection attempts to one node (doubling)
RECV_SIZE = 65536


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Link:
    """One TCP connection of the bus. Outbound links belong to a node from the start; inbound ones learn theirs
    from the first message whose sender we know."""

    def __init__(self, stream, inbound: bool, node: NodeRecord | None, created: int, secret: bytes) -> None:
        self.stream = stream
        self.inbound = inbound
        self.node = node
        self.created = created
        self.last_data = created  # ms of the last bytes received: any traffic is a sign of life
        self.reader = FrameReader(secret)
        self.queue: deque[bytes] = deque()
        self.queued = 0  # bytes waiting to be sent
        self.peak = 0  # largest queue seen (send-buffer-allocated)
        self.wake = trio.Event()
        self.scope: trio.CancelScope | None = None
        self.closed = False
        self.peer_ip = self.local_ip = ""
        sock = getattr(stream, "socket", None)
        if sock is not None:
            try:
                self.peer_ip = sock.getpeername()[0]
                self.local_ip = sock.getsockname()[0]
            except OSError:
                pass

    def send(self, frame: bytes) -> None:
        if self.closed:
            return
        self.queue.append(frame)
        self.queued += len(frame)
        self.peak = max(self.peak, self.queued)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        if self.scope is not None:
            self.scope.cancel()


class Bus:
    def __init__(self, view: ClusterView, config, *, on_publish: Callable | None = None,
                 on_view_change: Callable | None = None, now: Callable[[], int] | None = None) -> None:
        self.view = view
        self.config = config
        self.on_publish = on_publish  # fn(channel, message, shard: bool): deliver locally, do not re-forward
        self.on_view_change = on_view_change
        self.now = now or _wall_ms
        secret = config.get("cluster-secret", "") or ""
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        port = config.get("cluster-port", 0) or 0
        self.cport = port or (config.get("port", 6379) + 10000)
        self.out_links: dict[NodeRecord, Link] = {}
        self.in_links: set[Link] = set()
        self.connecting: set[NodeRecord] = set()
        self.retry: dict[NodeRecord, tuple[int, int]] = {}  # node → (next attempt ms, current backoff ms)
        self.meet_pending: set[NodeRecord] = set()  # handshake nodes we must greet with MEET, not PING
        self.blacklist: dict[str, int] = {}  # forgotten node id → ms until which gossip may not re-add it
        self.sent: Counter = Counter()
        self.received: Counter = Counter()
        self.dropped = 0  # frames (and links) dropped as malformed, truncated, oversized or unauthenticated
        self.buffer_limit_exceeded = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.iteration = 0
        self.listeners: list = []
        self._nursery: trio.Nursery | None = None
        self._bitmap: bytes | None = None  # my shard's claimed slots (cached: building it scans 16384 slots)
        self._quorum: int | None = None  # failure quorum, cached likewise
        self._claims_seen: dict[str, tuple[bytes, int, int]] = {}  # sender id → (bitmap, epoch, ms) last applied

    # ================================================================ public API

    @property
    def node_timeout(self) -> int:
        return int(self.config.get("cluster-node-timeout", 15000))

    def meet(self, ip: str, port: int, cport: int | None = None) -> None:
        """CLUSTER MEET: start a handshake with ip:port@cport. ValueError for an invalid address."""
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise ValueError("Invalid node address specified") from None
        cport = port + 10000 if cport is None else cport
        if not (0 < port <= 65535 and 0 < cport <= 65535):
            raise ValueError("Invalid node address specified")
        for n in self.view.nodes.values():  # clusterHandshakeInProgress: one handshake per address
            if n.in_handshake and n.ip == ip and n.port == port and n.cport == cport:
                return
        node = NodeRecord(random_node_id(), ip=ip, port=port, cport=cport, flags={HANDSHAKE}, created=self.now())
        self.view.add(node)
        self.meet_pending.add(node)
        self._changed()

    def forget(self, node_id: str) -> None:
        """CLUSTER FORGET: drop the node and keep gossip from re-adding it for 60 s. (The caller checks that it is
        not myself nor my primary, with Redis's errors.)"""
        self.blacklist[node_id] = self.now() + BLACKLIST_TTL
        node = self.view.node(node_id)
        if node is not None and node is not self.view.myself:
            self._drop_node(node)
            self._changed()

    def links(self) -> list[dict]:
        """CLUSTER LINKS: one dict per link whose node is known, in Redis's field order."""
        out = []
        for link in list(self.out_links.values()) + list(self.in_links):
            if link.node is None or link.closed:
                continue
            out.append({"direction": "from" if link.inbound else "to", "node": link.node.id,
                        "create-time": link.created, "events": "rw" if link.queued else "r",
                        "send-buffer-allocated": max(link.peak, link.queued), "send-buffer-used": link.queued})
        return out

    def stats(self) -> dict:
        """Counters for CLUSTER INFO: {"sent": {"ping": n, ...}, "received": {...}} by Redis's type words (types
        never seen are absent), "links_buffer_limit_exceeded" (total_cluster_links_buffer_limit_exceeded), and
        ours: "dropped" (frames dropped as malformed/truncated/oversized/unauthenticated), "bytes_sent",
        "bytes_received"."""
        return {"sent": {t.stat_name: self.sent[t] for t in MsgType if self.sent[t]},
                "received": {t.stat_name: self.received[t] for t in MsgType if self.received[t]},
                "links_buffer_limit_exceeded": self.buffer_limit_exceeded, "dropped": self.dropped,
                "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received}

    def count_failure_reports(self, node_id: str) -> int:
        node = self.view.node(node_id)
        return 0 if node is None else failure.count_reports(node, self.now(), self.node_timeout)

    def publish(self, channel: bytes, message: bytes, shard: bool = False) -> None:
        """Pass a local PUBLISH to every node, or a SPUBLISH to the other nodes of my shard."""
        msg = Message(MsgType.PUBLISHSHARD if shard else MsgType.PUBLISH, self._header(),
                      channel=bytes(channel), message=bytes(message))
        targets = self._my_shard() if shard else None
        self._broadcast(msg, lambda n: targets is None or n in targets)

    def config_changed(self) -> None:
        """My slots or epoch changed outside the bus (ADDSLOTS, DELSLOTS, SETSLOT...): advertise them from the next
        message on (otherwise they are picked up within a second)."""
        self._bitmap = None

    def broadcast_pong(self) -> None:
        """Tell everyone our new configuration now (after BUMPEPOCH, SETSLOT NODE, ADDSLOTS ...)."""
        self._bitmap = None
        for node, link in list(self.out_links.items()):
            if not node.in_handshake:
                self._send_ping(link, MsgType.PONG)

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen, then run the accept loops and the cron until cancelled."""
        me = self.view.myself
        if not me.cport:
            me.cport = self.config.get("cluster-announce-bus-port", 0) or self.cport
        if not me.port:
            me.port = self.config.get("cluster-announce-port", 0) or self.config.get("port", 0)
        self.listeners = await self._listen()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for ls in self.listeners:
                    nursery.start_soon(trio.serve_listeners, self._serve_inbound, [ls])
                nursery.start_soon(self._cron_loop)
                task_status.started()
        finally:
            for link in list(self.out_links.values()) + list(self.in_links):
                link.close()
            for ls in self.listeners:
                await trio.aclose_forcefully(ls)

    # ================================================================ sockets

    async def _listen(self) -> list:
        addrs = [a for a in str(self.config.get("bind", "127.0.0.1")).split() if a] or ["*"]
        out = []
        for addr in addrs:
            optional = addr.startswith("-")
            host = {"*": "0.0.0.0", "::*": "::"}.get(addr.lstrip("-"), addr.lstrip("-"))
            try:
                out += await trio.open_tcp_listeners(self.cport, host=host)
            except OSError as e:
                if optional:
                    continue
                raise OSError(e.errno, f"Could not bind the cluster bus to {host}:{self.cport}: {e.strerror}")
        return out

    async def _serve_inbound(self, stream) -> None:
        link = Link(stream, True, None, self.now(), self.secret)
        self.in_links.add(link)
        try:
            await self._serve_link(link)
        finally:
            self.in_links.discard(link)

    async def _connect(self, node: NodeRecord) -> None:
        try:
            stream = None
            with trio.move_on_after(max(self.node_timeout, 1000) / 1000):
                stream = await trio.open_tcp_stream(node.ip, node.cport)
            if stream is None:
                raise OSError("connect timeout")
        except OSError as e:
            self.connecting.discard(node)
            self._connect_failed(node, e)
            return
        self.connecting.discard(node)
        if self.view.nodes.get(node.id) is not node or node in self.out_links:
            await trio.aclose_forcefully(stream)  # forgotten or renamed away while we connected
            return
        self.retry.pop(node, None)
        link = Link(stream, False, node, self.now(), self.secret)
        self.out_links[node] = link
        node.link_connected = True
        if node in self.meet_pending:
            self.meet_pending.discard(node)
            self._send_ping(link, MsgType.MEET)
        else:
            self._send_ping(link, MsgType.PING)  # keeps an older ping_sent: failure detection must not restart
        try:
            await self._serve_link(link)
        finally:
            if self.out_links.get(node) is link:
                del self.out_links[node]
                node.link_connected = False

    def _connect_failed(self, node: NodeRecord, err) -> None:
        now = self.now()
        _, backoff = self.retry.get(node, (0, RECONNECT_MIN // 2))
        backoff = min(backoff * 2, RECONNECT_MAX)
        self.retry[node] = (now + backoff, backoff)
        # As Redis: with no link we cannot send the ping, but we count as if we had, or an unreachable node
        # would never time out
        if node.ping_sent == 0 and not node.in_handshake:
            node.ping_sent = now
        log.debug("cluster bus: cannot connect to %s %s:%d: %s", node.id, node.ip, node.cport, err)

    async def _serve_link(self, link: Link) -> None:
        try:
            async with trio.open_nursery() as nursery:
                link.scope = nursery.cancel_scope
                if link.closed:
                    nursery.cancel_scope.cancel()
                nursery.start_soon(self._write_loop, link)
                try:
                    while True:
                        data = await link.stream.receive_some(RECV_SIZE)
                        if not data:
                            if link.reader.pending():
                                self.dropped += 1  # the peer went away in the middle of a frame
                            break
                        self.bytes_received += len(data)
                        link.last_data = self.now()
                        link.reader.feed(data)
                        for msg in link.reader.messages():
                            self._dispatch(link, msg)
                            if link.closed:
                                break
                        if link.closed:
                            break
                except DecodeError as e:
                    self.dropped += 1
                    log.warning("cluster bus: dropping link %s %s: %s", "from" if link.inbound else "to",
                                link.peer_ip or "?", e)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
                nursery.cancel_scope.cancel()
        finally:
            link.closed = True
            await trio.aclose_forcefully(link.stream)

    async def _write_loop(self, link: Link) -> None:
        try:
            while True:
                if not link.queue:
                    link.wake = trio.Event()
                    await link.wake.wait()
                    continue
                data = b"".join(link.queue)
                link.queue.clear()
                await link.stream.send_all(data)
                link.queued -= len(data)
                self.bytes_sent += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            link.close()

    # ================================================================ sending

    def _header(self) -> Header:
        view, me = self.view, self.view.myself
        primary = view.node(me.primary_id) if me.is_replica and me.primary_id else me
        if primary is None:
            primary = me
        if self._bitmap is None:
            # a replica advertises its primary's slots and config epoch, as Redis
            self._bitmap = slots_to_bitmap(s for s, o in enumerate(view.owners) if o is primary) \
                if primary.is_primary else EMPTY_BITMAP
        cfg = self.config
        return Header(sender=me.id, current_epoch=view.current_epoch, config_epoch=primary.config_epoch,
                      repl_offset=me.repl_offset, ip=cfg.get("cluster-announce-ip", "") or me.ip,
                      port=cfg.get("cluster-announce-port", 0) or me.port,
                      cport=cfg.get("cluster-announce-bus-port", 0) or me.cport or self.cport,
                      hostname=cfg.get("cluster-announce-hostname", "") or me.hostname,
                      flags=me.flags - {MYSELF}, primary_id=(me.primary_id or "") if me.is_replica else "",
                      shard_id=me.shard_id if len(me.shard_id) == 40 else "", slots=self._bitmap,
                      state_ok=view.state_ok)

    def _send(self, link: Link, msg: Message) -> None:
        frame = encode(msg, self.secret)
        self.sent[msg.type] += 1
        link.send(frame)
        limit = self.config.get("cluster-link-sendbuf-limit", 0) or 0
        if limit and link.queued > limit:  # a peer that does not read must not grow our memory without bound
            self.buffer_limit_exceeded += 1
            link.close()

    def _send_ping(self, link: Link, mtype: MsgType) -> None:
        node = link.node
        if mtype == MsgType.PING and node is not None and node.ping_sent == 0:
            node.ping_sent = self.now()
        self._send(link, Message(mtype, self._header(), gossip=self._gossip_entries(link.node)))

    def _gossip_entries(self, target: NodeRecord | None) -> list[GossipEntry]:
        """clusterSendPing's gossip section: ~1/10 of the nodes (at least 3) at random, plus every PFAIL node."""
        view = self.view
        others = [n for n in view.nodes.values() if n is not view.myself and n is not target]
        wanted = min(max(len(view.nodes) // 10, 3), len(others))
        chosen: dict[NodeRecord, None] = {}
        for _ in range(wanted * 3):
            if len(chosen) >= wanted:
                break
            n = random.choice(others)
            if n in chosen or n.flags & {PFAIL, HANDSHAKE, NOADDR}:
                continue
            if n not in self.out_links and not n.is_primary:
                continue  # (Redis: no link and no slots) nothing useful to say about it
            chosen[n] = None
        for n in others:
            if PFAIL in n.flags and not n.flags & {HANDSHAKE, NOADDR}:
                chosen[n] = None
        return [GossipEntry(n.id, n.ping_sent, n.pong_received, n.ip, n.port, n.cport, n.flags - {MYSELF})
                for n in chosen]

    def _broadcast(self, msg: Message, want=lambda n: True) -> None:
        frame = None
        for node, link in list(self.out_links.items()):
            if node.in_handshake or not want(node):
                continue
            if frame is None:
                frame = encode(msg, self.secret)
            self.sent[msg.type] += 1
            link.send(frame)

    def _my_shard(self) -> set:
        me = self.view.myself
        primary = self.view.node(me.primary_id) if me.is_replica and me.primary_id else me
        members = set(self.view.replicas_of(primary)) if primary is not None else set()
        if primary is not None:
            members.add(primary)
        members.discard(me)
        return members

    # ================================================================ receiving

    def _dispatch(self, link: Link, msg: Message) -> None:
        self.received[msg.type] += 1
        try:
            changed = self._handle(link, msg)
        except Exception:  # a bug in handling one message must not take the node down; the link is suspect
            log.exception("cluster bus: error handling a %s message", msg.type.name)
            self.dropped += 1
            link.close()
            return
        if changed:
            self._changed()

    def _handle(self, link: Link, msg: Message) -> bool:
        """Apply one message to the view. Returns True if the view changed."""
        view, h, now = self.view, msg.header, self.now()
        mtype = msg.type
        if h.sender == view.myself.id:
            return False  # our own message came back (a MEET to ourselves): nothing to learn
        changed = False
        if mtype in GOSSIP_TYPES and not link.inbound and link.node is not None:
            if link.node.in_handshake:
                changed = True
                if self._finish_handshake(link, h):
                    return True
            elif link.node.id != h.sender:
                # the node at this address has a new id (reset, or another node reuses the address)
                node = link.node
                log.info("cluster bus: node %s at %s:%d now answers as %s; marking it noaddr", node.id, node.ip,
                         node.port, h.sender)
                node.flags.add(NOADDR)
                node.ip, node.port, node.cport = "", 0, 0
                link.close()
                return True
        sender = view.node(h.sender)
        if sender is not None and sender.in_handshake:
            sender = None
        if sender is not None:
            if link.inbound and link.node is None:
                link.node = sender
            if h.current_epoch > view.current_epoch:
                view.current_epoch = h.current_epoch
                view.dirty = changed = True
            if h.config_epoch > sender.config_epoch and REPLICA not in h.flags:
                sender.config_epoch = h.config_epoch
                view.dirty = changed = True
            sender.repl_offset = h.repl_offset

        if mtype in (MsgType.PING, MsgType.MEET):
            # learn our own address from the socket the peer reached us on (unless announced)
            if link.inbound and link.local_ip and not self.config.get("cluster-announce-ip", "") \
                    and (mtype == MsgType.MEET or not view.myself.ip) and view.myself.ip != link.local_ip:
                view.myself.ip = link.local_ip
                self._bitmap = None
                view.dirty = changed = True
            if sender is None and mtype == MsgType.MEET:
                node = NodeRecord(random_node_id(), ip=h.ip or link.peer_ip, port=h.port, cport=h.cport,
                                  flags={HANDSHAKE}, created=now)
                view.add(node)
                changed = True
                self._process_gossip(msg, None, now)
            self._send_ping(link, MsgType.PONG)

        if mtype in GOSSIP_TYPES:
            if sender is None:
                return changed
            if mtype == MsgType.PING or not link.inbound:
                changed |= self._update_address(sender, h, link)
            if mtype == MsgType.PONG:
                changed |= failure.on_pong(view, sender, now, self.node_timeout)
            changed |= self._update_role(sender, h)
            if PRIMARY in h.flags:
                changed |= self._apply_claims(link, sender, h)
                if view.resolve_epoch_collision(sender):
                    log.info("WARNING: configEpoch collision with node %s. configEpoch set to %d", sender.id,
                             view.myself.config_epoch)
                    self._bitmap = None
                    changed = True
            changed |= self._process_gossip(msg, sender, now)
            return changed

        if sender is None:
            return changed  # FAIL, UPDATE, PUBLISH are only taken from nodes we know
        if mtype == MsgType.FAIL:
            node = view.node(msg.node_id)
            if node is not None and node is not view.myself and failure.mark_failed(node, now):
                log.info("FAIL message received from %s about %s", sender.id, node.id)
                view.dirty = True
                return True
        elif mtype == MsgType.UPDATE:
            node = view.node(msg.node_id)
            if node is None or node.config_epoch >= msg.config_epoch:
                return changed
            node.config_epoch = msg.config_epoch
            view.claim_slots(node, bitmap_to_slots(msg.slots), msg.config_epoch)
            self._bitmap = None
            view.dirty = True
            return True
        elif mtype in (MsgType.PUBLISH, MsgType.PUBLISHSHARD):
            if self.on_publish is not None:
                self.on_publish(msg.channel, msg.message, mtype == MsgType.PUBLISHSHARD)
        return changed

    def _finish_handshake(self, link: Link, h: Header) -> bool:
        """The first PONG from a node we only knew by address: give the record the id it announced. Returns True if
        the message is fully handled (we already knew that id: the handshake record was a duplicate)."""
        view, node = self.view, link.node
        known = view.node(h.sender)
        if known is not None:
            # we already know it by its id: the handshake record is a duplicate (Redis: "Handshake: we already know
            # this node"); keep the known record, with the address we just reached it at
            self._update_address(known, h, link)
            self._drop_node(node)
            return True
        view.rename(node, h.sender)
        node.flags.discard(HANDSHAKE)
        node.flags |= h.flags & {PRIMARY, REPLICA}
        if not node.flags & {PRIMARY, REPLICA}:
            node.flags.add(PRIMARY)
        self.meet_pending.discard(node)
        log.info("Handshake with node %s completed", node.id)
        return False

    def _update_address(self, node: NodeRecord, h: Header, link: Link) -> bool:
        ip = h.ip or link.peer_ip
        if not ip or not h.port:
            return False
        changed = False
        if (node.ip, node.port, node.cport) != (ip, h.port, h.cport):
            node.ip, node.port, node.cport = ip, h.port, h.cport
            node.flags.discard(NOADDR)
            out = self.out_links.get(node)
            if out is not None and out is not link:
                out.close()  # reconnect to the new address
            changed = True
        if node.hostname != h.hostname:
            node.hostname = h.hostname
            changed = True
        if changed:
            self.view.dirty = True
        return changed

    def _update_role(self, node: NodeRecord, h: Header) -> bool:
        """Copy the sender's role. A primary that became a replica loses its slots (clusterSetNodeAsPrimary and
        the reverse); elections and replica migration are the election module's business."""
        changed = False
        if PRIMARY in h.flags and not node.is_primary:
            node.flags.discard(REPLICA)
            node.flags.add(PRIMARY)
            node.primary_id = None
            changed = True
        elif REPLICA in h.flags:
            if not node.is_replica:
                for s in self.view.slots_of(node):
                    self.view.assign(s, None)
                node.flags.discard(PRIMARY)
                node.flags.add(REPLICA)
                changed = True
            if h.primary_id and node.primary_id != h.primary_id:
                node.primary_id = h.primary_id
                changed = True
        if (NOFAILOVER in h.flags) != (NOFAILOVER in node.flags):
            node.flags ^= {NOFAILOVER}
            changed = True
        if h.shard_id and node.shard_id != h.shard_id:
            node.shard_id = h.shard_id
            changed = True
        if changed:
            self.view.dirty = True
        return changed

    def _apply_claims(self, link: Link, sender: NodeRecord, h: Header) -> bool:
        """The sender (a primary) claims the slots in its bitmap with its config epoch: take the ones it wins; if it
        claims a slot whose owner has a higher epoch, tell it with an UPDATE about that owner (once per message)."""
        view = self.view
        now = self.now()
        seen = self._claims_seen.get(sender.id)
        if seen is not None and seen[0] == h.slots and seen[1] == h.config_epoch and now - seen[2] < 1000:
            return False  # the same claim as a moment ago: re-checking 16384 slots per PING is wasted work
        self._claims_seen[sender.id] = (h.slots, h.config_epoch, now)
        claimed = bitmap_to_slots(h.slots)
        if not claimed:
            return False
        changed = view.claim_slots(sender, claimed, h.config_epoch)
        if changed:
            self._bitmap = None
        for s in claimed:
            owner = view.owners[s]
            if owner is not None and owner is not sender and owner.config_epoch > h.config_epoch:
                self._send(link, Message(MsgType.UPDATE, self._header(), node_id=owner.id,
                                         config_epoch=owner.config_epoch,
                                         slots=slots_to_bitmap(view.slots_of(owner))))
                break
        return bool(changed)

    def _process_gossip(self, msg: Message, sender: NodeRecord | None, now: int) -> bool:
        view, changed = self.view, False
        timeout = self.node_timeout
        for g in msg.gossip:
            node = view.node(g.node_id)
            if node is not None:
                if node is view.myself:
                    continue
                if sender is not None and sender.is_primary:
                    if g.flags & {PFAIL, FAIL}:
                        if failure.add_report(node, sender, now):
                            log.debug("Node %s reported node %s as not reachable.", sender.id, node.id)
                        if failure.mark_failed_if_needed(view, node, now, timeout, self.quorum):
                            log.info("Marking node %s as failing (quorum reached).", node.id)
                            self._broadcast_fail(node)
                            changed = True
                    elif failure.del_report(node, sender):
                        log.debug("Node %s reported node %s is back online.", sender.id, node.id)
                # what others heard recently counts for us too, unless we are judging the node ourselves
                if not g.flags & {PFAIL, FAIL} and node.ping_sent == 0 and not node.fail_reports \
                        and node.pong_received < g.pong_received <= now + 500:
                    node.pong_received = g.pong_received
                # a failed node that moved: take the new address so we can reach it again
                if node.flags & {PFAIL, FAIL} and NOADDR not in g.flags and g.ip and \
                        (node.ip, node.port, node.cport) != (g.ip, g.port, g.cport):
                    node.ip, node.port, node.cport = g.ip, g.port, g.cport
                    out = self.out_links.get(node)
                    if out is not None:
                        out.close()
                    view.dirty = changed = True
            elif sender is not None and NOADDR not in g.flags and g.ip and g.cport \
                    and self.blacklist.get(g.node_id, 0) <= now and not g.flags & {HANDSHAKE}:
                # a node we did not know, vouched for by a node we know: add it by its id (not a handshake by
                # address, which could join us to another cluster that reuses the address)
                view.add(NodeRecord(g.node_id, ip=g.ip, port=g.port, cport=g.cport,
                                    flags=(g.flags & {PRIMARY, REPLICA, NOFAILOVER}) or {PRIMARY}, created=now))
                changed = True
        return changed

    def _broadcast_fail(self, node: NodeRecord) -> None:
        self._broadcast(Message(MsgType.FAIL, self._header(), node_id=node.id))

    # ================================================================ cron

    async def _cron_loop(self) -> None:
        while True:
            self.tick()
            await trio.sleep(CRON_INTERVAL)

    def tick(self) -> None:
        """One clusterCron: O(nodes) work."""
        view, me, now = self.view, self.view.myself, self.now()
        timeout = self.node_timeout
        self.iteration += 1
        if self.iteration % 10 == 0:
            self._bitmap = None  # pick up slot changes made outside the bus (ADDSLOTS...) within a second
            self._quorum = None
        changed = False
        for nid in [k for k, t in self.blacklist.items() if t <= now]:
            del self.blacklist[nid]

        handshake_ttl = max(timeout, 1000)
        for node in list(view.nodes.values()):
            if node.in_handshake and now - node.created > handshake_ttl:
                log.debug("cluster bus: handshake with %s:%d timed out", node.ip, node.port)
                self._drop_node(node)
                changed = True

        others = [n for n in view.nodes.values() if n is not me]
        if self._nursery is not None:
            for node in others:
                if node in self.out_links or node in self.connecting or NOADDR in node.flags \
                        or not node.ip or not node.cport:
                    continue
                if self.retry.get(node, (0, 0))[0] > now:
                    continue
                self.connecting.add(node)
                self._nursery.start_soon(self._connect, node)

        if self.iteration % 10 == 0 and others:
            # once a second, ping the node with the oldest pong among 5 random ones
            best = None
            for n in random.sample(others, min(5, len(others))):
                if n in self.out_links and n.ping_sent == 0 and not n.in_handshake and \
                        (best is None or n.pong_received < best.pong_received):
                    best = n
            if best is not None:
                self._send_ping(self.out_links[best], MsgType.PING)

        for node in others:
            if node.flags & {HANDSHAKE, NOADDR}:
                continue
            link = self.out_links.get(node)
            if link is not None and now - link.created > timeout and node.ping_sent and \
                    now - node.ping_sent > timeout / 2 and now - link.last_data > timeout / 2:
                link.close()  # a link that carries nothing: maybe it is the link, not the node; reconnect
                link = None
            if link is not None and node.ping_sent == 0 and now - node.pong_received > timeout / 2:
                self._send_ping(link, MsgType.PING)
                continue
            if failure.check_timeout(node, now, timeout):
                log.debug("*** NODE %s possibly failing", node.id)
                changed = True
            if PFAIL in node.flags and failure.mark_failed_if_needed(view, node, now, timeout, self.quorum):
                log.info("Marking node %s as failing (quorum reached).", node.id)
                self._broadcast_fail(node)
                changed = True
        if changed:
            self._changed()

    # ================================================================ helpers

    def _drop_node(self, node: NodeRecord) -> None:
        link = self.out_links.pop(node, None)
        if link is not None:
            link.close()
        for link in self.in_links:
            if link.node is node:
                link.close()
        self.meet_pending.discard(node)
        self.retry.pop(node, None)
        self.view.remove(node)
        self._bitmap = None

    @property
    def quorum(self) -> int:
        if self._quorum is None:
            self._quorum = failure.quorum(self.view)
        return self._quorum

    def _changed(self) -> None:
        self._bitmap = None
        self._quorum = None
        self._claims_seen.clear()
        if self.on_view_change is not None:
            self.on_view_change()
