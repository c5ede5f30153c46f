"""Failure detection (gossip/failure.py) with a fake clock: PFAIL, reports, FAIL quorum, clearing rules."""
from __future__ import annotations

from shoal.gossip import failure as f
from shoal.gossip.view import FAIL, PFAIL, PRIMARY, REPLICA, ClusterView, NodeRecord

T = 1000  # node timeout, ms


def nid(i: int) -> str:
    return f"{i:040x}"


def cluster(primaries=3, replicas=0, me_replica=False):
    """A view from node 0's side; primaries 0..p-1 each own a block of slots."""
    me = NodeRecord(nid(0), flags={REPLICA} if me_replica else {PRIMARY})
    v = ClusterView(me)
    nodes = [me]
    for i in range(1, primaries + replicas):
        nodes.append(v.add(NodeRecord(nid(i), flags={PRIMARY} if i < primaries else {REPLICA})))
    for i in range(primaries):
        if not (i == 0 and me_replica):
            for s in range(i * 100, i * 100 + 100):
                v.assign(s, nodes[i])
    return v, nodes


def test_pfail_after_timeout_with_ping_outstanding():
    v, n = cluster()
    a = n[1]
    assert not f.check_timeout(a, 10_000, T)  # no ping outstanding: nothing to judge
    a.ping_sent = 10_000
    assert not f.check_timeout(a, 11_000, T)  # exactly the timeout is not beyond it
    assert f.check_timeout(a, 11_001, T)
    assert PFAIL in a.flags
    assert not f.check_timeout(a, 12_000, T)  # already flagged


def test_pong_clears_pfail():
    v, n = cluster()
    a = n[1]
    a.ping_sent = 1
    f.check_timeout(a, 5000, T)
    assert f.on_pong(v, a, 5001, T)
    assert PFAIL not in a.flags and a.ping_sent == 0 and a.pong_received == 5001


def test_fail_needs_majority_of_slot_primaries():
    v, n = cluster(primaries=5)  # quorum 3: myself + 2 reports
    a, b, c = n[1], n[2], n[3]
    a.flags.add(PFAIL)
    f.add_report(a, b, 100)
    assert not f.mark_failed_if_needed(v, a, 100, T)
    assert f.add_report(a, c, 200)
    assert not f.add_report(a, c, 250)  # refresh, not new
    assert f.mark_failed_if_needed(v, a, 300, T)
    assert FAIL in a.flags and PFAIL not in a.flags and a.fail_time == 300
    assert not f.mark_failed_if_needed(v, a, 300, T)  # once


def test_replica_does_not_count_itself():
    v, n = cluster(primaries=3, replicas=1, me_replica=True)  # slot primaries: 1, 2 → quorum 2
    assert f.quorum(v) == 2
    a, b = n[1], n[2]
    a.flags.add(PFAIL)
    f.add_report(a, b, 0)
    assert not f.mark_failed_if_needed(v, a, 0, T)


def test_no_fail_without_own_pfail():
    v, n = cluster(primaries=3)
    a, b = n[1], n[2]
    f.add_report(a, b, 0)
    assert not f.mark_failed_if_needed(v, a, 0, T)


def test_reports_expire_after_twice_the_timeout():
    v, n = cluster(primaries=5)
    a = n[1]
    a.flags.add(PFAIL)
    f.add_report(a, n[2], 0)
    f.add_report(a, n[3], 2 * T + 1)
    assert f.count_reports(a, 2 * T + 1, T) == 1  # the first one is stale
    assert not f.mark_failed_if_needed(v, a, 2 * T + 1, T)
    assert f.del_report(a, n[3]) and not f.del_report(a, n[3])


def test_fail_clears_at_once_for_replica_and_slotless_primary():
    v, n = cluster(primaries=3, replicas=1)
    replica = n[3]
    f.mark_failed(replica, 0)
    assert f.on_pong(v, replica, 1, T) and FAIL not in replica.flags
    slotless = v.add(NodeRecord(nid(9), flags={PRIMARY}))
    f.mark_failed(slotless, 0)
    assert f.on_pong(v, slotless, 1, T) and FAIL not in slotless.flags


def test_fail_of_serving_primary_clears_after_undo_time():
    v, n = cluster()
    a = n[1]
    f.mark_failed(a, 10_000)
    assert not f.on_pong(v, a, 10_000 + 2 * T, T)
    assert FAIL in a.flags
    assert f.on_pong(v, a, 10_001 + 2 * T, T)
    assert FAIL not in a.flags and a.fail_time == 0
