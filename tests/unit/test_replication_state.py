"""The primary side of replication without sockets: the stream's encoding and offsets, the backlog, when PSYNC can
continue, the write gate (READONLY / NOREPLICAS), promotion keeping the old history as replid2."""
from __future__ import annotations

import time

from shoal.node.client import Client
from shoal.node.replication import NOREPLICAS_ERR, READONLY_ERR, Replication
from shoal.node.state import NodeState


def make():
    st = NodeState()
    return st, Replication(st, None)


def test_stream_is_aof_encoded_with_select_and_counts_offsets():
    st, rep = make()
    rep.feed_command(0, [b"SET", b"a", b"1"])  # no backlog yet: nothing is recorded
    assert st.master_repl_offset == 0
    rep.create_backlog()
    rep.feed_command(0, [b"SET", b"a", b"1"])
    rep.feed_command(0, [b"DEL", b"a"])
    rep.feed_command(2, [b"SET", b"b", b"2"])
    expected = (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
                b"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
                b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n")
    assert bytes(rep.backlog) == expected
    assert st.master_repl_offset == len(expected)
    assert rep.first_byte_offset == 1 and rep.histlen == len(expected)


def test_partial_resync_window():
    st, rep = make()
    rep.create_backlog()
    for i in range(10):
        rep.feed_command(0, [b"SET", b"k", str(i).encode()])
    end = st.master_repl_offset
    assert rep.partial_possible(st.replid, end + 1)  # up to date
    assert rep.partial_possible(st.replid, 1)
    assert not rep.partial_possible(st.replid, end + 2)  # ahead of us
    assert not rep.partial_possible("f" * 40, end + 1)  # another history
    assert not rep.partial_possible("?", 0)


def test_promotion_keeps_old_id_for_psync2():
    st, rep = make()
    rep.create_backlog()
    rep.feed_command(0, [b"SET", b"k", b"v"])
    st.is_replica = True
    old, end = st.replid, st.master_repl_offset
    rep.promote()
    assert st.replid != old and st.replid2 == old and st.second_repl_offset == end + 1
    assert rep.partial_possible(old, end + 1)  # a former sibling continues
    rep.feed_command(0, [b"SET", b"k", b"w"])
    assert not rep.partial_possible(old, st.master_repl_offset + 1)  # past the switch: not the old history


def test_write_gate():
    st, rep = make()
    assert st.write_gate is None  # nothing to refuse: the dispatcher's fast path stays
    c = Client(st)
    st.is_replica = True
    rep.refresh_gate()
    assert st.write_gate(c) == READONLY_ERR
    c.is_master_link = True
    assert st.write_gate(c) is None
    c.is_master_link = False
    st.is_replica = False
    st.config.set("min-replicas-to-write", "1")  # its change hook plugs the gate in

    assert st.write_gate(c) == NOREPLICAS_ERR
    r = Client(st)
    rec = rep.record(r)
    rec.state = "online"
    rec.ack_time = time.time()
    assert st.write_gate(c) is None
    rec.ack_time = time.time() - 60  # lagging more than min-replicas-max-lag
    assert st.write_gate(c) == NOREPLICAS_ERR
