"""Test-side builders for RDB files and for the blobs only older Redis versions wrote (ziplist, zipmap), so the
loader's handling of old encodings can be tested without files from other projects. Written from the format
descriptions in node/persistence/encodings.py, independently of the loader's code."""
from __future__ import annotations

import io

from shoal.node import dispatch
from shoal.node.client import Client
from shoal.node.config import ConfigError
from shoal.node.persistence.crc64 import crc64
from shoal.node.state import NodeState


# ----------------------------------------------------------------------------------------------------- framing

def length(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n < 1 << 32:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def string(s: bytes) -> bytes:
    return length(len(s)) + s


def rdb_file(body: bytes, version: int = 10, checksum: bool = True) -> bytes:
    """A whole file: magic and version, `body` (opcodes and keys), EOF and the CRC64 (0 if not `checksum`)."""
    data = b"REDIS%04d" % version + body + b"\xff"
    crc = crc64(data) if checksum else 0
    return data + crc.to_bytes(8, "little")


def key(type_byte: int, name: bytes, body: bytes, db_select: int | None = None) -> bytes:
    pre = b"\xfe" + length(db_select) if db_select is not None else b""
    return pre + bytes((type_byte,)) + string(name) + body


def text_double(x: float) -> bytes:
    """The old (RDB_TYPE_ZSET) score encoding."""
    if x != x:
        return b"\xfd"
    if x == float("inf"):
        return b"\xfe"
    if x == float("-inf"):
        return b"\xff"
    s = b"%.17g" % x
    return bytes((len(s),)) + s


# ----------------------------------------------------------------------------------------------------- ziplist

def _zl_entry(x, prevlen: int) -> bytes:
    pre = bytes((prevlen,)) if prevlen < 254 else b"\xfe" + prevlen.to_bytes(4, "little")
    if isinstance(x, int):
        if 0 <= x <= 12:
            enc = bytes((0xF1 + x,))
        elif -128 <= x <= 127:
            enc = b"\xfe" + (x & 0xFF).to_bytes(1, "little")
        elif -32768 <= x <= 32767:
            enc = b"\xc0" + (x & 0xFFFF).to_bytes(2, "little")
        elif -(1 << 23) <= x < 1 << 23:
            enc = b"\xf0" + (x & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= x < 1 << 31:
            enc = b"\xd0" + (x & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            enc = b"\xe0" + (x & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
    else:
        n = len(x)
        if n < 64:
            enc = bytes((n,)) + x
        elif n < 16384:
            enc = bytes((0x40 | (n >> 8), n & 0xFF)) + x
        else:
            enc = b"\x80" + n.to_bytes(4, "big") + x
    return pre + enc


def ziplist(items) -> bytes:
    body = b""
    prev = 0
    tail = 10
    for x in items:
        e = _zl_entry(x, prev)
        tail = 10 + len(body)
        body += e
        prev = len(e)
    total = 10 + len(body) + 1
    count = len(items) if len(items) < 65535 else 65535
    return total.to_bytes(4, "little") + tail.to_bytes(4, "little") + count.to_bytes(2, "little") + body + b"\xff"


def zipmap(pairs) -> bytes:
    def ln(n):
        return bytes((n,)) if n < 254 else b"\xfe" + n.to_bytes(4, "little")
    out = bytes((min(len(pairs), 254),))
    for k, v in pairs:
        out += ln(len(k)) + k + ln(len(v)) + b"\x00" + v
    return out + b"\xff"


# ----------------------------------------------------------------------------------------------------- nodes

def describe(n, key: bytes):
    """What a client can see of a key, through commands (hash-table-encoded collections sorted)."""
    t = n("TYPE", key)
    out = [t, n("OBJECT", "ENCODING", key)]
    if t == b"string":
        out.append(n("GET", key))
    elif t == b"list":
        out.append(n("LRANGE", key, 0, -1))
    elif t == b"hash":
        flat = n("HGETALL", key)
        if out[1] == b"hashtable":  # hash-table order differs between servers
            flat = sorted(zip(flat[0::2], flat[1::2]))
        out.append(flat)
    elif t == b"set":
        members = n("SMEMBERS", key)
        out.append(members if out[1] == b"intset" else sorted(members))
    elif t == b"zset":
        out.append(n("ZRANGE", key, 0, -1, "WITHSCORES"))
    elif t == b"stream":
        out.append(n("XINFO", "STREAM", key, "FULL"))
        out.append(n("XINFO", "GROUPS", key))
    return out


def fill_every_type(n) -> None:
    """One key of every type and encoding Shoal has; `n(*argv)` runs a command (in-process or on a server)."""
    n("SET", "str", "hello")
    n("SET", "int", "12345")
    n("SET", "i64", "9223372036854775807")
    n("SET", "raw", "x" * 100)
    n("SET", "", "empty key")
    n("SET", "empty", "")
    n("APPEND", "grown", "abc")  # an in-place string (bytearray)
    n("SETRANGE", "grown", 10, "z")
    n("PFADD", "hll", "a", "b", "c")
    n("RPUSH", "list", "a", "1", "-200", "x" * 300)
    n("RPUSH", "biglist", *[str(i) * 3 for i in range(3000)])
    n("RPUSH", "hugelem", "y" * 20000, "small")
    n("HSET", "hash", "f", "v", "n", "12")
    n("HSET", "bighash", *[x for i in range(600) for x in (f"f{i}", f"v{i}")])
    n("HSET", "longval", "f", "v" * 100)
    n("SADD", "intset", 1, 2, -3, 100000, 9223372036854775807, -9223372036854775808)
    n("SADD", "set", "a", "b", "c")
    n("SADD", "bigintset", *range(600))
    n("ZADD", "zset", 1, "a", 2.5, "b", "-inf", "c", "inf", "d", 1e20, "e", 0.1, "f", -0.0, "g")
    n("ZADD", "skiplist", *[x for i in range(200) for x in (i * 1.5, f"m{i}")])
    n("ZADD", "skipneg", "-inf", "a", "inf", "b", -0.0, "c", *[x for i in range(200) for x in (i, f"n{i}")])
    n("SETEX", "ttl", 1000, "v")
    for i in range(250):
        n("XADD", "stream", f"{i + 1}-{i % 3}", "f", i, "g", "x")
    n("XADD", "stream", "1000-0", "other", "1")
    n("XDEL", "stream", "2-1", "150-2")
    n("XGROUP", "CREATE", "stream", "g1", "0")
    n("XGROUP", "CREATE", "stream", "g2", "$")
    n("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "5", "STREAMS", "stream", ">")
    n("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "stream", ">")
    n("XACK", "stream", "g1", "3-2")
    n("XGROUP", "CREATECONSUMER", "stream", "g1", "carol")
    n("XADD", "emptystream", "1-1", "a", "b")
    n("XDEL", "emptystream", "1-1")
    n("SELECT", 3)
    n("SET", "db3", "v")
    n("SELECT", 0)




class Node:
    """An in-process node driven through the real dispatcher; `n("SET", "k", "v")` returns the parsed reply."""

    def __init__(self, **config: str):
        self.state = NodeState()
        for name, value in config.items():
            name = name.replace("_", "-")
            try:
                self.state.config.set(name, value)
            except ConfigError:  # immutable options (rdbchecksum) are set as at start-up
                self.state.config.set(name, value, startup=True)
        self.client = Client(self.state)

    def raw(self, *args) -> bytes:
        return dispatch.execute(self.client, [a if isinstance(a, bytes) else str(a).encode() for a in args])

    def __call__(self, *args):
        import hiredis
        reader = hiredis.Reader()
        reader.feed(self.raw(*args))
        reply = reader.gets()
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    def db(self, i: int = 0):
        return self.state.keyspace.dbs[i]


def save(node: Node, **kw) -> bytes:
    from shoal.node.persistence import rdb
    f = io.BytesIO()
    rdb.write_rdb(f, node.state, **kw)
    return f.getvalue()


def load(data: bytes, **config):
    from shoal.node.persistence import rdb
    n = Node(**config)
    info = rdb.load_rdb(io.BytesIO(data), n.state)
    return n, info
