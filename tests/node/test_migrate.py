"""MIGRATE (cluster/migration.py) between real processes: shoal → shoal, shoal → redis-server, redis-server → shoal,
every type, COPY / REPLACE / KEYS / AUTH / AUTH2 / destination db, and the failure cases, where the rule is that a
key is never lost: it leaves the source only after the target said +OK for it.

Error texts are Redis 7.0.15's (checked by running the same MIGRATE commands on redis-server).
"""
from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from tests.conftest import ServerProcess, free_port, start_redis, start_shoal

@pytest.fixture(scope="module")
def source():
    srv = start_shoal()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def target():
    srv = start_shoal()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def locked_target():
    srv = start_shoal("--requirepass", "pw")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def redis_target():
    srv = start_redis()
    yield srv
    srv.stop()


@pytest.fixture
def src(source):
    c = source.client()
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def dst(target):
    c = target.client()
    c.flushall()
    yield c
    c.close()


def fill_every_type(c: redis.Redis) -> None:
    c.set("str", "hello")
    c.set("int", 12345)
    c.rpush("list", *[f"e{i}" for i in range(5)])
    c.rpush("biglist", *[f"element-{i}" * 3 for i in range(300)])
    c.hset("hash", mapping={"a": "1", "b": "2"})
    c.hset("bighash", mapping={f"f{i}": "v" * 80 for i in range(200)})
    c.sadd("intset", 1, 2, 3)
    c.sadd("set", "x", "y", "z")
    c.zadd("zset", {"a": 1.5, "b": -2, "c": 1e10})
    c.zadd("bigzset", {f"m{i}": i for i in range(300)})
    c.xadd("stream", {"f": "v"}, id="1-1")
    c.xadd("stream", {"g": "w"}, id="2-0")
    c.xgroup_create("stream", "grp", id="0")
    c.xreadgroup("grp", "consumer", {"stream": ">"}, count=1)
    c.pfadd("hll", "a", "b", "c")
    c.set("volatile", "soon", px=600_000)


EVERY_TYPE = ["str", "int", "list", "biglist", "hash", "bighash", "intset", "set", "zset", "bigzset", "stream", "hll",
              "volatile"]


def snapshot(c: redis.Redis, keys) -> dict:
    return {k: c.dump(k) for k in keys}


def migrate(c: redis.Redis, to: ServerProcess, key, db=0, timeout=5000, *opts):
    return c.execute_command("MIGRATE", to.host, to.port, key, db, timeout, *opts)


def check_moved(src_c, dst_c, before: dict) -> None:
    for k, payload in before.items():
        assert src_c.exists(k) == 0, k
        assert dst_c.dump(k) == payload, k  # the same payload: the value came across unchanged
    assert 599_000 < dst_c.pttl("volatile") <= 600_000
    assert dst_c.xinfo_groups("stream")[0]["pending"] == 1


# ------------------------------------------------------------------------------------------ between Shoal nodes


def test_every_type_moves_one_key_at_a_time(src, dst, target):
    fill_every_type(src)
    before = snapshot(src, EVERY_TYPE)
    for k in EVERY_TYPE:
        assert migrate(src, target, k) == b"OK"
    check_moved(src, dst, before)


def test_keys_option_moves_many_and_skips_missing(src, dst, target):
    fill_every_type(src)
    before = snapshot(src, EVERY_TYPE)
    assert migrate(src, target, "", 0, 5000, "KEYS", *EVERY_TYPE, "missing") == b"OK"
    check_moved(src, dst, before)
    assert migrate(src, target, "", 0, 5000, "KEYS", "missing", "alsomissing") == b"NOKEY"
    assert migrate(src, target, "missing") == b"NOKEY"


def test_copy_keeps_the_source_and_replace_overwrites(src, dst, target):
    src.set("k", "v1")
    assert migrate(src, target, "k", 0, 5000, "COPY") == b"OK"
    assert src.get("k") == b"v1" and dst.get("k") == b"v1"
    src.set("k", "v2")
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, target, "k", 0, 5000, "COPY")
    assert str(e.value) == "Target instance replied with error: BUSYKEY Target key name already exists."
    with pytest.raises(redis.ResponseError):
        migrate(src, target, "k")  # without REPLACE the key stays where it is
    assert src.get("k") == b"v2" and dst.get("k") == b"v1"
    assert migrate(src, target, "k", 0, 5000, "REPLACE") == b"OK"
    assert src.exists("k") == 0 and dst.get("k") == b"v2"


def test_busy_key_among_many_keeps_only_that_one(src, dst, target):
    for k in ("a", "b", "c"):
        src.set(k, k)
    dst.set("b", "theirs")
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, target, "", 0, 5000, "KEYS", "a", "b", "c")
    assert "BUSYKEY" in str(e.value)
    # the keys the target accepted left; the refused one stayed: nothing lost
    assert src.exists("a", "c") == 0 and src.get("b") == b"b"
    assert dst.mget("a", "b", "c") == [b"a", b"theirs", b"c"]


def test_destination_db(src, target):
    src.set("k", "v")
    assert migrate(src, target, "k", 3) == b"OK"
    other = target.client(db=3)
    assert other.get("k") == b"v"
    other.close()
    # an out-of-range db is the target's error, and the key stays
    src.set("k2", "v")
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, target, "k2", 99)
    assert str(e.value) == "Target instance replied with error: ERR DB index is out of range"
    assert src.get("k2") == b"v"


def test_auth_and_auth2(src, locked_target):
    dst = locked_target.client(password="pw")
    dst.flushall()
    src.set("k", "v")
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, locked_target, "k")
    assert str(e.value) == "Target instance replied with error: NOAUTH Authentication required."
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, locked_target, "k", 0, 5000, "AUTH", "wrong")
    assert str(e.value) == ("Target instance replied with error: WRONGPASS invalid username-password pair or user "
                            "is disabled.")
    assert src.get("k") == b"v"
    assert migrate(src, locked_target, "k", 0, 5000, "AUTH", "pw") == b"OK"
    src.set("k2", "v2")
    assert migrate(src, locked_target, "k2", 0, 5000, "AUTH2", "default", "pw") == b"OK"
    assert dst.mget("k", "k2") == [b"v", b"v2"] and src.exists("k", "k2") == 0
    dst.close()


def test_syntax_and_argument_errors(src, target):
    src.set("b", "1")
    cases = [
        (("b", 0, 1000, "KEYS", "a"), "When using MIGRATE KEYS option, the key argument must be set to the empty string"),
        (("", 0, 1000, "FOO"), "syntax error"),
        (("", 0, 1000, "AUTH"), "syntax error"),
        (("", 0, 1000, "AUTH2", "x"), "syntax error"),
        (("b", "x", 1000), "value is not an integer or out of range"),
        (("b", 0, "x"), "value is not an integer or out of range"),
    ]
    for args, text in cases:
        with pytest.raises(redis.ResponseError) as e:
            src.execute_command("MIGRATE", target.host, target.port, *args)
        assert str(e.value) == text, args
    assert src.get("b") == b"1"


def test_a_migrated_key_counts_as_modified_for_watch(src, target):
    # as Redis's signalModifiedKey: a client WATCHing the key sees its EXEC fail
    src.set("w", "1")
    watcher = src.connection_pool.make_connection()
    watcher.send_command("WATCH", "w")
    assert watcher.read_response() == b"OK"
    assert migrate(src, target, "w") == b"OK"
    watcher.send_command("MULTI")
    watcher.read_response()
    watcher.send_command("PING")
    watcher.read_response()
    watcher.send_command("EXEC")
    assert watcher.read_response() is None  # the migrated key counts as modified
    watcher.disconnect()


# ------------------------------------------------------------------------------------------ failures


def test_target_down_is_ioerr_and_the_key_stays(src):
    src.set("k", "v")
    port = free_port()  # nobody listens there
    with pytest.raises(redis.ResponseError) as e:
        src.execute_command("MIGRATE", "127.0.0.1", port, "k", 0, 1000)
    assert str(e.value) == "IOERR error or timeout writing to target instance"  # 7.0.15, connection refused
    assert src.get("k") == b"v"


class SilentTarget:
    """A listener that accepts connections and never answers: a hung target."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        deadline = time.time() + 60
        while not self.stop and time.time() < deadline:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_hung_target_times_out_and_the_key_stays(src, source):
    hung = SilentTarget()
    try:
        src.set("k", "v")
        t0 = time.monotonic()
        with pytest.raises(redis.ResponseError) as e:
            src.execute_command("MIGRATE", "127.0.0.1", hung.port, "k", 0, 300)
        took = time.monotonic() - t0
        assert str(e.value) == "IOERR error or timeout reading to target instance"
        assert 0.25 < took < 3
        assert src.get("k") == b"v"
    finally:
        hung.close()


def test_a_dropped_cached_connection_is_replaced(src, dst, target):
    src.set("k1", "v")
    assert migrate(src, target, "k1") == b"OK"
    # the target closes every normal client, the cached MIGRATE connection among them
    dst.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    src.set("k2", "v")
    assert migrate(src, target, "k2") == b"OK"
    assert dst.mget("k1", "k2") == [b"v", b"v"]


def test_target_killed_then_back(src):
    node = start_shoal()
    try:
        src.set("k", "v")
        assert migrate(src, node, "k", 0, 5000, "COPY") == b"OK"
        node.stop()
        with pytest.raises(redis.ResponseError) as e:
            migrate(src, node, "k", 0, 1000, "REPLACE")
        assert str(e.value).startswith("IOERR error or timeout")
        assert src.get("k") == b"v"
    finally:
        node.stop()


# ------------------------------------------------------------------------------------------ with redis-server


def test_shoal_to_redis_and_back(src, source, redis_target):
    ref = redis_target.client()
    ref.flushall()
    fill_every_type(src)
    before = snapshot(src, EVERY_TYPE)
    assert migrate(src, redis_target, "", 0, 5000, "KEYS", *EVERY_TYPE) == b"OK"
    assert src.exists(*EVERY_TYPE) == 0
    for k in EVERY_TYPE:
        assert ref.exists(k) == 1, k
    assert ref.lrange("biglist", 0, 2) == [b"element-0" * 3, b"element-1" * 3, b"element-2" * 3]
    assert ref.zscore("zset", "c") == 1e10 and ref.pfcount("hll") == 3
    assert 599_000 < ref.pttl("volatile") <= 600_000
    # and back: Redis's own MIGRATE into Shoal (RESTORE with Redis's payloads)
    assert ref.execute_command("MIGRATE", source.host, source.port, "", 0, 5000, "KEYS", *EVERY_TYPE) == b"OK"
    assert ref.exists(*EVERY_TYPE) == 0
    after = snapshot(src, EVERY_TYPE)
    assert after.keys() == before.keys()
    assert src.lrange("list", 0, -1) == [f"e{i}".encode() for i in range(5)]
    assert src.hgetall("bighash") == {f"f{i}".encode(): b"v" * 80 for i in range(200)}
    assert src.xinfo_groups("stream")[0]["pending"] == 1
    assert 598_000 < src.pttl("volatile") <= 600_000
    ref.close()


def test_redis_busykey_error_text_through_shoal(src, redis_target):
    ref = redis_target.client()
    ref.flushall()
    ref.set("k", "theirs")
    src.set("k", "ours")
    with pytest.raises(redis.ResponseError) as e:
        migrate(src, redis_target, "k")
    assert str(e.value) == "Target instance replied with error: BUSYKEY Target key name already exists."
    assert src.get("k") == b"ours" and ref.get("k") == b"theirs"
    ref.close()


# ------------------------------------------------------------------------------------------ cluster mode, AOF


def test_cluster_mode_source_sends_restore_asking(target, redis_target, tmp_path):
    node = start_shoal("--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"))
    try:
        c = node.client()
        try:  # once cluster/main.py builds the cluster, the node must own the slots to accept the keys
            c.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        except redis.ResponseError as e:
            assert "cluster support disabled" in str(e)
        c.set("k", "v")
        c.set("k2", "v2")
        dst = target.client()
        dst.delete("k")
        assert migrate(c, target, "k") == b"OK"
        assert dst.get("k") == b"v"
        ref = redis_target.client()
        ref.delete("k2")
        assert migrate(c, redis_target, "k2") == b"OK"  # a standalone redis-server also knows RESTORE-ASKING
        assert ref.get("k2") == b"v2"
        assert "cmdstat_restore-asking" in dst.info("commandstats")
        ref.close()
        dst.close()
        c.close()
    finally:
        node.stop()


def test_migrate_reaches_the_aof_as_del(target, tmp_path):
    import glob
    import os
    node = start_shoal("--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    try:
        c = node.client()
        c.set("a", "1")
        c.set("b", "2")
        assert migrate(c, target, "", 0, 5000, "REPLACE", "KEYS", "a", "b", "missing") == b"OK"
        c.close()
    finally:
        node.stop()
    incr = glob.glob(os.path.join(str(tmp_path), "appendonlydir", "*.incr.aof"))
    data = b"".join(open(p, "rb").read() for p in incr)
    assert b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n" in data
    assert b"MIGRATE" not in data.upper()
