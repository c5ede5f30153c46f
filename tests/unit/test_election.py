"""Replica election and failover (gossip/election.py) with a fake clock: data age, rank, delay, attempts, votes,
promotion, the old primary rejoining, manual failover, replica migration, and a 5-node failover scenario."""
from __future__ import annotations

import itertools

import pytest

from shoal.gossip import election as e
from shoal.gossip import failure
from shoal.gossip.view import FAIL, NOFAILOVER, PRIMARY, REPLICA, ClusterView, NodeRecord

NT = 1000  # node timeout, ms
S = e.ElectionSettings(node_timeout=NT, validity_factor=10, repl_ping_period_ms=10_000)
T0 = 1_000_000  # the fake clock starts here (ms)

P1, P2, P3, R1, R2, R3 = (f"{i:040x}" for i in range(1, 7))
RANGES = {P1: range(0, 5461), P2: range(5461, 10923), P3: range(10923, 16384)}
EPOCHS = {P1: 1, P2: 2, P3: 3}


def build(me_id: str, replicas=((R1, P1, 500), (R2, P1, 400)), current_epoch=3) -> ClusterView:
    """node `me_id`'s view of 3 primaries (slots split in 3, config epochs 1..3) and the given replicas
    (id, primary id, offset)."""
    roles = {P1: None, P2: None, P3: None}
    offsets = {}
    for rid, pid, off in replicas:
        roles[rid] = pid
        offsets[rid] = off
    recs = {}
    for nid, pid in roles.items():
        recs[nid] = NodeRecord(nid, flags={REPLICA} if pid else {PRIMARY}, primary_id=pid,
                               config_epoch=EPOCHS.get(nid, 0), repl_offset=offsets.get(nid, 0),
                               link_connected=True)
    v = ClusterView(recs[me_id])
    for nid, rec in recs.items():
        if nid != me_id:
            v.add(rec)
    for pid, slots in RANGES.items():
        for s in slots:
            v.owners[s] = v.nodes[pid]
    v.current_epoch = current_epoch
    v.state_ok = True
    v.dirty = False
    return v


def fail(v: ClusterView, nid: str, now: int = T0) -> None:
    failure.mark_failed(v.nodes[nid], now)


def replica_view(me=R1, **kw) -> ClusterView:
    v = build(me, **kw)
    fail(v, P1)
    return v


def fixed(ms):
    return lambda: ms


# ------------------------------------------------------------------------------------------------ small rules

def test_timeouts_and_quorum():
    assert e.auth_timeout(1000) == 2000 and e.auth_timeout(500) == 2000 and e.auth_timeout(5000) == 10_000
    assert e.auth_retry_time(1000) == 4000 and e.auth_retry_time(5000) == 20_000
    v = build(P2)
    assert e.election_quorum(v) == 2  # 3 slot-serving primaries, the failed one included
    assert e.election_delay(0, 0) == 500 and e.election_delay(2, 499) == 2999


def test_data_age_and_validity():
    assert e.data_age(T0 + 800, T0, NT) == 800  # within the node timeout: counted as is
    assert e.data_age(T0 + 5000, T0, NT) == 4000  # beyond: the node timeout itself does not count
    limit = 10_000 + NT * 10
    assert not e.data_too_old(limit, NT, 10, 10_000)
    assert e.data_too_old(limit + 1, NT, 10, 10_000)
    assert not e.data_too_old(10**9, NT, 0, 10_000)  # factor 0: always valid


def test_rank_by_offset_ties_and_nofailover():
    v = build(R1, replicas=((R1, P1, 500), (R2, P1, 400), (R3, P1, 600)))
    assert e.replica_rank(v) == 1  # R3 is ahead
    assert e.replica_rank(v, my_offset=600) == 0  # equal offsets share a rank
    assert e.replica_rank(v, my_offset=100) == 2
    v.nodes[R3].flags.add(NOFAILOVER)  # a sibling that never fails over does not push us back
    assert e.replica_rank(v) == 0
    assert e.replica_rank(build(P2)) == 0


def test_settings_from_config():
    s = e.ElectionSettings.from_config({"cluster-node-timeout": 5000, "cluster-replica-validity-factor": 0,
                                        "repl-ping-replica-period": 3, "cluster-replica-no-failover": True})
    assert s == e.ElectionSettings(5000, 0, 3000, True)
    assert e.ElectionSettings.from_config({}) == e.ElectionSettings()


# ------------------------------------------------------------------------------------------------ the replica

def test_no_election_unless_primary_failed_and_serving():
    el = e.ReplicaElection(fixed(0))
    v = build(R1)  # primary alive
    assert el.tick(v, T0, S, T0).action == e.Action.NONE and el.auth_time is None
    v = replica_view()
    for s in RANGES[P1]:
        v.owners[s] = None  # a failed primary without slots: nothing to take over
    assert el.tick(v, T0, S, T0).action == e.Action.NONE
    assert el.tick(build(P2), T0, S, T0).action == e.Action.NONE  # a primary never runs one
    v = replica_view()
    assert el.tick(v, T0, e.ElectionSettings(NT, no_failover=True), T0).action == e.Action.NONE
    v.myself.flags.add(NOFAILOVER)  # the flag as announced counts the same as the setting
    assert el.tick(v, T0, S, T0).action == e.Action.NONE and el.auth_time is None


def test_attempt_waits_for_delay_then_requests_next_epoch():
    v = replica_view(me=R2)  # rank 1 (R1 has the higher offset)
    el = e.ReplicaElection(fixed(123))
    st = el.tick(v, T0, S, T0)
    assert st.action == e.Action.ANNOUNCE_OFFSET
    assert el.auth_time == T0 + 500 + 123 + 1000 and el.auth_rank == 1
    assert st.logs == ["Start of election delayed for 1623 milliseconds (rank #1, offset 400)."]
    st = el.tick(v, T0 + 1622, S, T0)
    assert st.action == e.Action.NONE and el.cant_reason == e.CantFailover.WAITING_DELAY
    assert v.current_epoch == 3
    st = el.tick(v, T0 + 1623, S, T0)
    assert st.action == e.Action.REQUEST_VOTES and st.epoch == 4 and not st.force_ack
    assert v.current_epoch == 4 and v.dirty and el.auth_epoch == 4
    assert st.logs == ["Starting a failover election for epoch 4."]
    st = el.tick(v, T0 + 1700, S, T0)  # one request per attempt
    assert st.action == e.Action.NONE and el.cant_reason == e.CantFailover.WAITING_VOTES


def test_worse_rank_learned_during_delay_adds_delay():
    v = replica_view(me=R1)
    el = e.ReplicaElection(fixed(0))
    el.tick(v, T0, S, T0)
    assert el.auth_time == T0 + 500
    v.nodes[R2].repl_offset = 900  # a sibling's PONG says it is ahead
    st = el.tick(v, T0 + 100, S, T0)
    assert el.auth_rank == 1 and el.auth_time == T0 + 1500
    assert "Replica rank updated to #1, added 1000 milliseconds of delay." in st.logs
    v.nodes[R2].repl_offset = 0  # a better rank later does not shorten the wait
    el.tick(v, T0 + 200, S, T0)
    assert el.auth_time == T0 + 1500


def _request(el, v, now):
    st = el.tick(v, now, S, T0)
    assert st.action == e.Action.NONE or st.action == e.Action.ANNOUNCE_OFFSET
    while st.action != e.Action.REQUEST_VOTES:
        now += 100
        st = el.tick(v, now, S, T0)
    return st, now


def test_votes_count_only_from_slot_primaries_in_epoch_and_majority_wins():
    v = replica_view(me=R1)
    el = e.ReplicaElection(fixed(0))
    st, now = _request(el, v, T0)
    n = v.nodes
    assert not el.on_vote(v, n[R2], 4)  # a replica's ACK does not count
    assert not el.on_vote(v, n[P2], 3)  # an ACK from an older epoch is for an older attempt
    slotless = v.add(NodeRecord("f" * 40, flags={PRIMARY}))
    assert not el.on_vote(v, slotless, 4)
    assert el.on_vote(v, n[P2], 4)
    assert el.on_vote(v, n[P2], 4) and el.votes == 1  # a duplicate ACK counts once
    assert el.tick(v, now + 100, S, T0).action == e.Action.NONE
    assert el.on_vote(v, n[P3], 5)  # a later epoch is fine
    st = el.tick(v, now + 100, S, T0)
    assert st.action == e.Action.PROMOTED and st.epoch == 4
    assert st.logs == ["Failover election won: I'm the new master.", "configEpoch set to 4 after successful failover"]
    me = v.myself
    assert me.is_primary and not me.is_replica and me.primary_id is None and me.config_epoch == 4
    assert st.slots == list(RANGES[P1]) and v.slot_count(me) == 5461 and v.slot_count(n[P1]) == 0
    assert el.tick(v, now + 200, S, T0).action == e.Action.NONE  # a primary runs no election


def test_attempt_expires_and_retries_with_new_epoch():
    v = replica_view(me=R1)
    el = e.ReplicaElection(fixed(0))
    st, now = _request(el, v, T0)
    assert st.epoch == 4 and now == T0 + 500
    el.on_vote(v, v.nodes[P2], 4)  # one vote only: no majority
    assert el.tick(v, now + 2000, S, T0).action == e.Action.NONE
    assert el.cant_reason == e.CantFailover.WAITING_VOTES
    el.tick(v, now + 2001, S, T0)
    assert el.cant_reason == e.CantFailover.EXPIRED
    assert el.tick(v, now + 4000, S, T0).action == e.Action.NONE  # not before the retry time
    st = el.tick(v, now + 4001, S, T0)
    assert st.action == e.Action.ANNOUNCE_OFFSET and el.votes == 0 and not el.auth_sent
    st, _ = _request(el, v, now + 4001)
    assert st.epoch == 5


def test_data_too_old_blocks_and_logs_after_grace():
    v = replica_view(me=R1)
    el = e.ReplicaElection(fixed(0))
    last_contact = T0 - 30_000  # age 29 s > 10 s + 10 × 1 s
    st = el.tick(v, T0, S, last_contact)
    assert st.action == e.Action.NONE and el.cant_reason == e.CantFailover.DATA_AGE
    assert st.logs == []  # the primary failed moments ago: too early to complain
    st = el.tick(v, T0 + NT + 5000, S, last_contact)
    assert st.logs == ["Currently unable to failover: " + e.CantFailover.DATA_AGE.value]
    assert el.tick(v, T0 + NT + 6000, S, last_contact).logs == []  # same reason: once every 10 s
    assert el.tick(v, T0 + NT + 15_000, S, last_contact).logs != []
    fresh = e.ElectionSettings(NT, validity_factor=0)
    assert el.tick(v, T0 + NT + 16_000, fresh, last_contact).action == e.Action.ANNOUNCE_OFFSET


# ------------------------------------------------------------------------------------------------ the voters

def request(v_voter, rules, v_replica, now, force=False):
    """Deliver `v_replica`'s vote request (as its header would carry it) to the voter."""
    me = v_replica.myself
    primary = v_replica.nodes[me.primary_id]
    return rules.decide(v_voter, v_voter.nodes[me.id], v_replica.current_epoch, primary.config_epoch,
                        v_replica.slots_of(primary), now, NT, force_ack=force)


def test_vote_granted_records_epoch():
    voter, rep = build(P2), replica_view(me=R1)
    fail(voter, P1)
    rep.current_epoch = 4
    vote = request(voter, e.VoteRules(), rep, T0)
    assert vote == e.Vote(True, f"Failover auth granted to {R1} for epoch 4", 4)
    assert voter.current_epoch == 4 and voter.last_vote_epoch == 4 and voter.dirty


def test_vote_denials_with_redis_reasons():
    rep = replica_view(me=R1)
    rep.current_epoch = 4
    # replicas and slotless primaries never vote, silently
    assert request(build(R2), e.VoteRules(), rep, T0) == e.Vote(False, "")
    # old epoch
    voter = build(P2, current_epoch=7)
    fail(voter, P1)
    assert request(voter, e.VoteRules(), rep, T0).reason == \
        f"Failover auth denied to {R1}: reqEpoch (4) < curEpoch(7)"
    # already voted in this epoch
    voter = build(P2)
    fail(voter, P1)
    voter.last_vote_epoch = 4
    assert request(voter, e.VoteRules(), rep, T0).reason == f"Failover auth denied to {R1}: already voted for epoch 4"
    # its primary is up
    voter = build(P2)
    assert request(voter, e.VoteRules(), rep, T0).reason == f"Failover auth denied to {R1}: its master is up"
    # the requester is a primary in our view
    voter = build(P2)
    fail(voter, P1)
    voter.nodes[R1].flags = {PRIMARY}
    assert request(voter, e.VoteRules(), rep, T0).reason == f"Failover auth denied to {R1}: it is a master node"
    # unknown primary
    voter = build(P2)
    voter.nodes[R1].primary_id = "e" * 40
    assert request(voter, e.VoteRules(), rep, T0).reason == f"Failover auth denied to {R1}: I don't know its master"
    # a slot it claims has an owner with a greater config epoch: its view is stale
    voter = build(P2)
    fail(voter, P1)
    voter.nodes[P3].config_epoch = 9
    voter.owners[100] = voter.nodes[P3]
    v = request(voter, e.VoteRules(), rep, T0)
    assert not v.granted and v.reason == f"Failover auth denied to {R1}: slot 100 epoch (9) > reqEpoch (1)"
    assert voter.last_vote_epoch == 0


def test_force_ack_votes_while_primary_up():
    voter, rep = build(P2), build(R1)
    rep.current_epoch = 4
    assert request(voter, e.VoteRules(), rep, T0, force=True).granted


def test_one_vote_per_failed_primary_within_two_node_timeouts():
    voter = build(P2)
    fail(voter, P1)
    rules = e.VoteRules()
    r1, r2 = replica_view(me=R1), replica_view(me=R2)
    r1.current_epoch = 4
    assert request(voter, rules, r1, T0).granted
    r2.current_epoch = 5  # a new epoch: the per-epoch rule allows it, the per-primary window does not
    v = request(voter, rules, r2, T0 + 500)
    assert v.reason == f"Failover auth denied to {R2}: can't vote about this master before 1500 milliseconds"
    assert voter.last_vote_epoch == 4
    r2.current_epoch = 6
    assert request(voter, rules, r2, T0 + 2000).granted and voter.last_vote_epoch == 6


# ------------------------------------------------------------------------------------------------ role changes

def test_old_primary_rejoins_as_replica_of_winner():
    old = build(P1)  # P1 comes back believing it still serves its slots with epoch 1
    winner = old.nodes[R1]
    winner.flags, winner.primary_id, winner.config_epoch = {PRIMARY}, None, 4  # from its PONG's header
    out = e.claim_and_follow(old, winner, RANGES[P1], 4)
    assert out.follow is winner and out.changed == list(RANGES[P1])
    assert out.logs == [f"Configuration change detected. Reconfiguring myself as a replica of {R1}"]
    me = old.myself
    assert me.is_replica and not me.is_primary and me.primary_id == R1 and old.slot_count(me) == 0
    assert old.dirty


def test_sibling_follows_winner_and_stale_claims_lose():
    sib = replica_view(me=R2)
    winner = sib.nodes[R1]
    winner.flags, winner.primary_id, winner.config_epoch = {PRIMARY}, None, 4
    out = e.claim_and_follow(sib, winner, RANGES[P1], 4)
    assert out.follow is winner and sib.myself.primary_id == R1
    # the old primary's stale claim (epoch 1) takes nothing back
    out = e.claim_and_follow(sib, sib.nodes[P1], RANGES[P1], 1)
    assert out.changed == [] and out.follow is None and sib.myself.primary_id == R1
    assert e.claim_and_follow(sib, sib.myself, [1], 99).logs == ["Discarding UPDATE message about myself."]


def test_allow_replica_migration_off_keeps_empty_primary_after_migration():
    v = build(P1)
    p2 = v.nodes[P2]
    p2.config_epoch = 10
    # P2 takes only part of what it claims from us (the rest is its own): slots were migrated, not failed over
    out = e.claim_and_follow(v, p2, list(RANGES[P1]) + [6000], 10, allow_replica_migration=False)
    assert out.follow is None and v.myself.is_primary and out.dirty_slots == list(RANGES[P1])
    v = build(P1)
    v.nodes[P2].config_epoch = 10
    out = e.claim_and_follow(v, v.nodes[P2], list(RANGES[P1]) + [6000], 10, allow_replica_migration=True)
    assert out.follow is v.nodes[P2]


def test_partial_loss_keeps_primary_and_reports_dirty_slots():
    v = build(P1)
    v.nodes[P2].config_epoch = 10
    out = e.claim_and_follow(v, v.nodes[P2], [0, 1], 10)
    assert out.follow is None and out.dirty_slots == [0, 1] and v.myself.is_primary


def test_sub_replica_follows_grandprimary():
    v = build(R2)
    v.nodes[P1].flags, v.nodes[P1].primary_id = {REPLICA}, R1  # my primary became a replica of R1
    v.nodes[R1].flags, v.nodes[R1].primary_id = {PRIMARY}, None
    out = e.claim_and_follow(v, v.nodes[P3], [], 3)
    assert out.follow is v.nodes[R1] and v.myself.primary_id == R1


def test_become_replica_of_clears_slots_and_migrations():
    v = build(P1)
    v.migrating[5] = P2
    v.importing[6000] = P2
    e.become_replica_of(v, v.nodes[P2])
    assert v.myself.is_replica and v.slot_count(v.myself) == 0 and not v.migrating and not v.importing


# ------------------------------------------------------------------------------------------------ manual failover

def test_manual_failover_refusals():
    el = e.ReplicaElection(fixed(0))
    with pytest.raises(e.FailoverRefused, match="ERR You should send CLUSTER FAILOVER to a replica"):
        e.start_manual_failover(build(P1), el, T0, None)
    v = build(R1)
    v.nodes[R1].primary_id = "e" * 40
    with pytest.raises(e.FailoverRefused, match="my master is unknown to me"):
        e.start_manual_failover(v, el, T0, None)
    with pytest.raises(e.FailoverRefused, match=r"ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"):
        e.start_manual_failover(replica_view(), el, T0, None)
    v = build(R1)
    v.nodes[P1].link_connected = False
    with pytest.raises(e.FailoverRefused, match="FORCE"):
        e.start_manual_failover(v, el, T0, None)
    with pytest.raises(e.FailoverRefused, match="ERR syntax error"):
        e.start_manual_failover(build(R1), el, T0, "now")


def test_takeover_bumps_epoch_without_votes():
    v = build(R1)
    st = e.start_manual_failover(v, e.ReplicaElection(), T0, "TAKEOVER")
    assert st.action == e.Action.PROMOTED and st.logs == ["Taking over the master (user request)."]
    assert v.myself.is_primary and v.myself.config_epoch == 4 and v.current_epoch == 4
    assert v.slot_count(v.myself) == 5461 and v.last_vote_epoch == 0


def test_force_failover_runs_election_now_with_forceack():
    v = build(R2)  # rank 1, primary up
    el = e.ReplicaElection(fixed(400))
    st = e.start_manual_failover(v, el, T0, "force")
    assert st.logs == ["Forced failover user request accepted."]
    st = el.tick(v, T0, S, T0)
    assert st.action == e.Action.ANNOUNCE_OFFSET and el.auth_time == T0 and el.auth_rank == 0
    st = el.tick(v, T0 + 100, S, T0)
    assert st.action == e.Action.REQUEST_VOTES and st.force_ack and st.epoch == 4


def test_default_failover_waits_for_offset_then_elects():
    v = build(R1)
    el = e.ReplicaElection(fixed(0))
    st = e.start_manual_failover(v, el, T0, None)
    assert st.action == e.Action.SEND_MFSTART and st.logs == ["Manual failover user request accepted."]
    assert el.tick(v, T0 + 100, S, T0, my_offset=500).action == e.Action.NONE  # primary not paused yet
    assert el.manual.on_primary_paused(700) == ["Received replication offset for paused master manual failover: 700"]
    assert el.manual.on_primary_paused(900) == []  # only the first offset counts
    assert el.tick(v, T0 + 200, S, T0, my_offset=600).action == e.Action.NONE
    st = el.tick(v, T0 + 300, S, T0, my_offset=700)
    assert "All master replication stream processed, manual failover can start." in st.logs
    assert st.action == e.Action.ANNOUNCE_OFFSET
    st = el.tick(v, T0 + 400, S, T0, my_offset=700)
    assert st.action == e.Action.REQUEST_VOTES and st.force_ack
    voter = build(P2)  # P1 is up: only FORCEACK gets the vote
    v2 = build(P3)
    rules2, rules3 = e.VoteRules(), e.VoteRules()
    for voter_view, rules in ((voter, rules2), (v2, rules3)):
        vote = request(voter_view, rules, v, T0 + 400, force=True)
        assert vote.granted
        el.on_vote(v, v.nodes[voter_view.myself.id], vote.epoch)
    st = el.tick(v, T0 + 500, S, T0)
    assert st.action == e.Action.PROMOTED and el.manual is None and v.myself.config_epoch == 4


def test_default_failover_times_out():
    v = build(R1)
    el = e.ReplicaElection(fixed(0))
    e.start_manual_failover(v, el, T0, None)
    st = el.tick(v, T0 + e.MF_TIMEOUT + 1, S, T0)
    assert st.logs == ["Manual failover timed out."] and el.manual is None and st.action == e.Action.NONE


def test_primary_pause_on_mfstart():
    v = build(P1)
    pause, logs = e.PrimaryPause.on_mfstart(v, v.nodes[R1], T0)
    assert pause == e.PrimaryPause(R1, T0 + 10_000) and logs == [f"Manual failover requested by replica {R1}."]
    assert not pause.expired(T0 + 10_000) and pause.expired(T0 + 10_001)
    assert e.PrimaryPause.on_mfstart(v, v.nodes[P2], T0) == (None, [])  # not my replica
    assert e.PrimaryPause.on_mfstart(build(P2), build(P2).nodes[R1], T0)[0] is None


# ------------------------------------------------------------------------------------------------ replica migration

def migration_view(me_id):
    """P1 has R1, R2; P2 had R3, now failed; P3 never had a replica."""
    v = build(me_id, replicas=((R1, P1, 0), (R2, P1, 0), (R3, P2, 0)))
    v.nodes[R3].flags.add(FAIL)
    return v


def test_extra_replica_migrates_to_orphan_after_delay():
    v = migration_view(R1)
    m = e.ReplicaMigration()
    assert m.tick(v, T0, barrier=1, allow=True) == (None, [])
    assert P2 in m.orphaned_since and P3 not in m.orphaned_since  # P3 never had replicas: not a target
    assert m.tick(v, T0 + e.MIGRATION_DELAY, barrier=1, allow=True)[0] is None
    target, logs = m.tick(v, T0 + e.MIGRATION_DELAY + 1, barrier=1, allow=True)
    assert target is v.nodes[P2] and logs == [f"Migrating to orphaned master {P2}"]
    assert v.myself.primary_id == P2


def test_migration_only_by_smallest_id_and_within_barrier_and_config():
    later = T0 + e.MIGRATION_DELAY + 1
    v, m = migration_view(R2), e.ReplicaMigration()  # R1 < R2: R1 is the one that moves
    m.tick(v, T0, 1, True)
    assert m.tick(v, later, 1, True)[0] is None
    for kwargs in ({"barrier": 2, "allow": True}, {"barrier": 1, "allow": False},
                   {"barrier": 1, "allow": True, "no_failover": True}):
        v, m = migration_view(R1), e.ReplicaMigration()
        m.tick(v, T0, **kwargs)
        assert m.tick(v, later, **kwargs)[0] is None, kwargs
    v, m = migration_view(R1), e.ReplicaMigration()
    v.state_ok = False  # never while the cluster is down
    m.tick(v, T0, 1, True)
    assert m.tick(v, later, 1, True)[0] is None
    v, m = migration_view(R1), e.ReplicaMigration()
    m.tick(v, T0, 1, True)
    v.nodes[R3].flags.discard(FAIL)  # the orphan's replica came back: no longer orphaned
    assert m.tick(v, later, 1, True)[0] is None and P2 not in m.orphaned_since


def test_orphan_that_lost_its_slots_is_no_target():
    v, m = migration_view(R1), e.ReplicaMigration()
    m.tick(v, T0, 1, True)
    for s in RANGES[P2]:
        v.owners[s] = None
    assert m.tick(v, T0 + e.MIGRATION_DELAY + 1, 1, True)[0] is None and v.myself.primary_id == P1


def test_note_promoted_makes_new_primary_a_target():
    v = build(R1, replicas=((R1, P1, 0), (R2, P1, 0)))
    m = e.ReplicaMigration()
    m.tick(v, T0, 1, True)
    assert P3 not in m.orphaned_since
    m.note_promoted(P3)
    m.tick(v, T0 + 100, 1, True)
    assert P3 in m.orphaned_since


# ------------------------------------------------------------------------------------------------ 5-node scenario

class Sim:
    """5 nodes (P1..P3 primaries, R1, R2 replicas of P1), each with its own view; messages are delivered by hand,
    as the bus would, so the test decides what arrives and when."""

    def __init__(self, jitters):
        self.views = {nid: build(nid) for nid in (P1, P2, P3, R1, R2)}
        self.rules = {nid: e.VoteRules() for nid in (P2, P3)}
        self.elections = {nid: e.ReplicaElection(fixed(jitters[nid])) for nid in (R1, R2)}
        self.won: dict[int, list[str]] = {}  # epoch → winners

    def pong(self, frm, to):
        """`frm`'s PING/PONG reaches `to`: epochs, role, offset and slot claims (what bus.py does on receipt)."""
        src, dst = self.views[frm], self.views[to]
        me, rec = src.myself, dst.nodes[frm]
        dst.current_epoch = max(dst.current_epoch, src.current_epoch)
        rec.repl_offset = me.repl_offset
        if me.is_primary:
            rec.flags = (rec.flags - {REPLICA}) | {PRIMARY}
            rec.primary_id = None
            rec.config_epoch = max(rec.config_epoch, me.config_epoch)
            return e.claim_and_follow(dst, rec, src.slots_of(me), me.config_epoch)
        rec.flags = (rec.flags - {PRIMARY}) | {REPLICA}
        rec.primary_id = me.primary_id
        return None

    def ask(self, replica, voters, now):
        """Deliver `replica`'s vote request to `voters`, and their ACKs back."""
        rv = self.views[replica]
        granted = []
        for vid in voters:
            vote = request(self.views[vid], self.rules[vid], rv, now)
            if vote.granted:
                granted.append(vid)
                self.elections[replica].on_vote(rv, rv.nodes[vid], vote.epoch)
        return granted

    def tick(self, replica, now):
        st = self.elections[replica].tick(self.views[replica], now, S, T0)
        if st.action == e.Action.PROMOTED:
            self.won.setdefault(st.epoch, []).append(replica)
        return st


def test_scenario_primary_fails_better_replica_wins_other_loses():
    sim = Sim({R1: 100, R2: 50})
    for nid, v in sim.views.items():
        if nid != P1:
            fail(v, P1)  # the FAIL message reached everyone
    # both replicas start an attempt: R1 (offset 500) has rank 0, R2 (offset 400) rank 1
    sim.tick(R1, T0)
    sim.tick(R2, T0)
    assert sim.elections[R1].auth_time == T0 + 600 and sim.elections[R2].auth_time == T0 + 1550
    requests = {}
    now = T0
    while now < T0 + 5000 and not sim.won:
        now += 100
        for rid in (R1, R2):
            st = sim.tick(rid, now)
            if st.action == e.Action.REQUEST_VOTES:
                requests[rid] = (now, st.epoch)
                sim.ask(rid, (P2, P3), now)
                sim.tick(rid, now)  # the bus ticks again right after counting an ACK
    assert sim.won == {4: [R1]} and requests == {R1: (T0 + 600, 4)}
    r1 = sim.views[R1]
    assert r1.myself.is_primary and r1.myself.config_epoch == 4 and r1.slot_count(r1.myself) == 5461
    # R1 announces itself; everyone reachable updates, R2 follows R1
    for to in (P2, P3, R2):
        sim.pong(R1, to)
    assert sim.views[R2].myself.primary_id == R1
    for nid in (P2, P3, R2):
        v = sim.views[nid]
        assert all(v.owners[s] is v.nodes[R1] for s in (0, 5460)) and v.nodes[R1].config_epoch == 4
    # R2's own attempt dies: its primary is now a healthy R1
    assert sim.tick(R2, T0 + 1600).action == e.Action.NONE and sim.elections[R2].cant_reason == e.CantFailover.NONE
    # P1 comes back, still claiming its slots with epoch 1: it loses them and follows R1
    out = sim.pong(R1, P1)
    assert out.follow is sim.views[P1].nodes[R1] and sim.views[P1].myself.is_replica
    # its stale claim, seen by others, takes nothing back
    sim.views[P1].myself.flags = {PRIMARY}  # as if it still said so in a header sent before it learned
    sim.views[P1].myself.primary_id = None
    for s in RANGES[P1]:
        sim.views[P1].owners[s] = sim.views[P1].myself
    for to in (P2, P3):
        sim.pong(P1, to)
        assert sim.views[to].owners[0].id == R1


def test_scenario_slower_replica_cut_off_from_winner_loses():
    """R2 never hears from R1: its delay ends, it asks in the same epoch, or a later one; the voters refuse."""
    sim = Sim({R1: 0, R2: 0})
    for nid, v in sim.views.items():
        if nid != P1:
            fail(v, P1)
    now = T0
    sim.tick(R1, now)
    sim.tick(R2, now)
    while not sim.won:
        now += 100
        st = sim.tick(R1, now)
        if st.action == e.Action.REQUEST_VOTES:
            assert sim.ask(R1, (P2, P3), now) == [P2, P3]
            sim.tick(R1, now)
    st = None
    while now < T0 + 3000:
        now += 100
        st = sim.tick(R2, now)
        if st.action == e.Action.REQUEST_VOTES:
            break
    assert st.action == e.Action.REQUEST_VOTES and st.epoch == 4  # it never learned epoch 4 was taken
    assert sim.ask(R2, (P2, P3), now) == []
    assert "already voted for epoch 4" in request(sim.views[P2], sim.rules[P2], sim.views[R2], now).reason
    sim.views[R2].current_epoch = 5  # it hears of a later epoch and asks again: the per-primary window refuses
    assert "can't vote about this master" in request(sim.views[P2], sim.rules[P2], sim.views[R2], now).reason
    assert sim.won == {4: [R1]}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_scenario_same_epoch_race_never_two_winners(order):
    """Equal jitter and offsets: both replicas ask in epoch 4 at once; whatever the arrival order of the four
    requests at the two voters, at most one replica reaches the majority of 2."""
    sim = Sim({R1: 0, R2: 0})
    sim.views[R2].myself.repl_offset = 500
    sim.views[R1].nodes[R2].repl_offset = 500
    for nid, v in sim.views.items():
        if nid != P1:
            fail(v, P1)
    now = T0
    for rid in (R1, R2):
        sim.tick(rid, now)
    now += 500
    for rid in (R1, R2):
        assert sim.tick(rid, now).epoch == 4
    deliveries = [(R1, P2), (R1, P3), (R2, P2), (R2, P3)]
    for i in order:
        rid, vid = deliveries[i]
        sim.ask(rid, (vid,), now)
    for rid in (R1, R2):
        sim.tick(rid, now)
    assert len(sim.won.get(4, [])) <= 1
    assert sim.elections[R1].votes + sim.elections[R2].votes == 2  # each voter voted exactly once in epoch 4
