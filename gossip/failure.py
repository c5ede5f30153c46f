"""Failure detection, as the Redis Cluster spec lays it out. Pure: every function takes the view and the time
(`now`, ms) and changes flags on the view's node records; the bus (bus.py) calls them and sends what they ask for.

- **PFAIL** ("fail?"): we sent a node a PING and no PONG came back within `cluster-node-timeout`. Local opinion only.
- **Failure reports**: every gossip entry in which a *primary* says a node is PFAIL or FAIL is remembered as a report
  (reporter → time); reports older than 2 × node timeout no longer count (FAIL_REPORT_VALIDITY_MULT).
- **FAIL**: we see a node PFAIL ourselves and the reports plus our own opinion (if we are a primary) reach a majority of
  the primaries that serve slots (`primaries_with_slots() // 2 + 1`). We then broadcast FAIL, which every receiver
  applies without a vote of its own, so the whole reachable cluster agrees quickly.
- **Clearing FAIL** happens only when the node is reachable again (its PONG arrives) and either it is a replica, or a
  primary without slots (nobody needs to take them over), or a primary with slots whose FAIL is older than
  2 × node timeout (FAIL_UNDO_TIME_MULT) while it still has them, which means no replica promotion took its slots:
  better for it to rejoin and serve them than to leave them down. PFAIL clears on any PONG.
"""
from __future__ import annotations

from .view import FAIL, PFAIL, ClusterView, NodeRecord

FAIL_REPORT_VALIDITY_MULT = 2
FAIL_UNDO_TIME_MULT = 2


def quorum(view: ClusterView) -> int:
    return view.primaries_with_slots() // 2 + 1


# ------------------------------------------------------------------------------------------------ PFAIL

def check_timeout(node: NodeRecord, now: int, node_timeout: int) -> bool:
    """Flag `node` PFAIL if a ping has waited for its pong longer than the node timeout. True if newly flagged."""
    if node.ping_sent == 0 or node.flags & {PFAIL, FAIL}:
        return False
    if now - node.ping_sent > node_timeout:
        node.flags.add(PFAIL)
        return True
    return False


# ------------------------------------------------------------------------------------------------ reports

def add_report(failing: NodeRecord, reporter: NodeRecord, now: int) -> bool:
    """`reporter` (a primary) says `failing` is PFAIL/FAIL. True if it is a new report, False if refreshed."""
    new = reporter.id not in failing.fail_reports
    failing.fail_reports[reporter.id] = now
    return new


def del_report(failing: NodeRecord, reporter: NodeRecord) -> bool:
    """`reporter` says `failing` is fine again. True if a report was removed."""
    return failing.fail_reports.pop(reporter.id, None) is not None


def clean_reports(node: NodeRecord, now: int, node_timeout: int) -> None:
    max_age = node_timeout * FAIL_REPORT_VALIDITY_MULT
    stale = [r for r, t in node.fail_reports.items() if now - t > max_age]
    for r in stale:
        del node.fail_reports[r]


def count_reports(node: NodeRecord, now: int, node_timeout: int) -> int:
    """The valid failure reports about `node` (CLUSTER COUNT-FAILURE-REPORTS)."""
    clean_reports(node, now, node_timeout)
    return len(node.fail_reports)


# ------------------------------------------------------------------------------------------------ FAIL

def mark_failed_if_needed(view: ClusterView, node: NodeRecord, now: int, node_timeout: int,
                          needed: int | None = None) -> bool:
    """markNodeAsFailingIfNeeded: PFAIL → FAIL once a majority of slot-serving primaries agree. True if `node` was
    just flagged FAIL (the caller broadcasts a FAIL message about it: even a replica does, to spread it faster).
    `needed` is `quorum(view)` if the caller has it cached (computing it scans the 16384 slots)."""
    if node is view.myself or PFAIL not in node.flags or FAIL in node.flags:
        return False
    failures = count_reports(node, now, node_timeout)
    if view.myself.is_primary:
        failures += 1
    if failures < (quorum(view) if needed is None else needed):
        return False
    mark_failed(node, now)
    view.dirty = True
    return True


def mark_failed(node: NodeRecord, now: int) -> bool:
    """Flag FAIL (our own decision or a FAIL message). True if it changed."""
    if FAIL in node.flags:
        return False
    node.flags.discard(PFAIL)
    node.flags.add(FAIL)
    node.fail_time = now
    return True


def on_pong(view: ClusterView, node: NodeRecord, now: int, node_timeout: int) -> bool:
    """`node` answered a ping: it is reachable. Clears PFAIL always, FAIL per clearNodeFailureIfNeeded. True if
    flags changed."""
    node.pong_received = now
    node.ping_sent = 0
    if PFAIL in node.flags:
        node.flags.discard(PFAIL)
        return True
    if FAIL in node.flags:
        return clear_fail_if_needed(view, node, now, node_timeout)
    return False


def clear_fail_if_needed(view: ClusterView, node: NodeRecord, now: int, node_timeout: int) -> bool:
    if FAIL not in node.flags:
        return False
    serving = node.is_primary and view.slot_count(node) > 0
    if serving and now - node.fail_time <= node_timeout * FAIL_UNDO_TIME_MULT:
        return False  # a replica may still be promoted in its place: keep it failed for now
    node.flags.discard(FAIL)
    node.fail_time = 0
    view.dirty = True
    return True
