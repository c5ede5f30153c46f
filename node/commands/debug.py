"""DEBUG: the subset that makes sense without jemalloc, forks or crashes: HELP, SLEEP, SET-ACTIVE-EXPIRE, OBJECT,
POPULATE, DIGEST, DIGEST-VALUE, PROTOCOL, ERROR, LOG, CHANGE-REPL-ID.

Refused, as in Redis 7, unless `enable-debug-command` is `yes`, or `local` and the client is local. DIGEST follows
Redis's algorithm (SHA1 mixes of type, key, elements and an expiry marker) so equal datasets give equal digests,
and a string dataset gives the very digest Redis gives.
"""
from __future__ import annotations

import hashlib
import logging
import os
import struct
import time

from ..config import is_local_address
from ..errors import CommandError, NO_SUCH_KEY
from ..resp import OK, BigNumber, Double, MapReply, Raw, SetReply, Simple, Verbatim, encode, string2ll
from .objects import encoding_of, idle_seconds
from .registry import command
from .server_admin import help_reply

log = logging.getLogger("shoal.node")

NOT_ALLOWED = ('ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it '
               'from a local connection, otherwise you need to set this option in the configuration file, and then '
               'restart the server.')
NOT_POSITIVE = "ERR value is out of range, must be positive"
TYPE_CODES = {"string": 0, "list": 1, "set": 2, "zset": 3, "hash": 4, "module": 5, "stream": 6}


def debug_allowed(c) -> bool:
    mode = c.state.config["enable-debug-command"]
    return mode == "yes" or (mode == "local" and is_local_address(c.addr))


def _syntax(argv) -> CommandError:
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{argv[1][:128].decode('utf-8', 'replace')}'. Try DEBUG HELP.")


@command("debug")
def debug(c, argv):
    if not debug_allowed(c):
        raise CommandError(NOT_ALLOWED)
    sub = argv[1].lower().decode("utf-8", "replace")
    handler = _SUBCOMMANDS.get(sub)
    if handler is None:
        raise _syntax(argv)
    fn, nargs = handler
    if (nargs >= 0 and len(argv) != nargs) or (nargs < 0 and len(argv) < -nargs):
        raise _syntax(argv)
    return fn(c, argv)


def _help(c, argv):
    return help_reply("DEBUG", _HELP)


def _sleep(c, argv):
    # DEBUG SLEEP stalls the whole server on purpose (that is what it is for): commands never yield
    try:
        seconds = float(argv[2])
    except ValueError:
        seconds = 0.0
    if seconds > 0:
        time.sleep(seconds)
    return OK


def _set_active_expire(c, argv):
    c.state.active_expire_enabled = _atoi(argv[2]) != 0
    return OK


def _atoi(b: bytes) -> int:
    s = b.decode("ascii", "replace").lstrip()
    n = 0
    sign = 1
    if s[:1] in ("-", "+"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    for ch in s:
        if not ch.isdigit():
            break
        n = n * 10 + int(ch)
    return sign * n


def _object(c, argv):
    key = argv[2]
    v = c.db.get(key)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    lru = c.db.lru.get(key, c.state.lru_clock) & 0xFFFFFF
    refcount = 1
    return Simple(f"Value at:{id(v):#x} refcount:{refcount} encoding:{encoding_of(v)} "
                  f"serializedlength:{serialized_length(v)} lru:{lru} lru_seconds_idle:{idle_seconds(c.db, key)}")


def serialized_length(v) -> int:
    """About how many bytes the value takes in an RDB file: length-prefixed strings, small integers in 2-5
    bytes, collections as their length plus their elements."""
    if v.__class__ is bytes or v.__class__ is bytearray:
        return _rdb_string_len(bytes(v))
    from .objects import _iterate, _length
    total = _rdb_len_len(_length(v))
    for elem in _iterate(v):
        for part in elem if isinstance(elem, tuple) else (elem,):
            if isinstance(part, (bytes, bytearray)):
                total += _rdb_string_len(bytes(part))
            else:
                total += 8
    return total


def _rdb_len_len(n: int) -> int:
    return 1 if n < 64 else 2 if n < 16384 else 5 if n <= 0xFFFFFFFF else 9


def _rdb_string_len(s: bytes) -> int:
    if len(s) <= 11:
        n = string2ll(s)
        if n is not None:
            if -(2**7) <= n < 2**7:
                return 2
            if -(2**15) <= n < 2**15:
                return 3
            if -(2**31) <= n < 2**31:
                return 5
    return _rdb_len_len(len(s)) + len(s)


def _populate(c, argv):
    count = string2ll(argv[2])
    if count is None or count < 0:
        raise CommandError(NOT_POSITIVE)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    size = 0
    if len(argv) == 5:
        size = string2ll(argv[4])
        if size is None or size < 0:
            raise CommandError(NOT_POSITIVE)
    db = c.db
    for j in range(count):
        key = b"%s:%d" % (prefix, j)
        if db.get(key) is not None:
            continue
        value = b"value:%d" % j
        if size:
            value = value[:size].ljust(size, b"\0")
        db.add(key, value)
        db.touch(key)
    return OK


# --------------------------------------------------------------------------------------------------- digests


def _xor(digest: bytes, data: bytes) -> bytes:
    h = hashlib.sha1(data).digest()
    return bytes(a ^ b for a, b in zip(digest, h))


def _mix(digest: bytes, data: bytes) -> bytes:
    return hashlib.sha1(_xor(digest, data)).digest()


def _as_bytes(x) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if isinstance(x, float):
        return b"%.17g" % x
    return str(x).encode()


def object_digest(db, key, v, digest: bytes = bytes(20)) -> bytes:
    """Redis's xorObjectDigest, continuing from `digest`: the type, then the value (ordered types mixed in order,
    set members and hash/zset pairs as an xor of per-element digests), then a marker if the key has a TTL."""
    tname = "string" if isinstance(v, (bytes, bytearray)) else getattr(v, "TYPE_NAME", "module")
    d = _mix(digest, struct.pack(">I", TYPE_CODES.get(tname, 5)))
    if tname == "string":
        d = _mix(d, bytes(v))
    elif tname == "list":
        for elem in v:
            d = _mix(d, _as_bytes(elem))
    elif tname == "set":
        for elem in v:
            d = _xor(d, _as_bytes(elem))
    elif tname in ("zset", "hash"):
        from .objects import _iterate
        for pair in _iterate(v):
            a, b = pair if isinstance(pair, tuple) and len(pair) == 2 else (pair, b"")
            d = _xor(d, _mix(_mix(bytes(20), _as_bytes(a)), _as_bytes(b)))
    else:
        d = _mix(d, repr(v).encode())
    if db.get_expire(key) != -1:
        d = _xor(d, b"!!expire!!")
    return d


def dataset_digest(state) -> bytes:
    """Redis's computeDatasetDigest: per database its number, then an xor of one digest per key."""
    final = bytes(20)
    for db in state.keyspace.dbs:
        if not db.data:
            continue
        final = _mix(final, struct.pack(">I", db.id))
        for key in list(db.data):
            v = db.get(key)
            if v is not None:
                final = _xor(final, object_digest(db, key, v, _mix(bytes(20), key)))
    return final


def _digest(c, argv):
    return Simple(dataset_digest(c.state).hex())


def _digest_value(c, argv):
    out = []
    for key in argv[2:]:
        v = c.db.get(key)
        out.append(Simple((bytes(20) if v is None else object_digest(c.db, key, v)).hex()))
    return out


# --------------------------------------------------------------------------------------------------- protocol


_PROTOCOL_TYPES = "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"


def _protocol(c, argv):
    name = argv[2].lower()
    if name == b"string":
        return b"Hello World"
    if name == b"integer":
        return 12345
    if name == b"double":
        return Double(3.141)
    if name == b"bignum":
        return BigNumber(1234567999999999999999999999999999999)
    if name == b"null":
        return None
    if name == b"array":
        return [0, 1, 2]
    if name == b"set":
        return SetReply([0, 1, 2])
    if name == b"map":
        return MapReply([(0, False), (1, True), (2, False)])
    if name == b"attrib":
        reply = encode(b"Some real reply following the attribute", c.proto)
        if c.proto < 3:
            return Raw(reply)
        return Raw(b"|1\r\n" + encode(b"key-popularity", 3) + encode([b"key:123", 90], 3) + reply)
    if name == b"push":
        if c.proto < 3:
            raise CommandError("ERR RESP2 is not supported by this command")
        return Raw(encode_push([b"server-cpu-usage", 42]) + encode(b"Some real reply following the push reply", 3))
    if name == b"verbatim":
        return Verbatim(b"This is a verbatim\nstring")
    if name == b"true":
        return True
    if name == b"false":
        return False
    raise CommandError(f"ERR Wrong protocol type name. Please use one of the following: {_PROTOCOL_TYPES}")


def encode_push(items) -> bytes:
    from ..resp import Push
    return encode(Push(items), 3)


# --------------------------------------------------------------------------------------------------- misc


def _error(c, argv):
    raise CommandError(argv[2].decode("utf-8", "replace"))


def _log(c, argv):
    log.warning("DEBUG LOG: %s", argv[2].decode("utf-8", "replace"))
    return OK


def _change_repl_id(c, argv):
    c.state.replid = os.urandom(20).hex()
    return OK


def _reload(c, argv):
    options = {"merge": False, "noflush": False, "nosave": False}
    for a in argv[2:]:
        word = a.lower().decode("utf-8", "replace")
        if word not in options:
            raise CommandError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
        options[word] = True
    p = c.state.persistence
    if p is None:
        raise CommandError("ERR persistence is not available on this node")
    p.snapshots.debug_reload(save=not options["nosave"], flush=not options["noflush"], merge=options["merge"])
    return OK


# name -> (function, exact argc, or -minimum)
_SUBCOMMANDS = {
    "help": (_help, 2),
    "sleep": (_sleep, 3),
    "set-active-expire": (_set_active_expire, 3),
    "object": (_object, 3),
    "populate": (_populate, -3),
    "digest": (_digest, 2),
    "digest-value": (_digest_value, -2),
    "protocol": (_protocol, 3),
    "error": (_error, 3),
    "log": (_log, 3),
    "change-repl-id": (_change_repl_id, 2),
    "reload": (_reload, -2),
}

_HELP = [
    "CHANGE-REPL-ID",
    "    Give the node a new replication id.",
    "DIGEST",
    "    Give a digest of the whole dataset (40 zeros when it is empty).",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Give a digest of the value of each <key>.",
    "ERROR <string>",
    "    Answer with <string> as an error reply.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low-level facts about the value of <key>.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named <prefix>:<n> (key:<n> by default); existing keys are left alone.",
    "    Values are value:<n>, or <size> bytes long when <size> is given.",
    "PROTOCOL <type>",
    "    Answer with a sample reply of <type>: string, integer, double, bignum, null, array, set, map,",
    "    attrib, push, verbatim, true or false.",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
    "    Save the dataset, empty it and load it back from the snapshot. MERGE: keys of the file replace keys",
    "    present; NOFLUSH: keep the dataset before loading; NOSAVE: load the file as it is on disk.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Turn the background deletion of expired keys off (0) or on (1).",
    "SLEEP <seconds>",
    "    Stop the whole server for <seconds> (a decimal number).",
]
