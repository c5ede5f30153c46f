"""CLUSTER subcommands (cluster/commands.py) driven through node.dispatch.execute on an in-process NodeState whose
`cluster` is a real Cluster over a real ClusterView, with nodes.conf in a temp dir.

The expected bytes were recorded from Debian's redis-server 7.0.15 started with `--cluster-enabled yes` (node ids,
ports and times replaced by the ones of this test); each test says what it was checked against.
"""
from __future__ import annotations

import pytest

import shoal.cluster.commands  # noqa: F401  (registers CLUSTER)
import shoal.node.commands  # noqa: F401
from shoal.cluster.cluster import Cluster
from shoal.cluster.config_file import ConfigFile
from shoal.cluster.slots import key_slot
from shoal.gossip.view import FAIL, PFAIL, ClusterView, NodeRecord
from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.config import Config
from shoal.node.state import NodeState

ME = "a" * 40
OTHER = "b" * 40
REPLICA = "c" * 40


class RecordingBus:
    """Stands in for gossip/bus.py: records what CLUSTER asked of it; stats/links answer what the test set."""

    def __init__(self):
        self.calls = []
        self.config_changes = 0
        self.stats_value = {}
        self.links_value = []

    def meet(self, ip, port, cport):
        self.calls.append(("meet", ip, port, cport))

    def forget(self, node_id):
        self.calls.append(("forget", node_id))

    def broadcast_pong(self):
        self.calls.append(("broadcast_pong",))

    def config_changed(self):
        self.config_changes += 1  # counted apart: every view change asks for it, the calls list stays readable

    def stats(self):
        return self.stats_value

    def links(self):
        return self.links_value


class Node:
    def __init__(self, tmp_path, *, cluster_enabled=True, bus=True):
        config = Config()
        if cluster_enabled:
            config.load_args(["--cluster-enabled", "yes"])
        self.state = NodeState(config)
        self.path = str(tmp_path / "nodes.conf")
        if cluster_enabled:
            me = NodeRecord(id=ME, ip="127.0.0.1", port=30001, cport=40001)
            self.view = ClusterView(me)
            self.cluster = Cluster(self.state, self.view, ConfigFile(self.path))
            self.bus = RecordingBus() if bus else None
            self.cluster.bus = self.bus
            self.state.cluster = self.cluster
        self.client = Client(self.state)
        self.client_proto3 = Client(self.state)
        self.client_proto3.proto = 3

    def run(self, *args, proto=2):
        argv = [a.encode() if isinstance(a, str) else a for a in args]
        return dispatch.execute(self.client_proto3 if proto == 3 else self.client, argv)

    def add_other(self, node_id=OTHER, port=30002, **kw):
        return self.view.add(NodeRecord(id=node_id, ip="127.0.0.1", port=port, cport=port + 10000,
                                        flags=kw.pop("flags", {"master"}), **kw))

    def saved(self):
        with open(self.path) as f:
            return f.read()


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path)


def err(text: str) -> bytes:
    return b"-" + text.encode() + b"\r\n"


OK = b"+OK\r\n"


def bulk(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return b"$%d\r\n%s\r\n" % (len(b), b)


# ------------------------------------------------------------------------------------------ disabled, HELP


def test_cluster_mode_off_refuses_every_subcommand_help_included(tmp_path):
    # redis-server 7.0.15 without cluster-enabled: CLUSTER INFO/KEYSLOT/MYID/HELP/MEET all answer this
    n = Node(tmp_path, cluster_enabled=False)
    for args in (["INFO"], ["KEYSLOT", "a"], ["MYID"], ["HELP"], ["MEET", "1", "2", "3", "4"]):
        assert n.run("CLUSTER", *args) == err("ERR This instance has cluster support disabled")
    assert n.run("CLUSTER", "FOO") == err("ERR unknown subcommand 'FOO'. Try CLUSTER HELP.")
    assert n.run("CLUSTER", "HELP", "x") == err("ERR wrong number of arguments for 'cluster|help' command")


def test_help_is_redis_text(node):
    out = node.run("CLUSTER", "HELP")
    assert out.startswith(b"*56\r\n+CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
                          b"+ADDSLOTS <slot> [<slot> ...]\r\n")
    assert out.endswith(b"+HELP\r\n+    Prints this help.\r\n")
    assert node.run("CLUSTER", "FOO") == err("ERR unknown subcommand 'FOO'. Try CLUSTER HELP.")


# ------------------------------------------------------------------------------------------ INFO, MYID, NODES


def test_info_fresh_node(node):
    # 7.0.15, a node alone (after its first 2 s): the same 13 lines, RESP2 bulk / RESP3 verbatim txt
    text = ("cluster_state:fail\r\ncluster_slots_assigned:0\r\ncluster_slots_ok:0\r\ncluster_slots_pfail:0\r\n"
            "cluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:0\r\ncluster_current_epoch:0\r\n"
            "cluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
            "total_cluster_links_buffer_limit_exceeded:0\r\n")
    assert node.run("CLUSTER", "INFO") == bulk(text)
    assert node.run("CLUSTER", "INFO", proto=3) == b"=%d\r\ntxt:%s\r\n" % (len(text) + 4, text.encode())


def test_info_counts_slots_by_owner_health_and_bus_stats(node):
    other = node.add_other()
    third = node.add_other("d" * 40, 30003)
    for s in range(0, 10):
        node.view.assign(s, node.view.myself)
    for s in range(10, 15):
        node.view.assign(s, other)
    for s in range(15, 17):
        node.view.assign(s, third)
    other.flags.add(PFAIL)
    third.flags.add(FAIL)
    node.view.current_epoch = 7
    node.view.myself.config_epoch = 3
    node.bus.stats_value = {"sent": {"pong": 4, "ping": 3, "meet": 1},
                            "received": {"ping": 4, "pong": 4, "fail": 0}}
    out = node.run("CLUSTER", "INFO").split(b"\r\n", 1)[1].decode()
    # the stats lines as 7.0.15 printed them after a MEET: per type in message-type order, zeros left out
    assert out == ("cluster_state:fail\r\ncluster_slots_assigned:17\r\ncluster_slots_ok:10\r\n"
                   "cluster_slots_pfail:5\r\ncluster_slots_fail:2\r\ncluster_known_nodes:3\r\ncluster_size:3\r\n"
                   "cluster_current_epoch:7\r\ncluster_my_epoch:3\r\n"
                   "cluster_stats_messages_ping_sent:3\r\ncluster_stats_messages_pong_sent:4\r\n"
                   "cluster_stats_messages_meet_sent:1\r\ncluster_stats_messages_sent:8\r\n"
                   "cluster_stats_messages_ping_received:4\r\ncluster_stats_messages_pong_received:4\r\n"
                   "cluster_stats_messages_received:8\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n\r\n")


def test_myid_myshardid_nodes(node):
    assert node.run("CLUSTER", "MYID") == bulk(ME)
    assert node.run("CLUSTER", "MYSHARDID") == bulk(node.view.myself.shard_id)
    line = f"{ME} 127.0.0.1:30001@40001 myself,master - 0 0 0 connected\n"
    assert node.run("CLUSTER", "NODES") == bulk(line)
    assert node.run("CLUSTER", "NODES", proto=3) == b"=%d\r\ntxt:%s\r\n" % (len(line) + 4, line.encode())


# ------------------------------------------------------------------------------------------ KEYSLOT and keys


def test_keyslot_and_key_counts(node):
    assert node.run("CLUSTER", "KEYSLOT", "foo") == b":12182\r\n"  # 7.0.15
    assert node.run("CLUSTER", "KEYSLOT") == err("ERR wrong number of arguments for 'cluster|keyslot' command")
    for k in ("{a}1", "{a}2", "{a}3", "other"):
        node.state.keyspace[0].set(k.encode(), b"x")
    assert key_slot(b"{a}1") == 15495
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "15495") == b":3\r\n"
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "5") == b":0\r\n"
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "16384") == err("ERR Invalid slot")
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "-1") == err("ERR Invalid slot")
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "x") == err("ERR value is not an integer or out of range")
    # 7.0.15 lists the newest keys first: {a}3 {a}2 for a count of 2
    two = node.run("CLUSTER", "GETKEYSINSLOT", "15495", "2")
    assert two.startswith(b"*2\r\n")
    assert set(dispatch_list(node, "CLUSTER", "GETKEYSINSLOT", "15495", "10")) == {b"{a}1", b"{a}2", b"{a}3"}
    assert node.run("CLUSTER", "GETKEYSINSLOT", "15495", "0") == b"*0\r\n"
    for args in (("5", "-1"), ("16384", "1")):
        assert node.run("CLUSTER", "GETKEYSINSLOT", *args) == err("ERR Invalid slot or number of keys")
    for args in (("x", "1"), ("1", "x")):
        assert node.run("CLUSTER", "GETKEYSINSLOT", *args) == err("ERR value is not an integer or out of range")


def dispatch_list(node, *args):
    import hiredis
    reader = hiredis.Reader()
    reader.feed(node.run(*args))
    return reader.gets()


# ------------------------------------------------------------------------------------------ ADDSLOTS family


def test_addslots_delslots_and_their_errors(node):
    # every reply below is 7.0.15's for the same sequence
    assert node.run("CLUSTER", "ADDSLOTS", "0", "1", "2", "5000") == OK
    assert f"{ME} 127.0.0.1:30001@40001 myself,master - 0 0 0 connected 0-2 5000\n" in node.saved()
    assert node.run("CLUSTER", "ADDSLOTS", "0") == err("ERR Slot 0 is already busy")
    assert node.run("CLUSTER", "ADDSLOTS", "16384") == err("ERR Invalid or out of range slot")
    assert node.run("CLUSTER", "ADDSLOTS", "x") == err("ERR Invalid or out of range slot")
    assert node.run("CLUSTER", "ADDSLOTS", "7", "7") == err("ERR Slot 7 specified multiple times")
    assert node.run("CLUSTER", "ADDSLOTSRANGE", "10", "20", "15", "30") == err("ERR Slot 15 specified multiple times")
    assert node.run("CLUSTER", "ADDSLOTSRANGE", "10", "20", "30") == \
        err("ERR wrong number of arguments for 'cluster|addslotsrange' command")
    assert node.run("CLUSTER", "ADDSLOTSRANGE", "20", "10") == \
        err("ERR start slot number 20 is greater than end slot number 10")
    assert node.run("CLUSTER", "ADDSLOTSRANGE", "10", "20") == OK
    assert node.run("CLUSTER", "ADDSLOTSRANGE", "1", "3") == err("ERR Slot 1 is already busy")
    assert node.run("CLUSTER", "DELSLOTS", "100") == err("ERR Slot 100 is already unassigned")
    assert node.run("CLUSTER", "DELSLOTS", "10", "10") == err("ERR Slot 10 specified multiple times")
    assert node.run("CLUSTER", "DELSLOTSRANGE", "10", "12", "11", "13") == err("ERR Slot 11 specified multiple times")
    assert node.run("CLUSTER", "DELSLOTSRANGE", "10", "12") == OK
    assert node.run("CLUSTER", "DELSLOTSRANGE", "10", "12") == err("ERR Slot 10 is already unassigned")
    line = f"{ME} 127.0.0.1:30001@40001 myself,master - 0 0 0 connected 0-2 13-20 5000\n"
    assert node.run("CLUSTER", "NODES") == bulk(line)
    assert line in node.saved()
    assert node.run("CLUSTER", "DELSLOTS") == err("ERR wrong number of arguments for 'cluster|delslots' command")
    # a failed command changes nothing: slot 7 was not added by "ADDSLOTS 7 7"
    assert node.view.owner(7) is None


def test_addslots_clears_an_import(node):
    node.add_other()
    assert node.run("CLUSTER", "SETSLOT", "9", "IMPORTING", OTHER) == OK
    assert node.run("CLUSTER", "ADDSLOTS", "9") == OK
    assert node.view.importing == {}


def test_flushslots(node):
    node.run("CLUSTER", "ADDSLOTSRANGE", "0", "99")
    node.state.keyspace[0].set(b"k", b"v")
    assert node.run("CLUSTER", "FLUSHSLOTS") == err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.")
    node.state.keyspace[0].delete(b"k")
    assert node.run("CLUSTER", "FLUSHSLOTS") == OK
    assert node.view.slot_count(node.view.myself) == 0
    assert node.saved().startswith(f"{ME} 127.0.0.1:30001@40001 myself,master - 0 0 0 connected\n")


# ------------------------------------------------------------------------------------------ SLOTS, SHARDS


def test_slots_and_shards_shapes(node):
    other = node.add_other(pong_received=1796396348644)
    node.run("CLUSTER", "ADDSLOTS", "0", "1", "2", "5000")
    for s in (13, 14):
        node.view.assign(s, other)
    me_entry = b"*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n" + bulk(ME)
    other_entry = b"*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n" + bulk(OTHER)
    # 7.0.15: ranges in slot order, [start, end, [ip, port, id, {metadata}]]; the metadata map is *0 / %0
    assert node.run("CLUSTER", "SLOTS") == (
        b"*3\r\n*3\r\n:0\r\n:2\r\n" + me_entry + b"*0\r\n"
        b"*3\r\n:13\r\n:14\r\n" + other_entry + b"*0\r\n"
        b"*3\r\n:5000\r\n:5000\r\n" + me_entry + b"*0\r\n")
    assert node.run("CLUSTER", "SLOTS", proto=3).count(b"%0\r\n") == 3

    def shard_node(node_id, port):
        return (b"*14\r\n$2\r\nid\r\n" + bulk(node_id) + b"$4\r\nport\r\n:%d\r\n" % port +
                b"$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                b"$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n")
    assert node.run("CLUSTER", "SHARDS") == (
        b"*2\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:2\r\n:5000\r\n:5000\r\n$5\r\nnodes\r\n*1\r\n" +
        shard_node(ME, 30001) +
        b"*4\r\n$5\r\nslots\r\n*2\r\n:13\r\n:14\r\n$5\r\nnodes\r\n*1\r\n" + shard_node(OTHER, 30002))
    assert node.run("CLUSTER", "SHARDS", proto=3).startswith(b"*2\r\n%2\r\n$5\r\nslots\r\n")


def test_slots_and_shards_follow_the_endpoint_type(node):
    # 7.0.15 with cluster-announce-hostname host2.example, under each cluster-preferred-endpoint-type
    node.view.myself.hostname = "host2.example"
    node.run("CLUSTER", "ADDSLOTS", "15495")
    head = b"*1\r\n*3\r\n:15495\r\n:15495\r\n*4\r\n"
    idb = b":30001\r\n" + bulk(ME)
    assert node.run("CLUSTER", "SLOTS") == \
        head + b"$9\r\n127.0.0.1\r\n" + idb + b"*2\r\n$8\r\nhostname\r\n$13\r\nhost2.example\r\n"
    shards = node.run("CLUSTER", "SHARDS")
    assert b"*16\r\n" in shards and b"$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$8\r\nhostname\r\n$13\r\nhost2.example" in shards
    node.state.config.set("cluster-preferred-endpoint-type", "hostname")
    assert node.run("CLUSTER", "SLOTS") == \
        head + b"$13\r\nhost2.example\r\n" + idb + b"*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    assert b"$8\r\nendpoint\r\n$13\r\nhost2.example\r\n" in node.run("CLUSTER", "SHARDS")
    node.state.config.set("cluster-preferred-endpoint-type", "unknown-endpoint")
    assert node.run("CLUSTER", "SLOTS") == head + b"$-1\r\n" + idb + \
        b"*4\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nhostname\r\n$13\r\nhost2.example\r\n"
    assert b"$8\r\nendpoint\r\n$0\r\n\r\n" in node.run("CLUSTER", "SHARDS")


def test_a_node_without_ip_shows_it_empty(tmp_path):
    # 7.0.15 before any MEET: myself's ip is "" in NODES (":30001@40001"), SLOTS and SHARDS ("$0")
    n = Node(tmp_path)
    n.view.myself.ip = ""
    n.run("CLUSTER", "ADDSLOTS", "0")
    assert n.run("CLUSTER", "NODES") == bulk(f"{ME} :30001@40001 myself,master - 0 0 0 connected 0\n")
    assert n.run("CLUSTER", "SLOTS") == b"*1\r\n*3\r\n:0\r\n:0\r\n*4\r\n$0\r\n\r\n:30001\r\n" + bulk(ME) + b"*0\r\n"
    assert b"$2\r\nip\r\n$0\r\n\r\n$8\r\nendpoint\r\n$0\r\n\r\n" in n.run("CLUSTER", "SHARDS")


# ------------------------------------------------------------------------------------------ SETSLOT


def test_setslot_states_and_errors(node):
    node.add_other()
    node.run("CLUSTER", "ADDSLOTS", "200")
    node.view.assign(0, node.view.node(OTHER))
    # 7.0.15 for each of these
    assert node.run("CLUSTER", "SETSLOT", "0", "IMPORTING", OTHER) == OK
    assert node.run("CLUSTER", "SETSLOT", "0", "MIGRATING", OTHER) == err("ERR I'm not the owner of hash slot 0")
    assert node.run("CLUSTER", "SETSLOT", "100", "IMPORTING", "xyz") == err("ERR I don't know about node xyz")
    assert node.run("CLUSTER", "SETSLOT", "200", "IMPORTING", OTHER) == \
        err("ERR I'm already the owner of hash slot 200")
    assert node.run("CLUSTER", "SETSLOT", "100", "FOO") == \
        err("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    assert node.run("CLUSTER", "SETSLOT", "100", "STABLE", "x") == \
        err("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    assert node.run("CLUSTER", "SETSLOT", "100", "NODE", "xyz") == err("ERR Unknown node xyz")
    assert node.run("CLUSTER", "SETSLOT", "16384", "STABLE") == err("ERR Invalid or out of range slot")
    assert node.run("CLUSTER", "SETSLOT", "x", "STABLE") == err("ERR Invalid or out of range slot")
    assert node.run("CLUSTER", "SETSLOT", "200", "MIGRATING", "xyz") == err("ERR I don't know about node xyz")
    assert node.run("CLUSTER", "SETSLOT", "200", "MIGRATING", OTHER) == OK
    line = node.run("CLUSTER", "NODES").decode().splitlines()[1]
    assert line.endswith(f"connected 200 [200->-{OTHER}] [0-<-{OTHER}]")
    assert f"[200->-{OTHER}] [0-<-{OTHER}]" in node.saved()
    assert node.run("CLUSTER", "SETSLOT", "200", "STABLE") == OK
    assert node.run("CLUSTER", "SETSLOT", "0", "STABLE") == OK
    assert node.view.migrating == {} and node.view.importing == {}
    replica = node.add_other(REPLICA, 30003, flags={"slave"}, primary_id=OTHER)
    assert replica.is_replica
    assert node.run("CLUSTER", "SETSLOT", "200", "MIGRATING", REPLICA) == err("ERR Target node is not a master")
    assert node.run("CLUSTER", "SETSLOT", "200", "NODE", REPLICA) == err("ERR Target node is not a master")


def test_setslot_node_keeps_keys_reachable(node):
    node.add_other()
    node.run("CLUSTER", "ADDSLOTS", "15495")
    node.state.keyspace[0].set(b"{a}1", b"x")
    # 7.0.15, with or without a MIGRATING state on the slot
    refusal = err("ERR Can't assign hashslot 15495 to a different node while I still hold keys for this hash slot.")
    assert node.run("CLUSTER", "SETSLOT", "15495", "NODE", OTHER) == refusal
    assert node.run("CLUSTER", "SETSLOT", "15495", "MIGRATING", OTHER) == OK
    assert node.run("CLUSTER", "SETSLOT", "15495", "NODE", OTHER) == refusal
    node.state.keyspace[0].delete(b"{a}1")
    assert node.run("CLUSTER", "SETSLOT", "15495", "NODE", OTHER) == OK
    assert node.view.owner(15495).id == OTHER and node.view.migrating == {}
    assert node.bus.calls == []  # giving a slot away is told by the next ping, as Redis


def test_setslot_node_closing_an_import_bumps_the_epoch_and_broadcasts(node):
    other = node.add_other(config_epoch=1)
    node.view.current_epoch = 1
    node.view.assign(77, other)
    assert node.run("CLUSTER", "SETSLOT", "77", "IMPORTING", OTHER) == OK
    assert node.run("CLUSTER", "SETSLOT", "77", "NODE", ME) == OK
    assert node.view.owner(77) is node.view.myself and node.view.importing == {}
    assert node.view.myself.config_epoch == 2 and node.view.current_epoch == 2
    assert node.bus.calls == [("broadcast_pong",)]
    assert node.saved().endswith("vars currentEpoch 2 lastVoteEpoch 0\n")
    assert f"myself,master - 0 0 2 connected 77\n" in node.saved()


# ------------------------------------------------------------------------------------------ MEET, FORGET


def test_meet_validates_then_asks_the_bus(node):
    # 7.0.15 texts
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "x") == err("ERR Invalid TCP base port specified: x")
    assert node.run("CLUSTER", "MEET", "1.2.3.x", "30001") == err("ERR Invalid node address specified: 1.2.3.x:30001")
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "30001", "x") == err("ERR Invalid TCP bus port specified: x")
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "99999") == \
        err("ERR Invalid node address specified: 127.0.0.1:99999")
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "30001", "1", "2") == \
        err("ERR unknown subcommand or wrong number of arguments for 'MEET'. Try CLUSTER HELP.")
    assert node.bus.calls == []
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "30002") == OK
    assert node.run("CLUSTER", "MEET", "127.0.0.1", "30003", "31003") == OK
    assert node.run("CLUSTER", "MEET", "::1", "30004") == OK
    assert node.bus.calls == [("meet", "127.0.0.1", 30002, 40002), ("meet", "127.0.0.1", 30003, 31003),
                              ("meet", "::1", 30004, 40004)]


def test_forget(node):
    # 7.0.15 texts
    assert node.run("CLUSTER", "FORGET", "xyz") == err("ERR Unknown node xyz")
    assert node.run("CLUSTER", "FORGET", ME) == err("ERR I tried hard but I can't forget myself...")
    other = node.add_other()
    node.view.assign(3, other)
    assert node.run("CLUSTER", "FORGET", OTHER) == OK
    assert node.bus.calls == [("forget", OTHER)]
    assert node.view.node(OTHER) is None and node.view.owner(3) is None
    assert OTHER not in node.saved()
    # a replica cannot forget its primary
    node.add_other()
    node.view.myself.flags = {"myself", "slave"}
    node.view.myself.primary_id = OTHER
    assert node.run("CLUSTER", "FORGET", OTHER) == err("ERR Can't forget my master!")
    assert node.run("CLUSTER", "FORGET") == err("ERR wrong number of arguments for 'cluster|forget' command")


# ------------------------------------------------------------------------------------------ RESET


def test_reset_soft_and_hard(node):
    node.add_other(config_epoch=4)
    node.run("CLUSTER", "ADDSLOTSRANGE", "0", "10")
    node.run("CLUSTER", "SETSLOT", "5", "MIGRATING", OTHER)
    node.view.current_epoch = 6
    node.view.myself.config_epoch = 5
    node.state.keyspace[0].set(b"k", b"v")
    # 7.0.15
    keys_refusal = err("ERR CLUSTER RESET can't be called with master nodes containing keys")
    assert node.run("CLUSTER", "RESET") == keys_refusal
    assert node.run("CLUSTER", "RESET", "HARD") == keys_refusal
    assert node.run("CLUSTER", "RESET", "FOO") == err("ERR syntax error")
    assert node.run("CLUSTER", "RESET", "SOFT", "x") == \
        err("ERR unknown subcommand or wrong number of arguments for 'RESET'. Try CLUSTER HELP.")
    node.state.keyspace[0].delete(b"k")
    assert node.run("CLUSTER", "RESET", "SOFT") == OK
    view = node.view
    assert list(view.nodes) == [ME] and view.slot_count(view.myself) == 0 and view.migrating == {}
    assert view.current_epoch == 6 and view.myself.config_epoch == 5
    assert node.run("CLUSTER", "RESET", "HARD") == OK
    assert view.myself.id != ME and list(view.nodes) == [view.myself.id]
    assert view.current_epoch == 0 and view.myself.config_epoch == 0
    assert node.run("CLUSTER", "MYID") == bulk(view.myself.id)
    assert node.saved().startswith(view.myself.id)


# ------------------------------------------------------------------------------------------ epochs, config


def test_saveconfig_bumpepoch_set_config_epoch(node):
    assert node.run("CLUSTER", "SAVECONFIG") == OK
    assert node.saved() == f"{ME} 127.0.0.1:30001@40001 myself,master - 0 0 0 connected\n" \
                           "vars currentEpoch 0 lastVoteEpoch 0\n"
    # 7.0.15: BUMPED 1, STILL 1, then SET-CONFIG-EPOCH refuses; after RESET HARD it takes 5
    assert node.run("CLUSTER", "BUMPEPOCH") == b"+BUMPED 1\r\n"
    assert node.bus.calls == [("broadcast_pong",)]
    assert node.run("CLUSTER", "BUMPEPOCH") == b"+STILL 1\r\n"
    assert "myself,master - 0 0 1 connected" in node.saved()
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "5") == err("ERR Node config epoch is already non-zero")
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "x") == err("ERR value is not an integer or out of range")
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "-1") == err("ERR Invalid config epoch specified: -1")
    assert node.run("CLUSTER", "RESET", "HARD") == OK
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "5") == OK
    info = node.run("CLUSTER", "INFO")
    assert b"cluster_current_epoch:5\r\ncluster_my_epoch:5\r\n" in info
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "6") == err("ERR Node config epoch is already non-zero")
    node.add_other()
    node.view.myself.config_epoch = 0
    assert node.run("CLUSTER", "SET-CONFIG-EPOCH", "6") == \
        err("ERR The user can assign a config epoch only when the node does not know any other node.")


def test_saveconfig_reports_a_failing_disk(tmp_path):
    n = Node(tmp_path)
    n.cluster.config_file = ConfigFile(str(tmp_path / "missing-dir" / "nodes.conf"))
    assert n.run("CLUSTER", "SAVECONFIG") == \
        err("ERR error saving the cluster node config: No such file or directory")


def test_count_failure_reports_replicas_links(node):
    # 7.0.15: unknown ids
    assert node.run("CLUSTER", "COUNT-FAILURE-REPORTS", "xyz") == err("ERR Unknown node xyz")
    assert node.run("CLUSTER", "REPLICAS", "xyz") == err("ERR Unknown node xyz")
    assert node.run("CLUSTER", "SLAVES", "xyz") == err("ERR Unknown node xyz")
    other = node.add_other()
    import time
    now = int(time.time() * 1000)
    other.fail_reports = {"d" * 40: now, "e" * 40: now - 10 * 60 * 1000}  # the second is stale (> 2 x timeout)
    assert node.run("CLUSTER", "COUNT-FAILURE-REPORTS", OTHER) == b":1\r\n"
    assert node.run("CLUSTER", "REPLICAS", OTHER) == b"*0\r\n"
    replica = node.add_other(REPLICA, 30003, flags={"slave"}, primary_id=OTHER)
    assert node.run("CLUSTER", "SLAVES", OTHER) == b"*1\r\n" + bulk(node.view.node_line(replica))
    assert node.run("CLUSTER", "REPLICAS", REPLICA) == err("ERR The specified node is not a master")
    assert node.run("CLUSTER", "LINKS") == b"*0\r\n"
    # 7.0.15's LINKS entry: a map of six fields, *12 in RESP2, %6 in RESP3
    node.bus.links_value = [{"direction": "to", "node": OTHER, "create-time": 1796396347037, "events": "r",
                             "send-buffer-allocated": 0, "send-buffer-used": 0}]
    expected_fields = (b"$9\r\ndirection\r\n$2\r\nto\r\n$4\r\nnode\r\n" + bulk(OTHER) +
                       b"$11\r\ncreate-time\r\n:1796396347037\r\n$6\r\nevents\r\n$1\r\nr\r\n"
                       b"$21\r\nsend-buffer-allocated\r\n:0\r\n$16\r\nsend-buffer-used\r\n:0\r\n")
    assert node.run("CLUSTER", "LINKS") == b"*1\r\n*12\r\n" + expected_fields
    assert node.run("CLUSTER", "LINKS", proto=3) == b"*1\r\n%6\r\n" + expected_fields


def test_without_a_bus_membership_changes_stay_local(tmp_path):
    n = Node(tmp_path, bus=False)
    assert n.run("CLUSTER", "MEET", "127.0.0.1", "30002") == OK
    n.add_other()
    assert n.run("CLUSTER", "FORGET", OTHER) == OK
    assert n.run("CLUSTER", "LINKS") == b"*0\r\n"
    assert b"cluster_stats_messages_sent:0" in n.run("CLUSTER", "INFO")


def test_key_counts_use_the_slot_index_when_there_is_one(node):
    from shoal.node.keyspace import enable_slot_index
    db = node.state.keyspace[0]
    enable_slot_index(db)
    for k in ("{a}1", "{a}2", "{a}3", "other"):
        db.set(k.encode(), b"x")
    db.delete(b"{a}2")
    assert node.run("CLUSTER", "COUNTKEYSINSLOT", "15495") == b":2\r\n"
    assert set(dispatch_list(node, "CLUSTER", "GETKEYSINSLOT", "15495", "10")) == {b"{a}1", b"{a}3"}
    assert len(dispatch_list(node, "CLUSTER", "GETKEYSINSLOT", "15495", "1")) == 1
