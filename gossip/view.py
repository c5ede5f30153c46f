"""The cluster as this node sees it: nodes, their flags and addresses, who owns each of the 16384 slots, epochs,
and open migrations; with `nodes.conf`, its on-disk form (Redis's own line format, which is also CLUSTER NODES).

Pure: no sockets, no clock of its own (times are passed in, in milliseconds). The bus (bus.py) feeds it what peers
say; the cluster room (cluster/) reads it to route commands and changes it through CLUSTER commands. Every change
that must survive a restart ends with `dirty = True`; whoever owns the file (cluster/config_file.py) saves it.

Slot ownership follows Redis's rule: a claim for a slot wins over the current owner only with a higher config
epoch (`claim_slots`), so a stale node cannot take slots back, and an UPDATE message carries the winner's epoch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import groupby

SLOTS = 16384
NODE_ID_LEN = 40

# flags, by the names CLUSTER NODES and nodes.conf print
MYSELF, PRIMARY, REPLICA, PFAIL, FAIL, HANDSHAKE, NOADDR, NOFAILOVER = (
    "myself", "master", "slave", "fail?", "fail", "handshake", "noaddr", "nofailover")
_FLAG_ORDER = (MYSELF, PRIMARY, REPLICA, PFAIL, FAIL, HANDSHAKE, NOADDR, NOFAILOVER)


def random_node_id() -> str:
    return os.urandom(NODE_ID_LEN // 2).hex()


def slot_ranges(slots) -> list[tuple[int, int]]:
    """Slot numbers → sorted inclusive (start, end) runs."""
    out: list[tuple[int, int]] = []
    for s in sorted(slots):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


class ConfigFileError(Exception):
    def __init__(self, line: int, text: str, reason: str) -> None:
        super().__init__(f"Unrecoverable error: corrupted cluster config file \"{text}\" at line {line}: {reason}")
        self.line = line


@dataclass(eq=False)
class NodeRecord:
    id: str
    ip: str = ""
    port: int = 0
    cport: int = 0
    hostname: str = ""
    flags: set = field(default_factory=set)
    primary_id: str | None = None  # for a replica: the node it replicates
    ping_sent: int = 0  # ms; 0 when no ping is waiting for its pong
    pong_received: int = 0  # ms
    config_epoch: int = 0
    link_connected: bool = False
    fail_time: int = 0  # ms when it was flagged FAIL
    fail_reports: dict = field(default_factory=dict)  # reporter id → ms of its latest report
    shard_id: str = ""
    repl_offset: int = 0
    created: int = 0  # ms; handshake nodes expire after the node timeout

    # ---------------------------------------------------------------- flags

    @property
    def is_primary(self) -> bool:
        return PRIMARY in self.flags

    @property
    def is_replica(self) -> bool:
        return REPLICA in self.flags

    @property
    def failed(self) -> bool:
        return FAIL in self.flags

    @property
    def timed_out(self) -> bool:
        return PFAIL in self.flags

    @property
    def in_handshake(self) -> bool:
        return HANDSHAKE in self.flags

    def flags_text(self) -> str:
        names = [f for f in _FLAG_ORDER if f in self.flags]
        return ",".join(names) if names else "noflags"

    def address(self) -> str:
        """`ip:port@cport[,hostname]` as CLUSTER NODES prints it."""
        text = f"{self.ip}:{self.port}@{self.cport}"
        return f"{text},{self.hostname}" if self.hostname else text


class ClusterView:
    def __init__(self, myself: NodeRecord) -> None:
        myself.flags |= {MYSELF}
        if not (myself.flags & {PRIMARY, REPLICA}):
            myself.flags.add(PRIMARY)
        myself.link_connected = True
        if not myself.shard_id:
            myself.shard_id = random_node_id()
        self.myself = myself
        self.nodes: dict[str, NodeRecord] = {myself.id: myself}
        self.current_epoch = 0
        self.last_vote_epoch = 0
        self.owners: list[NodeRecord | None] = [None] * SLOTS
        self.migrating: dict[int, str] = {}  # slot → target node id (this node is the source)
        self.importing: dict[int, str] = {}  # slot → source node id (this node is the target)
        self.state_ok = False
        self.dirty = False  # nodes.conf needs saving

    # ---------------------------------------------------------------- nodes

    def node(self, node_id: str) -> NodeRecord | None:
        return self.nodes.get(node_id)

    def add(self, node: NodeRecord) -> NodeRecord:
        self.nodes[node.id] = node
        self.dirty = True
        return node

    def rename(self, node: NodeRecord, new_id: str) -> None:
        """A handshake node's random id becomes the id the peer announced."""
        del self.nodes[node.id]
        node.id = new_id
        self.nodes[new_id] = node
        self.dirty = True

    def remove(self, node: NodeRecord) -> None:
        """Forget a node: its slots become unassigned, its failure reports vanish, its replicas lose it."""
        for s in range(SLOTS):
            if self.owners[s] is node:
                self.owners[s] = None
        for other in self.nodes.values():
            other.fail_reports.pop(node.id, None)
        self.nodes.pop(node.id, None)
        for table in (self.migrating, self.importing):
            for s in [s for s, nid in table.items() if nid == node.id]:
                del table[s]
        self.dirty = True

    def primaries(self) -> list[NodeRecord]:
        return [n for n in self.nodes.values() if n.is_primary]

    def replicas_of(self, node: NodeRecord) -> list[NodeRecord]:
        return [n for n in self.nodes.values() if n.is_replica and n.primary_id == node.id]

    def primaries_with_slots(self) -> int:
        """The size of the electorate: primaries serving at least one slot (cluster->size in Redis)."""
        return len({id(n) for n in self.owners if n is not None and n.is_primary})

    # ---------------------------------------------------------------- slots

    def owner(self, slot: int) -> NodeRecord | None:
        return self.owners[slot]

    def slots_of(self, node: NodeRecord) -> list[int]:
        return [s for s in range(SLOTS) if self.owners[s] is node]

    def ranges_by_node(self) -> dict[str, list[tuple[int, int]]]:
        """Every owner's slot ranges from runs of equal owners (groupby and list run in C: CLUSTER NODES and
        every nodes.conf save need them, thousands of times during a reshard)."""
        out: dict[str, list[tuple[int, int]]] = {}
        start = 0
        for owner, run in groupby(self.owners):
            n = len(list(run))
            if owner is not None:
                out.setdefault(owner.id, []).append((start, start + n - 1))
            start += n
        return out

    def slot_count(self, node: NodeRecord) -> int:
        return sum(1 for o in self.owners if o is node)

    def assign(self, slot: int, node: NodeRecord | None) -> None:
        if self.owners[slot] is not node:
            self.owners[slot] = node
            self.dirty = True

    def claim_slots(self, node: NodeRecord, slots, epoch: int) -> list[int]:
        """A primary says it serves `slots` with config epoch `epoch`: take each slot that is free or whose owner's
        epoch is lower (clusterUpdateSlotsConfigWith). Returns the slots whose owner changed. Slots this node is
        importing are left alone: the migration finishes them with SETSLOT NODE."""
        changed = []
        for s in slots:
            cur = self.owners[s]
            if cur is node or s in self.importing:
                continue
            if cur is None or cur.config_epoch < epoch:
                self.owners[s] = node
                changed.append(s)
        if changed:
            self.dirty = True
        return changed

    def covered(self) -> bool:
        return all(o is not None and not o.failed for o in self.owners)

    # ---------------------------------------------------------------- epochs

    def max_config_epoch(self) -> int:
        return max(n.config_epoch for n in self.nodes.values())

    def bump_epoch(self) -> bool:
        """CLUSTER BUMPEPOCH / clusterBumpConfigEpochWithoutConsensus: take a config epoch above every other
        node's, unless ours is already the unique highest. Returns True if it changed."""
        me = self.myself
        top = self.max_config_epoch()
        if me.config_epoch == 0 or me.config_epoch != top or \
                sum(1 for n in self.nodes.values() if n.config_epoch == top) > 1:
            self.current_epoch += 1
            me.config_epoch = self.current_epoch
            self.dirty = True
            return True
        return False

    def resolve_epoch_collision(self, sender: NodeRecord) -> bool:
        """clusterHandleConfigEpochCollision: two primaries with the same config epoch; the one with the lower id
        takes a new epoch, so every node ends up with a unique one. Returns True if we changed."""
        me = self.myself
        if sender.config_epoch != me.config_epoch or not sender.is_primary or not me.is_primary:
            return False
        if sender.id <= me.id:
            return False
        self.current_epoch += 1
        me.config_epoch = self.current_epoch
        self.dirty = True
        return True

    # ---------------------------------------------------------------- CLUSTER NODES / nodes.conf

    def node_line(self, node: NodeRecord, *, for_config: bool = False,
                  ranges: list[tuple[int, int]] | None = None) -> str:
        me = node is self.myself
        parts = [node.id, node.address(), node.flags_text(), node.primary_id or "-",
                 str(0 if me else node.ping_sent), str(0 if me else node.pong_received), str(node.config_epoch),
                 "connected" if (me or node.link_connected) else "disconnected"]
        for a, b in (slot_ranges(self.slots_of(node)) if ranges is None else ranges):
            parts.append(str(a) if a == b else f"{a}-{b}")
        if me:  # open migrations are shown for this node only, as Redis does
            for s in sorted(self.migrating):
                parts.append(f"[{s}->-{self.migrating[s]}]")
            for s in sorted(self.importing):
                parts.append(f"[{s}-<-{self.importing[s]}]")
        return " ".join(parts)

    def nodes_text(self) -> str:
        """CLUSTER NODES: one line per node, this node's first, each ending in a newline."""
        order = [self.myself] + [n for n in self.nodes.values() if n is not self.myself]
        by_node = self.ranges_by_node()
        return "".join(self.node_line(n, ranges=by_node.get(n.id, [])) + "\n" for n in order)

    def config_text(self) -> str:
        return self.nodes_text() + f"vars currentEpoch {self.current_epoch} lastVoteEpoch {self.last_vote_epoch}\n"

    @classmethod
    def from_config(cls, text: str) -> "ClusterView":
        """Parse nodes.conf. Raises ConfigFileError naming the line."""
        records: list[tuple[NodeRecord, list[str]]] = []
        current_epoch = last_vote = 0
        myself = None
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split()
            if not words:
                continue
            if words[0] == "vars":
                for k in range(1, len(words) - 1, 2):
                    if words[k] == "currentEpoch":
                        current_epoch = _int(words[k + 1], lineno, line)
                    elif words[k] == "lastVoteEpoch":
                        last_vote = _int(words[k + 1], lineno, line)
                continue
            if len(words) < 8:
                raise ConfigFileError(lineno, line, "too few fields")
            node_id = words[0]
            if len(node_id) != NODE_ID_LEN or any(c not in "0123456789abcdef" for c in node_id):
                raise ConfigFileError(lineno, line, "bad node id")
            ip, port, cport, hostname = _parse_address(words[1], lineno, line)
            flags = set(words[2].split(",")) - {"noflags"}
            unknown = flags - set(_FLAG_ORDER)
            if unknown:
                raise ConfigFileError(lineno, line, f"unknown flag {sorted(unknown)[0]}")
            node = NodeRecord(id=node_id, ip=ip, port=port, cport=cport, hostname=hostname, flags=flags,
                              primary_id=None if words[3] == "-" else words[3],
                              ping_sent=_int(words[4], lineno, line), pong_received=_int(words[5], lineno, line),
                              config_epoch=_int(words[6], lineno, line))
            if MYSELF in flags:
                if myself is not None:
                    raise ConfigFileError(lineno, line, "more than one node flagged myself")
                myself = node
            records.append((node, words[8:]))
        if myself is None:
            raise ConfigFileError(0, "", "no node flagged myself")
        view = cls(myself)
        view.current_epoch = current_epoch
        view.last_vote_epoch = last_vote
        for node, slot_words in records:
            node.ping_sent = 0  # a restarted node has no ping in flight
            view.nodes[node.id] = node
            for w in slot_words:
                view._apply_slot_word(node, w)
        view.dirty = False
        return view

    def _apply_slot_word(self, node: NodeRecord, w: str) -> None:
        if w.startswith("["):
            body = w.strip("[]")
            if "->-" in body:
                s, target = body.split("->-")
                self.migrating[int(s)] = target
            elif "-<-" in body:
                s, source = body.split("-<-")
                self.importing[int(s)] = source
            return
        a, _, b = w.partition("-")
        start = int(a)
        end = int(b) if b else start
        for s in range(start, end + 1):
            self.owners[s] = node


def _int(word: str, lineno: int, line: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise ConfigFileError(lineno, line, f"not a number: {word}") from None


def _parse_address(word: str, lineno: int, line: str) -> tuple[str, int, int, str]:
    addr, _, hostname = word.partition(",")
    hostport, _, cport = addr.partition("@")
    ip, _, port = hostport.rpartition(":")
    try:
        return ip, int(port), int(cport or 0), hostname
    except ValueError:
        raise ConfigFileError(lineno, line, "bad address") from None
