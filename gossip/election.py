"""Replica election and failover, as the Redis Cluster spec lays it out (and Redis 7.0 behaves). Pure: no sockets,
no clock of its own; every entry point takes the view and the time (`now`, ms). The bus (bus.py) calls them from its
cron and its message handlers and sends what they return; the replication layer tells it the replica's offset and
the last time it heard from its primary.

Replica side (`ReplicaElection`, one per node, active while it is a replica whose primary is FAIL):
- **data age**: a replica that lost its primary longer ago than node_timeout × `cluster-replica-validity-factor`
  + `repl-ping-replica-period` does not try (factor 0: always valid); the first node timeout of silence does not
  count, since the primary was still considered alive then;
- **rank**: the number of sibling replicas (that may fail over) with a strictly greater replication offset; the
  best replica has rank 0 and so asks first: delay = 500 ms + random 0..499 ms + rank × 1000 ms. The random part
  makes equal-rank replicas unlikely to ask in the same epoch; the fixed part lets the FAIL spread first, so
  primaries do not refuse because they have not seen it yet;
- **the attempt**: after the delay the replica increments currentEpoch and asks every primary for its vote in that
  epoch (FAILOVER_AUTH_REQUEST); votes (FAILOVER_AUTH_ACK) from primaries serving slots, sent in that epoch or later,
  count; a majority of the primaries serving slots (`primaries_with_slots() // 2 + 1`, the failed one included)
  wins. An attempt expires after max(2 × node_timeout, 2 s) and the next one starts 2 × that after the previous;
- **winning**: the replica takes the election epoch as its config epoch (a new, unique one: one vote per epoch per
  primary means at most one majority per epoch), takes its primary's slots and becomes a primary.

Primary side (`VoteRules`): at most one vote per epoch (`view.last_vote_epoch`, persisted before the ACK leaves),
never for an old epoch, only for a replica whose primary is FAIL (unless the request is a manual failover's, flagged
FORCEACK), not twice within 2 × node_timeout for replicas of the same primary, and never when a slot the replica
claims has an owner with a greater config epoch than the one in the request (the replica's view is stale).

After a promotion, configuration spreads by the usual rule (`view.claim_slots`: a higher config epoch wins a slot);
`claim_and_follow` adds what a node does about itself when it sees that: a primary (or a replica's primary) that
lost its last slot to a node follows that node as a replica. That is how the old primary, when it comes back,
becomes a replica of the new one, and how the failed primary's other replicas switch to the winner.

Manual failover (CLUSTER FAILOVER [FORCE|TAKEOVER], `start_manual_failover`): default waits for the primary to
pause its clients and for the replica to reach the primary's offset, then runs the election without delay and with
FORCEACK; FORCE skips the catch-up (the primary may be down); TAKEOVER does not ask anyone: it takes a new config
epoch on its own (`view.bump_epoch`) and becomes primary at once.

Replica migration (`ReplicaMigration`): a replica of the primary with the most working replicas moves to a primary
that has slots and used to have replicas but has none working now (orphaned for more than 5 s), keeping at least
`cluster-migration-barrier` working replicas behind; only the replica with the smallest id among those of the
best-served primaries moves, so two replicas do not move at once.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Iterable

from .view import FAIL, NOFAILOVER, PFAIL, PRIMARY, REPLICA, ClusterView, NodeRecord

FAILOVER_FIXED_DELAY = 500  # ms before any election: let the FAIL message reach every primary
FAILOVER_RANDOM_DELAY = 500  # ms, exclusive upper bound of the random part
RANK_DELAY = 1000  # ms per rank
MIN_AUTH_TIMEOUT = 2000  # ms
MF_TIMEOUT = 5000  # ms a manual failover may take (CLUSTER_MF_TIMEOUT)
MF_PAUSE_MULT = 2  # the primary pauses its clients for MF_TIMEOUT × this (CLUSTER_MF_PAUSE_MULT)
MIGRATION_DELAY = 5000  # ms a primary must stay orphaned before a replica moves to it (CLUSTER_SLAVE_MIGRATION_DELAY)
CANT_FAILOVER_RELOG_PERIOD = 10_000  # ms: the same "unable to failover" reason is logged at most this often
VOTE_AGAIN_MULT = 2  # a primary votes for replicas of one failed primary at most once per node_timeout × this


# ------------------------------------------------------------------------------------------------ small rules

def election_quorum(view: ClusterView) -> int:
    """Votes needed: a majority of the primaries that serve slots (the failed primary still counts: it owns its slots
    until the winner takes them)."""
    return view.primaries_with_slots() // 2 + 1


def auth_timeout(node_timeout: int) -> int:
    """How long one attempt waits for votes."""
    return max(node_timeout * 2, MIN_AUTH_TIMEOUT)


def auth_retry_time(node_timeout: int) -> int:
    """How long after the start of an attempt the next one may start."""
    return auth_timeout(node_timeout) * 2


def data_age(now: int, last_primary_contact: int, node_timeout: int) -> int:
    """Time since the replica last heard from its primary, minus the node timeout once it exceeds it: while the
    timeout ran, the primary was still thought alive, so that silence says nothing about the data's age."""
    age = now - last_primary_contact
    return age - node_timeout if age > node_timeout else age


def data_too_old(age: int, node_timeout: int, validity_factor: int, repl_ping_period_ms: int) -> bool:
    """cluster-replica-validity-factor: 0 means a replica may always fail over."""
    return validity_factor > 0 and age > repl_ping_period_ms + node_timeout * validity_factor


def replica_rank(view: ClusterView, my_offset: int | None = None) -> int:
    """How many siblings (replicas of my primary that may fail over) have processed more of the stream than I have.
    Equal offsets share a rank; the random part of the delay separates them."""
    me = view.myself
    primary = view.node(me.primary_id) if me.primary_id else None
    if primary is None:
        return 0
    mine = me.repl_offset if my_offset is None else my_offset
    return sum(1 for r in view.replicas_of(primary)
               if r is not me and NOFAILOVER not in r.flags and r.repl_offset > mine)


def election_delay(rank: int, jitter: int) -> int:
    return FAILOVER_FIXED_DELAY + jitter + rank * RANK_DELAY


def _random_jitter() -> int:
    return random.randrange(FAILOVER_RANDOM_DELAY)


# ------------------------------------------------------------------------------------------------ settings, steps

@dataclass(frozen=True)
class ElectionSettings:
    node_timeout: int = 15000  # ms, cluster-node-timeout
    validity_factor: int = 10  # cluster-replica-validity-factor
    repl_ping_period_ms: int = 10_000  # repl-ping-replica-period, in ms (the config is in seconds)
    no_failover: bool = False  # cluster-replica-no-failover

    @classmethod
    def from_config(cls, config) -> "ElectionSettings":
        """From anything with `.get(name, default)` (the node's Config, or a dict in tests)."""
        return cls(node_timeout=int(config.get("cluster-node-timeout", 15000)),
                   validity_factor=int(config.get("cluster-replica-validity-factor", 10)),
                   repl_ping_period_ms=int(config.get("repl-ping-replica-period", 10)) * 1000,
                   no_failover=bool(config.get("cluster-replica-no-failover", False)))


class CantFailover(Enum):
    """Why a replica whose primary is FAIL is not (yet) taking over; the text is Redis's log text."""
    NONE = ""
    DATA_AGE = ("Disconnected from master for longer than allowed. Please check the "
                "'cluster-replica-validity-factor' configuration option.")
    WAITING_DELAY = "Waiting the delay before I can start a new failover."
    EXPIRED = "Failover attempt expired."
    WAITING_VOTES = "Waiting for votes, but majority still not reached."


class Action(Enum):
    NONE = "none"
    ANNOUNCE_OFFSET = "announce-offset"  # send a PONG to my primary's other replicas: they rank against my offset
    REQUEST_VOTES = "request-votes"  # broadcast FAILOVER_AUTH_REQUEST (FORCEACK if step.force_ack) to all nodes
    PROMOTED = "promoted"  # the view already says I am primary: stop replicating, broadcast PONG, save config
    SEND_MFSTART = "send-mfstart"  # manual failover: ask my primary to pause its clients (MFSTART)


@dataclass
class Step:
    """What the bus must do after a call, and what to log (Redis's texts, at WARNING level as Redis does)."""
    action: Action = Action.NONE
    epoch: int = 0  # REQUEST_VOTES: the epoch asked for; PROMOTED: my new config epoch
    force_ack: bool = False
    slots: list = field(default_factory=list)  # PROMOTED: the slots taken over
    logs: list = field(default_factory=list)


class FailoverRefused(Exception):
    """CLUSTER FAILOVER cannot start; the message is Redis's error reply (the command layer re-raises it as a
    CommandError: gossip/ may not import node/)."""


# ------------------------------------------------------------------------------------------------ manual failover

@dataclass
class ManualFailover:
    """A replica's CLUSTER FAILOVER in progress (mf_end, mf_can_start, mf_master_offset in Redis)."""
    mode: str  # "default" or "force" (TAKEOVER never waits, so it has no state)
    end: int  # ms; past it the manual failover is abandoned
    can_start: bool = False
    primary_offset: int | None = None  # the paused primary's offset, once it told us

    def on_primary_paused(self, offset: int) -> list[str]:
        """A PING from my primary flagged PAUSED carries its final offset. Only the first one counts."""
        if self.primary_offset is None:
            self.primary_offset = offset
            return [f"Received replication offset for paused master manual failover: {offset}"]
        return []

    def check(self, my_offset: int) -> list[str]:
        """Default mode: the election may start once I processed everything the paused primary accepted."""
        if not self.can_start and self.primary_offset is not None and my_offset == self.primary_offset:
            self.can_start = True
            return ["All master replication stream processed, manual failover can start."]
        return []


@dataclass
class PrimaryPause:
    """Primary side of a default manual failover: after MFSTART from one of its replicas the primary pauses its
    clients (writes) until `end` and sends that replica PINGs flagged PAUSED carrying its offset."""
    replica_id: str
    end: int

    @classmethod
    def on_mfstart(cls, view: ClusterView, sender: NodeRecord | None, now: int) -> tuple["PrimaryPause | None", list]:
        me = view.myself
        if sender is None or not me.is_primary or sender.primary_id != me.id:
            return None, []  # Redis ignores MFSTART from a node that is not my replica
        return cls(sender.id, now + MF_TIMEOUT * MF_PAUSE_MULT), \
            [f"Manual failover requested by replica {sender.id}."]

    def expired(self, now: int) -> bool:
        return now > self.end


# ------------------------------------------------------------------------------------------------ replica side

class ReplicaElection:
    """A replica's failover state (failover_auth_* in Redis's clusterState). Call `tick` from the cron (every
    100 ms) and again right after `on_vote` counted a vote; call `on_vote` for every FAILOVER_AUTH_ACK."""

    def __init__(self, jitter: Callable[[], int] | None = None) -> None:
        self.jitter = jitter or _random_jitter  # 0..499 ms; injected by tests
        self.auth_time: int | None = None  # ms when the current attempt may (or did) send its request
        self.auth_rank = 0
        self.auth_epoch = 0  # the epoch the request asked for
        self.auth_sent = False
        self.voters: set[str] = set()  # primaries that acknowledged this attempt (a set: a duplicate ACK counts once)
        self.cant_reason = CantFailover.NONE
        self._last_log = 0
        self.manual: ManualFailover | None = None

    # ------------------------------------------------------------- votes

    def on_vote(self, view: ClusterView, voter: NodeRecord, voter_current_epoch: int) -> bool:
        """A FAILOVER_AUTH_ACK arrived. It counts if the voter is a primary serving slots and answered in our epoch
        or later (an older epoch's ACK is for an earlier attempt). True if counted."""
        if not self.auth_sent or not voter.is_primary or voter_current_epoch < self.auth_epoch:
            return False
        if view.slot_count(voter) == 0:
            return False
        self.voters.add(voter.id)
        return True

    @property
    def votes(self) -> int:
        return len(self.voters)

    # ------------------------------------------------------------- the cron step

    def tick(self, view: ClusterView, now: int, settings: ElectionSettings, last_primary_contact: int,
             my_offset: int | None = None) -> Step:
        """clusterHandleSlaveFailover. `last_primary_contact`: ms of the last data or ping from my primary (or
        when the replication link went down). `my_offset`: my processed replication offset (default
        `view.myself.repl_offset`). May change the view: currentEpoch when it asks for votes, roles and slots
        when it wins."""
        step = Step()
        me = view.myself
        if self.manual is not None:
            if now > self.manual.end:
                self.manual = None
                step.logs.append("Manual failover timed out.")
            elif self.manual.mode == "default":
                step.logs += self.manual.check(me.repl_offset if my_offset is None else my_offset)
        manual = self.manual is not None and self.manual.can_start
        primary = view.node(me.primary_id) if me.is_replica and me.primary_id else None
        no_failover = settings.no_failover or NOFAILOVER in me.flags
        if primary is None or (not primary.failed and not manual) or (no_failover and not manual) \
                or view.slot_count(primary) == 0:
            self.cant_reason = CantFailover.NONE
            return step
        nt = settings.node_timeout
        age = data_age(now, last_primary_contact, nt)
        if not manual and data_too_old(age, nt, settings.validity_factor, settings.repl_ping_period_ms):
            self._cant(CantFailover.DATA_AGE, primary, now, nt, step)
            return step

        if self.auth_time is None or now - self.auth_time > auth_retry_time(nt):
            # a new attempt: wait for the delay, and meanwhile tell my siblings my offset so they rank correctly
            self.auth_rank = replica_rank(view, my_offset)
            self.auth_time = now + election_delay(self.auth_rank, self.jitter())
            self.auth_sent = False
            self.voters = set()
            if manual:  # the operator chose this replica: no delay, no rank
                self.auth_time, self.auth_rank = now, 0
            offset = me.repl_offset if my_offset is None else my_offset
            step.logs.append(f"Start of election delayed for {self.auth_time - now} milliseconds "
                             f"(rank #{self.auth_rank}, offset {offset}).")
            step.action = Action.ANNOUNCE_OFFSET
            return step

        if not self.auth_sent and not manual:
            # siblings' offsets arrived after we computed the delay: a worse rank means waiting longer (a better
            # one does not shorten the wait, so a replica never jumps ahead of one that already counted on it)
            rank = replica_rank(view, my_offset)
            if rank > self.auth_rank:
                added = (rank - self.auth_rank) * RANK_DELAY
                self.auth_time += added
                self.auth_rank = rank
                step.logs.append(f"Replica rank updated to #{rank}, added {added} milliseconds of delay.")

        if now < self.auth_time:
            self._cant(CantFailover.WAITING_DELAY, primary, now, nt, step)
            return step
        if now - self.auth_time > auth_timeout(nt):
            self._cant(CantFailover.EXPIRED, primary, now, nt, step)
            return step

        if not self.auth_sent:
            view.current_epoch += 1
            view.dirty = True
            self.auth_epoch = view.current_epoch
            self.auth_sent = True
            step.logs.append(f"Starting a failover election for epoch {self.auth_epoch}.")
            step.action, step.epoch, step.force_ack = Action.REQUEST_VOTES, self.auth_epoch, manual
            return step

        if self.votes >= election_quorum(view):
            step.logs.append("Failover election won: I'm the new master.")
            if me.config_epoch < self.auth_epoch:
                step.logs.append(f"configEpoch set to {self.auth_epoch} after successful failover")
            step.slots = promote_myself(view, self.auth_epoch)
            step.action, step.epoch = Action.PROMOTED, me.config_epoch
            self.manual = None
            return step
        self._cant(CantFailover.WAITING_VOTES, primary, now, nt, step)
        return step

    def _cant(self, reason: CantFailover, primary: NodeRecord, now: int, node_timeout: int, step: Step) -> None:
        """clusterLogCantFailover: log a reason when it changes or every 10 s, but not in the first moments of a
        failure (node_timeout + 5 s), when waiting is expected."""
        changed = reason != self.cant_reason
        self.cant_reason = reason
        if not changed and now - self._last_log < CANT_FAILOVER_RELOG_PERIOD:
            return
        if primary.failed and now - primary.fail_time < node_timeout + 5000:
            return
        self._last_log = now
        step.logs.append(f"Currently unable to failover: {reason.value}")


# ------------------------------------------------------------------------------------------------ primary side

@dataclass(frozen=True)
class Vote:
    granted: bool
    reason: str  # Redis's log line ("Failover auth granted to ..." / "Failover auth denied to ...: ..."); "" silent
    epoch: int = 0  # the epoch voted in (the ACK carries it as its currentEpoch)


class VoteRules:
    """A primary's answers to FAILOVER_AUTH_REQUEST (clusterSendFailoverAuthIfNeeded). Keeps, per failed primary,
    when it last voted for one of its replicas (voted_time: not persisted, as in Redis)."""

    def __init__(self) -> None:
        self.voted_time: dict[str, int] = {}  # failed primary id → ms of my last vote for one of its replicas

    def decide(self, view: ClusterView, requester: NodeRecord, request_current_epoch: int,
               request_config_epoch: int, claimed_slots: Iterable[int], now: int, node_timeout: int,
               force_ack: bool = False) -> Vote:
        """Decide on a vote request. `request_current_epoch` / `request_config_epoch` are the header's epochs (the
        config epoch a replica sends is its primary's), `claimed_slots` the header's slots (its primary's),
        `force_ack` the FORCEACK flag of a manual failover. A granted vote sets `view.last_vote_epoch` and
        `dirty`: the bus must save nodes.conf (with fsync) before the ACK leaves, or a restart could vote twice."""
        me = view.myself
        if not me.is_primary or view.slot_count(me) == 0:
            return Vote(False, "")  # only primaries serving slots vote; Redis says nothing
        # the header's currentEpoch is adopted before anything else (the bus does it for every message too)
        if request_current_epoch > view.current_epoch:
            view.current_epoch = request_current_epoch
            view.dirty = True
        who = requester.id
        if request_current_epoch < view.current_epoch:
            return Vote(False, f"Failover auth denied to {who}: reqEpoch ({request_current_epoch}) < "
                               f"curEpoch({view.current_epoch})")
        if view.last_vote_epoch == view.current_epoch:
            return Vote(False, f"Failover auth denied to {who}: already voted for epoch {view.current_epoch}")
        primary = view.node(requester.primary_id) if requester.primary_id else None
        if requester.is_primary:
            return Vote(False, f"Failover auth denied to {who}: it is a master node")
        if primary is None:
            return Vote(False, f"Failover auth denied to {who}: I don't know its master")
        if not primary.failed and not force_ack:
            return Vote(False, f"Failover auth denied to {who}: its master is up")
        window = node_timeout * VOTE_AGAIN_MULT
        last = self.voted_time.get(primary.id)
        if last is not None and now - last < window:
            return Vote(False, f"Failover auth denied to {who}: can't vote about this master before "
                               f"{window - (now - last)} milliseconds")
        owners = view.owners
        for s in claimed_slots:
            owner = owners[s]
            if owner is not None and owner.config_epoch > request_config_epoch:
                return Vote(False, f"Failover auth denied to {who}: slot {s} epoch ({owner.config_epoch}) > "
                                   f"reqEpoch ({request_config_epoch})")
        view.last_vote_epoch = view.current_epoch
        view.dirty = True
        self.voted_time[primary.id] = now
        return Vote(True, f"Failover auth granted to {who} for epoch {view.current_epoch}", view.current_epoch)


# ------------------------------------------------------------------------------------------------ role changes

def promote_myself(view: ClusterView, epoch: int | None) -> list[int]:
    """clusterFailoverReplaceYourMaster: I become a primary, with config epoch `epoch` (None: keep mine, as after
    TAKEOVER's bump), and take every slot my primary served. Returns the slots taken. The old primary stays in the
    view as a slotless primary until it announces itself as my replica."""
    me = view.myself
    old = view.node(me.primary_id) if me.primary_id else None
    me.flags.discard(REPLICA)
    me.flags.add(PRIMARY)
    me.primary_id = None
    if epoch is not None and me.config_epoch < epoch:
        me.config_epoch = epoch
    taken = view.slots_of(old) if old is not None else []
    for s in taken:
        view.assign(s, me)
    view.dirty = True
    return taken


def become_replica_of(view: ClusterView, primary: NodeRecord) -> None:
    """clusterSetMaster: I replicate `primary`. A primary gives up whatever slots it still has and its open
    migrations. The replication layer must then connect to `primary` (REPLICAOF)."""
    me = view.myself
    if me.is_primary:
        for s in view.slots_of(me):
            view.assign(s, None)
        view.migrating.clear()
        view.importing.clear()
        me.flags.discard(PRIMARY)
        me.flags.add(REPLICA)
    me.primary_id = primary.id
    if len(primary.shard_id) == 40:
        me.shard_id = primary.shard_id
    view.dirty = True


@dataclass
class ClaimOutcome:
    changed: list  # slots whose owner changed
    follow: NodeRecord | None = None  # I became a replica of this node (already applied to the view)
    dirty_slots: list = field(default_factory=list)  # slots I served and lost but still follow no one: drop keys
    logs: list = field(default_factory=list)


def claim_and_follow(view: ClusterView, sender: NodeRecord, slots: Iterable[int], epoch: int,
                     allow_replica_migration: bool = True) -> ClaimOutcome:
    """clusterUpdateSlotsConfigWith: `sender` claims `slots` with config `epoch` (its PING/PONG or an UPDATE about
    it). Applies the claim through `view.claim_slots`, then: if my primary (myself, if I am one) lost its last slot
    to `sender`, I follow `sender` as a replica — unless I am a primary whose slots were migrated away and
    `cluster-allow-replica-migration` is off, in which case I stay an empty primary. A replica whose primary became a
    replica follows the new primary directly (no chains). Use it instead of `view.claim_slots` for claims."""
    me = view.myself
    if sender is me:
        return ClaimOutcome([], logs=["Discarding UPDATE message about myself."])
    slots = list(slots)
    cur = me if me.is_primary else (view.node(me.primary_id) if me.primary_id else None)
    before = [view.owners[s] for s in slots]
    changed = view.claim_slots(sender, slots, epoch)
    changed_set = set(changed)
    ours = [s for s, o in zip(slots, before) if s in changed_set and cur is not None and o is cur]
    out = ClaimOutcome(changed)
    if ours and view.slot_count(cur) == 0 and (allow_replica_migration or len(slots) == len(ours)):
        out.logs.append(f"Configuration change detected. Reconfiguring myself as a replica of {sender.id}")
        become_replica_of(view, sender)
        out.follow = sender
    elif me.is_replica and cur is not None and cur.is_replica and cur.primary_id \
            and view.node(cur.primary_id) is not None and cur.primary_id != me.id:
        grand = view.node(cur.primary_id)
        out.logs.append(f"I'm a sub-replica! Reconfiguring myself as a replica of grandmaster {grand.id}")
        become_replica_of(view, grand)
        out.follow = grand
    elif me.is_primary:
        out.dirty_slots = ours
    return out


# ------------------------------------------------------------------------------------------------ manual start

def start_manual_failover(view: ClusterView, election: ReplicaElection, now: int, option: str | None) -> Step:
    """CLUSTER FAILOVER [FORCE|TAKEOVER] on this node. Raises FailoverRefused with Redis's error text."""
    me = view.myself
    option = option.lower() if option else None
    if option not in (None, "force", "takeover"):
        raise FailoverRefused("ERR syntax error")
    if me.is_primary:
        raise FailoverRefused("ERR You should send CLUSTER FAILOVER to a replica")
    primary = view.node(me.primary_id) if me.primary_id else None
    if primary is None:
        raise FailoverRefused("ERR I'm a replica but my master is unknown to me")
    if option is None and (primary.failed or not primary.link_connected):
        raise FailoverRefused("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
    election.manual = None
    step = Step()
    if option == "takeover":
        # no votes: a config epoch of my own, above everyone's; collisions are resolved by the usual rule
        step.logs.append("Taking over the master (user request).")
        view.bump_epoch()
        step.slots = promote_myself(view, None)
        step.action, step.epoch = Action.PROMOTED, me.config_epoch
        return step
    # a fresh attempt: an automatic one that ran recently must not make the operator wait for its retry time
    election.auth_time = None
    if option == "force":
        election.manual = ManualFailover("force", now + MF_TIMEOUT, can_start=True)
        step.logs.append("Forced failover user request accepted.")
        return step
    election.manual = ManualFailover("default", now + MF_TIMEOUT)
    step.logs.append("Manual failover user request accepted.")
    step.action = Action.SEND_MFSTART
    return step


# ------------------------------------------------------------------------------------------------ replica migration

def working_replicas(view: ClusterView, primary: NodeRecord) -> int:
    return sum(1 for r in view.replicas_of(primary) if not r.flags & {FAIL, PFAIL})


class ReplicaMigration:
    """clusterHandleSlaveMigration with the cron's bookkeeping: which primaries ever had replicas (MIGRATE_TO) and
    since when each is orphaned. Call `tick` from the cron when this node is a replica; if it returns a node, the
    view already says I replicate it, and the replication layer must connect there."""

    def __init__(self) -> None:
        self.had_replicas: set[str] = set()  # primaries that had a replica (or replaced one that did)
        self.orphaned_since: dict[str, int] = {}

    def note_promoted(self, node_id: str) -> None:
        """A replica became a primary in place of one that had replicas: it should get replicas too."""
        self.had_replicas.add(node_id)

    def tick(self, view: ClusterView, now: int, barrier: int, allow: bool,
             no_failover: bool = False) -> tuple[NodeRecord | None, list[str]]:
        """`barrier`: cluster-migration-barrier; `allow`: cluster-allow-replica-migration; `no_failover`: forbids
        moving (Redis: a module's NO_FAILOVER flag; cluster-replica-no-failover alone does not stop migration).
        Returns (the primary I now replicate, logs) or (None, [])."""
        me = view.myself
        for n in view.nodes.values():
            if n.is_replica and n.primary_id:
                self.had_replicas.add(n.primary_id)
        ok = {n.id: working_replicas(view, n) for n in view.primaries() if not n.failed}
        for nid in list(self.orphaned_since):
            if ok.get(nid) != 0:
                del self.orphaned_since[nid]
        for nid, k in ok.items():
            # counting slots scans the slot table: only for the rare primary that may be an orphan
            if k == 0 and nid in self.had_replicas and nid not in self.orphaned_since \
                    and view.slot_count(view.nodes[nid]) > 0:
                self.orphaned_since[nid] = now
        if not me.is_replica or not allow or not view.state_ok or no_failover:
            return None, []
        if not self.orphaned_since or not ok:
            return None, []
        mine = view.node(me.primary_id) if me.primary_id else None
        if mine is None or mine.id not in ok:
            return None, []
        best = max(ok.values())
        # only replicas of a primary with the most working replicas move, and only if enough stay behind
        if best < 2 or ok[mine.id] != best or ok[mine.id] <= barrier:
            return None, []
        candidate = me.id
        for nid, k in ok.items():
            if k == best:
                for r in view.replicas_of(view.nodes[nid]):
                    if r.id < candidate:
                        candidate = r.id
        if candidate != me.id:
            return None, []
        targets = sorted(self.orphaned_since.items(), key=lambda kv: (kv[1], kv[0]))
        for nid, since in targets:
            target = view.nodes.get(nid)
            if target is not None and now - since > MIGRATION_DELAY and view.slot_count(target) > 0:
                become_replica_of(view, target)
                return target, [f"Migrating to orphaned master {nid}"]
        return None, []
