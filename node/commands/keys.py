"""Generic key-space commands (DEL, EXISTS, TYPE, RENAME, MOVE, COPY, KEYS, SCAN, RANDOMKEY, TOUCH) and the
expiry commands (EXPIRE & co., TTL & co., PERSIST), as Redis 7.0 answers them.

Each command follows Redis's order of checks (option parsing before number parsing before key lookup), because
that order decides which error a client sees when several things are wrong. Dirty counts and keyspace
notifications are emitted exactly where Redis's db.c and expire.c emit them. The EXPIRE family rewrites `argv`
in place for propagation (PEXPIREAT with an absolute time, or DEL/UNLINK for a time already past), as Redis's
rewriteClientCommandArgument does, since the dispatcher propagates the argv list after the call.
"""
from __future__ import annotations

import copy

from ..errors import CommandError, DB_INDEX, INVALID_EXPIRE, NO_SUCH_KEY, SYNTAX
from ..glob import GlobPattern
from ..keyspace import now_ms, type_name
from ..resp import OK, Simple
from .args import parse_ll
from .registry import command

LLONG_MAX = (1 << 63) - 1
LLONG_MIN = -(1 << 63)
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)
ULONG_MAX = (1 << 64) - 1

SAME_OBJECT = "ERR source and destination objects are the same"
INVALID_CURSOR = "ERR invalid cursor"


# ------------------------------------------------------------------ helpers


def _parse_int(arg: bytes) -> int:
    """getIntFromObjectOrReply: a C int, with Redis's two different errors."""
    v = parse_ll(arg)
    if not INT_MIN <= v <= INT_MAX:
        raise CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
    return v


def _lookup_notouch(db, key):
    """lookupKeyReadWithFlags(LOOKUP_NOTOUCH): counts a hit or a miss, leaves the key's access time alone."""
    v = db.get(key)
    stats = db.state.stats
    if v is None:
        stats.keyspace_misses += 1
    else:
        stats.keyspace_hits += 1
    return v


def _lookup_write(db, key):
    """lookupKeyWrite: expires the key if due, refreshes its access time, counts no hit or miss."""
    v = db.get(key)
    if v is not None:
        db.lru[key] = db.state.lru_clock
    return v


def _target_db(c, arg: bytes):
    dbid = _parse_int(arg)
    keyspace = c.state.keyspace
    if dbid < 0 or dbid >= len(keyspace):
        raise CommandError(DB_INDEX)
    return keyspace[dbid]


def _copy_value(v):
    """A value for COPY that shares nothing mutable with the original."""
    cls = v.__class__
    if cls is bytes:
        return v
    if cls is bytearray:
        return bytearray(v)
    dup = getattr(v, "copy", None)
    return dup() if dup is not None else copy.deepcopy(v)


def _cluster_enabled(c) -> bool:
    return bool(c.state.config["cluster-enabled"])


# ------------------------------------------------------------------ DEL UNLINK EXISTS TYPE TOUCH

def _delete_keys(c, keys) -> int:
    db = c.db
    state = c.state
    deleted = 0
    for key in keys:
        if db.delete(key):
            state.notify_keyspace_event("del", key, c.dbid, "g")
            state.dirty += 1
            deleted += 1
    return deleted


@command("del")
def del_(c, argv):
    return _delete_keys(c, argv[1:])


@command("unlink")
def unlink(c, argv):
    return _delete_keys(c, argv[1:])


@command("exists")
def exists(c, argv):
    db = c.db
    return sum(1 for key in argv[1:] if _lookup_notouch(db, key) is not None)


@command("type")
def type_(c, argv):
    v = _lookup_notouch(c.db, argv[1])
    return Simple("none" if v is None else type_name(v))


@command("touch")
def touch(c, argv):
    db = c.db
    return sum(1 for key in argv[1:] if db.lookup_read(key) is not None)


# ------------------------------------------------------------------ RENAME MOVE COPY

def _rename(c, argv, nx: bool):
    src, dst = argv[1], argv[2]
    db = c.db
    value = _lookup_write(db, src)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    expire = db.get_expire(src)
    if _lookup_write(db, dst) is not None:
        if nx:
            return 0
        db.delete(dst)
    lru = db.lru.get(src)
    db.add(dst, value)
    if expire != -1:
        db.set_expire(dst, expire)
    db.delete(src)
    if lru is not None:
        db.lru[dst] = lru  # the value moved, its idle time with it (Redis moves the object)
    state = c.state
    state.notify_keyspace_event("rename_from", src, c.dbid, "g")
    state.notify_keyspace_event("rename_to", dst, c.dbid, "g")
    state.dirty += 1
    return 1 if nx else OK


@command("rename")
def rename(c, argv):
    return _rename(c, argv, nx=False)


@command("renamenx")
def renamenx(c, argv):
    return _rename(c, argv, nx=True)


@command("move")
def move(c, argv):
    if _cluster_enabled(c):
        raise CommandError("ERR MOVE is not allowed in cluster mode")
    key = argv[1]
    src = c.db
    dst = _target_db(c, argv[2])
    if src is dst:
        raise CommandError(SAME_OBJECT)
    value = _lookup_write(src, key)
    if value is None:
        return 0
    expire = src.get_expire(key)
    if _lookup_write(dst, key) is not None:
        return 0
    lru = src.lru.get(key)
    dst.add(key, value)
    if expire != -1:
        dst.set_expire(key, expire)
    src.delete(key)
    if lru is not None:
        dst.lru[key] = lru
    state = c.state
    state.notify_keyspace_event("move_from", key, src.id, "g")
    state.notify_keyspace_event("move_to", key, dst.id, "g")
    state.dirty += 1
    return 1


@command("copy")
def copy_(c, argv):
    src = dst = c.db
    replace = False
    j, argc = 3, len(argv)
    while j < argc:
        opt = argv[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < argc:
            dst = _target_db(c, argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    if _cluster_enabled(c) and (src.id != 0 or dst.id != 0):
        raise CommandError("ERR Copying to another database is not allowed in cluster mode")
    key, newkey = argv[1], argv[2]
    if src is dst and key == newkey:
        raise CommandError(SAME_OBJECT)
    value = src.lookup_read(key)
    if value is None:
        return 0
    expire = src.get_expire(key)
    if _lookup_write(dst, newkey) is not None:
        if not replace:
            return 0
        dst.delete(newkey)
    dst.add(newkey, _copy_value(value))
    if expire != -1:
        dst.set_expire(newkey, expire)
    c.state.notify_keyspace_event("copy_to", newkey, dst.id, "g")
    c.state.dirty += 1
    return 1


# ------------------------------------------------------------------ KEYS SCAN RANDOMKEY

@command("keys")
def keys(c, argv):
    db = c.db
    pattern = GlobPattern(argv[1])
    match_all = pattern.matches_everything
    match = pattern.match
    # KEYS skips expired keys without deleting them, as Redis's keyIsExpired check does
    return [k for k in db.keys() if (match_all or match(k)) and not db.is_expired(k)]


def _parse_cursor(arg: bytes) -> int:
    """Redis's parseScanCursorOrReply: C strtoul() in base 10, read up to the first NUL byte, with a leading
    space refused; an empty string is cursor 0 and a minus sign wraps around as strtoul does."""
    s = arg.split(b"\x00", 1)[0]
    if s[:1] in (b" ", b"\t", b"\n", b"\v", b"\f", b"\r"):
        raise CommandError(INVALID_CURSOR)
    if not s:
        return 0
    sign = s[:1]
    digits = s[1:] if sign in (b"+", b"-") else s
    if not digits or not digits.isdigit():
        raise CommandError(INVALID_CURSOR)
    v = int(digits)
    if v > ULONG_MAX:
        raise CommandError(INVALID_CURSOR)
    return (-v) & ULONG_MAX if sign == b"-" else v


@command("scan")
def scan(c, argv):
    cursor = _parse_cursor(argv[1])
    count = 10
    pattern = None
    typename = None
    i, argc = 2, len(argv)
    while i < argc:
        opt = argv[i].lower()
        if argc - i < 2 or opt not in (b"count", b"match", b"type"):
            raise CommandError(SYNTAX)
        if opt == b"count":
            count = parse_ll(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"match":
            pattern = GlobPattern(argv[i + 1])
            if pattern.matches_everything:
                pattern = None
        else:
            typename = argv[i + 1].lower()
        i += 2

    db = c.db
    expired = []

    def accept(key) -> bool:
        # Redis's filter order: pattern, then type, then expiry
        if pattern is not None and not pattern.match(key):
            return False
        is_expired = db.is_expired(key)
        if typename is not None:
            if is_expired:
                db.state.stats.keyspace_misses += 1
                tname = b"none"
            else:
                tname = type_name(_lookup_notouch(db, key)).encode()
            if typename != tname:
                return False
        if is_expired:
            # deleted after the step: deleting inside db.scan could compact the index it is walking
            expired.append(key)
            # Redis 7.0 quirk: TYPE none already deleted the key in its type lookup, so the expiry check that
            # follows finds nothing to expire and lets the key through
            return typename == b"none" and not db.state.is_replica
        return True

    next_cursor, found = db.scan(cursor, count, accept)
    for key in expired:
        db.get(key)  # lazy expiry, as Redis's expireIfNeeded in the scan filter
    return [b"%d" % next_cursor, found]


@command("randomkey")
def randomkey(c, argv):
    return c.db.random_key()


# ------------------------------------------------------------------ EXPIRE PEXPIRE EXPIREAT PEXPIREAT

_EXPIRE_FLAGS = {b"nx": "nx", b"xx": "xx", b"gt": "gt", b"lt": "lt"}


def _parse_expire_flags(argv) -> set:
    flags = set()
    for arg in argv[3:]:
        flag = _EXPIRE_FLAGS.get(arg.lower())
        if flag is None:
            raise CommandError("ERR Unsupported option " + arg.decode("utf-8", "replace"))
        flags.add(flag)
    if "nx" in flags and flags & {"xx", "gt", "lt"}:
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if "gt" in flags and "lt" in flags:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire_refused(flags: set, current: int, when: int) -> bool:
    """NX/XX/GT/LT: True when the option forbids this change (no TTL counts as an infinite one)."""
    if "nx" in flags and current != -1:
        return True
    if "xx" in flags and current == -1:
        return True
    if "gt" in flags and (current == -1 or when <= current):
        return True
    if "lt" in flags and current != -1 and when >= current:
        return True
    return False


def _expire_generic(c, argv, name: str, relative: bool, seconds: bool):
    key = argv[1]
    flags = _parse_expire_flags(argv)
    when = parse_ll(argv[2])
    if seconds:
        # C's LLONG_MIN / 1000 truncates toward zero
        if when > LLONG_MAX // 1000 or when < -(-LLONG_MIN // 1000):
            raise CommandError(INVALID_EXPIRE % name)
        when *= 1000
    base = now_ms() if relative else 0
    if when > LLONG_MAX - base:
        raise CommandError(INVALID_EXPIRE % name)
    when += base

    db = c.db
    state = c.state
    if _lookup_write(db, key) is None:
        return 0
    if flags and _expire_refused(flags, db.get_expire(key), when):
        return 0
    if when <= now_ms() and not state.loading and not state.is_replica:
        # a time already past deletes the key; replicas and the AOF get the deletion itself
        db.delete(key)
        argv[:] = [b"UNLINK" if state.config["lazyfree-lazy-expire"] else b"DEL", key]
        state.notify_keyspace_event("del", key, c.dbid, "g")
        state.dirty += 1
        return 1
    db.set_expire(key, when)
    # propagated as an absolute time, so a replica or an AOF replay expires the key at the same moment; like
    # Redis, only the command name and the time are rewritten (NX/XX/GT/LT stay)
    argv[0] = b"PEXPIREAT"
    argv[2] = b"%d" % when
    db.touch(key)
    state.notify_keyspace_event("expire", key, c.dbid, "g")
    state.dirty += 1
    return 1


@command("expire")
def expire(c, argv):
    return _expire_generic(c, argv, "expire", relative=True, seconds=True)


@command("pexpire")
def pexpire(c, argv):
    return _expire_generic(c, argv, "pexpire", relative=True, seconds=False)


@command("expireat")
def expireat(c, argv):
    return _expire_generic(c, argv, "expireat", relative=False, seconds=True)


@command("pexpireat")
def pexpireat(c, argv):
    return _expire_generic(c, argv, "pexpireat", relative=False, seconds=False)


# ------------------------------------------------------------------ TTL PTTL EXPIRETIME PEXPIRETIME PERSIST

def _ttl_generic(c, key, ms: bool, absolute: bool) -> int:
    db = c.db
    if _lookup_notouch(db, key) is None:
        return -2
    expire = db.get_expire(key)
    if expire == -1:
        return -1
    ttl = expire if absolute else expire - now_ms()
    if ttl < 0:
        ttl = 0
    return ttl if ms else (ttl + 500) // 1000


@command("ttl")
def ttl(c, argv):
    return _ttl_generic(c, argv[1], ms=False, absolute=False)


@command("pttl")
def pttl(c, argv):
    return _ttl_generic(c, argv[1], ms=True, absolute=False)


@command("expiretime")
def expiretime(c, argv):
    return _ttl_generic(c, argv[1], ms=False, absolute=True)


@command("pexpiretime")
def pexpiretime(c, argv):
    return _ttl_generic(c, argv[1], ms=True, absolute=True)


@command("persist")
def persist(c, argv):
    db = c.db
    key = argv[1]
    if _lookup_write(db, key) is None or not db.persist(key):
        return 0
    db.touch(key)
    c.state.notify_keyspace_event("persist", key, c.dbid, "g")
    c.state.dirty += 1
    return 1
