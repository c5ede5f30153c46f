"""cluster/routing.py through the real dispatcher, without sockets: a NodeState in cluster mode with a hand-built
ClusterView of two nodes, like the two-node redis-server 7.0.15 cluster the expected bytes come from:

    A = 127.0.0.1:7101 (us) serving 0-8000, B = 127.0.0.1:7102 serving 8001-16383
    redis-cli -p 7101 cluster meet 127.0.0.1 7102; cluster addslotsrange 0 8000 / 8001 16383 on each
    slot 5061 ("bar", "{bar}2"): B> CLUSTER SETSLOT 5061 IMPORTING <A>; A> CLUSTER SETSLOT 5061 MIGRATING <B>
    slot 100 ("k2136"): A> CLUSTER DELSLOTS 100 (cluster_state:fail)

Every `expected` below is what those redis-servers answered, byte for byte (checked by hand on the box).
Slots used: foo 12182 (B), bar 5061 (A), hello 866 (A), a 15495 (B), k2136 100.
"""
from __future__ import annotations

import pytest

from shoal.cluster import routing_cmds  # noqa: F401  (registers ASKING/READONLY/READWRITE)
from shoal.cluster.cluster import Cluster
from shoal.cluster.routing import DOWN_STATE, Router, command_keys, install_router, update_cluster_state
from shoal.gossip.view import FAIL, PFAIL, REPLICA, PRIMARY, ClusterView, NodeRecord
from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.keyspace import enable_slot_index
from shoal.node.slots import key_slot
from shoal.node.state import NodeState

A_ID = "a" * 40
B_ID = "b" * 40


class ClusterNode:
    """Node A of the two-node cluster; `n.raw("GET", "foo")` is the reply bytes, as a socket would carry them."""

    def __init__(self, **config):
        self.state = NodeState()
        self.state.config.set("cluster-enabled", "yes", startup=True)
        for k, v in config.items():
            self.state.config.set(k.replace("_", "-"), v)
        me = NodeRecord(id=A_ID, ip="127.0.0.1", port=7101, cport=17101)
        self.view = ClusterView(me)
        self.b = self.view.add(NodeRecord(id=B_ID, ip="127.0.0.1", port=7102, cport=17102, flags={PRIMARY}))
        for s in range(16384):
            self.view.assign(s, me if s <= 8000 else self.b)
        self.cluster = Cluster(self.state, self.view)
        self.state.cluster = self.cluster
        enable_slot_index(self.state.keyspace[0])
        self.router = install_router(self.state, self.cluster)
        self.update()
        self.client = self.new_client()

    def update(self) -> bool:
        return update_cluster_state(self.view, self.state.config)

    def new_client(self) -> Client:
        return Client(self.state)

    def raw(self, *args, client=None) -> bytes:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return dispatch.execute(client or self.client, argv)

    def run(self, *commands, client=None) -> list[bytes]:
        return [self.raw(*c.split(), client=client) for c in commands]


def catalog_command(name: str):
    """The registered command, or (for commands other issues will bring: MIGRATE, RESTORE-ASKING, EVAL) one built
    from Redis's catalog in a throwaway table, so routing sees exactly the metadata it will have."""
    from shoal.node.commands.registry import TABLE, CommandTable, command
    cmd = TABLE.lookup(name.encode())
    if cmd is None:
        fn = command(name, table=CommandTable())(lambda c, argv: None)
        cmd = fn.command
    return cmd


def route(node, *args, client=None):
    """The router's verdict alone (None: served here), for commands not registered yet."""
    argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return node.state.router(client or node.client, catalog_command(argv[0].decode().lower()), argv)


@pytest.fixture
def node():
    return ClusterNode()


def test_slots_of_the_keys_used_here():
    assert [key_slot(k) for k in (b"foo", b"bar", b"hello", b"a", b"k2136", b"{bar}x")] == \
        [12182, 5061, 866, 15495, 100, 5061]


def test_moved_and_served(node):
    assert node.raw("GET", "foo") == b"-MOVED 12182 127.0.0.1:7102\r\n"
    assert node.raw("GET", "bar") == b"$-1\r\n"
    assert node.raw("SET", "bar", "1") == b"+OK\r\n"
    assert node.raw("MGET", "{a}x", "{a}y") == b"-MOVED 15495 127.0.0.1:7102\r\n"
    assert node.raw("PING") == b"+PONG\r\n"
    assert node.raw("PUBLISH", "foo", "x") == b":0\r\n"  # plain pub/sub is not routed


def test_moved_uses_the_preferred_endpoint(node):
    node.b.hostname = "b.example"
    node.state.config.set("cluster-preferred-endpoint-type", "hostname")
    assert node.raw("GET", "foo") == b"-MOVED 12182 b.example:7102\r\n"
    node.b.hostname = ""
    assert node.raw("GET", "foo") == b"-MOVED 12182 ?:7102\r\n"
    node.state.config.set("cluster-preferred-endpoint-type", "unknown-endpoint")
    assert node.raw("GET", "foo") == b"-MOVED 12182 :7102\r\n"  # the client reuses the host it connected to


def test_crossslot(node):
    assert node.raw("MGET", "bar", "foo") == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    assert node.raw("MSET", "bar", "1", "hello", "2") == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    assert node.raw("MGET", "{bar}1", "{bar}2", "bar") == b"*3\r\n$-1\r\n$-1\r\n$-1\r\n"
    # movable keys through the key specs: ZUNIONSTORE dest numkeys k...
    assert node.raw("ZUNIONSTORE", "bar", "2", "bar", "hello") == \
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    assert node.raw("ZUNIONSTORE", "{bar}d", "2", "bar", "{bar}z") == b":0\r\n"


def test_keyless_and_eval_keys(node):
    assert node.raw("DBSIZE") == b":0\r\n"
    # EVAL/FCALL route by their declared keys (scripting checks what the script touches)
    assert route(node, "EVAL", "return 1", "1", "foo") == "MOVED 12182 127.0.0.1:7102"
    assert route(node, "EVAL", "return 1", "2", "bar", "foo") == "CROSSSLOT Keys in request don't hash to the same slot"
    assert route(node, "EVAL", "return 1", "0") is None
    assert route(node, "FCALL", "f", "1", "foo") == "MOVED 12182 127.0.0.1:7102"


def test_sharded_pubsub_routes_by_channel(node):
    assert node.raw("SPUBLISH", "foo", "x") == b"-MOVED 12182 127.0.0.1:7102\r\n"
    assert node.raw("SPUBLISH", "bar", "x") == b":0\r\n"
    assert node.raw("SSUBSCRIBE", "foo") == b"-MOVED 12182 127.0.0.1:7102\r\n"
    assert node.raw("SSUBSCRIBE", "bar", "foo") == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    assert node.raw("SSUBSCRIBE", "bar").startswith(b"*3\r\n$10\r\nssubscribe\r\n")


def test_select_refused_in_cluster_mode(node):
    assert node.run("SELECT 1", "SELECT 0", "SELECT -1", "SELECT abc", "SELECT 99999999999") == [
        b"-ERR SELECT is not allowed in cluster mode\r\n", b"+OK\r\n",
        b"-ERR SELECT is not allowed in cluster mode\r\n", b"-ERR value is not an integer or out of range\r\n",
        b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"]


# ------------------------------------------------------------------------------------------- MULTI / EXEC

def test_multi_queued_command_redirected_aborts_exec(node):
    assert node.run("MULTI", "SET bar 1", "SET {bar}2 1", "GET foo", "EXEC") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"-MOVED 12182 127.0.0.1:7102\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"]
    assert node.raw("GET", "bar") == b"$-1\r\n"


def test_multi_keys_across_slots_fail_at_exec(node):
    # each command alone is ours; together they span two slots: EXEC answers CROSSSLOT, not EXECABORT,
    # and the transaction is gone
    assert node.run("WATCH bar", "MULTI", "SET bar 1", "SET hello 1", "EXEC", "EXEC", "GET bar") == [
        b"+OK\r\n", b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n",
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n", b"-ERR EXEC without MULTI\r\n", b"$-1\r\n"]
    assert node.client.watched == []
    assert node.run("MULTI", "SET bar 1", "SPUBLISH hello x", "EXEC") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"]


def test_exec_moved_when_slot_moved_after_queueing(node):
    assert node.run("MULTI", "SET bar 1") == [b"+OK\r\n", b"+QUEUED\r\n"]
    node.view.assign(5061, node.b)
    assert node.raw("EXEC") == b"-MOVED 5061 127.0.0.1:7102\r\n"
    assert not node.client.in_multi
    assert node.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"


def test_multi_keyless_and_select(node):
    assert node.run("MULTI", "PING", "EXEC") == [b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n+PONG\r\n"]
    assert node.run("MULTI", "SELECT 1", "EXEC") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n-ERR SELECT is not allowed in cluster mode\r\n"]
    assert node.run("EXEC", "DISCARD") == [b"-ERR EXEC without MULTI\r\n", b"-ERR DISCARD without MULTI\r\n"]


# ------------------------------------------------------------------------------------------- migration

def migrating(node):
    """A migrates slot 5061 to B; A holds bar and {bar}2."""
    node.raw("SET", "bar", "1")
    node.raw("SET", "{bar}2", "1")
    node.view.migrating[5061] = B_ID
    return node


def test_ask_while_migrating(node):
    migrating(node)
    assert node.run("GET bar", "GET {bar}x", "MGET bar {bar}2", "MGET bar {bar}x", "MGET {bar}y {bar}x",
                    "SET {bar}x 1", "DEL {bar}x", "EXISTS {bar}z", "SPUBLISH bar x", "SPUBLISH {bar}q x") == [
        b"$1\r\n1\r\n", b"-ASK 5061 127.0.0.1:7102\r\n", b"*2\r\n$1\r\n1\r\n$1\r\n1\r\n",
        b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", b"-ASK 5061 127.0.0.1:7102\r\n",
        b"-ASK 5061 127.0.0.1:7102\r\n", b"-ASK 5061 127.0.0.1:7102\r\n", b"-ASK 5061 127.0.0.1:7102\r\n",
        b":0\r\n", b":0\r\n"]
    # other slots are unaffected
    assert node.raw("GET", "hello") == b"$-1\r\n"


def test_ask_counts_an_expired_key_as_missing(node):
    migrating(node)
    node.state.keyspace[0].set_expire(b"bar", 1)
    assert node.raw("GET", "bar") == b"-ASK 5061 127.0.0.1:7102\r\n"


def test_migrate_is_served_while_the_slot_is_open(node):
    migrating(node)
    assert route(node, "MIGRATE", "127.0.0.1", "1", "{bar}x", "0", "10") is None
    assert route(node, "MIGRATE", "127.0.0.1", "1", "", "0", "10", "KEYS", "{bar}x", "bar") is None
    del node.view.migrating[5061]
    assert route(node, "MIGRATE", "127.0.0.1", "1", "foo", "0", "10") == "MOVED 12182 127.0.0.1:7102"


def test_migration_transaction(node):
    migrating(node)
    assert node.run("MULTI", "GET bar", "GET {bar}x", "EXEC") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"-ASK 5061 127.0.0.1:7102\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"]


def importing(node):
    """Slot 8001 is B's; we (A) import it from B. Nothing of it is here yet but `{imp}here`."""
    slot = 8001
    node.view.importing[slot] = B_ID
    return slot


def test_asking_on_the_importing_node(node):
    # keys of slot 8001 = key_slot(b"{...}") values: find two keys of that slot
    keys = [k for k in (b"k%d" % i for i in range(200000)) if key_slot(k) == 8001][:2]
    k1, k2 = (k.decode() for k in keys)
    importing(node)
    node.state.keyspace[0].set(keys[1], b"v")
    assert node.run(f"GET {k1}", "ASKING", f"GET {k1}", f"GET {k1}", "ASKING", f"MGET {k1} {k2}", "ASKING",
                    f"SET {k1} 2", "ASKING", f"MGET {k1} {k1}", "ASKING", "PING", f"GET {k1}",
                    f"SPUBLISH {k1} x", "ASKING", f"SPUBLISH {k1} x") == [
        b"-MOVED 8001 127.0.0.1:7102\r\n", b"+OK\r\n", b"$-1\r\n", b"-MOVED 8001 127.0.0.1:7102\r\n",
        b"+OK\r\n", b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", b"+OK\r\n", b"+OK\r\n",
        b"+OK\r\n", b"*2\r\n$1\r\n2\r\n$1\r\n2\r\n", b"+OK\r\n", b"+PONG\r\n",
        b"-MOVED 8001 127.0.0.1:7102\r\n", b"-MOVED 8001 127.0.0.1:7102\r\n", b"+OK\r\n", b":0\r\n"]
    # both keys present now: a multi-key ASKING request is served
    assert node.run("ASKING", f"MGET {k1} {k2}") == [b"+OK\r\n", b"*2\r\n$1\r\n2\r\n$1\r\nv\r\n"]


def test_asking_lasts_through_a_transaction(node):
    keys = [k.decode() for k in (b"k%d" % i for i in range(200000)) if key_slot(k) == 8001][:1]
    k1 = keys[0]
    importing(node)
    node.raw("ASKING")
    node.raw("SET", k1, "2")
    assert node.run("ASKING", "MULTI", f"GET {k1}", f"SET {k1} 3", "EXEC", f"GET {k1}") == [
        b"+OK\r\n", b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"*2\r\n$1\r\n2\r\n+OK\r\n",
        b"-MOVED 8001 127.0.0.1:7102\r\n"]
    # ASKING queued inside MULTI does not help the commands queued after it
    assert node.run("MULTI", "ASKING", f"GET {k1}", "EXEC") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"-MOVED 8001 127.0.0.1:7102\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"]
    # ... and leaves no flag behind for the command after the EXEC
    assert node.run("MULTI", "ASKING", "EXEC", f"GET {k1}") == [
        b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n+OK\r\n", b"-MOVED 8001 127.0.0.1:7102\r\n"]


def test_restore_asking_needs_no_asking(node):
    k1 = next(k for k in (b"k%d" % i for i in range(200000)) if key_slot(k) == 8001)
    importing(node)
    assert route(node, "RESTORE", k1, "0", "x") == "MOVED 8001 127.0.0.1:7102"
    assert route(node, "RESTORE-ASKING", k1, "0", "x") is None


# ------------------------------------------------------------------------------------------- cluster down

def test_unassigned_slot_and_cluster_down(node):
    node.view.assign(100, None)
    assert node.update() is False
    assert node.run("GET k2136", "GET bar", "SET bar 1", "PING", "SPUBLISH bar x", "GET foo") == [
        b"-CLUSTERDOWN Hash slot not served\r\n", b"-CLUSTERDOWN The cluster is down\r\n",
        b"-CLUSTERDOWN The cluster is down\r\n", b"+PONG\r\n", b":0\r\n", b"-CLUSTERDOWN The cluster is down\r\n"]
    assert node.run("MULTI", "GET k2136", "EXEC") == [
        b"+OK\r\n", b"-CLUSTERDOWN Hash slot not served\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"]
    node.state.config.set("cluster-allow-reads-when-down", "yes")
    assert node.run("GET bar", "SET bar 1", "GET foo", "MULTI", "GET bar", "EXEC", "MULTI", "SET bar 1",
                    "EXEC") == [
        b"$-1\r\n", b"-CLUSTERDOWN The cluster is down and only accepts read commands\r\n",
        b"-MOVED 12182 127.0.0.1:7102\r\n", b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n$-1\r\n", b"+OK\r\n",
        b"-CLUSTERDOWN The cluster is down and only accepts read commands\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"]
    node.state.config.set("cluster-allow-pubsubshard-when-down", "no")
    assert node.run("SPUBLISH bar x", "SSUBSCRIBE bar") == [
        b"-CLUSTERDOWN The cluster is down\r\n", b"-CLUSTERDOWN The cluster is down\r\n"]


def test_exec_of_writes_refused_when_the_cluster_went_down_after_queueing(node):
    node.state.config.set("cluster-allow-reads-when-down", "yes")
    assert node.run("MULTI", "SET bar 1", "GET bar") == [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n"]
    node.view.state_ok = False
    assert node.raw("EXEC") == b"-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"


def test_cluster_state_rules():
    n = ClusterNode()
    config = n.state.config
    assert n.update() is True and n.view.state_ok
    n.b.flags.add(PFAIL)  # one of two serving primaries unreachable: no majority
    assert n.update() is False
    n.b.flags.discard(PFAIL)
    n.b.flags.add(FAIL)
    assert n.update() is False
    config.set("cluster-require-full-coverage", "no")
    assert n.update() is False  # still a minority: 1 of 2 reachable
    n.b.flags.discard(FAIL)
    n.view.assign(100, None)
    assert n.update() is True  # an unowned slot is fine without full coverage
    assert n.raw("GET", "k2136") == b"-CLUSTERDOWN Hash slot not served\r\n"
    assert n.raw("GET", "bar") == b"$-1\r\n"
    config.set("cluster-require-full-coverage", "yes")
    assert n.update() is False
    # a fresh node serving nothing is down (cluster_size 0 needs a quorum of 1)
    lone = ClusterView(NodeRecord(id="c" * 40))
    assert update_cluster_state(lone, config) is False
    config.set("cluster-require-full-coverage", "no")
    assert update_cluster_state(lone, config) is False


def test_down_text_constant():
    assert DOWN_STATE == "CLUSTERDOWN The cluster is down"


# ------------------------------------------------------------------------------------------- replicas, READONLY

def test_readonly_replica_reads(node):
    # make A a replica of B: reads of B's slots are served to READONLY clients, writes are MOVED
    me = node.view.myself
    me.flags.discard(PRIMARY)
    me.flags.add(REPLICA)
    me.primary_id = B_ID
    for s in range(16384):
        node.view.assign(s, node.b)
    assert node.update() is True
    assert node.raw("GET", "bar") == b"-MOVED 5061 127.0.0.1:7102\r\n"
    assert node.run("READONLY", "GET bar", "SET bar 1", "READWRITE", "GET bar") == [
        b"+OK\r\n", b"$-1\r\n", b"-MOVED 5061 127.0.0.1:7102\r\n", b"+OK\r\n", b"-MOVED 5061 127.0.0.1:7102\r\n"]
    # sharded pub/sub is served by a replica of the shard without READONLY
    assert node.raw("SPUBLISH", "bar", "x") == b":0\r\n"
    # transactions: reads only are served, a write in the queue redirects the EXEC
    node.raw("READONLY")
    assert node.run("MULTI", "GET bar", "EXEC") == [b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n$-1\r\n"]


def test_master_link_is_never_redirected(node):
    c = node.new_client()
    c.is_master_link = True
    assert node.raw("SET", "foo", "1", client=c) == b"+OK\r\n"


def test_asking_readonly_readwrite_commands(node):
    c = node.client
    assert node.raw("ASKING") == b"+OK\r\n" and c.asking
    assert node.raw("PING") == b"+PONG\r\n" and not c.asking
    assert node.raw("READONLY") == b"+OK\r\n" and c.readonly
    assert node.raw("CLIENT", "INFO").count(b" flags=r ") == 1
    assert node.raw("READWRITE") == b"+OK\r\n" and not c.readonly
    assert node.raw("ASKING", "x") == b"-ERR wrong number of arguments for 'asking' command\r\n"
    node.run("READONLY", "ASKING")
    assert node.raw("RESET") == b"+RESET\r\n" and not c.readonly and not c.asking


def test_asking_readonly_readwrite_without_cluster_support():
    state = NodeState()
    c = Client(state)
    for name in (b"ASKING", b"READONLY", b"READWRITE"):
        assert dispatch.execute(c, [name]) == b"-ERR This instance has cluster support disabled\r\n"
    assert dispatch.execute(c, [b"READONLY", b"x"]) == b"-ERR wrong number of arguments for 'readonly' command\r\n"


# ------------------------------------------------------------------------------------------- keys

def test_first_arg_fast_path_agrees_with_the_key_specs():
    """The router's short path takes argv[1] as the only key of every command whose legacy key range is (1, 1)
    and that has no movable keys; the key specs must agree, for every command of Redis's catalog (registered
    or still to come)."""
    from shoal.cluster.routing import _FIRST_ARG, _key_kind
    from shoal.node.commands.registry import TABLE, CommandTable, command, get_keys
    checked = 0
    for name, meta in TABLE.catalog.items():
        if name.startswith("__") or not isinstance(meta, dict):
            continue
        parent = name.split("|", 1)[0]
        if "|" in name:
            cmd = command(name, table=CommandTable())(lambda c, argv: None).command
        else:
            cmd = TABLE.commands.get(name) or catalog_command(name)
        if _key_kind(cmd) != _FIRST_ARG or cmd.name == "spublish":
            continue
        words = [w.encode() for w in name.split("|")]
        n = max(abs(cmd.arity), len(words) + 1)
        argv = words + [b"arg%d" % i for i in range(len(words), n)]
        assert get_keys(cmd, argv) == [1], (name, parent)
        checked += 1
    assert checked > 100


def test_command_keys():
    t = lambda name: catalog_command(name.decode())  # noqa: E731
    assert command_keys(t(b"ssubscribe"), [b"SSUBSCRIBE", b"a", b"b"]) == [b"a", b"b"]
    assert command_keys(t(b"spublish"), [b"SPUBLISH", b"a", b"msg"]) == [b"a"]
    assert command_keys(t(b"sunsubscribe"), [b"SUNSUBSCRIBE"]) == []
    assert command_keys(t(b"mset"), [b"MSET", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    assert command_keys(t(b"eval"), [b"EVAL", b"s", b"0"]) == []
    assert command_keys(t(b"eval"), [b"EVAL", b"s", b"2", b"x", b"y", b"arg"]) == [b"x", b"y"]


def test_router_object_is_installed(node):
    assert isinstance(node.state.router.__self__, Router) and node.state.router.__self__ is node.router
