"""Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY
HINCRBYFLOAT HRANDFIELD HSCAN.

Each follows Redis 7.0's t_hash.c in the order it checks things (HINCRBY parses its increment before looking at
the key; HSCAN parses its cursor, then looks at the key, and only then at its options), in its `dirty` count,
keyspace events and where an emptied hash is deleted. A listpack hash turns into a hashtable exactly where
Redis 7.0 converts it (checked against redis-server 7.0.15):
* HSET/HMSET look at every field and value they were given, even of fields that already exist, before writing;
  HSETNX only when it does write;
* HINCRBY/HINCRBYFLOAT look at the field and the new value they write (so a long float result converts);
* after each new field, past `hash-max-listpack-entries` fields.

HINCRBYFLOAT computes in 80-bit long double and prints as Redis does (node/numbers.py), and is propagated as
HSET of its result, so a replica never redoes the float arithmetic.
"""
from __future__ import annotations

from ..errors import CommandError, NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE
from ..numbers import LLONG_MAX, LLONG_MIN, ld2string_human, ld_add, ld_is_finite, string2ld, string2ll
from ..resp import OK, MapReply
from ..types.hash import HashValue
from .registry import arity_error, command
from .sets import LONG_MAX, OUT_OF_RANGE_PLAIN, parse_random_count, random_sample, remove_members, scan_step

# --------------------------------------------------------------------------------------------------- helpers


def _read_hash(c, key):
    """lookupKeyRead + type check: the hash, None if absent."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is HashValue:
        return v
    raise CommandError(WRONGTYPE)


def _write_hash(c, key):
    """lookupKeyWrite + type check."""
    v = c.db.get(key)
    if v is None or v.__class__ is HashValue:
        return v
    raise CommandError(WRONGTYPE)


def _write_or_create(c, key) -> HashValue:
    """hashTypeLookupWriteOrCreate: the hash at `key`, created (and added to the keyspace) if absent."""
    h = _write_hash(c, key)
    if h is None:
        h = HashValue()
        c.db.add(key, h)
    return h


def _notify(c, event: str, key: bytes, cls: str = "h") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def _set_field(c, h: HashValue, field: bytes, value: bytes) -> bool:
    """hashTypeSet for HINCRBY*: the length check on what is written, the write, the entry-count check."""
    cfg = c.state.config
    if h.listpack:
        h.convert_if_too_long((field, value), cfg["hash-max-listpack-value"])
    new = h.set(field, value)
    if h.listpack:  # Redis checks the count after every write, updates included
        h.convert_if_too_many(cfg["hash-max-listpack-entries"])
    return new


# --------------------------------------------------------------------------------------------------- writes


def _hset_pairs(c, argv, name: str) -> int:
    # the hot path of the group: lookups inlined
    argc = len(argv)
    if argc & 1:
        raise arity_error(name)
    key = argv[1]
    db = c.db
    h = db.get(key)
    if h is None:
        h = HashValue()
        db.add(key, h)
    elif h.__class__ is not HashValue:
        raise CommandError(WRONGTYPE)
    if h.listpack:
        h.convert_if_too_long(argv[2:], c.state.config["hash-max-listpack-value"])
    created = 0
    set_ = h.set
    for i in range(2, argc, 2):
        if set_(argv[i], argv[i + 1]):
            created += 1
    if h.listpack:  # after updates too: a lowered hash-max-listpack-entries converts on the next write
        h.convert_if_too_many(c.state.config["hash-max-listpack-entries"])
    db.touch(key)
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event("hset", key, c.dbid, "h")
    st.dirty += (argc - 2) >> 1
    return created


@command("hset")
def hset(c, argv):
    return _hset_pairs(c, argv, "hset")


@command("hmset")
def hmset(c, argv):
    _hset_pairs(c, argv, "hmset")
    return OK


@command("hsetnx")
def hsetnx(c, argv):
    key, field = argv[1], argv[2]
    h = _write_or_create(c, key)
    if field in h:
        return 0
    _set_field(c, h, field, argv[3])
    c.db.touch(key)
    _notify(c, "hset", key)
    c.state.dirty += 1
    return 1


@command("hdel")
def hdel(c, argv):
    key = argv[1]
    h = _write_hash(c, key)
    if h is None:
        return 0
    return remove_members(c, key, h, argv[2:], h.delete, "hdel", "h")


@command("hincrby")
def hincrby(c, argv):
    key, field = argv[1], argv[2]
    incr = string2ll(argv[3])
    if incr is None:
        raise CommandError(NOT_INTEGER)
    h = _write_or_create(c, key)
    old = h.get(field)
    value = 0
    if old is not None:
        value = string2ll(old)
        if value is None:
            raise CommandError("ERR hash value is not an integer")
    total = value + incr
    if total > LLONG_MAX or total < LLONG_MIN:
        raise CommandError(OVERFLOW)
    _set_field(c, h, field, b"%d" % total)
    c.db.touch(key)
    _notify(c, "hincrby", key)
    c.state.dirty += 1
    return total


@command("hincrbyfloat")
def hincrbyfloat(c, argv):
    key, field = argv[1], argv[2]
    incr = string2ld(argv[3])
    if incr is None:
        raise CommandError(NOT_FLOAT)
    if not ld_is_finite(incr):
        raise CommandError("ERR value is NaN or Infinity")
    h = _write_or_create(c, key)
    old = h.get(field)
    value = 0
    if old is not None:
        value = string2ld(old)
        if value is None:
            raise CommandError("ERR hash value is not a float")
    total = ld_add(value, incr)
    if not ld_is_finite(total):
        raise CommandError("ERR increment would produce NaN or Infinity")
    new = ld2string_human(total)
    _set_field(c, h, field, new)
    c.db.touch(key)
    _notify(c, "hincrbyfloat", key)
    c.state.dirty += 1
    argv[:] = [b"HSET", key, field, new]
    return new


# --------------------------------------------------------------------------------------------------- reads


@command("hget")
def hget(c, argv):
    h = _read_hash(c, argv[1])
    return None if h is None else h.get(argv[2])


@command("hmget")
def hmget(c, argv):
    h = _read_hash(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    get = h.get
    return [get(f) for f in argv[2:]]


@command("hlen")
def hlen(c, argv):
    h = _read_hash(c, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen")
def hstrlen(c, argv):
    h = _read_hash(c, argv[1])
    v = None if h is None else h.get(argv[2])
    return 0 if v is None else len(v)


@command("hexists")
def hexists(c, argv):
    h = _read_hash(c, argv[1])
    return 0 if h is None else int(argv[2] in h)


@command("hkeys")
def hkeys(c, argv):
    h = _read_hash(c, argv[1])
    return [] if h is None else h.fields()


@command("hvals")
def hvals(c, argv):
    h = _read_hash(c, argv[1])
    return [] if h is None else h.values()


@command("hgetall")
def hgetall(c, argv):
    h = _read_hash(c, argv[1])
    return MapReply() if h is None else MapReply(h.items())


@command("hscan")
def hscan(c, argv):
    step = scan_step(c, argv, _read_hash)
    if step is None:
        return [b"0", []]
    nxt, pairs, match = step
    out = []
    for f, v in pairs:
        if match is None or match(f):
            out.append(f)
            out.append(v)
    return [b"%d" % nxt, out]


# --------------------------------------------------------------------------------------------------- HRANDFIELD


@command("hrandfield")
def hrandfield(c, argv):
    if len(argv) >= 3:
        return _hrandfield_count(c, argv)
    h = _read_hash(c, argv[1])
    return None if h is None else h.random_field()


def _pairs_reply(c, pairs: list[tuple[bytes, bytes]]) -> list:
    """WITHVALUES: [field, value] arrays in RESP3, one flat array in RESP2."""
    if c.proto == 3:
        return [[f, v] for f, v in pairs]
    out = []
    for f, v in pairs:
        out.append(f)
        out.append(v)
    return out


def _random_fields(h: HashValue, n: int) -> list:
    """n fields picked at random, repeats allowed."""
    keys = h.table.keys
    return [keys[i] for i in h.table.random_slots(n)]


def _hrandfield_count(c, argv):
    count = parse_random_count(argv[2])
    withvalues = False
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    if len(argv) == 4:
        withvalues = True
        # the reply holds 2 × count elements in RESP2: Redis refuses counts that would overflow that
        if count < -(LONG_MAX // 2) or count > LONG_MAX // 2:
            raise CommandError(OUT_OF_RANGE_PLAIN)
    h = _read_hash(c, argv[1])
    if h is None:
        return []
    if withvalues:
        return random_sample(h, count, repeats=lambda n: _pairs_reply(c, h.random_entries(n)),
                             everything=lambda: _pairs_reply(c, h.items()),
                             distinct=lambda n: _pairs_reply(c, h.distinct_random_entries(n)))
    return random_sample(h, count, repeats=lambda n: _random_fields(h, n),
                         everything=h.fields, distinct=lambda n: [f for f, _ in h.distinct_random_entries(n)])
