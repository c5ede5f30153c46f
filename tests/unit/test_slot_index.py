"""The per-slot key index of db 0 in cluster mode (node/keyspace.py `slot_index`): kept exact by every way a key
enters or leaves a database (writes, deletes, expiry, RENAME, FLUSHDB/FLUSHALL, SWAPDB, RDB and AOF loading), and
free when off. Driven through the real dispatcher with no sockets."""
from __future__ import annotations

import io
import os

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.keyspace import enable_slot_index
from shoal.node.slots import SLOTS, hash_tag, key_slot
from shoal.node.state import NodeState


def make(cluster: bool = True):
    state = NodeState()
    if cluster:
        enable_slot_index(state.keyspace[0])
    return state, Client(state)


def run(client, *args) -> bytes:
    return dispatch.execute(client, [a if isinstance(a, bytes) else str(a).encode() for a in args])


def check(db) -> None:
    """The index holds exactly the keys of `data`, each under its slot, and no empty slot entries."""
    expected: dict[int, set] = {}
    for k in db.data:
        expected.setdefault(key_slot(k), set()).add(k)
    assert {s: set(keys) for s, keys in db.slot_index.items()} == expected
    assert all(db.slot_index.values())


def test_key_slot_and_hash_tag():
    # Redis Cluster spec examples and CLUSTER KEYSLOT answers of redis-server 7.0.15
    assert key_slot(b"foo") == 12182 and key_slot(b"bar") == 5061 and key_slot(b"hello") == 866
    assert key_slot(b"123456789") == 0x31C3  # the spec's CRC16 check value, 12739
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # empty tag: the whole key
    assert hash_tag(b"foo{}{bar}") == b"foo{}{bar}"
    assert hash_tag(b"foo{{bar}}zap") == b"{bar"
    assert hash_tag(b"foo{bar}{zap}") == b"bar"
    assert hash_tag(b"{}") == b"{}" and hash_tag(b"x{") == b"x{"
    assert key_slot(b"") == 0
    assert all(0 <= key_slot(os.urandom(8)) < SLOTS for _ in range(100))


def test_cluster_slots_module_is_the_same_implementation():
    from shoal.cluster import slots
    assert slots.key_slot is key_slot and slots.hash_tag is hash_tag and slots.SLOTS == SLOTS


def test_off_by_default():
    state, c = make(cluster=False)
    run(c, "SET", "a", "1")
    db = state.keyspace[0]
    assert db.slot_index is None
    assert db.count_keys_in_slot(key_slot(b"a")) == 0 and db.keys_in_slot(key_slot(b"a"), 10) == []
    assert db.delete_keys_in_slot(key_slot(b"a")) == 0 and b"a" in db.data
    assert all(d.slot_index is None for d in state.keyspace.dbs)


def test_writes_and_deletes():
    state, c = make()
    db = state.keyspace[0]
    for i in range(200):
        run(c, "SET", f"k{i}", "v")
    run(c, "RPUSH", "{k1}list", "a", "b")
    run(c, "HSET", "h", "f", "v")
    run(c, "SADD", "s", "m")
    run(c, "SET", "k1", "again")  # overwrite: no second entry
    check(db)
    s1 = key_slot(b"k1")
    assert db.count_keys_in_slot(s1) == 2 and db.keys_in_slot(s1, 10) == [b"{k1}list", b"k1"]
    run(c, "DEL", "k1", "k2")
    run(c, "UNLINK", "k3")
    run(c, "LPOP", "{k1}list", "2")  # emptied list: the key goes
    run(c, "SREM", "s", "m")
    run(c, "GETDEL", "k4")
    check(db)
    assert db.count_keys_in_slot(s1) == 0 and s1 not in db.slot_index


def test_rename_copy_restore_and_expiry():
    state, c = make()
    db = state.keyspace[0]
    run(c, "SET", "{a}1", "v")
    run(c, "RENAME", "{a}1", "{a}2")
    run(c, "SET", "{a}3", "w")
    run(c, "RENAMENX", "{a}3", "{a}4")
    run(c, "COPY", "{a}4", "{a}5")
    dump = run(c, "DUMP", "{a}5")
    payload = dump.split(b"\r\n", 1)[1][:-2]
    assert run(c, "RESTORE", "{a}6", "0", payload) == b"+OK\r\n"
    check(db)
    assert db.keys_in_slot(key_slot(b"a"), 10) == [b"{a}6", b"{a}5", b"{a}4", b"{a}2"]
    run(c, "PEXPIRE", "{a}2", "1")
    db.expires[b"{a}2"] = 1  # long past
    assert run(c, "GET", "{a}2") == b"$-1\r\n"  # lazy expiry deletes it
    db.set_expire(b"{a}4", 1)
    db.active_expire_cycle(deadline=float("inf"))
    check(db)
    assert db.keys_in_slot(key_slot(b"a"), 10) == [b"{a}6", b"{a}5"]


def test_keys_in_slot_newest_first_as_redis():
    # redis-server 7.0.15: SET {hello}a b c d; DEL {hello}b; SET {hello}b → GETKEYSINSLOT 866 10 = b d c a
    state, c = make()
    for k in ("{hello}a", "{hello}b", "{hello}c", "{hello}d"):
        run(c, "SET", k, "1")
    run(c, "DEL", "{hello}b")
    run(c, "SET", "{hello}b", "2")
    db = state.keyspace[0]
    assert db.keys_in_slot(866, 10) == [b"{hello}b", b"{hello}d", b"{hello}c", b"{hello}a"]
    assert db.keys_in_slot(866, 2) == [b"{hello}b", b"{hello}d"]


def test_keys_in_slot_is_ordered_and_bounded():
    state, c = make()
    db = state.keyspace[0]
    for i in range(50):
        run(c, "SET", f"{{t}}{i}", "v")
    slot = key_slot(b"t")
    assert db.count_keys_in_slot(slot) == 50
    assert db.keys_in_slot(slot, 3) == [b"{t}49", b"{t}48", b"{t}47"]  # newest first, as Redis
    assert db.keys_in_slot(slot, 0) == [] and db.keys_in_slot(slot + 1, 5) == []
    assert len(db.keys_in_slot(slot, 1000)) == 50


def test_delete_keys_in_slot():
    state, c = make()
    db = state.keyspace[0]
    state.config.set("notify-keyspace-events", "KEA")
    propagated = []
    state.propagate_hooks.append(lambda dbid, argv: propagated.append(argv))
    for i in range(10):
        run(c, "SET", f"{{t}}{i}", "v")
    run(c, "SET", "other", "v")
    watcher = Client(state)
    run(watcher, "WATCH", "{t}3")
    slot = key_slot(b"t")
    propagated.clear()
    assert db.delete_keys_in_slot(slot) == 10
    assert db.count_keys_in_slot(slot) == 0 and b"other" in db.data
    assert propagated == [[b"DEL", b"{t}%d" % i] for i in range(10)]
    assert watcher.dirty_cas
    check(db)
    assert db.delete_keys_in_slot(slot) == 0
    assert db.mem >= 0


def test_flush_keeps_the_index_on():
    state, c = make()
    db = state.keyspace[0]
    run(c, "SET", "a", "1")
    run(c, "FLUSHDB")
    assert db.slot_index == {}
    run(c, "SET", "b", "1")
    run(c, "FLUSHALL")
    assert db.slot_index == {}
    run(c, "SET", "c", "1")
    check(db)
    assert db.count_keys_in_slot(key_slot(b"c")) == 1


def test_swap_keeps_the_index_with_db0():
    state, c = make()
    run(c, "SET", "a", "1")
    run(c, "SELECT", "1")
    run(c, "SET", "b", "1")
    run(c, "SET", "c", "1")
    state.keyspace.swap(0, 1)
    db0, db1 = state.keyspace[0], state.keyspace[1]
    assert db1.slot_index is None
    check(db0)
    assert set(db0.data) == {b"b", b"c"}


def test_rdb_load_indexes_keys():
    from shoal.node.persistence import rdb
    state, c = make()
    for i in range(100):
        run(c, "SET", f"k{i}", "v")
    run(c, "HSET", "{k1}h", "f", "v")
    run(c, "SELECT", "1")
    run(c, "SET", "elsewhere", "v")
    f = io.BytesIO()
    rdb.write_rdb(f, state)
    state2, _ = make()
    rdb.load_rdb(io.BytesIO(f.getvalue()), state2)
    db = state2.keyspace[0]
    check(db)
    assert db.count_keys_in_slot(key_slot(b"k1")) == 2
    assert state2.keyspace[1].slot_index is None


def test_rdb_load_over_existing_keys_non_strict():
    """A non-strict load meets a key it already holds: the duplicate is deleted and loaded again."""
    from shoal.node.persistence import rdb
    state, c = make()
    run(c, "SET", "a", "1")
    run(c, "SET", "b", "2")
    data = io.BytesIO()
    rdb.write_rdb(data, state)
    rdb.load_rdb(io.BytesIO(data.getvalue()), state, strict=False)
    check(state.keyspace[0])


def test_aof_load_indexes_keys(tmp_path):
    from shoal.node.persistence import aof_loader
    cmds = [[b"SELECT", b"0"], [b"SET", b"x", b"1"], [b"RPUSH", b"{x}l", b"a"], [b"DEL", b"x"],
            [b"SET", b"y", b"2"], [b"SELECT", b"2"], [b"SET", b"z", b"3"]]
    text = b"".join(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a) for a in cmds)
    (tmp_path / "appendonly.aof").write_bytes(text)
    state, _ = make()
    aof_loader.load_single(state, str(tmp_path), "appendonly.aof", last=True)
    db = state.keyspace[0]
    check(db)
    assert set(db.data) == {b"{x}l", b"y"}


def test_enable_indexes_existing_keys():
    state, c = make(cluster=False)
    for i in range(20):
        run(c, "SET", f"k{i}", "v")
    db = state.keyspace[0]
    enable_slot_index(db)
    check(db)
