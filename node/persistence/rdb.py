"""The RDB v10 snapshot format of Redis 7.0: `write_rdb` writes the file Redis 7.0.15 would write for the same data
(so `redis-check-rdb` and a real redis-server accept it), `load_rdb` reads every file Redis 7.0 reads (including
the ziplist/zipmap/intset/quicklist encodings older versions wrote), and `dump_payload`/`restore_payload` are the
DUMP/RESTORE serialization of one value.

Layout of a file (all multi-byte numbers big endian unless said otherwise):
    "REDIS0010"
    AUX (0xFA) name value              ... redis-ver, redis-bits, ctime, used-mem, [repl-*], aof-base
    FUNCTION2 (0xF5) library-code      ... one per function library
    per non-empty database:
        SELECTDB (0xFE) <len dbid>   RESIZEDB (0xFB) <len keys> <len keys with a TTL>
        per key: [EXPIRETIME_MS (0xFC) <u64 LE ms>] [IDLE (0xF8) <len seconds> | FREQ (0xF9) <u8>]
                 <type byte> <string key> <value>
    EOF (0xFF) <CRC64 of everything before, u64 LE; 0 = not computed>

Lengths ("len"): 00xxxxxx (6 bits), 01xxxxxx xxxxxxxx (14 bits), 0x80 + u32, 0x81 + u64. A first byte 11xxxxxx
starts a specially encoded string: 0xC0 int8, 0xC1 int16 LE, 0xC2 int32 LE, 0xC3 LZF (<len compressed>
<len original> data).

The type of a value follows its encoding in Shoal, as Redis's follows its own (OBJECT ENCODING agrees with the
file): listpack hashes are written as listpacks (16), hashtable ones as plain hashes (4); intset sets as intsets
(11), others as plain sets (2); listpack zsets as listpacks (17), skiplists as ZSET_2 (5) with binary scores;
lists as quicklist 2 (18) nodes of listpacks; streams as STREAM_LISTPACKS_2 (19). On load, values take the
encoding the node's config gives, at the points where Redis 7.0's rdbLoadObject converts.

Strings are written uncompressed (valid RDB: Redis compresses only when it saves bytes); `lzf.compress` exists
but runs at Python speed, so it is not used on the save path.

This module is the file-level interface (write_rdb, load_rdb, dump_payload, restore_payload); one value's
bytes are made in rdb_write.py and read in rdb_read.py, the type bytes and opcodes live in rdb_format.py, and
the compact blobs (listpack, intset, ziplist, zipmap) in encodings.py.

Speed: a million small string keys are written in about 0.3-0.6 s and read in about 1.2-2.4 s on the 2-core
box (Redis: ~0.5 s each), so strings take inline fast paths in both loops, the writer flushes 1 MB chunks
(continuing the CRC64 over each), and the reader works on the whole file in memory (one read, slices, no
per-item I/O; the file's size in extra memory while loading).
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from itertools import repeat

from .crc64 import crc64
from ..types.stream import U64
from .rdb_format import (MAGIC, OP_AUX, OP_EOF, OP_EXPIRETIME, OP_EXPIRETIME_MS, OP_FREQ,
                         OP_FUNCTION, OP_FUNCTION2, OP_IDLE, OP_MODULE_AUX, OP_RESIZEDB, OP_SELECTDB,
                         RDB_VERSION, REDIS_VERSION, TYPE_STRING, U64LE, RdbError)
from .rdb_read import Empty, Limits, Reader, read_value
from .rdb_write import SMALL_LEN, encode_length, encode_string, serialize_value

_FLUSH_AT = 1 << 20  # bytes buffered before a write


@dataclass
class RdbLoadInfo:
    version: int = 0
    aux: dict = field(default_factory=dict)  # name (str) → value (bytes)
    keys_loaded: int = 0
    expired_skipped: int = 0  # keys whose TTL had passed, not loaded (a primary's rule)
    empty_keys_skipped: int = 0  # empty collections, which Redis skips too
    functions: list = field(default_factory=list)  # FUNCTION2 library codes, in file order
    size: int = 0  # bytes of the RDB, checksum included (an AOF preamble's commands start after it)


def _aux_value(v) -> bytes:
    if isinstance(v, int):
        return b"%d" % v
    if isinstance(v, str):
        return v.encode()
    return bytes(v)


def _used_memory(state) -> int:
    mem = getattr(state, "memory", None)
    if mem is not None:
        try:
            return int(mem.used())
        except Exception:  # an estimate for an informational field: never worth failing a save over
            pass
    return 0


def write_rdb(f, state, aux: dict | None = None, functions=()) -> None:
    """Write the whole dataset of `state` to the binary file object `f` (only `write` is used) as Redis 7.0.15
    would. `aux` adds or replaces AUX fields (e.g. {"aof-base": 1}, {"repl-id": ..., "repl-offset": ...});
    `functions` are FUNCTION2 library codes. Reads only the keyspace's databases and the config, so it can run in
    a forked child."""
    config = state.config
    fields = {
        "redis-ver": REDIS_VERSION,
        "redis-bits": 64,
        "ctime": int(time.time()),
        "used-mem": _used_memory(state),
    }
    extra = dict(aux or {})
    for name in ("repl-stream-db", "repl-id", "repl-offset"):
        if name in extra:
            fields[name] = extra.pop(name)
    fields["aof-base"] = extra.pop("aof-base", 0)
    fields.update(extra)

    policy = config["maxmemory-policy"]
    save_lru = "lru" in policy
    save_lfu = "lfu" in policy
    if save_lru or save_lfu:
        from ..eviction import key_freq, key_idle_seconds
    delay = config["rdb-key-save-delay"]  # a testing knob (microseconds per key), as Redis's
    crc = 0
    buf = bytearray(MAGIC + b"%04d" % RDB_VERSION)
    for name, value in fields.items():
        buf.append(OP_AUX)
        buf += encode_string(name.encode())
        buf += encode_string(_aux_value(value))
    for code in functions:
        buf.append(OP_FUNCTION2)
        buf += encode_string(bytes(code))

    for db in state.keyspace.dbs:
        data = db.data
        if not data:
            continue
        expires = db.expires
        buf.append(OP_SELECTDB)
        buf += encode_length(db.id)
        buf.append(OP_RESIZEDB)
        buf += encode_length(len(data))
        buf += encode_length(len(expires))
        small = SMALL_LEN
        for key, v in data.items():
            if expires:
                when = expires.get(key)
                if when is not None:
                    buf.append(OP_EXPIRETIME_MS)
                    buf += U64LE.pack(when & U64)
            if save_lru:
                buf.append(OP_IDLE)
                buf += encode_length(key_idle_seconds(db, key))
            elif save_lfu:
                buf.append(OP_FREQ)
                buf.append(key_freq(db, key))
            # strings dominate big datasets: their type byte and both strings are written inline
            if v.__class__ is bytes:
                buf.append(TYPE_STRING)
                n = len(key)
                if n < 64 and not (n and n <= 11 and (48 <= key[0] <= 57 or key[0] == 45)):
                    buf += small[n]
                    buf += key
                else:
                    buf += encode_string(key)
                n = len(v)
                if n < 64 and not (n <= 11 and n and (48 <= v[0] <= 57 or v[0] == 45)):
                    buf += small[n]
                    buf += v
                else:
                    buf += encode_string(v)
            else:
                t, body = serialize_value(v, config)
                buf.append(t)
                buf += encode_string(key)
                buf += body
            if len(buf) >= _FLUSH_AT:
                crc = crc64(buf, crc)
                f.write(buf)
                buf.clear()
            if delay > 0:
                time.sleep(delay / 1e6)
    buf.append(OP_EOF)
    crc = crc64(buf, crc)
    if not config["rdbchecksum"]:
        crc = 0
    buf += U64LE.pack(crc)
    f.write(buf)


def write_aof_preamble(f, state, aux: dict | None = None, functions=()) -> None:
    """The RDB part of an AOF base file: write_rdb with `aof-base 1`."""
    write_rdb(f, state, {**(aux or {}), "aof-base": 1}, functions)


def dump_payload(value, config=None) -> bytes:
    """DUMP's serialization: type byte, value, RDB version (u16 LE), CRC64 of all that (u64 LE). Redis's payload
    carries no access data (LRU/LFU): RESTORE takes those as IDLETIME/FREQ arguments."""
    t, body = serialize_value(value, config)
    payload = bytes((t,)) + body + RDB_VERSION.to_bytes(2, "little")
    return payload + U64LE.pack(crc64(payload))


# ------------------------------------------------------------------------------------------------ whole file

def load_rdb(f, state, *, strict: bool = True, aof_preamble: bool | None = None) -> RdbLoadInfo:
    """Load an RDB file from the binary file object `f` into `state.keyspace`. Keys whose TTL has passed are
    skipped on a primary (kept on a replica, or in an AOF preamble: `aof_preamble` defaults to the file's
    `aof-base` field), as Redis does. A key already present in the target database is an error when `strict`
    (Redis panics on duplicates), else the file's value replaces it. Verifies the CRC64 unless the file's is 0.
    On return `f` is positioned just after the RDB (an AOF preamble's commands follow there) when seekable."""
    start_pos = None
    try:
        start_pos = f.tell()
    except (AttributeError, OSError):
        pass
    buf = f.read()
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    info = parse_into(buf, state, strict=strict, aof_preamble=aof_preamble)
    if start_pos is not None and info.size < len(buf):
        try:
            f.seek(start_pos + info.size)
        except (AttributeError, OSError):
            pass
    return info


def parse_into(buf: bytes, state, *, strict: bool = True, aof_preamble: bool | None = None) -> RdbLoadInfo:
    """load_rdb on bytes already in memory."""
    info = RdbLoadInfo()
    r = Reader(buf)
    try:
        _parse(r, state, info, strict, aof_preamble)
    except RdbError:
        raise
    except (IndexError, struct.error) as e:  # a read past the end that a check did not catch first
        raise RdbError("unexpected end of data or corrupt structure (%s)" % e, r.pos) from None
    return info


def _parse(r: Reader, state, info: RdbLoadInfo, strict: bool, aof_preamble: bool | None) -> None:
    buf = r.buf
    if len(buf) < 9 or buf[:5] != MAGIC:
        r.fail("wrong signature trying to load DB from file", 0)
    try:
        version = int(buf[5:9])
    except ValueError:
        r.fail("bad RDB version field %r" % buf[5:9], 5)
    if version < 1 or version > RDB_VERSION:
        r.fail("can't handle RDB format version %d" % version, 5)
    info.version = version
    r.pos = 9
    config = state.config
    limits = Limits(config)
    dbs = state.keyspace.dbs
    db = dbs[0]
    now = int(time.time() * 1000)
    keep_expired = bool(getattr(state, "is_replica", False))
    lru_clock = getattr(state, "lru_clock", int(time.time()))
    policy = config["maxmemory-policy"]
    lfu = "lfu" in policy
    touched: list = []  # (db, key, idle, freq) of keys with access data in the file
    added: dict = {}  # db → new keys, for bookkeeping after the load
    cur_db = data = keys = None
    expire = -1
    idle = -1
    freq = -1
    string = r.string
    n = r.n
    delay = config["key-load-delay"]  # a testing knob (microseconds per key), as Redis's
    while True:
        p = r.pos
        if p >= n:
            r.fail("unexpected end of file: no EOF marker", p)
        t = buf[p]
        r.pos = p + 1
        if t == OP_EXPIRETIME_MS:
            expire = r.u64le()
            if expire >> 63:
                expire -= 1 << 64
            continue
        if t == OP_EXPIRETIME:
            q = r.need(4)
            expire = int.from_bytes(buf[q:q + 4], "little", signed=True) * 1000
            continue
        if t == OP_IDLE:
            idle = r.length()
            continue
        if t == OP_FREQ:
            freq = r.byte()
            continue
        if t == OP_SELECTDB:
            dbid = r.length()
            if dbid >= len(dbs):
                r.fail("FATAL: Data file was created with a Redis server configured to handle more than %d "
                       "databases. Exiting" % len(dbs), p)
            db = dbs[dbid]
            continue
        if t == OP_RESIZEDB:
            r.length()
            r.length()
            continue
        if t == OP_AUX:
            name = string()
            value = string()
            info.aux[name.decode("latin-1")] = value
            continue
        if t == OP_EOF:
            break
        if t == OP_FUNCTION2:
            info.functions.append(string())
            continue
        if t == OP_FUNCTION:
            r.fail("pre-release function format (Redis 7.0 rc1/rc2) is not supported", p)
        if t == OP_MODULE_AUX:
            r.fail("the RDB file contains AUX module data, which Shoal cannot load", p)
        # a key: type, key, value. Short raw strings (the bulk of big datasets) are sliced here directly.
        if t == TYPE_STRING:
            kl = buf[p + 1]
            if kl < 64:
                e = p + 2 + kl
                key = buf[p + 2:e]
                vl = buf[e]
                if vl < 64:
                    e2 = e + 1 + vl
                    if e2 > n:
                        r.fail("unexpected end of data inside a string", e)
                    value = buf[e + 1:e2]
                    r.pos = e2
                else:
                    r.pos = e
                    value = string()
            else:
                key = string()
                value = string()
        else:
            key = string()
            try:
                value = read_value(r, t, limits)
            except Empty:
                info.empty_keys_skipped += 1
                expire = idle = freq = -1
                continue
        if expire != -1:
            if aof_preamble is None:
                aof_preamble = info.aux.get("aof-base", b"0") == b"1"
            if expire < now and not keep_expired and not aof_preamble:
                info.expired_skipped += 1
                expire = idle = freq = -1
                continue
        if db is not cur_db:
            cur_db = db
            data = db.data
            keys = added.get(db)
            if keys is None:
                keys = added[db] = []
        if key in data:
            if strict:
                r.fail("duplicated key %r in DB %d" % (key, db.id), p)
            db.delete(key)
            if key in keys:
                keys.remove(key)  # rare (a non-strict load of a file with duplicates): linear is fine
        data[key] = value
        keys.append(key)
        if expire != -1:
            db.set_expire(key, expire)
            expire = -1
        if idle >= 0 or freq >= 0:
            touched.append((db, key, idle, freq))
            idle = freq = -1
        if delay > 0:
            time.sleep(delay / 1e6)
    # the checksum: everything up to and including the EOF byte
    end = r.pos
    if version >= 5:
        stored = r.u64le()
        if stored and config["rdbchecksum"]:
            actual = crc64(memoryview(buf)[:end])
            if actual != stored:
                raise RdbError("wrong RDB checksum expected: (%016x) got: (%016x)" % (stored, actual), end)
    info.size = r.pos
    info.keys_loaded = sum(map(len, added.values()))
    _settle(added, touched, lru_clock, lfu)


def _settle(added: dict, touched: list, lru_clock: int, lfu: bool) -> None:
    """After a bulk load that filled `data` directly: access times, scan/eviction/slot indexes, memory accounting."""
    from .. import memory
    for db, keys in added.items():
        db.lru.update(zip(keys, repeat(lru_clock)))
        if db.scan_index is not None:
            for k in keys:
                db.scan_index.add(k)
        if db.sample_keys is not None:
            db.sample_keys.extend(keys)
        if db.slot_index is not None:
            db.index_slots(keys)
        memory.recount(db)
    if touched:
        from ..eviction import set_key_freq, set_key_idle
        for db, key, idle, freq in touched:
            if lfu and freq >= 0:
                set_key_freq(db, key, freq)
            elif not lfu and idle >= 0:
                set_key_idle(db, key, idle)


# ======================================================================================================= RESTORE

def verify_payload(payload: bytes) -> bool:
    """verifyDumpPayload: at least the 10-byte footer, an RDB version we read, and a matching CRC64."""
    if len(payload) < 10:
        return False
    ver = payload[-10] | (payload[-9] << 8)
    if ver > RDB_VERSION:
        return False
    return crc64(memoryview(payload)[:-8]) == int.from_bytes(payload[-8:], "little")


def restore_payload(payload: bytes, config):
    """The value a DUMP payload holds, built with `config`'s encodings. RdbError if the version or checksum is
    wrong (reason "version or checksum") or the data is malformed ("Bad data format" in RESTORE's words)."""
    if not verify_payload(payload):
        raise RdbError("DUMP payload version or checksum are wrong")
    # like Redis, the value is read from the whole payload: a value that runs into the footer is not refused
    r = Reader(payload)
    try:
        t = r.byte()
        value = read_value(r, t, Limits(config))
    except Empty:
        raise RdbError("Bad data format: empty value", 1) from None
    except (IndexError, struct.error) as e:
        raise RdbError("Bad data format (%s)" % e, r.pos) from None
    return value
