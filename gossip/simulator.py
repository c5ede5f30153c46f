"""An in-memory cluster for measuring the gossip: N `Bus` instances with a shared fake clock and no sockets.

The buses are the real ones (bus.py): their cron (`tick`) and message handling (`_dispatch`) run unchanged; only the
links are replaced by `SimLink`s that put each frame in one FIFO in flight, and every frame is really encoded and
decoded (messages.py), so byte counts are the real wire cost. A node is "stopped" as with SIGSTOP: its links stay
up, it neither ticks nor answers, frames sent to it are lost.

Used by tests/unit/test_gossip_simulator.py (100 nodes converge on FAIL of one within 2 × node timeout) and for the
gossip-cost numbers: `python -m shoal.gossip.simulator 100`.
"""
from __future__ import annotations

import random
from collections import deque

from .bus import Bus
from .messages import MsgType, decode_frame
from .view import FAIL, PRIMARY, SLOTS, ClusterView, NodeRecord


class SimLink:
    """One end of an in-memory connection, duck-typing bus.Link for the parts the bus uses."""

    def __init__(self, sim: "Simulator", owner: "SimNode", inbound: bool, node: NodeRecord | None) -> None:
        self.sim, self.owner, self.inbound, self.node = sim, owner, inbound, node
        self.created = self.last_data = sim.now
        self.queued = self.peak = 0
        self.closed = False
        self.peer_ip = self.local_ip = "127.0.0.1"
        self.other: SimLink | None = None

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self.sim.in_flight.append((self.other, frame))
            self.sim.bytes += len(frame)

    def close(self) -> None:
        self.closed = True
        if self.other is not None:
            self.other.closed = True


class SimNode:
    def __init__(self, sim: "Simulator", index: int, record: NodeRecord) -> None:
        self.index = index
        self.alive = True
        self.view = ClusterView(record)
        self.bus = Bus(self.view, {"cluster-node-timeout": sim.node_timeout, "port": record.port,
                                   "cluster-port": record.cport}, now=lambda: sim.now)
        self.bus.iteration = random.randrange(10)  # real crons are not in phase

    @property
    def id(self) -> str:
        return self.view.myself.id


class Simulator:
    def __init__(self, n: int, node_timeout: int = 15000, seed: int = 1) -> None:
        random.seed(seed)
        self.now = 1_000_000
        self.node_timeout = node_timeout
        self.in_flight: deque = deque()
        self.bytes = 0
        self.delivered = 0
        ids = [f"{random.getrandbits(160):040x}" for _ in range(n)]
        shards = [f"{random.getrandbits(160):040x}" for _ in range(n)]
        self.nodes: list[SimNode] = []
        for i, nid in enumerate(ids):
            me = NodeRecord(nid, ip="127.0.0.1", port=7000 + i, cport=17000 + i, config_epoch=i + 1,
                            flags={PRIMARY}, shard_id=shards[i])
            node = SimNode(self, i, me)
            node.view.current_epoch = n
            for j, other in enumerate(ids):  # everyone already met: the steady state is what we measure
                if j != i:
                    node.view.add(NodeRecord(other, ip="127.0.0.1", port=7000 + j, cport=17000 + j,
                                             config_epoch=j + 1, flags={PRIMARY}, shard_id=shards[j]))
            for s in range(SLOTS):
                node.view.assign(s, node.view.nodes[ids[s * n // SLOTS]])
            self.nodes.append(node)
        for a in self.nodes:
            for b in self.nodes:
                if a is not b:
                    self._connect(a, b)

    def _connect(self, a: SimNode, b: SimNode) -> None:
        out = SimLink(self, a, False, a.view.node(b.id))
        inn = SimLink(self, b, True, None)
        out.other, inn.other = inn, out
        a.bus.out_links[out.node] = out
        out.node.link_connected = True
        b.bus.in_links.add(inn)

    def stop(self, node: SimNode) -> None:
        node.alive = False

    def messages_sent(self) -> int:
        return sum(sum(n.bus.sent.values()) for n in self.nodes)

    def step(self, ms: int = 100) -> None:
        """One cron period: every live node ticks, then every frame in flight (and the replies it causes) lands."""
        self.now += ms
        for node in self.nodes:
            if not node.alive:
                continue
            node.bus.tick()
            for peer_rec, link in list(node.bus.out_links.items()):
                if link.closed:  # the bus dropped a silent link: reconnect at once, as its cron would
                    del node.bus.out_links[peer_rec]
                    node.bus.in_links.discard(link.other)
                    peer = next(p for p in self.nodes if p.id == peer_rec.id)
                    self._connect(node, peer)
                    node.bus._send_ping(node.bus.out_links[peer_rec], MsgType.PING)
        budget = 10_000_000
        while self.in_flight and budget:
            budget -= 1
            link, frame = self.in_flight.popleft()
            if not link.owner.alive or link.closed:
                continue
            link.last_data = self.now
            self.delivered += 1
            link.owner.bus._dispatch(link, decode_frame(frame))

    def run_until(self, cond, limit_ms: int) -> int | None:
        """Step until cond() holds; returns the simulated ms it took, None if `limit_ms` passed first."""
        start = self.now
        while self.now - start < limit_ms:
            self.step()
            if cond():
                return self.now - start
        return None

    def converge_on_fail(self, victim: int = 0, warmup_ms: int | None = None) -> dict:
        """Warm up, stop node `victim`, and time until every other node flags it FAIL."""
        self.run_until(lambda: False, self.node_timeout if warmup_ms is None else warmup_ms)
        dead = self.nodes[victim]
        msgs0, bytes0, t0 = self.messages_sent(), self.bytes, self.now
        self.stop(dead)
        others = [n for n in self.nodes if n.alive]
        took = self.run_until(lambda: all(FAIL in n.view.node(dead.id).flags for n in others),
                              4 * self.node_timeout)
        elapsed_s = (self.now - t0) / 1000
        return {"nodes": len(self.nodes), "node_timeout_ms": self.node_timeout, "fail_after_ms": took,
                "messages": self.messages_sent() - msgs0, "bytes": self.bytes - bytes0,
                "bytes_per_node_per_s": (self.bytes - bytes0) / len(self.nodes) / max(elapsed_s, 0.001),
                "messages_per_node_per_s": (self.messages_sent() - msgs0) / len(self.nodes) / max(elapsed_s, 0.001),
                "dropped": sum(n.bus.dropped for n in self.nodes)}







if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    timeout = int(sys.argv[2]) if len(sys.argv) > 2 else 15000
    t = time.perf_counter()
    sim = Simulator(n, timeout)
    result = sim.converge_on_fail()
    result["cpu_s"] = round(time.perf_counter() - t, 1)
    print(result)
