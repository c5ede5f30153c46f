"""Server and introspection commands on a real shoal-node, through redis-py: INFO, DBSIZE, FLUSHDB, FLUSHALL,
TIME, SLOWLOG, LATENCY, MEMORY, OBJECT, DEBUG, SHUTDOWN, LOLWUT and the HELP of each."""
from __future__ import annotations

import re
import socket
import time

import pytest
import redis

from tests.conftest import start_shoal


@pytest.fixture(scope="module")
def dbg():
    """A node that allows DEBUG."""
    srv = start_shoal("--enable-debug-command", "yes")
    yield srv
    srv.stop()


@pytest.fixture
def d(dbg):
    c = dbg.client()
    c.flushall()
    yield c
    c.execute_command("CONFIG", "SET", "latency-monitor-threshold", "0", "slowlog-log-slower-than", "10000")
    c.close()


# --------------------------------------------------------------------------------------------------- INFO


def sections(text: str) -> list[str]:
    return re.findall(r"^# (\w+)", text, re.M)


def raw_info(r):
    """The client, answering INFO with the text itself instead of redis-py's parsed dict."""
    r.set_response_callback("INFO", lambda resp, **kw: resp)
    return r


def test_info_sections(r):
    raw_info(r)
    default = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Errorstats",
               "Cluster", "Keyspace"]
    assert sections(r.execute_command("INFO").decode()) == default
    assert sections(r.execute_command("INFO", "default").decode()) == default
    everything = default[:8] + ["Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace"]
    assert sections(r.execute_command("INFO", "all").decode()) == everything
    assert sections(r.execute_command("INFO", "everything").decode()) == everything
    # asked order does not matter; unknown names add nothing
    assert sections(r.execute_command("INFO", "keyspace", "SERVER", "nope").decode()) == ["Server", "Keyspace"]
    assert r.execute_command("INFO", "nope") == b""
    assert r.execute_command("INFO", "keyspace") == b"# Keyspace\r\n"


def test_info_server_fields(shoal, r):
    info = r.info("server")
    assert info["redis_version"] == "7.0.15" and info["shoal_version"] == "0.1.0"
    assert info["redis_mode"] == "standalone" and info["tcp_port"] == shoal.port
    assert info["process_id"] == shoal.proc.pid
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["uptime_in_seconds"] >= 0 and info["hz"] == 10 and info["configured_hz"] == 10
    assert abs(info["server_time_usec"] / 1e6 - time.time()) < 5


def test_info_clients_and_keyspace(shoal, r):
    extra = [shoal.client() for _ in range(3)]
    try:
        for c in extra:
            c.ping()
        assert r.info("clients")["connected_clients"] >= 4
    finally:
        for c in extra:
            c.close()
    r.set("a", 1)
    r.set("b", 2, ex=100)
    r.execute_command("SELECT", 3)
    r.set("c", 3)
    r.execute_command("SELECT", 0)
    ks = r.info("keyspace")
    assert ks["db0"]["keys"] == 2 and ks["db0"]["expires"] == 1 and ks["db3"]["keys"] == 1
    assert "db1" not in ks


def test_info_stats_count_hits_misses_errors_and_commands(r):
    r.config_resetstat()
    r.set("k", "v")
    r.get("k")
    r.get("missing")
    with pytest.raises(redis.ResponseError):
        r.config_set("hz", "fast")
    stats = r.info("stats")
    assert stats["keyspace_hits"] == 1 and stats["keyspace_misses"] == 1
    assert stats["total_error_replies"] == 1
    assert r.info("errorstats") == {"errorstat_ERR": {"count": 1}}
    cs = r.info("commandstats")
    assert cs["cmdstat_get"]["calls"] == 2 and cs["cmdstat_config|set"]["failed_calls"] == 1
    assert set(cs["cmdstat_set"]) == {"calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"}


def test_info_persistence_tells_dirty_changes(r):
    before = r.info("persistence")["rdb_changes_since_last_save"]
    r.set("x", 1)
    r.set("y", 1)
    after = r.info("persistence")
    assert after["rdb_changes_since_last_save"] == before + 2
    assert after["loading"] == 0 and after["aof_enabled"] == 0 and after["rdb_bgsave_in_progress"] == 0


def test_info_replication_memory_cpu_cluster(r):
    rep = r.info("replication")
    assert rep["role"] == "master" and rep["connected_slaves"] == 0
    assert re.fullmatch(r"[0-9a-f]{40}", rep["master_replid"])
    mem = r.info("memory")
    assert mem["used_memory"] > 1_000_000 and mem["used_memory_peak"] >= mem["used_memory"] // 2
    assert mem["maxmemory_policy"] == "noeviction" and mem["mem_allocator"] == "pymalloc"
    cpu = r.info("cpu")
    assert cpu["used_cpu_user"] > 0
    assert r.info("cluster") == {"cluster_enabled": 0}


def test_info_instantaneous_ops(r):
    deadline = time.time() + 0.8
    n = 0
    while time.time() < deadline and n < 200:
        p = r.pipeline(transaction=False)
        for _ in range(200):
            p.ping()
        p.execute()
        n += 1
    assert r.info("stats")["instantaneous_ops_per_sec"] > 0


def test_info_is_verbatim_in_resp3(r3):
    raw = raw_info(r3).execute_command("INFO", "keyspace")
    assert "Keyspace" in (raw if isinstance(raw, str) else raw.decode())


# --------------------------------------------------------------------------------------------------- DBSIZE, FLUSH*, TIME


def test_dbsize_and_flushdb_flushall(r):
    r.set("a", 1)
    r.set("b", 1)
    assert r.dbsize() == 2
    r.execute_command("SELECT", 1)
    r.set("c", 1)
    assert r.dbsize() == 1
    before = r.info("persistence")["rdb_changes_since_last_save"]
    assert r.flushdb() is True
    assert r.dbsize() == 0
    assert r.info("persistence")["rdb_changes_since_last_save"] == before + 1
    r.execute_command("SELECT", 0)
    assert r.dbsize() == 2
    r.execute_command("SELECT", 1)
    r.set("c", 1)
    assert r.execute_command("FLUSHALL", "ASYNC") in (True, b"OK")
    assert r.dbsize() == 0
    r.execute_command("SELECT", 0)
    assert r.dbsize() == 0
    assert r.execute_command("FLUSHDB", "sync") in (True, b"OK")
    for bad in (["FLUSHDB", "x"], ["FLUSHALL", "async", "sync"]):
        with pytest.raises(redis.ResponseError, match="syntax error"):
            r.execute_command(*bad)


def test_flush_breaks_watch(shoal, r):
    r.set("w", 1)
    p = r.pipeline()
    p.watch("w")
    other = shoal.client()
    other.flushall()
    other.close()
    p.multi()
    p.set("w", 2)
    with pytest.raises(redis.WatchError):
        p.execute()


def test_time(r):
    secs, usecs = r.time()
    assert abs(secs + usecs / 1e6 - time.time()) < 2 and 0 <= usecs < 1_000_000


# --------------------------------------------------------------------------------------------------- SLOWLOG


def test_slowlog(r):
    try:
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        r.client_setname("slowpoke")
        r.set("k", "v")
        r.execute_command("ECHO", "x" * 200)
        r.execute_command("DEL", *[f"k{i}" for i in range(40)])
        entries = r.slowlog_get(3)
        assert [e["command"][:3] for e in entries] == [b"DEL", b"ECH", b"SET"]
        dele, echo, sete = entries
        assert dele["command"].endswith(b"k29 ... (10 more arguments)")  # 31 of 41 arguments, then the rest
        assert echo["command"].endswith(b"... (72 more bytes)")
        assert sete["client_name"] == b"slowpoke" and sete["client_address"].startswith(b"127.0.0.1:")
        assert dele["id"] > echo["id"] > sete["id"] and sete["duration"] >= 0
        everything = len(r.slowlog_get(-1))
        assert everything >= 6 and r.slowlog_len() == everything + 1  # SLOWLOG GET itself was logged too
        n = r.slowlog_len()  # then SLOWLOG LEN is logged too
        assert len(r.execute_command("SLOWLOG", "GET")) == min(10, n + 1)
        assert r.slowlog_reset() is True
        assert r.slowlog_len() <= 1
        with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
            r.execute_command("SLOWLOG", "GET", "-2")
        with pytest.raises(redis.ResponseError, match="Try SLOWLOG HELP"):
            r.execute_command("SLOWLOG", "GET", "1", "2")
    finally:
        r.config_set("slowlog-log-slower-than", 10000)


def test_slowlog_max_len(r):
    try:
        r.config_set("slowlog-max-len", 3)
        r.config_set("slowlog-log-slower-than", 0)
        for _ in range(10):
            r.ping()
        assert r.slowlog_len() == 3
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
        r.config_set("slowlog-max-len", 128)


# --------------------------------------------------------------------------------------------------- LATENCY


def test_latency_monitor_records_slow_commands(d):
    assert d.execute_command("LATENCY", "RESET") >= 0
    assert d.execute_command("LATENCY", "LATEST") == []
    d.config_set("latency-monitor-threshold", 5)
    d.execute_command("DEBUG", "SLEEP", "0.02")
    latest = d.execute_command("LATENCY", "LATEST")
    assert len(latest) == 1
    event, ts, last_ms, max_ms = latest[0]
    assert event == b"command" and last_ms >= 20 and max_ms >= last_ms and abs(ts - time.time()) < 5
    history = d.execute_command("LATENCY", "HISTORY", "command")
    assert len(history) == 1 and history[0][1] == last_ms
    assert b"command" in d.execute_command("LATENCY", "DOCTOR")
    assert b"command - high" in d.execute_command("LATENCY", "GRAPH", "command")
    assert d.execute_command("LATENCY", "RESET", "command", "nope") == 1
    assert d.execute_command("LATENCY", "HISTORY", "command") == []
    with pytest.raises(redis.ResponseError, match="No samples available for event 'command'"):
        d.execute_command("LATENCY", "GRAPH", "command")


def test_latency_fast_commands_below_threshold_are_not_recorded(d):
    d.execute_command("LATENCY", "RESET")
    d.config_set("latency-monitor-threshold", 1000)
    for _ in range(20):
        d.ping()
    assert d.execute_command("LATENCY", "LATEST") == []
    assert d.execute_command("LATENCY", "HISTOGRAM") == []


# --------------------------------------------------------------------------------------------------- MEMORY


def test_memory_usage(r):
    sizes = []
    for n in (1, 10, 100, 1000, 10000):
        r.set("k", "x" * n)
        sizes.append(r.memory_usage("k"))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) and sizes[-1] > 10000
    assert r.memory_usage("k") == r.memory_usage("k")  # stable
    assert r.memory_usage("missing") is None
    assert r.execute_command("MEMORY", "USAGE", "k", "SAMPLES", "0") == sizes[-1]
    for bad, msg in ((["SAMPLES"], "syntax error"), (["SAMPLES", "-1"], "syntax error"),
                     (["SAMPLES", "x"], "not an integer"), (["FOO", "1"], "syntax error")):
        with pytest.raises(redis.ResponseError, match=msg):
            r.execute_command("MEMORY", "USAGE", "k", *bad)


def test_memory_stats_doctor_purge(r):
    r.set("a", "b")
    stats = r.memory_stats()
    for key in ("peak.allocated", "total.allocated", "startup.allocated", "keys.count", "dataset.bytes",
                "fragmentation", "db.0"):
        assert key in stats
    assert stats["keys.count"] == 1 and stats["total.allocated"] > 0
    assert isinstance(r.execute_command("MEMORY", "DOCTOR"), bytes)
    assert b"pymalloc" in r.execute_command("MEMORY", "MALLOC-STATS")
    assert r.memory_purge() is True


# --------------------------------------------------------------------------------------------------- OBJECT


def test_object_encoding_refcount_idletime(r):
    r.set("i", "123")
    r.set("e", "hello")
    r.set("w", "x" * 50)
    assert r.object("encoding", "i") == b"int"
    assert r.object("encoding", "e") == b"embstr"
    assert r.object("encoding", "w") == b"raw"
    r.append("e", "!")
    assert r.object("encoding", "e") == b"raw"
    assert r.object("refcount", "i") == 2147483647  # a shared small integer
    assert r.object("refcount", "w") == 1
    assert r.object("idletime", "w") <= 1
    assert r.object("encoding", "missing") is None and r.object("idletime", "missing") is None


def test_object_does_not_touch_the_key(r):
    r.set("k", "v")
    hits = r.info("stats")["keyspace_hits"]
    r.object("encoding", "k")
    assert r.info("stats")["keyspace_hits"] == hits + 1  # counted, as Redis does


def test_object_freq_needs_an_lfu_policy(r):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
        r.object("freq", "k")
    try:
        r.config_set("maxmemory-policy", "allkeys-lfu")
        assert 0 <= r.object("freq", "k") <= 255
        with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is selected"):
            r.object("idletime", "k")
    finally:
        r.config_set("maxmemory-policy", "noeviction")


# --------------------------------------------------------------------------------------------------- DEBUG


def test_debug_is_refused_by_default(r):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("DEBUG", "HELP")
    assert str(e.value) == ('DEBUG command not allowed. If the enable-debug-command option is set to "local", you '
                            'can run it from a local connection, otherwise you need to set this option in the '
                            'configuration file, and then restart the server.')


def test_debug_local_allows_local_clients():
    srv = start_shoal("--enable-debug-command", "local")
    try:
        assert srv.client().execute_command("DEBUG", "LOG", "hello from the test") == b"OK"
    finally:
        srv.stop()


def test_debug_set_active_expire(d):
    assert d.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    d.set("gone", "x", px=10)
    time.sleep(0.3)
    assert d.dbsize() == 1  # nothing deleted it in the background
    d.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    deadline = time.time() + 3
    while d.dbsize() and time.time() < deadline:
        time.sleep(0.05)
    assert d.dbsize() == 0


def test_debug_object_populate_digest(d):
    d.set("s", "hello")
    info = d.execute_command("DEBUG", "OBJECT", "s")
    assert b"encoding:embstr" in info and b"serializedlength:6" in info and b"lru_seconds_idle:" in info
    with pytest.raises(redis.ResponseError, match="no such key"):
        d.execute_command("DEBUG", "OBJECT", "missing")
    assert d.execute_command("DEBUG", "POPULATE", "3") == b"OK"
    assert d.mget("key:0", "key:2") == [b"value:0", b"value:2"]
    d.execute_command("DEBUG", "POPULATE", "2", "p", "12")
    assert d.get("p:1") == b"value:1\0\0\0\0\0"
    with pytest.raises(redis.ResponseError, match="value is out of range, must be positive"):
        d.execute_command("DEBUG", "POPULATE", "-1")
    d.flushall()
    assert d.execute_command("DEBUG", "DIGEST") == b"0" * 40
    d.set("n", "12345")
    d.set("e", "hello")
    d.expire("e", 100)
    # values recorded from redis-server 7.0.15 for the same data
    assert d.execute_command("DEBUG", "DIGEST-VALUE", "n", "e", "nokey") == [
        b"e1cf90774e995ae03de66e8109dc5cb9d9c2dc83", b"d037c4eb8a8b36b602fbced4000daeab0714c1e3", b"0" * 40]


def test_debug_protocol_resp3(dbg):
    c = dbg.client(protocol=3)
    try:
        assert c.execute_command("DEBUG", "PROTOCOL", "integer") == 12345
        assert c.execute_command("DEBUG", "PROTOCOL", "double") == 3.141
        assert c.execute_command("DEBUG", "PROTOCOL", "null") is None
        assert c.execute_command("DEBUG", "PROTOCOL", "true") is True
        assert c.execute_command("DEBUG", "PROTOCOL", "map") == {0: False, 1: True, 2: False}
        with pytest.raises(redis.ResponseError, match="Wrong protocol type name"):
            c.execute_command("DEBUG", "PROTOCOL", "nope")
    finally:
        c.close()


def test_debug_misc(d):
    with pytest.raises(redis.ResponseError, match="^MYERR custom"):
        d.execute_command("DEBUG", "ERROR", "MYERR custom")
    before = d.info("replication")["master_replid"]
    d.execute_command("DEBUG", "CHANGE-REPL-ID")
    assert d.info("replication")["master_replid"] != before
    t0 = time.time()
    d.execute_command("DEBUG", "SLEEP", "0.1")
    assert time.time() - t0 >= 0.09
    with pytest.raises(redis.ResponseError, match="Try DEBUG HELP"):
        d.execute_command("DEBUG", "NOPE")
    with pytest.raises(redis.ResponseError, match="Try DEBUG HELP"):
        d.execute_command("DEBUG", "SLEEP")


# --------------------------------------------------------------------------------------------------- SHUTDOWN, LOLWUT, HELP


def test_shutdown():
    srv = start_shoal()
    try:
        c = srv.client()
        with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
            c.execute_command("SHUTDOWN", "ABORT")
        for bad in (["FOO"], ["SAVE", "NOSAVE"], ["ABORT", "NOW"]):
            with pytest.raises(redis.ResponseError, match="syntax error"):
                c.execute_command("SHUTDOWN", *bad)
        # Redis answers nothing: the connection just closes (a raw socket, so no client retries get in the way)
        with socket.create_connection((srv.host, srv.port), timeout=10) as s:
            s.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
            assert s.recv(100) == b""
        srv.proc.wait(10)
        assert srv.proc.returncode == 0
    finally:
        srv.stop()


def test_shutdown_is_refused_inside_multi(r):
    p = r.pipeline()
    p.execute_command("SHUTDOWN")
    with pytest.raises(redis.ResponseError):
        p.execute()
    assert r.ping()


def test_lolwut(r):
    out = r.execute_command("LOLWUT")
    assert b"Shoal ver. 0.1.0" in out and b"7.0.15" in out
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("LOLWUT", "VERSION", "x")


@pytest.mark.parametrize("name", ["CONFIG", "SLOWLOG", "LATENCY", "MEMORY", "OBJECT"])
def test_help(r, name):
    lines = r.execute_command(name, "HELP")
    assert lines[0].startswith(f"{name} <subcommand>".encode()) and lines[-2] == b"HELP"
    with pytest.raises(redis.ResponseError, match=f"Try {name} HELP"):
        r.execute_command(name, "NOPE")


# --------------------------------------------------------------------------------------------------- in-process


class FakeSet:
    """A stand-in collection type with a set inside, as the types room's classes look."""
    TYPE_NAME = "set"

    def __init__(self, members):
        self.members = set(members)

    def __len__(self):
        return len(self.members)

    def __iter__(self):
        return iter(self.members)


def test_value_size_of_collections_grows_with_them():
    from shoal.node.commands.objects import value_size
    sizes = [value_size(FakeSet(str(i).encode() * 10 for i in range(n))) for n in (1, 10, 100, 1000)]
    assert sizes == sorted(sizes) and sizes[-1] > 1000 * 20
    assert value_size(FakeSet([])) > 0


def test_set_digest_ignores_member_order():
    from shoal.node.commands.debug import object_digest
    from shoal.node.state import NodeState
    db = NodeState().keyspace[0]
    a = object_digest(db, b"k", FakeSet([b"x", b"y", b"z"]))
    b = object_digest(db, b"k", FakeSet([b"z", b"x", b"y"]))
    assert a == b != object_digest(db, b"k", FakeSet([b"x", b"y"]))


def test_info_section_selection_and_other_rooms_sections():
    from shoal.node.info import info_text, selected_sections
    from shoal.node.state import NodeState
    st = NodeState()
    assert selected_sections(st, ["CPU", "server", "server"]) == ["server", "cpu"]
    assert selected_sections(st, ["modules"]) == ["module_list"]
    st.info_sections["persistence"] = lambda s: ["loading:0", "custom_field:1"]
    st.info_sections["shoal_cluster"] = lambda s: ["nodes:3"]
    text = info_text(st, ["persistence", "shoal_cluster"]).decode()
    assert text == "# Persistence\r\nloading:0\r\ncustom_field:1\r\n\r\n# Shoal_cluster\r\nnodes:3\r\n"
    assert "# Shoal_cluster" in info_text(st, []).decode()
