"""Generic key-space commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX MOVE COPY KEYS SCAN RANDOMKEY TOUCH.

Socket tests run against a real shoal-node (fixtures in tests/conftest.py). Keyspace notifications and the dirty
counter are checked in-process (a NodeState driven through the dispatcher), since they are invisible over a
socket without the pub/sub and INFO commands; the event lists are the ones redis-server 7.0.15 publishes.
"""
from __future__ import annotations

import random
import time

import pytest
import redis

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.state import NodeState


# ------------------------------------------------------------------ DEL UNLINK EXISTS TYPE TOUCH

def test_del_counts_existing_keys_once(r):
    r.set("a", "1")
    r.set("b", "2")
    assert r.delete("a", "b", "c", "a") == 2
    assert r.get("a") is None and r.get("b") is None
    assert r.delete("a") == 0


def test_unlink_behaves_like_del(r):
    r.set("a", "1")
    assert r.unlink("a", "zz") == 1
    assert r.exists("a") == 0


def test_exists_counts_repeats(r):
    r.set("a", "1")
    assert r.exists("a", "a", "b") == 2
    assert r.exists("nope") == 0


def test_type(r):
    r.set("s", "v")
    assert r.type("s") == b"string"
    assert r.type("missing") == b"none"


def test_touch_counts_existing(r):
    r.set("a", "1")
    r.set("b", "1")
    assert r.touch("a", "b", "c") == 2


def test_binary_and_empty_keys(r):
    r.set(b"", b"empty")
    r.set(b"\x00\xff k", b"bin")
    assert r.exists(b"", b"\x00\xff k") == 2
    assert r.rename(b"\x00\xff k", b"\r\n") is True
    assert r.get(b"\r\n") == b"bin"
    assert sorted(r.keys("*")) == [b"", b"\r\n"]


# ------------------------------------------------------------------ RENAME RENAMENX

def test_rename_moves_value_and_ttl(r):
    r.set("src", "v")
    r.expire("src", 100)
    r.set("dst", "old")
    r.expire("dst", 5000)
    assert r.rename("src", "dst") is True
    assert r.get("dst") == b"v"
    assert r.exists("src") == 0
    assert 0 < r.ttl("dst") <= 100


def test_rename_onto_key_drops_its_ttl_when_source_has_none(r):
    r.set("src", "v")
    r.set("dst", "old")
    r.expire("dst", 100)
    r.rename("src", "dst")
    assert r.ttl("dst") == -1


def test_rename_errors_and_same_key(r):
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.rename("missing", "x")
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.rename("missing", "missing")
    r.set("k", "v")
    assert r.rename("k", "k") is True
    assert r.renamenx("k", "k") is False
    assert r.get("k") == b"v"


def test_renamenx(r):
    r.set("a", "1")
    r.set("b", "2")
    assert r.renamenx("a", "b") is False
    assert r.get("a") == b"1" and r.get("b") == b"2"
    assert r.renamenx("a", "c") is True
    assert r.get("c") == b"1" and r.exists("a") == 0


# ------------------------------------------------------------------ MOVE COPY

def test_move_between_databases(shoal, r):
    r.set("k", "v")
    r.pexpire("k", 100000)
    assert r.move("k", 1) is True
    assert r.exists("k") == 0
    db1 = shoal.client(db=1)
    try:
        assert db1.get("k") == b"v"
        assert 0 < db1.pttl("k") <= 100000
        # present in the target: refused, nothing changes
        r.set("k", "v0")
        assert r.move("k", 1) is False
        assert r.get("k") == b"v0" and db1.get("k") == b"v"
    finally:
        db1.close()
    assert r.move("absent", 1) is False


def test_move_errors(r):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="^source and destination objects are the same$"):
        r.move("k", 0)
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.move("k", 16)
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.move("k", -1)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("MOVE", "k", "x")
    with pytest.raises(redis.ResponseError, match="^value is out of range, value must between -2147483648 and "
                                                  "2147483647$"):
        r.execute_command("MOVE", "k", "4294967296")


def test_copy_same_db_replace_and_ttl(r):
    r.set("a", "1")
    r.pexpire("a", 100000)
    assert r.copy("a", "b") is True
    assert r.get("b") == b"1" and 0 < r.pttl("b") <= 100000
    r.set("c", "other")
    assert r.copy("a", "c") is False
    assert r.get("c") == b"other"
    assert r.copy("a", "c", replace=True) is True
    assert r.get("c") == b"1"
    assert r.copy("missing", "d") is False


def test_copy_is_independent_of_source(r):
    r.set("a", "x")
    r.append("a", "y")  # grown in place: a mutable value inside the node
    r.copy("a", "b")
    r.append("b", "z")
    assert r.get("a") == b"xy"
    assert r.get("b") == b"xyz"


def test_copy_to_other_db(shoal, r):
    r.set("a", "1")
    assert r.copy("a", "a", destination_db=2) is True
    db2 = shoal.client(db=2)
    try:
        assert db2.get("a") == b"1"
    finally:
        db2.close()
    assert r.get("a") == b"1"


def test_copy_errors(r):
    r.set("a", "1")
    with pytest.raises(redis.ResponseError, match="^source and destination objects are the same$"):
        r.copy("a", "a")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("COPY", "a", "b", "DB")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("COPY", "a", "b", "FOO")
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.execute_command("COPY", "a", "b", "DB", "99")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("COPY", "a", "b", "DB", "one")


# ------------------------------------------------------------------ KEYS

def test_keys_patterns(r):
    for k in ("hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "x"):
        r.set(k, "1")
    assert sorted(r.keys("h?llo")) == [b"h*llo", b"hallo", b"hello", b"hxllo"]
    assert sorted(r.keys("h*llo")) == [b"h*llo", b"hallo", b"heeeello", b"hello", b"hllo", b"hxllo"]
    assert sorted(r.keys("h[ae]llo")) == [b"hallo", b"hello"]
    assert sorted(r.keys("h[^e]llo")) == [b"h*llo", b"hallo", b"hxllo"]
    assert sorted(r.keys("h[a-b]llo")) == [b"hallo"]
    assert r.keys("h\\*llo") == [b"h*llo"]
    assert r.keys("x") == [b"x"]
    assert len(r.keys("*")) == 7


def test_keys_backtracking_pattern_is_fast(r):
    r.set("a" * 10000, "v")
    t0 = time.monotonic()
    assert r.keys("*a" * 30 + "*b") == []
    assert time.monotonic() - t0 < 3.0


# ------------------------------------------------------------------ SCAN

def _full_scan(r, **kw):
    seen = []
    cursor = 0
    for _ in range(100000):
        cursor, keys = r.scan(cursor, **kw)
        seen.extend(keys)
        if cursor == 0:
            return seen
    raise AssertionError("SCAN did not finish")


def test_scan_returns_everything(r):
    with r.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set(f"key:{i}", i)
        p.execute()
    seen = _full_scan(r, count=37)
    assert set(seen) == {f"key:{i}".encode() for i in range(1000)}
    assert len(seen) == 1000  # nothing changed during the scan: no repeats either


def test_scan_match_and_count(r):
    for i in range(100):
        r.set(f"user:{i}", i)
        r.set(f"item:{i}", i)
    seen = _full_scan(r, match="user:1*", count=15)
    assert sorted(seen) == sorted({f"user:{i}".encode() for i in range(100) if str(i).startswith("1")})
    cursor, keys = r.scan(0, count=1000)
    assert cursor == 0 and len(keys) == 200


def test_scan_type_filter(r):
    r.set("s1", "v")
    r.set("s2", "v")
    assert sorted(_full_scan(r, _type="string")) == [b"s1", b"s2"]
    assert sorted(_full_scan(r, _type="STRING")) == [b"s1", b"s2"]
    assert _full_scan(r, _type="list") == []
    assert _full_scan(r, _type="nosuchtype") == []


def test_scan_errors(r):
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        r.execute_command("SCAN", "abc")
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        r.execute_command("SCAN", " 0")
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        r.execute_command("SCAN", "18446744073709551616")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SCAN", "0", "COUNT", "0")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SCAN", "0", "COUNT", "-1")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("SCAN", "0", "COUNT", "x")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SCAN", "0", "MATCH")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SCAN", "0", "FOO", "bar")


def test_scan_cursor_forms_redis_accepts(r):
    r.set("k", "v")
    for cursor in ("", "+0", "0\x00junk"):
        assert r.execute_command("SCAN", cursor, "COUNT", "100") == (0, [b"k"])


def test_scan_guarantee_under_concurrent_changes(r):
    """Every key present for the whole scan is returned, however keys come and go meanwhile."""
    with r.pipeline(transaction=False) as p:
        for i in range(5000):
            p.set(f"stable:{i}", i)
        for i in range(8000):
            p.set(f"doomed:{i}", i)
        p.execute()
    stable = {f"stable:{i}".encode() for i in range(5000)}
    doomed = [f"doomed:{i}" for i in range(8000)]
    random.Random(7).shuffle(doomed)  # holes before and after the cursor
    seen = set()
    cursor = 0
    step = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cursor, keys = r.scan(cursor, count=50)
        seen.update(keys)
        with r.pipeline(transaction=False) as p:
            # enough deletes that the node compacts its cursor index mid-scan
            for k in doomed[step * 60:(step + 1) * 60]:
                p.delete(k)
            for j in range(10):
                p.set(f"new:{step}:{j}", 1)
            p.execute()
        step += 1
        if cursor == 0:
            break
    assert cursor == 0, "scan did not finish in time"
    assert stable <= seen
    assert all(k.split(b":")[0] in (b"stable", b"doomed", b"new") for k in seen)


def test_scan_guarantee_across_index_compaction(node):
    """In-process, to see the compaction happen: cursors handed out before it still resume at the right key."""
    db = node.state.keyspace[0]
    for i in range(3000):
        node("set", f"k{i}", "v")
    stable = {f"k{i}".encode() for i in range(0, 3000, 3)}
    doomed = [f"k{i}" for i in range(3000) if i % 3]
    random.Random(3).shuffle(doomed)
    seen = set()
    cursor = b"0"
    gens = set()
    for step in range(10000):
        cursor, keys = node.reply("scan", cursor, "count", "20")
        seen.update(keys)
        for k in doomed[step * 25:(step + 1) * 25]:
            node("del", k)
        gens.add(db.scan_index.gen)
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert len(gens) > 1, "the index never compacted: the test lost its point"
    assert stable <= seen


# ------------------------------------------------------------------ RANDOMKEY

def test_randomkey(r):
    assert r.randomkey() is None
    r.set("only", "1")
    assert r.randomkey() == b"only"
    r.set("two", "2")
    picks = {r.randomkey() for _ in range(200)}
    assert picks == {b"only", b"two"}


# ------------------------------------------------------------------ notifications and dirty, in-process

class _Node:
    """A NodeState driven through the real dispatcher, recording keyspace events."""

    def __init__(self):
        self.state = NodeState()
        self.state.notify_flags = "KEA" + "n"
        self.events: list[tuple[str, bytes, int]] = []
        self.state.notify_hook = lambda event, key, dbid, cls, flags: self.events.append((event, key, dbid))
        self.client = Client(self.state)

    def __call__(self, *args) -> bytes:
        return dispatch.execute(self.client, [a.encode() if isinstance(a, str) else a for a in args])

    def reply(self, *args):
        """The command's reply value before encoding."""
        argv = [a.encode() if isinstance(a, str) else a for a in args]
        return self.state.table.lookup(argv[0]).fn(self.client, argv)

    def take_events(self) -> list:
        ev, self.events = self.events, []
        return ev


@pytest.fixture
def node():
    return _Node()


def test_events_and_dirty_for_rename_move_copy(node):
    node("set", "a", "1")
    assert node.take_events() == [("new", b"a", 0), ("set", b"a", 0)]
    dirty = node.state.dirty
    assert node("rename", "a", "b") == b"+OK\r\n"
    assert node.take_events() == [("new", b"b", 0), ("rename_from", b"a", 0), ("rename_to", b"b", 0)]
    assert node("renamenx", "b", "b") == b":0\r\n"
    assert node("move", "b", "1") == b":1\r\n"
    assert node.take_events() == [("new", b"b", 1), ("move_from", b"b", 0), ("move_to", b"b", 1)]
    node.client.select(1)
    assert node("copy", "b", "c", "db", "0") == b":1\r\n"
    assert node.take_events() == [("new", b"c", 0), ("copy_to", b"c", 0)]
    assert node.state.dirty == dirty + 3


def test_events_and_dirty_for_del_and_expire(node):
    node("set", "a", "1")
    node("set", "b", "1")
    node.take_events()
    dirty = node.state.dirty
    assert node("del", "a", "zz") == b":1\r\n"
    assert node.take_events() == [("del", b"a", 0)]
    assert node("expire", "b", "100") == b":1\r\n"
    assert node("persist", "b") == b":1\r\n"
    assert node("persist", "b") == b":0\r\n"
    assert node.take_events() == [("expire", b"b", 0), ("persist", b"b", 0)]
    assert node("expire", "b", "-1") == b":1\r\n"  # in the past: deleted, reported as del
    assert node.take_events() == [("del", b"b", 0)]
    assert node("exists", "b") == b":0\r\n"
    assert node("expire", "b", "100") == b":0\r\n"
    assert node.state.dirty == dirty + 4
    assert node.take_events() == []


def test_lazy_expiry_event_and_no_dirty(node):
    node("set", "a", "1")
    node("pexpire", "a", "1")
    node.take_events()
    time.sleep(0.01)
    dirty = node.state.dirty
    assert node("exists", "a") == b":0\r\n"
    assert node.take_events() == [("expired", b"a", 0)]
    assert node.state.dirty == dirty
    assert node.state.stats.expired_keys == 1


def test_watch_is_broken_by_expire_and_rename(node):
    node("set", "a", "1")
    db = node.state.keyspace[0]
    for cmd in (("expire", "a", "100"), ("persist", "a"), ("rename", "a", "b"), ("rename", "b", "a")):
        node.client.dirty_cas = False
        db.watched[b"a"] = {node.client}
        node(*cmd)
        assert node.client.dirty_cas, cmd
