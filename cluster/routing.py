"""Routing: may this node serve a command, and if not, where should the client go? Redis's getNodeByQuery.

The dispatcher calls `state.router(client, cmd, argv)` for every command once `install_router` has set it (after
AUTH, before MULTI queueing, as Redis's processCommand does). It answers None to serve the command here, or the
error text the client gets instead:

    MOVED <slot> <host>:<port>      the slot belongs to another node (clients update their slot map)
    ASK <slot> <host>:<port>        we are MIGRATING the slot and the key is not here (any more): ask the target,
                                    once, prefixed by ASKING (clients do not update their map)
    TRYAGAIN Multiple keys ...      a multi-key command whose keys are split between source and target mid-migration
    CROSSSLOT Keys in request ...   the keys are in different slots (within one command, or across a MULTI's queue)
    CLUSTERDOWN Hash slot not served / The cluster is down [and only accepts read commands]

The rules, in Redis 7.0's order (each checked against a real two-node redis-server 7.0.15 cluster: MEET,
ADDSLOTSRANGE 0-8000 / 8001-16383, SETSLOT MIGRATING/IMPORTING for slot 5061, DELSLOTS for CLUSTERDOWN; the texts
in tests/unit/test_routing.py are the bytes it answered):
  1. keys come from the command table (node/commands/registry.get_keys: the key specs and Redis's own key
     finders); sharded pub/sub (SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE) routes by its channels, which Redis 7.0
     describes as "not_key" specs; EXEC checks every queued command's keys together; a command without keys is
     served anywhere;
  2. the first key's slot must have an owner (else "Hash slot not served"); every other distinct key must be in
     the same slot (else CROSSSLOT), checked in order, so an unowned first slot wins over a cross-slot request;
  3. while the slot is MIGRATING from us or IMPORTING to us, count which keys exist in db 0 (sharded pub/sub does
     not: channels stay with the source until the slot moves);
  4. cluster state fail: refused ("The cluster is down") unless cluster-allow-reads-when-down and the command
     does not write ("... and only accepts read commands" if it does); sharded pub/sub follows
     cluster-allow-pubsubshard-when-down instead;
  5. MIGRATE is served while the slot is open (it is how keys move);
  6. MIGRATING and a key missing: ASK the target, or TRYAGAIN when some of the keys are still here;
  7. IMPORTING and the client sent ASKING (or the command has the `asking` flag, RESTORE-ASKING): served, unless
     several distinct keys and some missing (TRYAGAIN);
  8. a READONLY client (or sharded pub/sub) on a replica of the slot's owner may read;
  9. MOVED to the owner when it is not us.

ASKING is good for one command: it is cleared after any command but ASKING itself, except while a MULTI is open
(the queue runs at EXEC with the flag it had), as Redis's resetClient does. READONLY lasts until READWRITE.

Cost: every command pays the router call (dispatch.execute calls it directly, not through _gate). Commands whose
only key is argv[1] (GET, SET, INCR, HSET, ...) take a short path: one slot computation and four comparisons when
we own the slot, nothing is migrating and the cluster is up; everything else goes through `_check`, which is
general but not hot. Measured in-process (dispatch.execute of GET/SET, Python 3.11): ~200 ns per command on top
of ~550 ns; redis-benchmark -P 16 against one node owning every slot: see the issue's closing note.
"""
from __future__ import annotations

from binascii import crc_hqx

from shoal.node.commands.registry import MOVABLE_KEYS, WRITE, Command, get_keys
from shoal.node.slots import key_slot

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
TRYAGAIN = "TRYAGAIN Multiple keys request during rehashing of slot"
DOWN_UNBOUND = "CLUSTERDOWN Hash slot not served"
DOWN_STATE = "CLUSTERDOWN The cluster is down"
DOWN_RO_STATE = "CLUSTERDOWN The cluster is down and only accepts read commands"

SHARD_PUBSUB = frozenset({"spublish", "ssubscribe", "sunsubscribe"})

# how a command's keys are found (cached per Command object by the router)
_NO_KEYS, _FIRST_ARG, _RANGE, _SPECS, _EXEC = range(5)
# commands after which an ASKING flag survives: ASKING itself, and MULTI (the flag then lasts until EXEC)
_KEEP_ASKING = frozenset({"asking", "multi"})
_END_MULTI = frozenset({"exec", "discard", "reset"})


def update_cluster_state(view, config) -> bool:
    """Redis's clusterUpdateState without its rejoin delay: the cluster is ok when every slot has an owner not
    flagged FAIL (or cluster-require-full-coverage is no), and a majority of the primaries that serve slots are
    reachable (neither FAIL nor PFAIL), so a node in a minority partition stops taking writes. Sets and returns
    `view.state_ok`; CLUSTER INFO, the bus and the router all read that one flag."""
    owners = set(view.owners)  # one C-level pass over the 16384 slots: this runs on every view change
    ok = True
    if config["cluster-require-full-coverage"]:
        ok = None not in owners and not any(o.failed for o in owners if o is not None)
    if ok:
        serving = [n for n in owners if n is not None and n.is_primary]
        reachable = sum(1 for n in serving if not (n.failed or n.timed_out))
        if reachable < len(serving) // 2 + 1:
            ok = False
    view.state_ok = ok
    return ok


def install_router(state, cluster) -> "Router":
    """Plug routing into the node (`state.router`), for the composition root."""
    router = Router(state, cluster)
    # the bound method, not the object: calling an instance goes through its type's __call__ slot, which cost
    # ~50 ns more per command (the object stays reachable as state.router.__self__)
    state.router = router.__call__
    return router


def command_keys(cmd: Command, argv: list[bytes]) -> list[bytes]:
    """The keys (for sharded pub/sub: the channels) routing looks at for one call."""
    if cmd.name in SHARD_PUBSUB:
        return argv[1:2] if cmd.name == "spublish" else argv[1:]
    return [argv[i] for i in get_keys(cmd, argv)]


def _key_kind(cmd: Command) -> int:
    if cmd.name == "exec":
        return _EXEC
    if cmd.name in SHARD_PUBSUB:
        return _SPECS
    if cmd.bits & MOVABLE_KEYS:
        return _SPECS
    if cmd.first_key <= 0:
        # no legacy range: keys only if the specs (or a key finder of Redis's) say so
        return _SPECS if cmd.key_specs else _NO_KEYS
    if cmd.first_key == 1 and cmd.last_key == 1:
        return _FIRST_ARG
    return _SPECS


class Router:
    """`state.router`: see the module docstring. Holds no routing state of its own; the view (owners, migrating,
    importing, state_ok) is read on every call, so view changes take effect on the next command."""

    def __init__(self, state, cluster) -> None:
        self.state = state
        self.cluster = cluster
        self.config = state.config
        self._kinds: dict[Command, int] = {}

    def __call__(self, client, cmd: Command, argv: list[bytes], _crc=crc_hqx, _first_arg=_FIRST_ARG,
                 _no_keys=_NO_KEYS) -> str | None:
        """None to serve the command here, else the error text that replaces it."""
        # (constants as default arguments: locals are the cheapest names on this path)
        if client.asking:
            return self._route_asking(client, cmd, argv)
        kind = self._kinds.get(cmd)
        if kind == _first_arg:
            # the hot path: one key, argv[1] (key_slot inlined)
            key = argv[1]
            if 123 in key:  # b"{": testing for the int is 4x cheaper than key.find, and most keys have no tag
                start = key.find(b"{")
                end = key.find(b"}", start + 1)
                if end > start + 1:
                    key = key[start + 1:end]
            view = self.cluster.view
            if view.owners[_crc(key, 0) & 0x3FFF] is view.myself and view.state_ok \
                    and not view.migrating and not view.importing:
                return None
            return self._check(client, cmd, ((cmd, argv),), False)
        if kind == _no_keys:
            return None
        return self._route(client, cmd, argv, False)

    def _route_asking(self, client, cmd: Command, argv: list[bytes]) -> str | None:
        # ASKING is good for this command only, unless a MULTI is open: then it lasts until the EXEC
        if cmd.name not in _KEEP_ASKING and (not client.in_multi or cmd.name in _END_MULTI):
            client.asking = False
        return self._route(client, cmd, argv, True)

    def _route(self, client, cmd: Command, argv: list[bytes], asking: bool) -> str | None:
        kind = self._kinds.get(cmd)
        if kind is None:
            kind = self._kinds[cmd] = _key_kind(cmd)
        if kind == _NO_KEYS:
            return None
        if kind == _EXEC:
            if not client.in_multi:
                return None  # EXEC without MULTI: its own error
            return self._check(client, cmd, client.multi_queue, asking)
        return self._check(client, cmd, ((cmd, argv),), asking)

    def _check(self, client, cmd: Command, calls, asking: bool) -> str | None:
        """getNodeByQuery over `calls` ((cmd, argv) pairs: one command, or a MULTI's queue at EXEC)."""
        if client.is_master_link:
            return None  # what our primary sends is applied, whatever we think of the slot (mustObeyClient)
        view = self.cluster.view
        myself = view.myself
        pubsubshard = cmd.name in SHARD_PUBSUB
        first = None
        slot = 0
        owner = None
        migrating = importing = multiple_keys = False
        missing = existing = 0
        db = None
        write = False
        for qcmd, qargv in calls:
            write = write or bool(qcmd.bits & WRITE)
            for key in command_keys(qcmd, qargv):
                this_slot = key_slot(key)
                if first is None:
                    first = key
                    slot = this_slot
                    owner = view.owners[slot]
                    if owner is None:
                        return DOWN_UNBOUND
                    if owner is myself and slot in view.migrating:
                        migrating = True
                    elif slot in view.importing:
                        importing = True
                elif key != first:
                    if this_slot != slot:
                        return CROSSSLOT
                    multiple_keys = True
                if (migrating or importing) and not pubsubshard:
                    if db is None:
                        db = self.state.keyspace[0]
                    if key in db.data and not db.is_expired(key):
                        existing += 1
                    else:
                        missing += 1
        if owner is None:
            return None  # no keys at all: served anywhere
        if not view.state_ok:
            config = self.config
            if pubsubshard:
                if not config["cluster-allow-pubsubshard-when-down"]:
                    return DOWN_STATE
            elif not config["cluster-allow-reads-when-down"]:
                return DOWN_STATE
            elif write:
                return DOWN_RO_STATE
        if (migrating or importing) and cmd.name == "migrate":
            return None
        if migrating and missing:
            if existing:
                return TRYAGAIN
            target = view.node(view.migrating[slot])
            if target is None:
                return TRYAGAIN  # the target was forgotten mid-migration: nothing better to offer than a retry
            return f"ASK {slot} {self.cluster.endpoint_text(target)}"
        if importing and (asking or "asking" in cmd.flags):
            if multiple_keys and missing:
                return TRYAGAIN
            return None
        if (client.readonly or pubsubshard) and not write and myself.is_replica and myself.primary_id == owner.id:
            return None
        if owner is not myself:
            return f"MOVED {slot} {self.cluster.endpoint_text(owner)}"
        return None
