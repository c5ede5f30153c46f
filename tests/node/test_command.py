"""COMMAND over a socket: against Debian's redis-server for every command the node serves, and with the clients
that depend on it (redis-py's cluster key routing reads COMMAND and COMMAND GETKEYS; redis-cli draws its
interactive hints from COMMAND DOCS)."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import socket
import struct
import termios
import time

import pytest
from redis._parsers.commands import CommandsParser

DEADLINE = 10.0  # seconds any one socket or pty exchange may take


class Raw:
    """A raw RESP connection: replies come back as bytes, exactly as the server sent them."""

    def __init__(self, server, proto: int = 2):
        self.sock = socket.create_connection((server.host, server.port), timeout=DEADLINE)
        self.buf = b""
        if proto == 3:
            hello = self.call("HELLO", "3")
            if hello.startswith(b"-"):
                self.close()
                pytest.skip("the node does not speak RESP3 yet (HELLO)")

    def call(self, *args) -> bytes:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        deadline = time.monotonic() + DEADLINE
        while True:
            end = _reply_end(self.buf, 0)
            if end is not None:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply
            assert time.monotonic() < deadline, "no complete reply in time"
            chunk = self.sock.recv(1 << 20)
            assert chunk, "connection closed"
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def _reply_end(data: bytes, pos: int):
    """Where the reply starting at `pos` ends, or None if it is not all here yet."""
    eol = data.find(b"\r\n", pos)
    if eol < 0:
        return None
    t, head, pos = data[pos:pos + 1], data[pos + 1:eol], eol + 2
    if t in b"+-:,#_(":
        return pos
    n = int(head)
    if t in b"$=!":
        return pos if n < 0 else (pos + n + 2 if len(data) >= pos + n + 2 else None)
    for _ in range(max(n, 0) * (2 if t in b"%|" else 1)):
        pos = _reply_end(data, pos)
        if pos is None:
            return None
    return pos


def tree(data: bytes):
    """The reply as a (type byte, value) tree; maps as lists of pairs (RESP2 maps stay flat arrays)."""
    node, _ = _tree(data, 0)
    return node


def _tree(data: bytes, pos: int):
    eol = data.index(b"\r\n", pos)
    t, head, pos = data[pos:pos + 1], data[pos + 1:eol], eol + 2
    if t in b"+-:,#_(":
        return (t, head), pos
    n = int(head)
    if t in b"$=!":
        return ((t, data[pos:pos + n]), pos + n + 2) if n >= 0 else ((t, None), pos)
    items = []
    for _ in range(max(n, 0) * (2 if t in b"%|" else 1)):
        item, pos = _tree(data, pos)
        items.append(item)
    if t in b"%|":
        items = [(items[i], items[i + 1]) for i in range(0, len(items), 2)]
    return (t, items), pos


def _pairs(node):
    t, v = node
    return list(v) if t == b"%" else list(zip(v[0::2], v[1::2]))


def _rebuild(node, pairs):
    t, _ = node
    return (t, pairs) if t == b"%" else (t, [x for pair in pairs for x in pair])


BLANK = (b"$", b"<prose>")


def info_sans_prose(node):
    """A COMMAND INFO entry with key-spec notes blanked and subcommands left out (compared one by one)."""
    t, v = node
    v = list(v)
    specs = [_rebuild(spec, [(k, BLANK if k == (b"$", b"notes") else x) for k, x in _pairs(spec)]) for spec in v[8][1]]
    v[8] = (v[8][0], specs)
    v[9] = (v[9][0], None)
    return (t, v)


def docs_sans_prose(node):
    """A COMMAND DOCS map with summary, complexity and history texts blanked and subcommands left out."""
    out = []
    for k, x in _pairs(node):
        if k[1] in (b"summary", b"complexity"):
            x = BLANK
        elif k[1] == b"history":
            x = (x[0], [(h[0], [h[1][0], BLANK]) for h in x[1]])
        elif k[1] == b"subcommands":
            x = (x[0], None)
        out.append((k, x))
    return _rebuild(node, out)


def served_names(shoal) -> list[bytes]:
    conn = Raw(shoal)
    try:
        return [v for _t, v in tree(conn.call("COMMAND", "LIST"))[1]]
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ against Redis


@pytest.mark.parametrize("proto", [2, 3])
def test_every_served_command_is_described_as_redis_describes_it(shoal, redis_ref, proto):
    ours, theirs = Raw(shoal, proto), Raw(redis_ref, proto)
    try:
        names = served_names(shoal)
        assert b"command" in names and b"command|getkeys" in names
        for name in names:
            info, ref = ours.call("COMMAND", "INFO", name), theirs.call("COMMAND", "INFO", name)
            mine, redis = tree(info)[1][0], tree(ref)[1][0]
            if redis[0] == b"_" or redis[1] is None:
                continue  # not a Redis 7.0 command (e.g. CLIENT SETINFO, which clients of 7.2 send)
            assert info_sans_prose(mine) == info_sans_prose(redis), name
            has_notes = any(k == (b"$", b"notes") for spec in mine[1][8][1] for k, _x in _pairs(spec))
            if not has_notes and not mine[1][9][1]:
                assert info == ref, name  # nothing of ours in it: byte for byte
            docs, ref_docs = ours.call("COMMAND", "DOCS", name), theirs.call("COMMAND", "DOCS", name)
            (_k, mine), = _pairs(tree(docs))
            (_k, redis), = _pairs(tree(ref_docs))
            assert docs_sans_prose(mine) == docs_sans_prose(redis), name
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("args", [
    ("GETKEYS", "get", "k"), ("GETKEYSANDFLAGS", "set", "k", "v", "GET"), ("GETKEYS", "nosuchcommand", "k"),
    ("GETKEYS", "ping", "x"), ("GETKEYS", "get", "a", "b"), ("GETKEYS", "get"), ("INFO", "nosuchcommand"),
    ("INFO", "get|x"), ("DOCS", "nosuchcommand"), ("LIST", "FILTERBY", "x", "y"), ("NOSUCH",),
    ("COUNT", "x"),
])
def test_replies_that_do_not_depend_on_the_command_set(shoal, redis_ref, args):
    ours, theirs = Raw(shoal), Raw(redis_ref)
    try:
        assert ours.call("COMMAND", *args) == theirs.call("COMMAND", *args)
    finally:
        ours.close()
        theirs.close()


# ------------------------------------------------------------------------------------------ through clients


def test_redis_py_command_helpers(r):
    count = r.command_count()
    listed = r.command_list()
    assert count == len([n for n in listed if b"|" not in n])
    table = r.command()
    assert len(table) == count
    assert table["get"]["arity"] == 2 and table["get"]["first_key_pos"] == 1
    assert "readonly" in [f.decode() if isinstance(f, bytes) else f for f in table["get"]["flags"]]
    assert [k.decode() if isinstance(k, bytes) else k for k in r.command_getkeys("SET", "k", "v")] == ["k"]


def test_redis_py_cluster_key_routing_reads_our_table(r):
    parser = CommandsParser(r)
    assert parser.get_keys(r, "GET", "k") == ["k"]
    assert parser.get_keys(r, "SET", "k", "v", "EX", "10") == ["k"]
    assert parser.get_keys(r, "PING") is None
    served = set(served_names_from(r))
    # commands whose keys move: redis-py asks COMMAND GETKEYS
    movable = {"zunionstore": ("ZUNIONSTORE", "d", "2", "a", "b"), "eval": ("EVAL", "return 1", "1", "k", "x"),
               "sort": ("SORT", "k", "STORE", "d"), "lmpop": ("LMPOP", "1", "l", "LEFT")}
    expected = {"zunionstore": ["d", "a", "b"], "eval": ["k"], "sort": ["k", "d"], "lmpop": ["l"]}
    for name, argv in movable.items():
        if name in served:
            assert sorted(parser.get_keys(r, *argv)) == sorted(expected[name]), name


def served_names_from(r) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else n for n in r.command_list()]


def test_bare_command_runs_and_unknown_subcommand_is_refused(r):
    assert len(r.execute_command("COMMAND")) == r.command_count()
    with pytest.raises(Exception, match=r"unknown subcommand 'NOSUCH'. Try COMMAND HELP."):
        r.execute_command("COMMAND", "NOSUCH")


def _redis_cli_hint(port: int, typed: bytes) -> bytes:
    """What interactive redis-cli draws after `typed` is keyed in (its hints come from COMMAND DOCS)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: redis-cli on the pty
        os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    out = b""
    try:
        deadline = time.monotonic() + DEADLINE
        sent = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                out += chunk
                if b"\x1b[6n" in chunk:  # linenoise asks where the cursor is
                    os.write(fd, b"\x1b[1;1R")
            if not sent and out.rstrip().endswith(b">"):
                os.write(fd, typed)
                sent, out = True, b""
            if sent and b"\x1b[0m" in out:  # a hint was drawn (in grey, then the colour is reset)
                break
        return out
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli_hints_come_from_our_command_docs(shoal):
    drawn = _redis_cli_hint(shoal.port, b"set ")
    assert b"key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|" in drawn
