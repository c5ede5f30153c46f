"""Three real Bus instances in one trio run on 127.0.0.1 (no node processes): MEET makes everyone know everyone,
slot claims spread and a higher config epoch wins, PUBLISH reaches every node, a stopped bus is flagged PFAIL then
FAIL by the others, and its FAIL clears when it comes back (a primary with slots: after 2 × node timeout)."""
from __future__ import annotations

import socket
import time

import pytest
import trio

from shoal.gossip.bus import Bus
from shoal.gossip.view import FAIL, HANDSHAKE, PFAIL, ClusterView, NodeRecord, random_node_id

TIMEOUT = 500  # ms node timeout: short, so the test runs in a few seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, epoch: int, slots: range, secret: str = "") -> None:
        self.port, self.cport = free_port(), free_port()
        me = NodeRecord(random_node_id(), ip="", port=self.port, cport=self.cport, config_epoch=epoch)
        self.view = ClusterView(me)
        self.view.current_epoch = epoch
        for s in slots:
            self.view.assign(s, me)
        self.config = {"port": self.port, "cluster-port": self.cport, "bind": "127.0.0.1",
                       "cluster-node-timeout": TIMEOUT, "cluster-secret": secret}
        self.published = []
        self.changes = 0
        self.bus = self.new_bus()
        self.scope: trio.CancelScope | None = None

    def new_bus(self) -> Bus:
        def changed():
            self.changes += 1
        return Bus(self.view, self.config, on_publish=lambda *a: self.published.append(a), on_view_change=changed)

    async def start(self, nursery) -> None:
        async def run(task_status=trio.TASK_STATUS_IGNORED):
            with trio.CancelScope() as scope:
                self.scope = scope
                await self.bus.run(task_status=task_status)
        await nursery.start(run)

    def stop(self) -> None:
        self.scope.cancel()

    @property
    def id(self) -> str:
        return self.view.myself.id


async def wait_for(cond, what: str, limit: float = 10.0) -> float:
    t0 = time.monotonic()
    with trio.move_on_after(limit):
        while not cond():
            await trio.sleep(0.02)
        return time.monotonic() - t0
    pytest.fail(f"timed out waiting for {what}")


def knows_all(nodes) -> bool:
    ids = {n.id for n in nodes}
    return all(set(n.view.nodes) == ids and not any(HANDSHAKE in r.flags for r in n.view.nodes.values())
               for n in nodes)


def owners_agree(nodes) -> bool:
    ref = [o.id if o else None for o in nodes[0].view.owners]
    return all([o.id if o else None for o in n.view.owners] == ref for n in nodes[1:])


@pytest.mark.parametrize("secret", ["", "s3cret"])
async def test_three_buses(secret):
    a = Node(1, range(0, 5461), secret)
    b = Node(2, range(5461, 10923), secret)
    c = Node(3, range(10923, 16384), secret)
    nodes = [a, b, c]
    async with trio.open_nursery() as nursery:
        for n in nodes:
            await n.start(nursery)
        with pytest.raises(ValueError):
            a.bus.meet("not-an-ip", b.port)
        a.bus.meet("127.0.0.1", b.port, b.cport)
        a.bus.meet("127.0.0.1", c.port, c.cport)
        t = await wait_for(lambda: knows_all(nodes), "everyone to know everyone")
        print(f"\nMEET -> full membership in {t:.2f}s")
        await wait_for(lambda: owners_agree(nodes) and nodes[0].view.owner(0) is not None, "slot maps to agree")
        for n in nodes:
            assert n.view.myself.ip == "127.0.0.1"  # learned from the socket the MEET/PING came in on
            assert n.view.slot_count(n.view.node(a.id)) == 5461
            assert n.view.current_epoch == 3

        # B takes slot 0 with a higher config epoch (as BUMPEPOCH + SETSLOT NODE would): everyone follows
        b.view.current_epoch = 4
        b.view.myself.config_epoch = 4
        b.view.assign(0, b.view.myself)
        b.bus.broadcast_pong()
        await wait_for(lambda: all(n.view.owner(0).id == b.id for n in nodes), "slot 0 to move to B")

        # PUBLISH goes to every other node, once
        a.bus.publish(b"news", b"hello")
        await wait_for(lambda: b.published and c.published, "publish to arrive")
        assert b.published == c.published == [(b"news", b"hello", False)] and not a.published

        links = a.bus.links()
        assert {(l["direction"], l["node"]) for l in links} >= {("to", b.id), ("to", c.id)}
        assert list(links[0]) == ["direction", "node", "create-time", "events", "send-buffer-allocated",
                                  "send-buffer-used"]
        stats = a.bus.stats()
        assert stats["sent"]["meet"] == 2 and stats["sent"]["pong"] > 0 and stats["received"]["pong"] > 0
        assert stats["dropped"] == 0 and stats["links_buffer_limit_exceeded"] == 0

        # stop C: A and B flag it PFAIL, then FAIL (quorum 2 of 3 slot-serving primaries)
        c.stop()
        t0 = time.monotonic()
        t_pfail = await wait_for(lambda: all(n.view.node(c.id).flags & {PFAIL, FAIL} for n in (a, b)), "PFAIL")
        await wait_for(lambda: all(FAIL in n.view.node(c.id).flags for n in (a, b)), "FAIL")
        elapsed = time.monotonic() - t0
        print(f"C stopped: PFAIL after {t_pfail:.2f}s, FAIL after {elapsed:.2f}s (node timeout {TIMEOUT} ms)")
        assert elapsed < 2 * TIMEOUT / 1000 + 1

        # C comes back: it still serves slots, so FAIL clears only after 2 x node timeout from the FAIL
        c.bus = c.new_bus()
        await c.start(nursery)
        t = await wait_for(lambda: all(not n.view.node(c.id).flags & {PFAIL, FAIL} for n in (a, b)), "FAIL clear")
        print(f"C back: FAIL cleared after {t:.2f}s")
        print("A stats:", a.bus.stats(), "bytes sent", a.bus.bytes_sent)
        nursery.cancel_scope.cancel()


async def test_garbage_and_wrong_secret_are_dropped_and_counted():
    a = Node(1, range(0, 10), "right")
    async with trio.open_nursery() as nursery:
        await a.start(nursery)
        for payload in (b"GET / HTTP/1.1\r\n\r\n", b"SHBS\x01\x00\x00\xff\xff\xff\xff"):
            s = await trio.open_tcp_stream("127.0.0.1", a.cport)
            await s.send_all(payload)
            with trio.fail_after(5):
                assert await s.receive_some(10) == b""  # the bus hung up on us
            await s.aclose()
        # a well-formed PING signed with another secret
        from shoal.gossip.messages import Header, Message, MsgType, encode
        s = await trio.open_tcp_stream("127.0.0.1", a.cport)
        await s.send_all(encode(Message(MsgType.PING, Header(sender="b" * 40)), b"wrong"))
        with trio.fail_after(5):
            assert await s.receive_some(10) == b""
        await s.aclose()
        assert a.bus.dropped == 3
        assert len(a.view.nodes) == 1
        nursery.cancel_scope.cancel()
