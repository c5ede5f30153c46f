"""Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER SPOP SMOVE SINTER SINTERCARD
SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.

Each follows Redis 7.0's t_set.c in the order it checks things (SPOP and SRANDMEMBER parse their count before
looking at the key; SINTER type-checks every key even after a missing one), in its `dirty` count, its keyspace
events and where an emptied set is deleted. Result sets (SINTERSTORE, SUNION...) are built as Redis builds them,
an intset first and one add per member, so their encoding — and with it the order SMEMBERS shows — is Redis's;
SDIFF even picks Redis's algorithm, since the two can leave a different encoding behind.

Random picks are propagated as what they did (SPOP → SREM of the popped members, or DEL when the whole set
went), so replicas and the AOF never roll their own dice.

Counts near -2^63 (CVE-2023-25155): SRANDMEMBER and HRANDFIELD accept -LONG_MAX..LONG_MAX as Redis 7.0.15 does,
and refuse -2^63 with its text. Redis then happily starts writing 2^63 random members and never finishes (tried on
7.0.15: it grows until it is killed); here a negative count asking for more than `RANDOM_REPLY_MAX` elements of
a non-empty collection is refused instead ("ERR value is out of range"), a deliberate difference.
"""
from __future__ import annotations

from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..glob import GlobPattern
from ..numbers import string2ll
from ..resp import SetReply
from ..types.set import SetValue
from .keys import _parse_cursor as parse_scan_cursor
from .registry import command

LONG_MAX = 2**63 - 1
# the largest reply a negative SRANDMEMBER/HRANDFIELD count may ask for (see the module docstring)
RANDOM_REPLY_MAX = 1 << 22
RANDOM_COUNT_RANGE = ("ERR value is out of range, value must between -9223372036854775807 and "
                      "9223372036854775807")
OUT_OF_RANGE_PLAIN = "ERR value is out of range"
NOT_POSITIVE = "ERR value is out of range, must be positive"

# SPOP: when what stays is less than this many times what is popped, build the rest instead (Redis's
# SPOP_MOVE_STRATEGY_MUL); only a matter of speed here
_SPOP_MOVE_MUL = 5


# --------------------------------------------------------------------------------------------------- helpers


def _read_set(c, key):
    """lookupKeyRead + type check: the set, None if absent."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is SetValue:
        return v
    raise CommandError(WRONGTYPE)


def _write_set(c, key):
    """lookupKeyWrite + type check."""
    v = c.db.get(key)
    if v is None or v.__class__ is SetValue:
        return v
    raise CommandError(WRONGTYPE)


def _notify(c, event: str, key: bytes, cls: str = "s") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def _max_intset(c) -> int:
    return c.state.config["set-max-intset-entries"]


def parse_random_count(arg: bytes) -> int:
    """getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX) for SRANDMEMBER/HRANDFIELD counts."""
    n = string2ll(arg)
    if n is None:
        raise CommandError(NOT_INTEGER)
    if n < -LONG_MAX:
        raise CommandError(RANDOM_COUNT_RANGE)
    return n


def check_random_reply_size(n: int) -> None:
    """Refuse a reply of `n` random picks that could never be built (see the module docstring)."""
    if n > RANDOM_REPLY_MAX:
        raise CommandError(OUT_OF_RANGE_PLAIN)


def parse_scan_options(argv, start: int):
    """The MATCH/COUNT options of SSCAN/HSCAN/ZSCAN from argv[start:], as Redis's scanGenericCommand parses them
    for a key (TYPE is SCAN's only). Returns (count, pattern or None)."""
    count = 10
    pattern = None
    i, argc = start, len(argv)
    while i < argc:
        opt = argv[i].lower()
        if argc - i < 2:
            raise CommandError(SYNTAX)
        if opt == b"count":
            count = string2ll(argv[i + 1])
            if count is None:
                raise CommandError(NOT_INTEGER)
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"match":
            pattern = GlobPattern(argv[i + 1])
            if pattern.matches_everything:
                pattern = None
        else:
            raise CommandError(SYNTAX)
        i += 2
    return count, pattern


def scan_step(c, argv, read):
    """The part SSCAN and HSCAN share: the cursor, the type-checked lookup with `read`, the options, one step of
    the value's scan, in Redis's order (a bad cursor is reported before WRONGTYPE, a bad option after it).
    Returns (next cursor, items, match function or None), or None when the key does not exist."""
    cursor = parse_scan_cursor(argv[2])
    value = read(c, argv[1])
    if value is None:
        return None
    count, pattern = parse_scan_options(argv, 3)
    nxt, items = value.scan(cursor, count)
    return nxt, items, pattern.match if pattern is not None else None


def random_sample(value, count: int, *, repeats, everything, distinct) -> list:
    """The cases SRANDMEMBER and HRANDFIELD with a count share: a negative count picks -count times with
    repeats(n), a count covering the whole value is everything(), any other picks `count` distinct ones."""
    if value is None or count == 0:
        return []
    if count < 0:
        check_random_reply_size(-count)
        return repeats(-count)
    if count >= len(value):
        return everything()
    return distinct(count)


def remove_members(c, key: bytes, value, members, remove, event: str, cls: str) -> int:
    """SREM/HDEL: remove each of `members` from the collection at `key` with remove(member) -> bool, deleting
    the key once it is empty; notifies `event` of class `cls` (and del), counts dirty. Returns how many were
    removed."""
    removed = 0
    emptied = False
    for m in members:
        if remove(m):
            removed += 1
            if not len(value):
                emptied = True
                break
    if removed:
        if emptied:
            c.db.delete(key)
        else:
            c.db.touch(key)
        _notify(c, event, key, cls)
        if emptied:
            _notify(c, "del", key, "g")
        c.state.dirty += removed
    return removed


# --------------------------------------------------------------------------------------------------- SADD SREM


@command("sadd")
def sadd(c, argv):
    # the hot path of the group: lookups inlined
    key = argv[1]
    db = c.db
    s = db.get(key)
    if s is None:
        s = SetValue.for_member(argv[2])
        db.add(key, s)
    elif s.__class__ is not SetValue:
        raise CommandError(WRONGTYPE)
    max_intset = c.state.config["set-max-intset-entries"] if s.ints is not None else 0
    add = s.add
    added = 0
    for i in range(2, len(argv)):
        if add(argv[i], max_intset):
            added += 1
    if added:
        db.touch(key)
        st = c.state
        if st.notify_flags:
            st.notify_keyspace_event("sadd", key, c.dbid, "s")
        st.dirty += added
    return added


@command("srem")
def srem(c, argv):
    key = argv[1]
    s = _write_set(c, key)
    if s is None:
        return 0
    return remove_members(c, key, s, argv[2:], s.remove, "srem", "s")


# --------------------------------------------------------------------------------------------------- reads


@command("scard")
def scard(c, argv):
    s = _read_set(c, argv[1])
    return 0 if s is None else len(s)


@command("sismember")
def sismember(c, argv):
    s = _read_set(c, argv[1])
    return 0 if s is None else int(argv[2] in s)


@command("smismember")
def smismember(c, argv):
    s = _read_set(c, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    return [int(m in s) for m in argv[2:]]


@command("smembers")
def smembers(c, argv):
    # Redis 7.0 runs SMEMBERS as SINTER of one key
    s = _read_set(c, argv[1])
    if s is None:
        return SetReply()
    return SetReply(s.members())


@command("sscan")
def sscan(c, argv):
    step = scan_step(c, argv, _read_set)
    if step is None:
        return [b"0", []]
    nxt, members, match = step
    if match is not None:
        members = [m for m in members if match(m)]
    return [b"%d" % nxt, members]


# --------------------------------------------------------------------------------------------------- random


@command("srandmember")
def srandmember(c, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 3:
        return _srandmember_count(c, argv)
    s = _read_set(c, argv[1])
    return None if s is None else s.random_member()


def _srandmember_count(c, argv):
    count = parse_random_count(argv[2])
    s = _read_set(c, argv[1])
    if s is None:
        return []
    return random_sample(s, count, repeats=s.random_members, everything=s.members,
                         distinct=s.distinct_random_members)


@command("spop")
def spop(c, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 3:
        return _spop_count(c, argv)
    key = argv[1]
    s = _write_set(c, key)
    if s is None:
        return None
    m = s.pop_random()
    _notify(c, "spop", key)
    argv[:] = [b"SREM", key, m]
    if not len(s):
        c.db.delete(key)
        _notify(c, "del", key, "g")
    else:
        c.db.touch(key)
    c.state.dirty += 1
    return m


def _spop_count(c, argv):
    count = string2ll(argv[2])
    if count is None or count < 0:
        raise CommandError(NOT_POSITIVE)
    key = argv[1]
    s = _write_set(c, key)
    if s is None or count == 0:
        return SetReply()
    size = len(s)
    _notify(c, "spop", key)
    if count >= size:
        c.state.dirty += size
        members = s.members()
        c.db.delete(key)
        _notify(c, "del", key, "g")
        argv[:] = [b"UNLINK" if c.state.config["lazyfree-lazy-server-del"] else b"DEL", key]
        return SetReply(members)
    c.state.dirty += count
    if (size - count) * _SPOP_MOVE_MUL > count:
        popped = [s.pop_random() for _ in range(count)]
    else:
        # most of the set goes: pick what stays and pop everything else, in the set's order
        stays = set(s.distinct_random_members(size - count))
        popped = [m for m in s.members() if m not in stays]
        for m in popped:
            s.remove(m)
    c.db.touch(key)
    argv[:] = [b"SREM", key, *popped]
    return SetReply(popped)


# --------------------------------------------------------------------------------------------------- SMOVE


@command("smove")
def smove(c, argv):
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    db = c.db
    src = db.get(src_key)
    dst = db.get(dst_key)
    if src is None:
        return 0
    if src.__class__ is not SetValue or (dst is not None and dst.__class__ is not SetValue):
        raise CommandError(WRONGTYPE)
    if src is dst:
        return int(member in src)
    if not src.remove(member):
        return 0
    _notify(c, "srem", src_key)
    if not len(src):
        db.delete(src_key)
        _notify(c, "del", src_key, "g")
    if dst is None:
        dst = SetValue.for_member(member)
        db.add(dst_key, dst)
    db.touch(src_key)
    c.state.dirty += 1
    if dst.add(member, _max_intset(c)):
        c.state.dirty += 1
        db.touch(dst_key)
        _notify(c, "sadd", dst_key)
    return 1


# --------------------------------------------------------------------------------------------------- SINTER family


def _lookup_sets(c, keys, write: bool) -> list:
    """Every key's set (None where missing); WRONGTYPE as soon as one holds something else."""
    get = c.db.get if write else c.db.lookup_read
    out = []
    for k in keys:
        v = get(k)
        if v is not None and v.__class__ is not SetValue:
            raise CommandError(WRONGTYPE)
        out.append(v)
    return out


def _intersection(sets: list, limit: int = 0):
    """Members of the smallest set found in all the others, in the smallest set's order (Redis sorts the sets by
    size, stably, and walks the first). Stops after `limit` members if given."""
    sets = sorted(sets, key=len)
    first, others = sets[0], [s for s in sets[1:] if s is not sets[0]]
    found = 0
    for m in first:
        for s in others:
            if m not in s:
                break
        else:
            yield m
            found += 1
            if limit and found >= limit:
                return


def _store_result(c, dst_key: bytes, result: SetValue, event: str) -> int:
    """Redis's tail of SINTERSTORE/SUNIONSTORE/SDIFFSTORE: store a non-empty result (setKey, dropping any TTL), or
    delete the destination."""
    if len(result):
        c.db.set(dst_key, result)
        _notify(c, event, dst_key)
        c.state.dirty += 1
        return len(result)
    if c.db.delete(dst_key):
        c.state.dirty += 1
        _notify(c, "del", dst_key, "g")
    return 0


@command("sinter")
def sinter(c, argv):
    sets = _lookup_sets(c, argv[1:], write=False)
    if any(s is None for s in sets):
        return SetReply()
    return SetReply(_intersection(sets))


@command("sinterstore")
def sinterstore(c, argv):
    dst_key = argv[1]
    sets = _lookup_sets(c, argv[2:], write=True)
    if any(s is None for s in sets):
        if c.db.delete(dst_key):
            c.state.dirty += 1
            _notify(c, "del", dst_key, "g")
        return 0
    result = SetValue.from_members(_intersection(sets), _max_intset(c))
    return _store_result(c, dst_key, result, "sinterstore")


@command("sintercard")
def sintercard(c, argv):
    numkeys = string2ll(argv[1])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    if numkeys > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].lower() == b"limit" and i + 1 < len(argv):
            limit = string2ll(argv[i + 1])
            if limit is None or limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            i += 2
        else:
            raise CommandError(SYNTAX)
    sets = _lookup_sets(c, argv[2:2 + numkeys], write=False)
    if any(s is None for s in sets):
        return 0
    return sum(1 for _ in _intersection(sets, limit))


def _union(sets: list, max_intset: int) -> SetValue:
    result = SetValue(intset=True)
    for s in sets:
        if s is not None:
            for m in s:
                result.add(m, max_intset)
    return result


def _difference(sets: list, max_intset: int) -> SetValue:
    """sets[0] minus the others, by whichever of Redis's two algorithms Redis would pick: they can leave a different
    encoding behind (the second adds all of sets[0] first, which may turn the result into a hashtable)."""
    result = SetValue(intset=True)
    first = sets[0]
    if first is None:
        return result
    others = [s for s in sets[1:] if s is not None]
    if any(s is first for s in others):
        return result  # a key subtracted from itself: empty
    one_work = len(first) * (1 + len(others)) // 2  # Redis gives algorithm 1 this advantage
    two_work = len(first) + sum(len(s) for s in others)
    if one_work <= two_work:
        # algorithm 1: each member of the first set, if no other set has it
        others.sort(key=len, reverse=True)
        for m in first:
            if not any(m in s for s in others):
                result.add(m, max_intset)
    else:
        # algorithm 2: all of the first set, then remove every member of the others
        for m in first:
            result.add(m, max_intset)
        for s in others:
            for m in s:
                result.remove(m)
                if not len(result):
                    return result
    return result


@command("sunion")
def sunion(c, argv):
    sets = _lookup_sets(c, argv[1:], write=False)
    return SetReply(_union(sets, _max_intset(c)).members())


@command("sunionstore")
def sunionstore(c, argv):
    sets = _lookup_sets(c, argv[2:], write=True)
    return _store_result(c, argv[1], _union(sets, _max_intset(c)), "sunionstore")


@command("sdiff")
def sdiff(c, argv):
    sets = _lookup_sets(c, argv[1:], write=False)
    return SetReply(_difference(sets, _max_intset(c)).members())


@command("sdiffstore")
def sdiffstore(c, argv):
    sets = _lookup_sets(c, argv[2:], write=True)
    return _store_result(c, argv[1], _difference(sets, _max_intset(c)), "sdiffstore")
