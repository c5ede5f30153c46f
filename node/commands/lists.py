"""List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE
RPOPLPUSH LMPOP, and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.

Each follows Redis 7.0's t_list.c in the order it checks things (which error wins: e.g. LRANGE parses its
indexes before looking at the key, LINDEX looks at the key first), in its `dirty` count, its keyspace events
and where an emptied list is deleted. Pops rewrite `argv` for propagation as Redis does (BLPOP → LPOP key,
LMPOP → LPOP key count, BLMOVE → LMOVE ...).

Blocking: a blocking command that finds every key missing raises `dispatch.Blocked`; node/blocking.py serves it
later by calling `retry()` with `blocked.ready_key` set to the key whose change woke it. As in Redis 7.0 the
client is served from that key only, and a key that holds another type by then leaves it blocked. Inside
MULTI/EXEC and scripts (`_deny_blocking`) the command answers at once, with Redis's reply for that case (a null
bulk for BLMOVE/BRPOPLPUSH, a null array for the others — the timeout reply is a null array for all of them).
"""
from __future__ import annotations

from math import ceil

from .. import dispatch  # module, not names: dispatch imports this package while it loads
from ..errors import (CommandError, NO_SUCH_KEY, NOT_INTEGER, OUT_OF_RANGE, SYNTAX, TIMEOUT_NEGATIVE,
                      TIMEOUT_NOT_FLOAT, WRONGTYPE)
from ..keyspace import now_ms
from ..numbers import LLONG_MAX, LLONG_MIN, _to_long_double, string2ld, string2ll, wrap64
from ..resp import NULL_ARRAY, OK
from ..types.list import ListValue
from .registry import arity_error, command

HEAD, TAIL = 0, 1
NOT_POSITIVE = "ERR value is out of range, must be positive"
RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative "
             "to start from the end of the list")


# --------------------------------------------------------------------------------------------------- helpers


def _read_list(c, key):
    """lookupKeyRead + type check: the list, None if absent."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is ListValue:
        return v
    raise CommandError(WRONGTYPE)


def _write_list(c, key):
    """lookupKeyWrite + type check."""
    v = c.db.get(key)
    if v is None or v.__class__ is ListValue:
        return v
    raise CommandError(WRONGTYPE)


def _long(arg: bytes, error: str = NOT_INTEGER) -> int:
    v = string2ll(arg)
    if v is None:
        raise CommandError(error)
    return v


def _positive(arg: bytes, error: str = NOT_POSITIVE) -> int:
    """getPositiveLongFromObjectOrReply: a parse failure gives the same message as a negative value."""
    v = string2ll(arg)
    if v is None or v < 0:
        raise CommandError(error)
    return v


def _where(arg: bytes) -> int:
    w = arg.lower()
    if w == b"left":
        return HEAD
    if w == b"right":
        return TAIL
    raise CommandError(SYNTAX)


def _notify(c, event: str, key: bytes, cls: str = "l") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def _removed(c, key: bytes, where: int, lst: ListValue, count: int) -> None:
    """Redis's listElementsRemoved: the pop event, the key deleted once empty, WATCH/blocked signalled."""
    _notify(c, "lpop" if where == HEAD else "rpop", key)
    if not len(lst):
        c.db.delete(key)  # also signals the change
        _notify(c, "del", key, "g")
    else:
        c.db.touch(key)
    c.state.dirty += count


def _pop_n(lst: ListValue, where: int, count: int) -> list[bytes]:
    count = min(count, len(lst))
    return lst.pop_left_n(count) if where == HEAD else lst.pop_right_n(count)


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout argument (seconds, a long double) as Redis 7.0 reads it, returned as the
    absolute deadline in epoch seconds, 0.0 for "forever".

    Redis computes `(long long) ceill(seconds * 1000.0)`: anything below a millisecond rounds up to 1 ms, a
    negative fraction of a millisecond becomes 0 (forever), and a value out of the long long range (inf included)
    converts to LLONG_MIN on x86-64, hence "timeout is negative". The deadline `now + ms` wraps like a long long;
    a wrapped (negative) deadline is a huge unsigned key in Redis's timeout table: it never fires."""
    v = string2ld(arg)
    if v is None:
        raise CommandError(TIMEOUT_NOT_FLOAT)
    if v.__class__ is float:  # ±inf
        ms = LLONG_MIN
    else:
        ms = ceil(_to_long_double(v * 1000))
        if not LLONG_MIN <= ms <= LLONG_MAX:
            ms = LLONG_MIN
    if ms < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    if ms == 0:
        return 0.0
    deadline = wrap64(ms + now_ms())
    return deadline / 1000.0 if deadline > 0 else 0.0


def _deny_blocking(c) -> bool:
    """Redis's CLIENT_DENY_BLOCKING: inside EXEC (`in_multi` stays set while the queue runs) or a script."""
    return c.no_block or c.in_multi


def _still_blocked(blocked):
    raise blocked


def _ready_keys(blocked, keys):
    """The keys a retry may serve from: the one whose change woke the client (Redis serves from that key only);
    all of them, in order, when called without one."""
    key = getattr(blocked, "ready_key", None)
    return (key,) if key is not None else keys


# --------------------------------------------------------------------------------------------------- push


def _push(c, argv, where: int, only_existing: bool):
    key = argv[1]
    db = c.db
    lst = _write_list(c, key)
    if lst is None:
        if only_existing:
            return 0
        lst = ListValue()
        db.add(key, lst)  # signals the new key (WATCH, blocked clients)
        created = True
    else:
        created = False
    items = argv[2:]
    if where == HEAD:
        lst.extend_left(items)
    else:
        lst.extend_right(items)
    if not created:
        db.touch(key)
    _notify(c, "lpush" if where == HEAD else "rpush", key)
    c.state.dirty += len(items)
    return len(lst)


@command("lpush")
def lpush(c, argv):
    return _push(c, argv, HEAD, False)


@command("rpush")
def rpush(c, argv):
    return _push(c, argv, TAIL, False)


@command("lpushx")
def lpushx(c, argv):
    return _push(c, argv, HEAD, True)


@command("rpushx")
def rpushx(c, argv):
    return _push(c, argv, TAIL, True)


# --------------------------------------------------------------------------------------------------- pop


def _pop(c, argv, where: int):
    if len(argv) > 3:
        raise arity_error(argv[0].decode("utf-8", "replace").lower())
    has_count = len(argv) == 3
    count = _positive(argv[2]) if has_count else 0
    key = argv[1]
    lst = _write_list(c, key)
    if lst is None:
        return NULL_ARRAY if has_count else None
    if not has_count:
        value = lst.pop_left() if where == HEAD else lst.pop_right()
        _removed(c, key, where, lst, 1)
        return value
    if count == 0:
        return []
    values = _pop_n(lst, where, count)
    _removed(c, key, where, lst, len(values))
    return values


@command("lpop")
def lpop(c, argv):
    return _pop(c, argv, HEAD)


@command("rpop")
def rpop(c, argv):
    return _pop(c, argv, TAIL)


# --------------------------------------------------------------------------------------------------- read


@command("llen")
def llen(c, argv):
    lst = _read_list(c, argv[1])
    return 0 if lst is None else len(lst)


@command("lindex")
def lindex(c, argv):
    lst = _read_list(c, argv[1])
    if lst is None:
        return None
    i = _long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    return lst.get(i) if 0 <= i < n else None


def _clamp_range(start: int, end: int, n: int) -> tuple[int, int] | None:
    """LRANGE/LTRIM index rules: (first, last) inclusive, or None for an empty range."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    return start, min(end, n - 1)


@command("lrange")
def lrange(c, argv):
    start = _long(argv[2])
    end = _long(argv[3])
    lst = _read_list(c, argv[1])
    if lst is None:
        return []
    r = _clamp_range(start, end, len(lst))
    if r is None:
        return []
    return lst.range(r[0], r[1] + 1)


@command("lpos")
def lpos(c, argv):
    element = argv[2]
    rank, count, maxlen = 1, -1, 0  # count -1: no COUNT option
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        if j + 1 >= n:
            raise CommandError(SYNTAX)
        if opt == b"rank":
            # Redis 7.0 reads any long here: RANK -9223372036854775808 stays negative when negated (below)
            rank = _long(argv[j + 1])
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif opt == b"count":
            count = _positive(argv[j + 1], "ERR COUNT can't be negative")
        elif opt == b"maxlen":
            maxlen = _positive(argv[j + 1], "ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        j += 2
    from_tail = rank < 0
    if from_tail:
        rank = wrap64(-rank)
    lst = _read_list(c, argv[1])
    if lst is None:
        return [] if count != -1 else None
    matches = 0
    found = []
    for index in lst.positions(element, from_tail, maxlen):
        matches += 1
        if matches >= rank:
            if count == -1:
                return index
            found.append(index)
            # the C arithmetic wraps (rank LLONG_MIN: the count is never reached)
            if count and wrap64(matches - rank + 1) >= count:
                break
    return found if count != -1 else None


# --------------------------------------------------------------------------------------------------- write in place


@command("lset")
def lset(c, argv):
    key = argv[1]
    lst = _write_list(c, key)
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    i = _long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise CommandError(OUT_OF_RANGE)
    lst.set(i, argv[3])
    c.db.touch(key)
    _notify(c, "lset", key)
    c.state.dirty += 1
    return OK


@command("linsert")
def linsert(c, argv):
    where = argv[2].lower()
    if where == b"after":
        after = True
    elif where == b"before":
        after = False
    else:
        raise CommandError(SYNTAX)
    key = argv[1]
    lst = _write_list(c, key)
    if lst is None:
        return 0
    at = lst.find(argv[3])
    if at is None:
        return -1
    k, off = at
    lst.insert_at(k, off + 1 if after else off, argv[4])
    c.db.touch(key)
    _notify(c, "linsert", key)
    c.state.dirty += 1
    return len(lst)


@command("lrem")
def lrem(c, argv):
    count = _long(argv[2])
    key = argv[1]
    lst = _write_list(c, key)
    if lst is None:
        return 0
    removed = lst.remove(argv[3], count)
    if removed:
        _notify(c, "lrem", key)
        if not len(lst):
            c.db.delete(key)
            _notify(c, "del", key, "g")
        else:
            c.db.touch(key)
        c.state.dirty += removed
    return removed


@command("ltrim")
def ltrim(c, argv):
    start = _long(argv[2])
    end = _long(argv[3])
    key = argv[1]
    lst = _write_list(c, key)
    if lst is None:
        return OK
    n = len(lst)
    r = _clamp_range(start, end, n)
    if r is None:
        left, right = n, 0
    else:
        left, right = r[0], n - r[1] - 1
    lst.drop_left(left)
    lst.drop_right(right)
    # Redis signals and notifies even when nothing was trimmed
    _notify(c, "ltrim", key)
    if not len(lst):
        c.db.delete(key)
        _notify(c, "del", key, "g")
    else:
        c.db.touch(key)
    c.state.dirty += left + right
    return OK


# --------------------------------------------------------------------------------------------------- move


def _move(c, src: bytes, lst: ListValue, dst: bytes, wherefrom: int, whereto: int) -> bytes:
    """Pop from non-empty `lst` (at `src`) and push onto `dst`, Redis's lmoveGenericCommand order: the
    destination is type-checked before anything moves; push events before pop events."""
    db = c.db
    target = db.get(dst)
    if target is not None and target.__class__ is not ListValue:
        raise CommandError(WRONGTYPE)
    value = lst.pop_left() if wherefrom == HEAD else lst.pop_right()
    if target is None:
        target = ListValue()
        db.add(dst, target)
    else:
        db.touch(dst)
    if whereto == HEAD:
        target.push_left(value)
    else:
        target.push_right(value)
    _notify(c, "lpush" if whereto == HEAD else "rpush", dst)
    _notify(c, "lpop" if wherefrom == HEAD else "rpop", src)
    if not len(lst):
        db.delete(src)
        _notify(c, "del", src, "g")
    else:
        db.touch(src)
    c.state.dirty += 1
    return value


_SIDE = {HEAD: b"LEFT", TAIL: b"RIGHT"}


def _lmove(c, src, dst, wherefrom, whereto):
    lst = _write_list(c, src)
    if lst is None:
        return None
    return _move(c, src, lst, dst, wherefrom, whereto)


@command("lmove")
def lmove(c, argv):
    wherefrom = _where(argv[3])
    whereto = _where(argv[4])
    return _lmove(c, argv[1], argv[2], wherefrom, whereto)


@command("rpoplpush")
def rpoplpush(c, argv):
    return _lmove(c, argv[1], argv[2], TAIL, HEAD)


def _blocking_move(c, argv, wherefrom: int, whereto: int, timeout_arg: bytes, rewrite):
    src, dst = argv[1], argv[2]
    timeout = parse_timeout(timeout_arg)
    lst = _write_list(c, src)
    if lst is not None:
        value = _move(c, src, lst, dst, wherefrom, whereto)
        argv[:] = rewrite
        return value
    if _deny_blocking(c):
        return None

    def retry():
        for key in _ready_keys(blocked, (src,)):
            cur = c.db.get(key)
            if cur is not None and cur.__class__ is ListValue:
                # a destination of the wrong type now answers WRONGTYPE and ends the wait, as in Redis 7.0
                value = _move(c, src, cur, dst, wherefrom, whereto)
                blocked.argv = rewrite
                return value
        _still_blocked(blocked)

    blocked = dispatch.Blocked([src], timeout, retry, lambda: NULL_ARRAY)
    raise blocked


@command("blmove")
def blmove(c, argv):
    wherefrom = _where(argv[3])
    whereto = _where(argv[4])
    rewrite = [b"LMOVE", argv[1], argv[2], _SIDE[wherefrom], _SIDE[whereto]]
    return _blocking_move(c, argv, wherefrom, whereto, argv[5], rewrite)


@command("brpoplpush")
def brpoplpush(c, argv):
    return _blocking_move(c, argv, TAIL, HEAD, argv[3], [b"RPOPLPUSH", argv[1], argv[2]])


# --------------------------------------------------------------------------------------------------- multi-key pops


def _first_list(c, keys):
    """The first key holding a non-empty list (missing keys skipped; another type is WRONGTYPE)."""
    for key in keys:
        lst = _write_list(c, key)
        if lst is not None:
            return key, lst
    return None, None


def _pop_argv(where: int, key: bytes, count: int | None) -> list[bytes]:
    argv = [b"LPOP" if where == HEAD else b"RPOP", key]
    if count is not None:
        argv.append(b"%d" % count)
    return argv


def _blocking_pop(c, argv, where: int):
    keys = argv[1:-1]
    timeout = parse_timeout(argv[-1])
    key, lst = _first_list(c, keys)
    if lst is not None:
        value = lst.pop_left() if where == HEAD else lst.pop_right()
        _removed(c, key, where, lst, 1)
        argv[:] = _pop_argv(where, key, None)
        return [key, value]
    if _deny_blocking(c):
        return NULL_ARRAY

    def retry():
        for k in _ready_keys(blocked, keys):
            cur = c.db.get(k)
            if cur is not None and cur.__class__ is ListValue:
                value = cur.pop_left() if where == HEAD else cur.pop_right()
                _removed(c, k, where, cur, 1)
                blocked.argv = _pop_argv(where, k, None)
                return [k, value]
        _still_blocked(blocked)

    blocked = dispatch.Blocked(keys, timeout, retry, lambda: NULL_ARRAY)
    raise blocked


@command("blpop")
def blpop(c, argv):
    return _blocking_pop(c, argv, HEAD)


@command("brpop")
def brpop(c, argv):
    return _blocking_pop(c, argv, TAIL)


def _parse_mpop(argv, numkeys_at: int):
    """numkeys key [key ...] LEFT|RIGHT [COUNT count] → (keys, where, count)."""
    numkeys = string2ll(argv[numkeys_at])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(SYNTAX)
    where = _where(argv[where_at])
    count = -1
    j = where_at + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = string2ll(argv[j + 1])
            if count is None or count < 1:
                raise CommandError("ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1:where_at], where, (1 if count == -1 else count)


def _mpop_from(c, key, lst, where, count):
    values = _pop_n(lst, where, count)
    _removed(c, key, where, lst, len(values))
    return [key, values], _pop_argv(where, key, len(values))


@command("lmpop")
def lmpop(c, argv):
    keys, where, count = _parse_mpop(argv, 1)
    key, lst = _first_list(c, keys)
    if lst is None:
        return NULL_ARRAY
    reply, argv[:] = _mpop_from(c, key, lst, where, count)
    return reply


@command("blmpop")
def blmpop(c, argv):
    # numkeys, LEFT|RIGHT and COUNT are checked before the timeout
    keys, where, count = _parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    key, lst = _first_list(c, keys)
    if lst is not None:
        reply, argv[:] = _mpop_from(c, key, lst, where, count)
        return reply
    if _deny_blocking(c):
        return NULL_ARRAY

    def retry():
        for k in _ready_keys(blocked, keys):
            cur = c.db.get(k)
            if cur is not None and cur.__class__ is ListValue:
                reply, blocked.argv = _mpop_from(c, k, cur, where, count)
                return reply
        _still_blocked(blocked)

    blocked = dispatch.Blocked(keys, timeout, retry, lambda: NULL_ARRAY)
    raise blocked
