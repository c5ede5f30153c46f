"""Real clients against a shoal-node: redis-py (sync, asyncio, RESP3), redis-cli and redis-benchmark.

These are the programs people will point at the node, each with its own connection handshake and reply parser;
what they print for shoal must be what they print for redis-server.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest
import redis
import redis.asyncio

REDIS_CLI = shutil.which("redis-cli")
REDIS_BENCHMARK = shutil.which("redis-benchmark")

# --------------------------------------------------------------------------------------------------- redis-py sync


def test_redis_py_basic_commands(r):
    assert r.ping() is True
    assert r.set("a", "1") is True
    assert r.get("a") == b"1"
    assert r.incr("a") == 2
    assert r.incrby("a", 10) == 12
    assert r.get("missing") is None
    assert r.set("a", "x", nx=True) is None
    assert r.set("b", "y", ex=1000) is True
    assert 990 <= r.ttl("b") <= 1000
    assert r.mset({"m1": "v1", "m2": "v2"}) is True
    assert r.mget("m1", "missing", "m2") == [b"v1", None, b"v2"]
    assert r.exists("a", "b", "nope") == 2
    assert r.delete("a", "b", "nope") == 2
    assert r.type("m1") == b"string"
    assert r.echo("hi") == b"hi"


def test_redis_py_binary_and_large_values(r):
    binary = bytes(range(256)) * 4 + b"\r\n*1\r\n$3\r\n"
    assert r.set(b"bin\x00key", binary)
    assert r.get(b"bin\x00key") == binary
    large = os.urandom(1024 * 1024)
    assert r.set("large", large)
    assert r.get("large") == large
    assert r.strlen("large") == len(large)


def test_redis_py_errors_have_redis_texts(r):
    r.set("s", "not a number")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.incr("s")
    r.rpush("list", "x")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE Operation against a key holding the wrong kind"):
        r.get("list")
    with pytest.raises(redis.ResponseError, match="^unknown command 'NOSUCH', with args beginning with: 'x' $"):
        r.execute_command("NOSUCH", "x")
    with pytest.raises(redis.ResponseError, match="^wrong number of arguments for 'get' command$"):
        r.execute_command("GET")
    assert r.ping() is True  # the connection survives every error


def test_redis_py_pipeline_and_transaction(r):
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"p{i}", i)
        pipe.incr(f"p{i}")
    replies = pipe.execute()
    assert replies == [x for i in range(500) for x in (True, i + 1)]
    with r.pipeline(transaction=True) as tx:
        tx.set("t", "1").incr("t").get("t")
        assert tx.execute() == [True, 2, b"2"]


def test_redis_py_watch_retry_loop(r):
    r.set("counter", 0)
    with r.pipeline() as pipe:
        for _ in range(3):
            try:
                pipe.watch("counter")
                value = int(pipe.get("counter"))
                pipe.multi()
                pipe.set("counter", value + 1)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    assert r.get("counter") == b"1"


def test_redis_py_decode_responses(shoal):
    c = shoal.client(decode_responses=True)
    try:
        c.flushall()
        c.set("k", "héllo")
        assert c.get("k") == "héllo"
        assert c.mget("k", "none") == ["héllo", None]
    finally:
        c.close()


def test_redis_py_connection_pool_many_clients(shoal):
    pool = redis.ConnectionPool(host=shoal.host, port=shoal.port, max_connections=20, socket_timeout=10)
    clients = [redis.Redis(connection_pool=pool) for _ in range(20)]
    try:
        for i, c in enumerate(clients):
            c.set(f"pool{i}", i)
        assert [int(clients[0].get(f"pool{i}")) for i in range(20)] == list(range(20))
    finally:
        pool.disconnect()


# --------------------------------------------------------------------------------------------------- RESP3


def test_redis_py_resp3(r3):
    assert r3.connection_pool.connection_kwargs.get("protocol") == 3
    assert r3.set("a", "1") is True
    assert r3.get("a") == b"1"
    assert r3.get("missing") is None
    assert r3.incr("a") == 2
    r3.zadd("z", {"m": 1.5})
    assert r3.zscore("z", "m") == 1.5
    assert r3.zrange("z", 0, -1, withscores=True) == [[b"m", 1.5]]
    hello = r3.execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"redis"


def test_redis_py_resp3_raw_reply_types(r3):
    # the connection's parser sees the RESP3 types themselves: a null, a double
    conn = r3.connection_pool.get_connection()
    try:
        conn.send_command("GET", "nothing-here")
        assert conn.read_response() is None
        r3.zadd("zz", {"x": 2.5})
        conn.send_command("ZSCORE", "zz", "x")
        assert conn.read_response() == 2.5
    finally:
        r3.connection_pool.release(conn)


# --------------------------------------------------------------------------------------------------- asyncio


def test_redis_asyncio_concurrent_clients(shoal):
    async def main():
        # a blocking pool: 100 tasks share 16 connections, waiting their turn
        pool = redis.asyncio.BlockingConnectionPool(host=shoal.host, port=shoal.port, socket_timeout=10,
                                                    max_connections=16, timeout=10)
        client = redis.asyncio.Redis(connection_pool=pool)
        try:
            await client.flushall()

            async def worker(i):
                await client.set(f"async{i}", i)
                await client.incr(f"async{i}")
                return int(await client.get(f"async{i}"))

            results = await asyncio.gather(*(worker(i) for i in range(100)))
            assert results == [i + 1 for i in range(100)]
            async with client.pipeline(transaction=True) as tx:
                tx.set("atx", "a").append("atx", "b").get("atx")
                assert await tx.execute() == [True, 2, b"ab"]
        finally:
            await client.aclose()
            await pool.disconnect()

    asyncio.run(main())


def test_redis_asyncio_resp3(shoal):
    async def main():
        client = redis.asyncio.Redis(host=shoal.host, port=shoal.port, protocol=3, socket_timeout=10)
        try:
            await client.set("a3", "v")
            assert await client.get("a3") == b"v"
            assert await client.get("missing-a3") is None
        finally:
            await client.aclose()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------------- redis-cli

needs_cli = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")


def cli(srv, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(srv.port), *args], input=stdin,
                          capture_output=True, text=True, timeout=20)


@needs_cli
def test_redis_cli_set_and_get(shoal):
    assert cli(shoal, "SET", "a", "b").stdout == "OK\n"
    assert cli(shoal, "GET", "a").stdout == "b\n"


# each line is one redis-cli invocation; the output must be the same as for redis-server
CLI_SCRIPT = [
    ["SET", "cli:a", "hello world"],
    ["GET", "cli:a"],
    ["GET", "cli:missing"],
    ["INCR", "cli:n"],
    ["INCRBYFLOAT", "cli:f", "1.5"],
    ["RPUSH", "cli:l", "x", "y", "z"],
    ["LRANGE", "cli:l", "0", "-1"],
    ["LRANGE", "cli:none", "0", "-1"],
    ["MGET", "cli:a", "cli:missing"],
    ["ZADD", "cli:z", "1", "m", "2.5", "n"],
    ["ZRANGE", "cli:z", "0", "-1", "WITHSCORES"],
    ["INCR", "cli:a"],
    ["NOSUCHCOMMAND", "arg"],
    ["GET"],
    ["SET", "cli:bin", "a\x01b"],
    ["GET", "cli:bin"],
    ["DEL", "cli:a", "cli:n"],
    ["EXISTS", "cli:a"],
    ["TYPE", "cli:l"],
    ["ECHO", ""],
]


@needs_cli
@pytest.mark.parametrize("mode", [["--no-raw"], ["--raw"], ["-3", "--no-raw"], ["-3", "--raw"]],
                         ids=["no-raw", "raw", "resp3-no-raw", "resp3-raw"])
def test_redis_cli_output_matches_redis(shoal, redis_ref, mode):
    outputs = []
    for srv in (shoal, redis_ref):
        srv.client().flushall()
        outputs.append([cli(srv, *mode, *argv) for argv in CLI_SCRIPT])
    for argv, ours, theirs in zip(CLI_SCRIPT, *outputs):
        assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode), \
            f"redis-cli {' '.join(mode)} {argv}"


@needs_cli
def test_redis_cli_no_raw_formats(shoal):
    shoal.client().flushall()
    assert cli(shoal, "--no-raw", "GET", "nothing").stdout == "(nil)\n"
    assert cli(shoal, "--no-raw", "INCR", "cnt").stdout == "(integer) 1\n"
    assert cli(shoal, "--no-raw", "SET", "s", "v").stdout == "OK\n"
    assert cli(shoal, "--no-raw", "GET", "s").stdout == '"v"\n'
    assert cli(shoal, "--no-raw", "RPUSH", "l", "a", "b").stdout == "(integer) 2\n"
    assert cli(shoal, "--no-raw", "LRANGE", "l", "0", "-1").stdout == '1) "a"\n2) "b"\n'
    assert cli(shoal, "--no-raw", "LRANGE", "none", "0", "-1").stdout == "(empty array)\n"
    assert cli(shoal, "--no-raw", "INCR", "s").stdout == "(error) ERR value is not an integer or out of range\n"


@needs_cli
def test_redis_cli_pipe_of_commands_on_stdin(shoal):
    shoal.client().flushall()
    script = "".join(f"SET k{i} {i}\n" for i in range(200)) + "GET k199\nDBSIZE\n"
    out = cli(shoal, stdin=script)
    lines = out.stdout.splitlines()
    assert lines[:200] == ["OK"] * 200
    assert lines[200:] == ["199", "200"]


# --------------------------------------------------------------------------------------------------- redis-benchmark


@pytest.mark.skipif(REDIS_BENCHMARK is None, reason="redis-benchmark is not installed")
def test_redis_benchmark_smoke(shoal):
    proc = subprocess.run([REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(shoal.port), "-n", "2000",
                           "-t", "set,get,incr,mset", "-q", "-c", "10"],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    # redis-benchmark 7.0 exits at the first error reply ("Error from server: ...")
    assert proc.returncode == 0, out
    assert "Error from server" not in out, out
    assert "Could not fetch server CONFIG" not in out, out
    for test in ("SET", "GET", "INCR", "MSET"):
        assert any(line.startswith(test) and "requests per second" in line for line in out.splitlines()), out
    c = shoal.client()
    assert int(c.get("counter:__rand_int__")) > 0  # the INCR test's key
    c.close()
