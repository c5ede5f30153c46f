"""The CLUSTER command family, with Redis 7.0's replies and error texts (cluster_legacy.c clusterCommand).

Each subcommand reads or changes `c.state.cluster` (cluster/cluster.py): its view (gossip/view.py), its bus, its
nodes.conf. Outside cluster mode `c.state.cluster` is None and every subcommand, HELP included, answers
"ERR This instance has cluster support disabled" (checked on redis-server 7.0.15: `CLUSTER HELP` too).

Order of effects follows Redis: a change to the view is saved to nodes.conf before the reply leaves
(Redis's CLUSTER_TODO_SAVE_CONFIG runs in beforeSleep, before replies are written), and cluster_state is
re-evaluated (CLUSTER_TODO_UPDATE_STATE). The few places where Redis tells the whole cluster at once
(closing an import with SETSLOT NODE; here also a BUMPEPOCH that bumped) broadcast a PONG through the bus.

Bus methods used (gossip/bus.py), all optional in the sense that `cluster.bus` may be None (unit tests, or
before the bus starts): `meet(ip, port, cport)`, `forget(node_id)`, `broadcast_pong()`, `stats()`, `links()`.

MYSHARDID is Redis 7.2's (7.0 answers "unknown subcommand"); it is here because the issue asks for it.
REPLICATE and FAILOVER belong with replication and are not registered yet.
"""
from __future__ import annotations

import ipaddress
import logging
import time

from shoal.gossip import failure
from shoal.gossip.view import SLOTS, NodeRecord, random_node_id, slot_ranges
from shoal.node.commands.args import parse_ll
from shoal.node.commands.registry import arity_error, command
from shoal.node.errors import CommandError
from shoal.node.resp import OK, MapReply, Simple, Verbatim, string2ll

from .slots import key_slot

log = logging.getLogger("shoal.node")

DISABLED = "ERR This instance has cluster support disabled"
NOT_INTEGER = "ERR value is not an integer or out of range"

# Redis 7.0.15's CLUSTER HELP, line for line
HELP_LINES = [
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
]

# bus message types in Redis's order (clusterGetMessageTypeString), for the cluster_stats_messages_* lines
MESSAGE_TYPES = ("ping", "pong", "meet", "fail", "publish", "publishshard", "auth-req", "auth-ack", "update",
                 "mfstart", "module")


# --------------------------------------------------------------------------------------------------- helpers


def _cluster(c):
    cluster = c.state.cluster
    if cluster is None:
        raise CommandError(DISABLED)
    return cluster


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")



def _slot_arg(arg: bytes) -> int:
    """getSlotOrReply: a number in 0..16383, else one error for every kind of wrong."""
    v = string2ll(arg)
    if v is None or v < 0 or v >= SLOTS:
        raise CommandError("ERR Invalid or out of range slot")
    return v


def _subcommand_syntax(name: str) -> CommandError:
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{name}'. Try CLUSTER HELP.")


def _lookup(cluster, node_id: bytes) -> NodeRecord | None:
    return cluster.view.node(_text(node_id))


def _db(c):
    """Cluster mode has one database; slot commands look at db 0 whatever the client selected, as Redis."""
    return c.state.keyspace[0]


def _has_slot_index(db) -> bool:
    return getattr(db, "slot_index", None) is not None


def count_keys_in_slot(db, slot: int) -> int:
    if _has_slot_index(db):
        return db.count_keys_in_slot(slot)
    return sum(1 for k in db.data if key_slot(k) == slot)  # no index (not cluster-started): O(keyspace)


def keys_in_slot(db, slot: int, count: int) -> list:
    if _has_slot_index(db):
        return list(db.keys_in_slot(slot, count))
    # newest first, as Redis's per-slot list (keys are added at its head)
    out = []
    for k in reversed(list(db.data)):
        if len(out) >= count:
            break
        if key_slot(k) == slot:
            out.append(k)
    return out


def changed(cluster, *, update_state: bool = True) -> None:
    """What Redis's beforeSleep does after a CLUSTER command touched the view: re-evaluate cluster_state, then
    save nodes.conf (a node that cannot save its configuration stops, as Redis's clusterSaveConfigOrDie)."""
    if update_state:
        _update_state(cluster)
    cluster.save_config()
    if cluster.bus is not None:
        cluster.bus.config_changed()  # the next PING/PONG advertises our slots as they are now


def _update_state(cluster) -> None:
    try:
        from .routing import update_cluster_state
    except ImportError:  # routing.py not there yet: cluster_state is whatever the view says
        return
    update_cluster_state(cluster.view, cluster.config)


def _broadcast_pong(cluster) -> None:
    if cluster.bus is not None:
        cluster.bus.broadcast_pong()


def _endpoint_for_shards(cluster, node: NodeRecord) -> str:
    """getPreferredEndpoint: ip, hostname (or "?"), or "" for unknown-endpoint (checked on 7.0.15)."""
    kind = cluster.config["cluster-preferred-endpoint-type"]
    if kind == "unknown-endpoint":
        return ""
    if kind == "hostname":
        return node.hostname or "?"
    return node.ip


def _health(node: NodeRecord) -> bytes:
    if node.failed:
        return b"fail"
    if node.is_replica and node.repl_offset == 0:
        return b"loading"
    return b"online"


def _repl_offset(c, node: NodeRecord) -> int:
    if node is c.state.cluster.view.myself:
        repl = getattr(c.state, "master_repl_offset", None)
        if isinstance(repl, int):
            return repl
    return node.repl_offset


# --------------------------------------------------------------------------------------------------- HELP, INFO


@command("cluster|help")
def cluster_help(c, argv):
    _cluster(c)
    return [Simple(line) for line in HELP_LINES]


def _stats_lines(bus) -> list[str]:
    sent: dict = {}
    received: dict = {}
    exceeded = 0
    if bus is not None:
        stats = bus.stats() or {}
        if "sent" in stats or "received" in stats:
            sent = dict(stats.get("sent", {}))
            received = dict(stats.get("received", {}))
        else:  # flat form: {"ping_sent": n, "pong_received": m, ...}
            for k, v in stats.items():
                if k.endswith("_sent"):
                    sent[k[:-5]] = v
                elif k.endswith("_received"):
                    received[k[:-9]] = v
        exceeded = int(stats.get("links_buffer_limit_exceeded", 0))
    lines = []
    for direction, counts in (("sent", sent), ("received", received)):
        names = [t for t in MESSAGE_TYPES if t in counts] + [t for t in counts if t not in MESSAGE_TYPES]
        for t in names:
            if counts[t]:
                lines.append(f"cluster_stats_messages_{t}_{direction}:{counts[t]}")
        lines.append(f"cluster_stats_messages_{direction}:{sum(counts.values())}")
    lines.append(f"total_cluster_links_buffer_limit_exceeded:{exceeded}")
    return lines


def info_text(cluster) -> str:
    view = cluster.view
    assigned = ok = pfail = fail = 0
    for owner in view.owners:
        if owner is None:
            continue
        assigned += 1
        if owner.failed:
            fail += 1
        elif owner.timed_out:
            pfail += 1
        else:
            ok += 1
    me = view.myself
    primary = view.node(me.primary_id) if me.is_replica and me.primary_id else None
    my_epoch = primary.config_epoch if primary is not None else me.config_epoch
    lines = [
        f"cluster_state:{'ok' if view.state_ok else 'fail'}",
        f"cluster_slots_assigned:{assigned}",
        f"cluster_slots_ok:{ok}",
        f"cluster_slots_pfail:{pfail}",
        f"cluster_slots_fail:{fail}",
        f"cluster_known_nodes:{len(view.nodes)}",
        f"cluster_size:{view.primaries_with_slots()}",
        f"cluster_current_epoch:{view.current_epoch}",
        f"cluster_my_epoch:{my_epoch}",
    ] + _stats_lines(cluster.bus)
    return "".join(line + "\r\n" for line in lines)


@command("cluster|info")
def cluster_info(c, argv):
    return Verbatim(info_text(_cluster(c)).encode())


# --------------------------------------------------------------------------------------------------- identity


@command("cluster|myid")
def cluster_myid(c, argv):
    return _cluster(c).view.myself.id.encode()


@command("cluster|myshardid", arity=2, flags="stale", acl="@slow", group="cluster")
def cluster_myshardid(c, argv):
    return _cluster(c).view.myself.shard_id.encode()


@command("cluster|nodes")
def cluster_nodes(c, argv):
    return Verbatim(_cluster(c).view.nodes_text().encode())


# --------------------------------------------------------------------------------------------------- SLOTS, SHARDS


def _node_reply(cluster, node: NodeRecord) -> list:
    """addNodeToNodeReply: preferred endpoint, port, id, then a map of the endpoints that are not preferred."""
    kind = cluster.config["cluster-preferred-endpoint-type"]
    if kind == "hostname":
        first = (node.hostname or "?").encode()
    elif kind == "unknown-endpoint":
        first = None
    else:
        first = node.ip.encode()
    extra = []
    if kind != "ip":
        extra.append((b"ip", node.ip.encode()))
    if kind != "hostname" and node.hostname:
        extra.append((b"hostname", node.hostname.encode()))
    return [first, node.port, node.id.encode(), MapReply(extra)]


@command("cluster|slots")
def cluster_slots(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    out = []
    start = 0
    # one entry per run of consecutive slots with the same owner, in slot order
    for s in range(1, SLOTS + 1):
        owner = view.owners[start]
        if s < SLOTS and view.owners[s] is owner:
            continue
        if owner is not None:
            entry = [start, s - 1, _node_reply(cluster, owner)]
            for r in view.replicas_of(owner):
                if not r.failed:
                    entry.append(_node_reply(cluster, r))
            out.append(entry)
        start = s
    return out


def _shard_node(c, cluster, node: NodeRecord) -> MapReply:
    fields = [(b"id", node.id.encode()), (b"port", node.port), (b"ip", node.ip.encode()),
              (b"endpoint", _endpoint_for_shards(cluster, node).encode())]
    if node.hostname:
        fields.append((b"hostname", node.hostname.encode()))
    fields += [(b"role", b"replica" if node.is_replica else b"master"),
               (b"replication-offset", _repl_offset(c, node)), (b"health", _health(node))]
    return MapReply(fields)


@command("cluster|shards")
def cluster_shards(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    out = []
    for node in view.nodes.values():
        if not node.is_primary or node.in_handshake:
            continue
        members = [node] + view.replicas_of(node)
        slots = [x for a, b in slot_ranges(view.slots_of(node)) for x in (a, b)]
        out.append(MapReply([(b"slots", slots),
                             (b"nodes", [_shard_node(c, cluster, n) for n in members])]))
    return out


# --------------------------------------------------------------------------------------------------- keys and slots


@command("cluster|keyslot")
def cluster_keyslot(c, argv):
    _cluster(c)
    return key_slot(argv[2])


@command("cluster|countkeysinslot")
def cluster_countkeysinslot(c, argv):
    _cluster(c)
    slot = parse_ll(argv[2])
    if slot < 0 or slot >= SLOTS:
        raise CommandError("ERR Invalid slot")
    return count_keys_in_slot(_db(c), slot)


@command("cluster|getkeysinslot")
def cluster_getkeysinslot(c, argv):
    _cluster(c)
    slot = parse_ll(argv[2])
    count = parse_ll(argv[3])
    if count < 0 or slot < 0 or slot >= SLOTS:
        raise CommandError("ERR Invalid slot or number of keys")
    return keys_in_slot(_db(c), slot, count)


def _check_assignment(view, marked: bytearray, delete: bool, slot: int) -> None:
    """checkSlotAssignmentsOrReply, for one slot."""
    if delete and view.owners[slot] is None:
        raise CommandError(f"ERR Slot {slot} is already unassigned")
    if not delete and view.owners[slot] is not None:
        raise CommandError(f"ERR Slot {slot} is already busy")
    if marked[slot]:
        raise CommandError(f"ERR Slot {slot} specified multiple times")
    marked[slot] = 1


def _update_slots(cluster, marked: bytearray, delete: bool) -> None:
    view = cluster.view
    me = view.myself
    for s in range(SLOTS):
        if not marked[s]:
            continue
        if delete:
            view.assign(s, None)
        else:
            view.assign(s, me)
            view.importing.pop(s, None)  # we are the real owner now (clusterAddSlot's caller)
    view.dirty = True
    changed(cluster)


def _slots_command(c, argv, delete: bool):
    cluster = _cluster(c)
    view = cluster.view
    marked = bytearray(SLOTS)
    for arg in argv[2:]:
        _check_assignment(view, marked, delete, _slot_arg(arg))
    _update_slots(cluster, marked, delete)
    return OK


def _slots_range_command(c, argv, delete: bool):
    cluster = _cluster(c)
    view = cluster.view
    if len(argv) % 2 == 1:
        raise arity_error(f"cluster|{_text(argv[1]).lower()}")
    marked = bytearray(SLOTS)
    for j in range(2, len(argv), 2):
        start = _slot_arg(argv[j])
        end = _slot_arg(argv[j + 1])
        if start > end:
            raise CommandError(f"ERR start slot number {start} is greater than end slot number {end}")
        for s in range(start, end + 1):
            _check_assignment(view, marked, delete, s)
    _update_slots(cluster, marked, delete)
    return OK


@command("cluster|addslots")
def cluster_addslots(c, argv):
    return _slots_command(c, argv, False)


@command("cluster|delslots")
def cluster_delslots(c, argv):
    return _slots_command(c, argv, True)


@command("cluster|addslotsrange")
def cluster_addslotsrange(c, argv):
    return _slots_range_command(c, argv, False)


@command("cluster|delslotsrange")
def cluster_delslotsrange(c, argv):
    return _slots_range_command(c, argv, True)


@command("cluster|flushslots")
def cluster_flushslots(c, argv):
    cluster = _cluster(c)
    if len(_db(c).data):
        raise CommandError("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.")
    view = cluster.view
    for s in range(SLOTS):
        if view.owners[s] is view.myself:
            view.assign(s, None)
    changed(cluster)
    return OK


# --------------------------------------------------------------------------------------------------- SETSLOT


@command("cluster|setslot")
def cluster_setslot(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    me = view.myself
    if me.is_replica:
        raise CommandError("ERR Please use SETSLOT only with masters.")
    slot = _slot_arg(argv[2])
    action = argv[3].lower()
    argc = len(argv)
    if action == b"migrating" and argc == 5:
        if view.owners[slot] is not me:
            raise CommandError(f"ERR I'm not the owner of hash slot {slot}")
        node = _lookup(cluster, argv[4])
        if node is None:
            raise CommandError(f"ERR I don't know about node {_text(argv[4])}")
        if node.is_replica:
            raise CommandError("ERR Target node is not a master")
        view.migrating[slot] = node.id
        view.dirty = True
    elif action == b"importing" and argc == 5:
        if view.owners[slot] is me:
            raise CommandError(f"ERR I'm already the owner of hash slot {slot}")
        node = _lookup(cluster, argv[4])
        if node is None:
            raise CommandError(f"ERR I don't know about node {_text(argv[4])}")
        if node.is_replica:
            raise CommandError("ERR Target node is not a master")
        view.importing[slot] = node.id
        view.dirty = True
    elif action == b"stable" and argc == 4:
        view.importing.pop(slot, None)
        view.migrating.pop(slot, None)
        view.dirty = True
    elif action == b"node" and argc == 5:
        _setslot_node(c, cluster, slot, argv[4])
    else:
        raise CommandError("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    changed(cluster)
    return OK


def _setslot_node(c, cluster, slot: int, node_id: bytes) -> None:
    view = cluster.view
    me = view.myself
    node = _lookup(cluster, node_id)
    if node is None:
        raise CommandError(f"ERR Unknown node {_text(node_id)}")
    if node.is_replica:
        raise CommandError("ERR Target node is not a master")
    db = _db(c)
    # the slot's keys must have left before it is handed to another node: they would become unreachable
    if view.owners[slot] is me and node is not me and count_keys_in_slot(db, slot):
        raise CommandError(f"ERR Can't assign hashslot {slot} to a different node while I still hold keys "
                           "for this hash slot.")
    # a migration whose keys have all moved ends when the slot is given away
    if slot in view.migrating and count_keys_in_slot(db, slot) == 0:
        del view.migrating[slot]
    view.assign(slot, node)
    view.dirty = True
    # Redis turns a primary left without slots into a replica of the new owner (cluster-allow-replica-migration);
    # that needs replication, which Shoal does not have yet: the node stays an empty primary.
    if node is me and slot in view.importing:
        # the slot was migrated by hand: take a new config epoch so that our claim wins everywhere, and say so
        # at once (clusterBumpConfigEpochWithoutConsensus + clusterBroadcastPong)
        if view.bump_epoch():
            log.warning("configEpoch updated after importing slot %d", slot)
        del view.importing[slot]
        cluster.save_config()  # the new epoch is on disk before anyone hears of it
        _broadcast_pong(cluster)


# --------------------------------------------------------------------------------------------------- membership


@command("cluster|meet")
def cluster_meet(c, argv):
    cluster = _cluster(c)
    if len(argv) not in (4, 5):
        raise _subcommand_syntax("MEET")
    port = string2ll(argv[3])
    if port is None:
        raise CommandError(f"ERR Invalid TCP base port specified: {_text(argv[3])}")
    if len(argv) == 5:
        cport = string2ll(argv[4])
        if cport is None:
            raise CommandError(f"ERR Invalid TCP bus port specified: {_text(argv[4])}")
    else:
        cport = port + 10000  # CLUSTER_PORT_INCR
    try:
        ip = str(ipaddress.ip_address(_text(argv[2])))  # normalized, as clusterStartHandshake does
    except ValueError:
        ip = None
    if ip is None or not (0 < port <= 65535) or not (0 < cport <= 65535):
        raise CommandError(f"ERR Invalid node address specified: {_text(argv[2])}:{_text(argv[3])}")
    if cluster.bus is not None:
        cluster.bus.meet(ip, port, cport)
    return OK


@command("cluster|forget")
def cluster_forget(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    node = _lookup(cluster, argv[2])
    if node is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    if node is view.myself:
        raise CommandError("ERR I tried hard but I can't forget myself...")
    if view.myself.is_replica and view.myself.primary_id == node.id:
        raise CommandError("ERR Can't forget my master!")
    if cluster.bus is not None:
        cluster.bus.forget(node.id)  # the bus blacklists it (so gossip does not re-add it) and drops its link
    if view.node(node.id) is not None:
        view.remove(node)
    changed(cluster)
    return OK


@command("cluster|reset")
def cluster_reset(c, argv):
    cluster = _cluster(c)
    hard = False
    if len(argv) == 3:
        opt = argv[2].lower()
        if opt == b"hard":
            hard = True
        elif opt != b"soft":
            raise CommandError("ERR syntax error")
    elif len(argv) > 3:
        raise _subcommand_syntax("RESET")
    view = cluster.view
    me = view.myself
    if me.is_primary and len(_db(c).data):
        raise CommandError("ERR CLUSTER RESET can't be called with master nodes containing keys")
    reset(cluster, hard)
    return OK


def reset(cluster, hard: bool) -> None:
    """clusterReset: close every migration, unassign every slot, forget every other node; HARD also zeroes the
    epochs and takes a new node id. (A replica would turn primary and drop its data: no replication yet.)"""
    view = cluster.view
    me = view.myself
    view.migrating.clear()
    view.importing.clear()
    for s in range(SLOTS):
        view.assign(s, None)
    for node in [n for n in view.nodes.values() if n is not me]:
        view.remove(node)
    if hard:
        view.current_epoch = 0
        view.last_vote_epoch = 0
        me.config_epoch = 0
        log.warning("configEpoch set to 0 via CLUSTER RESET HARD")
        view.rename(me, random_node_id())
        log.info("Node hard reset, now I'm %.40s", me.id)
    view.dirty = True
    changed(cluster)


# --------------------------------------------------------------------------------------------------- epochs, config


@command("cluster|saveconfig")
def cluster_saveconfig(c, argv):
    cluster = _cluster(c)
    try:
        cluster.save_config(force=True)
    except OSError as e:
        raise CommandError(f"ERR error saving the cluster node config: {e.strerror or e}") from None
    return OK


@command("cluster|set-config-epoch")
def cluster_set_config_epoch(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    epoch = parse_ll(argv[2])
    if epoch < 0:
        raise CommandError(f"ERR Invalid config epoch specified: {epoch}")
    if len(view.nodes) > 1:
        raise CommandError("ERR The user can assign a config epoch only when the node does not know any other "
                           "node.")
    if view.myself.config_epoch != 0:
        raise CommandError("ERR Node config epoch is already non-zero")
    view.myself.config_epoch = epoch
    log.warning("configEpoch set to %d via CLUSTER SET-CONFIG-EPOCH", epoch)
    if view.current_epoch < epoch:
        view.current_epoch = epoch
    view.dirty = True
    changed(cluster)
    return OK


@command("cluster|bumpepoch")
def cluster_bumpepoch(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    bumped = view.bump_epoch()
    if bumped:
        changed(cluster, update_state=False)
        _broadcast_pong(cluster)  # not in Redis 7.0, which lets the next ping carry it; harmless and faster
    return Simple(f"{'BUMPED' if bumped else 'STILL'} {view.myself.config_epoch}")


@command("cluster|count-failure-reports")
def cluster_count_failure_reports(c, argv):
    cluster = _cluster(c)
    node = _lookup(cluster, argv[2])
    if node is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    # stale reports are dropped first, as clusterNodeFailureReportsCount does
    return failure.count_reports(node, int(time.time() * 1000), cluster.config["cluster-node-timeout"])


def _replicas(c, argv):
    cluster = _cluster(c)
    view = cluster.view
    node = _lookup(cluster, argv[2])
    if node is None:
        raise CommandError(f"ERR Unknown node {_text(argv[2])}")
    if node.is_replica:
        raise CommandError("ERR The specified node is not a master")
    return [view.node_line(r).encode() for r in view.replicas_of(node)]


@command("cluster|replicas")
def cluster_replicas(c, argv):
    return _replicas(c, argv)


@command("cluster|slaves")
def cluster_slaves(c, argv):
    return _replicas(c, argv)


@command("cluster|links")
def cluster_links(c, argv):
    cluster = _cluster(c)
    if cluster.bus is None:
        return []
    out = []
    for link in cluster.bus.links():
        items = link.items() if isinstance(link, dict) else link
        out.append(MapReply([(k.encode() if isinstance(k, str) else k,
                              v.encode() if isinstance(v, str) else v) for k, v in items]))
    return out
