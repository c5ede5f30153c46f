"""100 simulated nodes (the real Bus logic, in-memory links, fake clock): one primary stops answering and every other
node flags it FAIL within 2 × node timeout. Prints the time and the gossip cost."""
from __future__ import annotations

from shoal.gossip.messages import MsgType
from shoal.gossip.simulator import Simulator


def test_100_nodes_converge_on_fail_within_twice_the_node_timeout():
    timeout = 5000
    sim = Simulator(100, node_timeout=timeout, seed=7)
    result = sim.converge_on_fail(victim=42)
    print("\n", result)
    assert result["fail_after_ms"] is not None and result["fail_after_ms"] <= 2 * timeout
    assert result["dropped"] == 0
    # the stopped node was flagged by a majority vote, not by each node alone
    assert all(n.bus.received[MsgType.FAIL] or n.bus.sent[MsgType.FAIL] for n in sim.nodes if n.alive)
