"""String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY
DECRBY INCRBYFLOAT GETRANGE SUBSTR SETRANGE LCS.

Values are `bytes` as they arrived, or `bytearray` once a command edited them in place (APPEND, SETRANGE, the
bit commands). That split is also how `string_encoding` tells Redis's "raw" strings from "int"/"embstr" ones.

Every command follows Redis 7.0's t_string.c in the order it checks things (which error wins), in what it counts
in `dirty`, which keyspace events it fires, and how it is propagated: commands whose effect depends on the clock
or on float formatting rewrite `argv` in place (as Redis's rewriteClientCommandVector does), because the
dispatcher propagates the argv list after the call.
"""
from __future__ import annotations

from ..errors import CommandError, NOT_INTEGER, OVERFLOW, STRING_TOO_BIG, SYNTAX, WRONGTYPE
from ..keyspace import now_ms
from ..lcs import lcs, lcs_length
from ..numbers import LLONG_MAX, LLONG_MIN, ld2string_human, ld_add, ld_is_finite, string2ld, string2ll, wrap64
from ..resp import OK, MapReply
from .registry import command

NOT_FLOAT = "ERR value is not a valid float"

# OBJ_ENCODING_EMBSTR_SIZE_LIMIT
EMBSTR_LIMIT = 44


def string_encoding(value) -> str:
    """OBJECT ENCODING of a string value, by Redis's rules: what was stored as given is "int" when it is a
    canonical 64-bit integer, else "embstr" up to 44 bytes, else "raw"; a value edited in place is "raw"."""
    if value.__class__ is bytearray:
        return "raw"
    n = len(value)
    if n <= 20 and string2ll(value) is not None:
        return "int"
    return "embstr" if n <= EMBSTR_LIMIT else "raw"


def _is_string(v) -> bool:
    return v.__class__ is bytes or v.__class__ is bytearray


def _get_string(c, key):
    """lookupKeyRead + type check: the value, None if absent, WRONGTYPE if not a string."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is bytes or v.__class__ is bytearray:
        return v
    raise CommandError(WRONGTYPE)


def _write_lookup(c, key):
    """lookupKeyWrite + type check (no hit/miss statistics)."""
    v = c.db.get(key)
    if v is None or v.__class__ is bytes or v.__class__ is bytearray:
        return v
    raise CommandError(WRONGTYPE)


def _notify(c, event: str, key: bytes, cls: str = "$") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def option_word(arg: bytes) -> bytes:
    """An option keyword as Redis compares it: lowercased, and, since Redis compares C strings, cut at the first
    NUL byte ("NX\\0junk" is NX)."""
    i = arg.find(b"\0")
    return (arg if i < 0 else arg[:i]).lower()


def _ll_arg(b: bytes) -> int:
    v = string2ll(b)
    if v is None:
        raise CommandError(NOT_INTEGER)
    return v


def check_string_length(c, current: int, added: int) -> None:
    """Refuse (before allocating anything) a string that would outgrow proto-max-bulk-len. The primary's link is
    exempt: a replica must apply whatever its primary applied."""
    if c.is_master_link:
        return
    if current + added > c.state.config["proto-max-bulk-len"]:
        raise CommandError(STRING_TOO_BIG)


# --------------------------------------------------------------------------------------------------- GET / SET


@command("get")
def get(c, argv):
    return _get_string(c, argv[1])


@command("set")
def set_(c, argv):
    if len(argv) == 3:
        c.db.set(argv[1], argv[2])
        st = c.state
        st.dirty += 1
        if st.notify_flags:
            st.notify_keyspace_event("set", argv[1], c.dbid, "$")
        return OK
    return _set_with_options(c, argv)


# parseExtendedStringArgumentsOrReply flags
_NX, _XX, _GET, _KEEPTTL, _PERSIST, _EX, _PX, _EXAT, _PXAT = (1 << i for i in range(9))
_ANY_EXPIRE = _EX | _PX | _EXAT | _PXAT
_EXPIRE_FLAG = {b"ex": _EX, b"px": _PX, b"exat": _EXAT, b"pxat": _PXAT}


def _parse_extended(argv, first: int, for_set: bool):
    """SET's and GETEX's options, with Redis's rules on which combinations are a syntax error.
    Returns (flags, expire argument or None)."""
    flags = 0
    expire = None
    n = len(argv)
    j = first
    while j < n:
        opt = option_word(argv[j])
        has_next = j + 1 < n
        if opt == b"nx" and for_set and not flags & _XX:
            flags |= _NX
        elif opt == b"xx" and for_set and not flags & _NX:
            flags |= _XX
        elif opt == b"get" and for_set:
            flags |= _GET
        elif opt == b"keepttl" and for_set and not flags & (_PERSIST | _ANY_EXPIRE):
            flags |= _KEEPTTL
        elif opt == b"persist" and not for_set and not flags & (_ANY_EXPIRE | _KEEPTTL):
            flags |= _PERSIST
        elif opt in _EXPIRE_FLAG and has_next and not flags & (
                _KEEPTTL | _PERSIST | (_ANY_EXPIRE & ~_EXPIRE_FLAG[opt])):
            flags |= _EXPIRE_FLAG[opt]
            expire = argv[j + 1]
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return flags, expire


def _expire_at_ms(c, arg: bytes, flags: int, cmd_name: str) -> int:
    """The absolute expiry time (ms) an EX/PX/EXAT/PXAT argument means, or Redis's error for it."""
    ms = _ll_arg(arg)
    seconds = flags & (_EX | _EXAT)
    if ms <= 0 or (seconds and ms > LLONG_MAX // 1000):
        raise CommandError(f"ERR invalid expire time in '{cmd_name}' command")
    if seconds:
        ms *= 1000
    if flags & (_EX | _PX):
        ms = wrap64(ms + now_ms())  # Redis adds in a long long: an overflow turns negative
    if ms <= 0:
        raise CommandError(f"ERR invalid expire time in '{cmd_name}' command")
    return ms


def _set_generic(c, argv, flags: int, key: bytes, value: bytes, expire, cmd_name: str, ok_reply=OK,
                 abort_reply=None):
    """setGenericCommand: SET with options, SETNX, SETEX, PSETEX."""
    when = _expire_at_ms(c, expire, flags, cmd_name) if expire is not None else None
    old = None
    if flags & _GET:
        old = _get_string(c, key)
    db = c.db
    found = db.get(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        return old if flags & _GET else abort_reply
    db.set(key, value, keep_ttl=bool(flags & _KEEPTTL))
    st = c.state
    st.dirty += 1
    _notify(c, "set", key)
    if when is not None:
        db.set_expire(key, when)
        # replicas and the AOF get the absolute time, so a late replay expires the key at the same moment
        argv[:] = [b"SET", key, value, b"PXAT", b"%d" % when]
        _notify(c, "expire", key, "g")
    elif flags & _GET:
        # GET changes nothing worth replaying
        argv[:] = argv[:3] + [a for a in argv[3:] if option_word(a) != b"get"]
    return old if flags & _GET else ok_reply


def _set_with_options(c, argv):
    flags, expire = _parse_extended(argv, 3, True)
    return _set_generic(c, argv, flags, argv[1], argv[2], expire, "set")


@command("setnx")
def setnx(c, argv):
    return _set_generic(c, argv, _NX, argv[1], argv[2], None, "setnx", 1, 0)


@command("setex")
def setex(c, argv):
    return _set_generic(c, argv, _EX, argv[1], argv[3], argv[2], "setex")


@command("psetex")
def psetex(c, argv):
    return _set_generic(c, argv, _PX, argv[1], argv[3], argv[2], "psetex")


@command("getset")
def getset(c, argv):
    key = argv[1]
    old = _get_string(c, key)
    c.db.set(key, argv[2])
    _notify(c, "set", key)
    c.state.dirty += 1
    argv[0] = b"SET"
    return old


@command("getdel")
def getdel(c, argv):
    key = argv[1]
    old = _get_string(c, key)
    if old is not None and c.db.delete(key):
        argv[:] = [b"UNLINK" if c.state.config["lazyfree-lazy-user-del"] else b"DEL", key]
        _notify(c, "del", key, "g")
        c.state.dirty += 1
    return old


@command("getex")
def getex(c, argv):
    flags, expire = _parse_extended(argv, 2, False)
    key = argv[1]
    v = _get_string(c, key)
    if v is None:
        return None
    when = _expire_at_ms(c, expire, flags, "getex") if expire is not None else None
    db = c.db
    st = c.state
    if flags & (_EXAT | _PXAT) and when <= now_ms() and not st.loading and not st.is_replica:
        # an absolute time already past: the key goes now
        db.delete(key)
        argv[:] = [b"UNLINK" if st.config["lazyfree-lazy-expire"] else b"DEL", key]
        _notify(c, "del", key, "g")
        st.dirty += 1
    elif when is not None:
        db.set_expire(key, when)
        if not flags & _PXAT:
            argv[:] = [b"PEXPIREAT", key, b"%d" % when]
        db.touch(key)
        _notify(c, "expire", key, "g")
        st.dirty += 1
    elif flags & _PERSIST:
        if db.persist(key):
            db.touch(key)
            argv[:] = [b"PERSIST", key]
            _notify(c, "persist", key, "g")
            st.dirty += 1
    return v


# --------------------------------------------------------------------------------------------------- MGET / MSET


@command("mget")
def mget(c, argv):
    lookup = c.db.lookup_read
    out = []
    for key in argv[1:]:
        v = lookup(key)
        out.append(v if v is None or v.__class__ is bytes or v.__class__ is bytearray else None)
    return out


def _mset(c, argv, nx: bool):
    if len(argv) % 2 == 0:
        raise CommandError(f"ERR wrong number of arguments for '{'msetnx' if nx else 'mset'}' command")
    db = c.db
    if nx:
        for j in range(1, len(argv), 2):
            if db.get(argv[j]) is not None:
                return 0
    for j in range(1, len(argv), 2):
        db.set(argv[j], argv[j + 1])
        _notify(c, "set", argv[j])
    c.state.dirty += (len(argv) - 1) // 2
    return 1 if nx else OK


@command("mset")
def mset(c, argv):
    return _mset(c, argv, False)


@command("msetnx")
def msetnx(c, argv):
    return _mset(c, argv, True)


# --------------------------------------------------------------------------------------------------- APPEND etc.


@command("append")
def append(c, argv):
    key, tail = argv[1], argv[2]
    db = c.db
    v = _write_lookup(c, key)
    if v is None:
        db.add(key, tail)
        total = len(tail)
    else:
        check_string_length(c, len(v), len(tail))
        if v.__class__ is bytes:
            v = bytearray(v)  # from here on a "raw" string, grown in place
        v += tail
        db.replace(key, v)
        total = len(v)
    _notify(c, "append", key)
    c.state.dirty += 1
    return total


@command("strlen")
def strlen(c, argv):
    v = _get_string(c, argv[1])
    return 0 if v is None else len(v)


def _incr_by(c, key: bytes, incr: int) -> int:
    db = c.db
    v = _write_lookup(c, key)
    if v is None:
        value = 0
    else:
        value = string2ll(v)
        if value is None:
            raise CommandError(NOT_INTEGER)
    new = value + incr
    if new > LLONG_MAX or new < LLONG_MIN:
        raise CommandError(OVERFLOW)
    b = b"%d" % new
    if v is None:
        db.add(key, b)
    else:
        db.replace(key, b)
    _notify(c, "incrby", key)
    c.state.dirty += 1
    return new


@command("incr")
def incr(c, argv):
    return _incr_by(c, argv[1], 1)


@command("decr")
def decr(c, argv):
    return _incr_by(c, argv[1], -1)


@command("incrby")
def incrby(c, argv):
    return _incr_by(c, argv[1], _ll_arg(argv[2]))


@command("decrby")
def decrby(c, argv):
    n = _ll_arg(argv[2])
    if n == LLONG_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr_by(c, argv[1], -n)


@command("incrbyfloat")
def incrbyfloat(c, argv):
    key = argv[1]
    v = _write_lookup(c, key)
    value = 0 if v is None else string2ld(v)
    if value is None:
        raise CommandError(NOT_FLOAT)
    incr = string2ld(argv[2])
    if incr is None:
        raise CommandError(NOT_FLOAT)
    total = ld_add(value, incr)
    if not ld_is_finite(total):
        raise CommandError("ERR increment would produce NaN or Infinity")
    b = ld2string_human(total)
    if v is None:
        c.db.add(key, b)
    else:
        c.db.replace(key, b)
    _notify(c, "incrbyfloat", key)
    c.state.dirty += 1
    # replicate the result, not the addition: float formatting must never make a replica differ
    argv[:] = [b"SET", key, b, b"KEEPTTL"]
    return b


# --------------------------------------------------------------------------------------------------- ranges


@command("getrange")
def getrange(c, argv):
    start = _ll_arg(argv[2])
    end = _ll_arg(argv[3])
    v = _get_string(c, argv[1])
    if v is None:
        return b""
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(v[start:end + 1])


@command("substr")
def substr(c, argv):
    return getrange(c, argv)


@command("setrange")
def setrange(c, argv):
    key, piece = argv[1], argv[3]
    offset = _ll_arg(argv[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    db = c.db
    v = _write_lookup(c, key)
    if v is None:
        if not piece:
            return 0
        check_string_length(c, offset, len(piece))
        v = bytearray(offset + len(piece))
        v[offset:] = piece
        db.add(key, v)
    else:
        if not piece:
            return len(v)
        check_string_length(c, offset, len(piece))
        if v.__class__ is bytes:
            v = bytearray(v)
        if offset > len(v):
            v.extend(bytes(offset - len(v)))
        v[offset:offset + len(piece)] = piece
        db.replace(key, v)
    _notify(c, "setrange", key)
    c.state.dirty += 1
    return len(v)


# --------------------------------------------------------------------------------------------------- LCS


@command("lcs")
def lcs_(c, argv):
    db = c.db
    va = db.lookup_read(argv[1])
    vb = db.lookup_read(argv[2])
    if (va is not None and not _is_string(va)) or (vb is not None and not _is_string(vb)):
        raise CommandError("ERR The specified keys must contain string values")
    a = bytes(va) if va is not None else b""
    b = bytes(vb) if vb is not None else b""
    getidx = getlen = withmatchlen = False
    minmatchlen = 0
    j = 3
    n = len(argv)
    while j < n:
        opt = option_word(argv[j])
        if opt == b"idx":
            getidx = True
        elif opt == b"len":
            getlen = True
        elif opt == b"withmatchlen":
            withmatchlen = True
        elif opt == b"minmatchlen" and j + 1 < n:
            minmatchlen = max(_ll_arg(argv[j + 1]), 0)
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    if getidx and getlen:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    # Redis refuses when its (len(a)+1) x (len(b)+1) table of 32-bit cells would outgrow proto-max-bulk-len
    if (len(a) + 1) * (len(b) + 1) * 4 > c.state.config["proto-max-bulk-len"]:
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    if getlen:
        return lcs_length(a, b)
    length, seq, ranges = lcs(a, b, minmatchlen)
    if not getidx:
        return seq
    matches = []
    for a0, a1, b0, b1, mlen in ranges:
        item = [[a0, a1], [b0, b1]]
        if withmatchlen:
            item.append(mlen)
        matches.append(item)
    return MapReply([(b"matches", matches), (b"len", length)])
