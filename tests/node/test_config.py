"""Configuration on a running shoal-node: start-up from a config file and `--option value` flags, refusal of bad
options at start-up, CONFIG GET/SET over the wire, CONFIG REWRITE round trips, and comparisons with Debian's
redis-server started the same way."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.conftest import ServerProcess, free_port

SKIP_COMPARE = {"port", "bind", "dir", "pidfile", "logfile", "daemonize"}


def shoal_with_file(conf: str, *extra: str, workdir: str | None = None) -> ServerProcess:
    port = free_port()
    wd = workdir or os.path.dirname(conf)
    argv = [sys.executable, "-m", "shoal.cluster.main", conf, "--port", str(port), *extra]
    return ServerProcess(argv, port, wd, "shoal").start()


def run_node(*args: str, timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shoal.cluster.main", *args], capture_output=True, text=True,
                          timeout=timeout)


# --------------------------------------------------------------------------------------------------- start-up


@pytest.mark.parametrize("args,message", [
    (["--port", "abc"], "argument couldn't be parsed into an integer"),
    (["--no-such-option", "1"], "Bad directive or wrong number of arguments"),
    (["--maxmemory", "lots"], "argument must be a memory value"),
    (["--loglevel", "loud"], "argument(s) must be one of the following: debug, verbose, notice, warning"),
    (["--save", "1"], "Invalid save parameters"),
])
def test_bad_option_makes_the_node_exit_with_a_clear_message(args, message):
    p = run_node("--bind", "127.0.0.1", *args)
    assert p.returncode != 0
    assert "*** FATAL CONFIG FILE ERROR" in p.stderr and message in p.stderr


def test_missing_config_file_is_fatal(tmp_path):
    p = run_node(str(tmp_path / "missing.conf"))
    assert p.returncode != 0 and "can't open config file" in p.stderr


def test_bad_line_in_config_file_is_fatal_and_named(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\nhz fast\n")
    p = run_node(str(conf))
    assert p.returncode != 0
    assert "Reading the configuration file, at line 2" in p.stderr and ">>> 'hz fast'" in p.stderr


def test_config_file_and_flags_together(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# a node\nbind 127.0.0.1\nsave \"\"\nhz 25\nmaxmemory 10mb\nslave-read-only no\n"
                    "maxmemory-policy allkeys-lru\nnotify-keyspace-events Ex\n")
    srv = shoal_with_file(str(conf), "--maxmemory", "20mb", "--timeout", "300")
    try:
        r = srv.client()
        assert r.config_get("hz") == {"hz": "25"}
        assert r.config_get("maxmemory") == {"maxmemory": str(20 * 1024 * 1024)}  # flags come after the file
        assert r.config_get("replica-read-only") == {"replica-read-only": "no"}
        assert r.config_get("timeout") == {"timeout": "300"}
        assert r.config_get("notify-keyspace-events") == {"notify-keyspace-events": "xE"}
        assert r.info("server")["config_file"] == str(conf)
        assert r.config_get("dir") == {"dir": str(tmp_path)}
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------------- over the wire


@pytest.fixture(scope="module")
def both(shoal, redis_ref):
    return shoal.client(decode_responses=True), redis_ref.client(decode_responses=True)


def test_config_get_star_matches_redis_defaults(both):
    ours, ref = both
    mine = ours.config_get("*")
    theirs = ref.config_get("*")
    for name in SKIP_COMPARE:
        mine.pop(name, None)
        theirs.pop(name, None)
    assert mine == theirs


def test_config_set_several_and_get(both):
    ours, _ = both
    try:
        assert ours.config_set("hz", 20) is True
        ours.execute_command("CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy", "allkeys-lru")
        assert ours.config_get("maxmemory*")["maxmemory"] == "1048576"
        assert ours.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        with pytest.raises(redis.ResponseError) as e:
            ours.execute_command("CONFIG", "SET", "hz", "30", "maxmemory-samples", "0")
        assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument "
                                "must be between 1 and 2147483647 inclusive")
        assert ours.config_get("hz") == {"hz": "20"}  # nothing of the failed call was applied
    finally:
        ours.execute_command("CONFIG", "SET", "hz", "10", "maxmemory", "0", "maxmemory-policy", "noeviction")


def test_config_set_takes_effect(shoal):
    r = shoal.client()
    try:
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        r.set("k", "v")
        assert any(e["command"] == b"SET k v" for e in r.slowlog_get())
    finally:
        r.config_set("slowlog-log-slower-than", 10000)


def test_passwords_are_redacted_from_the_slowlog(shoal):
    r = shoal.client()
    try:
        r.config_set("slowlog-log-slower-than", 0)
        r.execute_command("CONFIG", "SET", "masterauth", "s3cret")
        entries = r.slowlog_get(5)
        args = [e["command"] for e in entries]
        assert b"CONFIG SET masterauth (redacted)" in args and not any(b"s3cret" in a for a in args)
    finally:
        r.execute_command("CONFIG", "SET", "masterauth", "", "slowlog-log-slower-than", "10000")


def test_immutable_and_protected_refused(shoal):
    r = shoal.client()
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("daemonize", "no")
    with pytest.raises(redis.ResponseError, match="can't set protected config"):
        r.config_set("dir", "/tmp")
    with pytest.raises(redis.ResponseError, match="Unable to listen on this port"):
        r.config_set("port", free_port())


def test_config_rewrite_without_file(shoal):
    with pytest.raises(redis.ResponseError, match="The server is running without a config file"):
        shoal.client().config_rewrite()


def test_config_resetstat(shoal):
    r = shoal.client(decode_responses=True)
    r.set("k", "v")
    r.get("k")
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCOMMAND")
    assert r.info("stats")["keyspace_hits"] >= 1
    assert r.config_resetstat() is True
    stats = r.info("stats")
    assert stats["keyspace_hits"] == 0 and stats["total_error_replies"] == 0
    assert r.info("errorstats") == {}
    assert list(r.info("commandstats")) == ["cmdstat_config|resetstat"] or \
        set(r.info("commandstats")) <= {"cmdstat_config|resetstat", "cmdstat_info"}


# --------------------------------------------------------------------------------------------------- CONFIG REWRITE


def test_rewrite_round_trip(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# keep me\nbind 127.0.0.1\nsave \"\"\nhz 20\n# and me\nmaxmemory 1mb\n")
    srv = shoal_with_file(str(conf))
    try:
        r = srv.client()
        r.execute_command("CONFIG", "SET", "hz", "15", "maxmemory", "2gb", "notify-keyspace-events", "KEA",
                          "slowlog-max-len", "50")
        assert r.config_rewrite() in (True, b"OK")
    finally:
        srv.stop()
    text = conf.read_text()
    assert text.startswith("# keep me\nbind 127.0.0.1\nsave \"\"\nhz 15\n# and me\nmaxmemory 2gb\n")
    assert "slowlog-max-len 50" in text and 'notify-keyspace-events "AKE"' in text
    srv = shoal_with_file(str(conf))
    try:
        r = srv.client(decode_responses=True)
        got = {k: v for name in ("hz", "maxmemory", "notify-keyspace-events", "slowlog-max-len")
               for k, v in r.config_get(name).items()}
        assert got == {"hz": "15", "maxmemory": str(2 * 1024**3), "notify-keyspace-events": "AKE",
                       "slowlog-max-len": "50"}
    finally:
        srv.stop()


def _split_rewrite(text: str) -> tuple[list[str], set[str]]:
    """The kept part of a rewritten file (in order) and the appended lines (as a set: Redis appends them in hash
    order), without lines that name the process (port, dir, logfile, pidfile, ACL users)."""
    skip = ("port ", "dir ", "logfile ", "pidfile ", "user ", "daemonize ")
    lines = [x for x in text.split("\n") if not x.startswith(skip)]
    if "# Generated by CONFIG REWRITE" in lines:
        i = lines.index("# Generated by CONFIG REWRITE")
        return lines[:i], {x for x in lines[i + 1:] if x}
    return lines, set()


def test_rewrite_matches_redis(tmp_path):
    base = ("# test config\n\nbind 127.0.0.1\nsave 900 1\nsave 300 10\nhz 20\nslave-read-only no\n"
            "hash-max-ziplist-entries 100\nmaxmemory 100mb\n   # indented comment\nloglevel notice\n"
            "loglevel verbose\nclient-output-buffer-limit pubsub 64mb 16mb 90\nnotify-keyspace-events KEx\n"
            "timeout 0\n")
    ours_dir, ref_dir = tmp_path / "shoal", tmp_path / "redis"
    ours_dir.mkdir()
    ref_dir.mkdir()
    (ours_dir / "n.conf").write_text(base)
    (ref_dir / "n.conf").write_text(base)
    settings = ["maxmemory", "200mb", "hz", "10", "save", "60 5", "maxmemory-policy", "allkeys-lru",
                "appendfsync", "always", "slave-serve-stale-data", "no", "list-max-ziplist-size", "-3",
                "notify-keyspace-events", "", "maxmemory-clients", "5%", "shutdown-on-sigterm", "now force",
                "oom-score-adj-values", "1 2 3", "proto-max-bulk-len", "100mb"]
    port = free_port()
    ref = ServerProcess(["redis-server", str(ref_dir / "n.conf"), "--port", str(port)], port, str(ref_dir),
                        "redis")
    try:
        ref.start()
    except (FileNotFoundError, RuntimeError):
        pytest.skip("redis-server is not available")
    ours = shoal_with_file(str(ours_dir / "n.conf"))
    try:
        for srv in (ref, ours):
            c = srv.client()
            c.execute_command("CONFIG", "SET", *settings)
            assert c.config_rewrite() in (True, b"OK")
    finally:
        ref.stop()
        ours.stop()
    assert _split_rewrite((ours_dir / "n.conf").read_text()) == _split_rewrite((ref_dir / "n.conf").read_text())
