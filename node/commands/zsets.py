"""Sorted set commands: ZADD ZINCRBY ZREM ZCARD ZCOUNT ZLEXCOUNT ZSCORE ZMSCORE ZRANK ZREVRANK ZRANGE ZRANGESTORE
ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE
ZREMRANGEBYLEX ZUNION ZINTER ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZINTERCARD ZRANDMEMBER ZPOPMIN ZPOPMAX ZMPOP
ZSCAN, and the blocking BZPOPMIN BZPOPMAX BZMPOP.

Each follows Redis 7.0's t_zset.c: the order in which it checks things (which error wins), its replies in RESP2
and RESP3 (WITHSCORES pairs nest in RESP3, ZPOPMIN nests only with a count), its `dirty` count, its keyspace
events, and when an emptied set is deleted. Pops rewrite `argv` for propagation as Redis does (BZPOPMIN → ZPOPMIN
key, ZMPOP/BZMPOP → ZPOPMIN key count).

Numbers: scores are C doubles. A score argument is read as Redis's strtod-based parsers read it (hex floats and
"inf" accepted, NaN, overflow, underflow to zero, spaces refused; range bounds are laxer: "(" prefixes, an empty
bound is 0, overflow is ±inf) and printed by `resp.Double` with Redis 7.0's %.17g.

Lexicographic ranges assume equal scores, as Redis documents. With mixed scores Redis's answer depends on the
encoding: a listpack is scanned front to back, which we reproduce exactly; a skiplist is searched through its
random levels, which we replace by a binary search (the same answer whenever the scores are equal).

Blocking: BZPOPMIN/BZPOPMAX/BZMPOP raise `dispatch.Blocked` when every key is missing; node/blocking.py serves
the client later through `retry()`, from `blocked.ready_key` (the key whose change woke it) when it is set, as
Redis serves from that key only; a key that holds another type by then leaves the client blocked.
"""
from __future__ import annotations

import random
import re

from ..blocking import Blocked
from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..numbers import string2ll
from ..resp import NULL_ARRAY, Double, Raw
from ..types.set import SetValue
from ..types.zset import ZSet, limits_of, scan_score_repr
from .keys import _parse_cursor
from .lists import parse_timeout
from .registry import command
from .sets import check_random_reply_size, parse_scan_options

NOT_FLOAT = "ERR value is not a valid float"
NAN_RESULT = "ERR resulting score is not a number (NaN)"
MINMAX_NOT_FLOAT = "ERR min or max is not a float"
MINMAX_NOT_LEX = "ERR min or max not valid string range item"
NOT_POSITIVE = "ERR value is out of range, must be positive"
LONG_MAX = 2**63 - 1


# --------------------------------------------------------------------------------------------------- doubles

_WS = b" \t\n\v\f\r"
_HEX_RE = re.compile(rb"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+))(?:[pP][+-]?[0-9]+)?")
_DEC_RE = re.compile(rb"[+-]?((?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:[eE][+-]?[0-9]+)?")
_INF_RE = re.compile(rb"[+-]?inf(?:inity)?", re.IGNORECASE)
_NAN_RE = re.compile(rb"[+-]?nan(?:\([0-9A-Za-z_]*\))?", re.IGNORECASE)
_NONZERO = re.compile(rb"[1-9a-fA-F]")
INF = float("inf")


def strtod(s: bytes) -> tuple[float, int, bool]:
    """C's strtod on `s` (already cut at any NUL): (value, characters consumed, whether the magnitude rounded to
    ±inf or to zero from a non-zero number, i.e. ERANGE). Nothing parsed gives (0.0, 0, False)."""
    i = 0
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    m = _HEX_RE.match(s, i)
    if m is not None:
        text = m.group(0)
        try:
            v = float.fromhex(text.decode())
        except OverflowError:
            v = -INF if m.group(1) == b"-" else INF
        erange = v in (INF, -INF) or (v == 0.0 and _NONZERO.search(m.group(2)) is not None)
        return v, m.end(), erange
    m = _INF_RE.match(s, i)
    if m is not None:
        return (-INF if s[i:i + 1] == b"-" else INF), m.end(), False
    m = _NAN_RE.match(s, i)
    if m is not None:
        return float("nan"), m.end(), False
    m = _DEC_RE.match(s, i)
    if m is not None:
        v = float(m.group(0))
        erange = v in (INF, -INF) or (v == 0.0 and _NONZERO.search(m.group(1)) is not None)
        return v, m.end(), erange
    return 0.0, 0, False


# Plain decimals without an exponent: at most 300 digits on either side of the point can neither overflow nor
# underflow a double, so Python's (correctly rounded, like glibc's) float() reads them with no further checks.
_PLAIN_DECIMAL = re.compile(rb"[+-]?[0-9]{1,300}(?:\.[0-9]{0,300})?").fullmatch


def parse_double(arg: bytes, error: str = NOT_FLOAT) -> float:
    """getDoubleFromObject: the whole argument a double, no leading space, no NaN, no overflow, no underflow to
    zero (a subnormal is fine)."""
    if _PLAIN_DECIMAL(arg) is not None:
        return float(arg)
    if not arg or arg[0] in _WS:
        raise CommandError(error)
    v, end, erange = strtod(arg)
    if end != len(arg) or v != v or (erange and (v == 0.0 or v in (INF, -INF))):
        raise CommandError(error)
    return v


def _score_bound(arg: bytes) -> tuple[float, bool]:
    """One end of a score range (zslParseRange): "(" makes it exclusive; then strtod must reach the end of the
    C string. An empty bound is 0, overflow is ±inf."""
    s = arg.split(b"\0", 1)[0]
    exclusive = s[:1] == b"("
    if exclusive:
        s = s[1:]
    v, end, _ = strtod(s)
    if end != len(s) or v != v:
        raise CommandError(MINMAX_NOT_FLOAT)
    return v, exclusive


class ScoreRange:
    __slots__ = ("min", "max", "minex", "maxex")

    def __init__(self, lo: bytes, hi: bytes):
        self.min, self.minex = _score_bound(lo)
        self.max, self.maxex = _score_bound(hi)

    def gte_min(self, score: float) -> bool:
        return score > self.min if self.minex else score >= self.min

    def lte_max(self, score: float) -> bool:
        return score < self.max if self.maxex else score <= self.max

    def bounds(self, zs: ZSet) -> tuple[int, int]:
        """Ranks [lo, hi) of the elements in range (lo >= hi when none). O(log n)."""
        return zs.score_index(self.min, self.minex, False), zs.score_index(self.max, self.maxex, True)


# --------------------------------------------------------------------------------------------------- lex ranges


class _LexEnd:
    """The "-" and "+" of a lex range: below, resp. above, every string."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


LEX_MIN = _LexEnd("-")
LEX_MAX = _LexEnd("+")


def _lex_cmp(a, b) -> int:
    """sdscmplex: "-" and "+" are the extremes; two identical ends compare equal."""
    if a is b:
        return 0
    if a is LEX_MIN or b is LEX_MAX:
        return -1
    if a is LEX_MAX or b is LEX_MIN:
        return 1
    return (a > b) - (a < b)


def _lex_item(arg: bytes):
    """zslParseLexRangeItem: (value, exclusive)."""
    c0 = arg[:1]
    if c0 == b"+" or c0 == b"-":
        if arg[1:2] not in (b"", b"\0"):  # C reads the item as a string: a NUL ends it
            raise CommandError(MINMAX_NOT_LEX)
        return (LEX_MAX if c0 == b"+" else LEX_MIN), True
    if c0 == b"(":
        return arg[1:], True
    if c0 == b"[":
        return arg[1:], False
    raise CommandError(MINMAX_NOT_LEX)


class LexRange:
    __slots__ = ("min", "max", "minex", "maxex")

    def __init__(self, lo: bytes, hi: bytes):
        self.min, self.minex = _lex_item(lo)
        self.max, self.maxex = _lex_item(hi)

    def gte_min(self, member: bytes) -> bool:
        c = _lex_cmp(member, self.min)
        return c > 0 if self.minex else c >= 0

    def lte_max(self, member: bytes) -> bool:
        c = _lex_cmp(member, self.max)
        return c < 0 if self.maxex else c <= 0

    def _may_match(self, zs: ZSet) -> bool:
        """zslIsInLexRange: not an always-empty range, the last member >= min, the first <= max."""
        c = _lex_cmp(self.min, self.max)
        if c > 0 or (c == 0 and (self.minex or self.maxex)):
            return False
        return len(zs) > 0 and self.gte_min(zs.at(-1)[1]) and self.lte_max(zs.at(0)[1])

    def first(self, zs: ZSet) -> int | None:
        """Rank of the first element in range, searching as the encoding does (see the module docstring)."""
        if not self._may_match(zs):
            return None
        if zs.listpack:
            for i, (_, m) in enumerate(zs):
                if self.gte_min(m):
                    return i if self.lte_max(m) else None
            return None
        i = _partition(len(zs), lambda k: self.gte_min(zs.at(k)[1]))
        return i if i < len(zs) and self.lte_max(zs.at(i)[1]) else None

    def last(self, zs: ZSet) -> int | None:
        """Rank of the last element in range."""
        if not self._may_match(zs):
            return None
        n = len(zs)
        if zs.listpack:
            for i, (_, m) in enumerate(zs.slice(0, n, reverse=True)):
                if self.lte_max(m):
                    return n - 1 - i if self.gte_min(m) else None
            return None
        i = _partition(n, lambda k: not self.lte_max(zs.at(k)[1])) - 1
        return i if i >= 0 and self.gte_min(zs.at(i)[1]) else None


def _partition(n: int, pred) -> int:
    """The first k in [0, n) where pred(k) holds, pred being false then true along the ranks. O(log n) probes."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


# --------------------------------------------------------------------------------------------------- helpers


def _long(arg: bytes, error: str = NOT_INTEGER) -> int:
    v = string2ll(arg)
    if v is None:
        raise CommandError(error)
    return v


def _range_long(arg: bytes, lo: int, hi: int, error: str | None = None) -> int:
    """getRangeLongFromObjectOrReply: an integer parse failure or an out-of-range value give `error` if given."""
    v = string2ll(arg)
    if v is None:
        raise CommandError(error or NOT_INTEGER)
    if v < lo or v > hi:
        raise CommandError(error or f"ERR value is out of range, value must between {lo} and {hi}")
    return v


def _positive(arg: bytes, error: str = NOT_POSITIVE) -> int:
    return _range_long(arg, 0, LONG_MAX, error)


def _read(c, key) -> ZSet | None:
    """lookupKeyRead + type check."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _write(c, key) -> ZSet | None:
    """lookupKeyWrite + type check."""
    v = c.db.get(key)
    if v is None or v.__class__ is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _notify(c, event: str, key: bytes, cls: str = "z") -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, cls)


def _changed(c, key: bytes, zs: ZSet) -> bool:
    """After removing members: delete the key if it is now empty (True), else signal the change."""
    if not len(zs):
        c.db.delete(key)
        return True
    c.db.touch(key)
    return False


# Encoded scores by value, RESP2 (bulk) and RESP3 (double): "%.17g" costs more than the rest of a reply element,
# and leaderboards print the same scores again and again. Bounded: cleared when full.
_SCORE_CACHE_MAX = 1 << 14
_bulk_scores: dict = {}
_double_scores: dict = {}


def _encoded_score(s: float, proto: int) -> bytes:
    cache = _bulk_scores if proto == 2 else _double_scores
    e = cache.get(s)
    if e is None:
        f = b"%.17g" % s  # as resp.Double prints: %.17g also spells inf and -inf
        e = b"$%d\r\n%s\r\n" % (len(f), f) if proto == 2 else b",%s\r\n" % f
        if len(cache) >= _SCORE_CACHE_MAX:
            cache.clear()
        if s != 0.0:  # -0.0 == 0.0 as a key: keep the two zeros apart by not caching them
            cache[s] = e
    return e


def _pairs(c, items, withscores: bool) -> Raw:
    """(score, member) items as a reply: members only, or WITHSCORES as a flat RESP2 array / RESP3 pairs.
    Encoded here for the client's protocol, because ranges are the big replies: ~3x faster than the generic
    encoder over Double objects."""
    if not withscores:
        parts = [b"$%d\r\n%s\r\n" % (len(m), m) for _, m in items]
        return Raw(b"*%d\r\n%s" % (len(parts), b"".join(parts)))
    proto = c.proto
    cache = _bulk_scores if proto == 2 else _double_scores
    get = cache.get
    parts = []
    append = parts.append
    if proto == 2:
        for s, m in items:
            append(b"$%d\r\n%s\r\n%s" % (len(m), m, get(s) or _encoded_score(s, 2)))
        return Raw(b"*%d\r\n%s" % (2 * len(parts), b"".join(parts)))
    for s, m in items:
        append(b"*2\r\n$%d\r\n%s\r\n%s" % (len(m), m, get(s) or _encoded_score(s, 3)))
    return Raw(b"*%d\r\n%s" % (len(parts), b"".join(parts)))


def _store(c, dst: bytes, result: ZSet, event: str) -> int:
    """The end of every *STORE command: set the destination (SET semantics: the TTL goes), or delete it when the
    result is empty."""
    n = len(result)
    if n:
        c.db.set(dst, result)
        _notify(c, event, dst)
        c.state.dirty += 1
    elif c.db.delete(dst):
        _notify(c, "del", dst, "g")
        c.state.dirty += 1
    return n


# --------------------------------------------------------------------------------------------------- ZADD ZINCRBY

_NX, _XX, _CH, _INCR, _GT, _LT = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS = {b"nx": _NX, b"xx": _XX, b"ch": _CH, b"incr": _INCR, b"gt": _GT, b"lt": _LT}
_ZADD_FLAGS.update({k.upper(): v for k, v in _ZADD_FLAGS.items()})


def _zadd(c, argv, incr: bool):
    key = argv[1]
    flags = _INCR if incr else 0
    j = 2
    argc = len(argv)
    while j < argc:
        a = argv[j]
        f = _ZADD_FLAGS.get(a)
        if f is None:
            if len(a) > 4 or (f := _ZADD_FLAGS.get(a.lower())) is None:
                break
        flags |= f
        j += 1
    npairs = argc - j
    if npairs % 2 or not npairs:
        raise CommandError(SYNTAX)
    npairs //= 2
    incr, nx, xx, gt, lt = flags & _INCR, flags & _NX, flags & _XX, flags & _GT, flags & _LT
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and npairs > 1:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_double(argv[j + 2 * i]) for i in range(npairs)]

    db = c.db
    zs = _write(c, key)
    added = updated = processed = 0
    result = 0.0  # the score INCR answers: as computed, before a listpack stores it
    if zs is None and xx:
        return None if incr else 0
    new_key = zs is None
    if new_key:
        zs = ZSet()
    limits = limits_of(c.state.config)
    nan = False
    get = zs.scores.get
    for i in range(npairs):
        score = scores[i]
        member = argv[j + 2 * i + 1]
        cur = get(member)
        if cur is None:
            if xx:
                continue
            zs.insert(member, score, limits)
            added += 1
            processed += 1
            result = score
            continue
        if nx:
            continue
        if incr:
            score += cur
            if score != score:
                nan = True
                break
        if (lt and score >= cur) or (gt and score <= cur):
            continue
        processed += 1
        result = score
        if score != cur:
            zs.change(member, cur, score)
            updated += 1
    if new_key:
        db.add(key, zs)  # never empty: without XX every member of a new key is added
    c.state.dirty += added + updated
    if added or updated:
        if not new_key:
            db.touch(key)
        _notify(c, "zincr" if incr else "zadd", key)
    if nan:
        raise CommandError(NAN_RESULT)
    if incr:
        return Double(result) if processed else None
    return added + updated if flags & _CH else added


@command("zadd")
def zadd(c, argv):
    return _zadd(c, argv, False)


@command("zincrby")
def zincrby(c, argv):
    return _zadd(c, argv, True)


# --------------------------------------------------------------------------------------------------- reads


@command("zcard")
def zcard(c, argv):
    zs = _read(c, argv[1])
    return len(zs) if zs is not None else 0


@command("zscore")
def zscore(c, argv):
    zs = _read(c, argv[1])
    if zs is None:
        return None
    s = zs.scores.get(argv[2])
    return None if s is None else Double(s)


@command("zmscore")
def zmscore(c, argv):
    zs = _read(c, argv[1])
    out = []
    for m in argv[2:]:
        s = zs.scores.get(m) if zs is not None else None
        out.append(None if s is None else Double(s))
    return out


def _rank(c, argv, reverse: bool):
    zs = _read(c, argv[1])
    if zs is None:
        return None
    r = zs.rank(argv[2])
    if r is None:
        return None
    return len(zs) - 1 - r if reverse else r


@command("zrank")
def zrank(c, argv):
    return _rank(c, argv, False)


@command("zrevrank")
def zrevrank(c, argv):
    return _rank(c, argv, True)


@command("zcount")
def zcount(c, argv):
    rng = ScoreRange(argv[2], argv[3])
    zs = _read(c, argv[1])
    if zs is None:
        return 0
    lo, hi = rng.bounds(zs)
    return max(0, hi - lo)


@command("zlexcount")
def zlexcount(c, argv):
    rng = LexRange(argv[2], argv[3])
    zs = _read(c, argv[1])
    if zs is None:
        return 0
    first = rng.first(zs)
    if first is None:
        return 0
    if zs.listpack:
        count = 0
        for _, m in zs.slice(first, len(zs)):
            if not rng.lte_max(m):
                break
            count += 1
        return count
    last = rng.last(zs)
    return last - first + 1 if last is not None else len(zs) - first


# --------------------------------------------------------------------------------------------------- ZRANGE family

RANK, SCORE, LEX = "rank", "score", "lex"


def _rank_span(n: int, start: int, end: int) -> tuple[int, int] | None:
    """Redis's index sanitising for rank ranges: (first, last) inclusive, or None when empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end


def _select(zs: ZSet, kind: str, rng, reverse: bool, offset: int, limit: int) -> list:
    """The (score, member) items a ZRANGE-like call selects, in reply order."""
    n = len(zs)
    if kind == RANK:
        span = _rank_span(n, rng[0], rng[1])
        if span is None:
            return []
        if reverse:  # ranks counted from the highest score
            return list(zs.slice(n - 1 - span[1], n - span[0], True))
        return list(zs.slice(span[0], span[1] + 1))
    if offset < 0 or (offset > 0 and offset >= n):
        # Redis skips a negative offset element by element until it runs off the end
        return []
    if kind == SCORE:
        lo, hi = rng.bounds(zs)
        if lo >= hi:
            return []
        count = hi - lo - offset
        if count <= 0:
            return []
        if 0 <= limit < count:
            count = limit
        if reverse:
            return list(zs.slice(hi - offset - count, hi - offset, True))
        return list(zs.slice(lo + offset, lo + offset + count))
    # lex: walk from the first (last) element in range, checking only the elements after the offset
    out = []
    if reverse:
        start = rng.last(zs)
        if start is None:
            return []
        i = start - offset
        if i < 0:
            return []
        for s, m in zs.slice(0, i + 1, True):
            if limit == 0 or not rng.gte_min(m):
                break
            out.append((s, m))
            limit -= 1
    else:
        start = rng.first(zs)
        if start is None:
            return []
        i = start + offset
        for s, m in zs.slice(i, n):
            if limit == 0 or not rng.lte_max(m):
                break
            out.append((s, m))
            limit -= 1
    return out


def _zrange_generic(c, argv, first_arg: int, store: bytes | None, kind: str | None, reverse: bool | None):
    """zrangeGenericCommand: ZRANGE, ZRANGESTORE and the older ZREVRANGE/Z[REV]RANGEBY{SCORE,LEX} forms
    (`kind`/`reverse` fixed for those, None where ZRANGE takes them from its options)."""
    key = argv[first_arg]
    min_at, max_at = first_arg + 1, first_arg + 2
    withscores = False
    offset, limit = 0, -1
    j = first_arg + 3
    argc = len(argv)
    while j < argc:
        opt = argv[j].lower()
        left = argc - j - 1
        if store is None and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = _long(argv[j + 1])
            limit = _long(argv[j + 2])
            j += 2
        elif reverse is None and opt == b"rev":
            reverse = True
        elif kind is None and opt == b"bylex":
            kind = LEX
        elif kind is None and opt == b"byscore":
            kind = SCORE
        else:
            raise CommandError(SYNTAX)
        j += 1
    reverse = bool(reverse)
    kind = kind or RANK
    if limit != -1 and kind == RANK:
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and kind == LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    if reverse and kind != RANK:
        min_at, max_at = max_at, min_at  # given as max, min
    if kind == RANK:
        rng = (_long(argv[min_at]), _long(argv[max_at]))
    elif kind == SCORE:
        rng = ScoreRange(argv[min_at], argv[max_at])
    else:
        rng = LexRange(argv[min_at], argv[max_at])
    zs = _read(c, key)
    if zs is None:
        return _store(c, store, ZSet(), "zrangestore") if store is not None else []
    items = _select(zs, kind, rng, reverse, offset, limit)
    if store is None:
        return _pairs(c, items, withscores)
    # ZRANGESTORE builds its result as ZADDs into a new listpack, converting when it outgrows one
    result = ZSet()
    limits = limits_of(c.state.config)
    for s, m in items:
        result.insert(m, s, limits)
    return _store(c, store, result, "zrangestore")


@command("zrange")
def zrange(c, argv):
    return _zrange_generic(c, argv, 1, None, None, None)


@command("zrangestore")
def zrangestore(c, argv):
    return _zrange_generic(c, argv, 2, argv[1], None, None)


@command("zrevrange")
def zrevrange(c, argv):
    return _zrange_generic(c, argv, 1, None, RANK, True)


@command("zrangebyscore")
def zrangebyscore(c, argv):
    return _zrange_generic(c, argv, 1, None, SCORE, False)


@command("zrevrangebyscore")
def zrevrangebyscore(c, argv):
    return _zrange_generic(c, argv, 1, None, SCORE, True)


@command("zrangebylex")
def zrangebylex(c, argv):
    return _zrange_generic(c, argv, 1, None, LEX, False)


@command("zrevrangebylex")
def zrevrangebylex(c, argv):
    return _zrange_generic(c, argv, 1, None, LEX, True)


# --------------------------------------------------------------------------------------------------- removals


@command("zrem")
def zrem(c, argv):
    key = argv[1]
    zs = _write(c, key)
    if zs is None:
        return 0
    deleted = 0
    for m in argv[2:]:
        if zs.delete(m):
            deleted += 1
        if not len(zs):
            break
    if deleted:
        _notify(c, "zrem", key)
        if _changed(c, key, zs):
            _notify(c, "del", key, "g")
        c.state.dirty += deleted
    return deleted


def _zremrange(c, argv, kind: str):
    key = argv[1]
    if kind == RANK:
        rng = (_long(argv[2]), _long(argv[3]))
    elif kind == SCORE:
        rng = ScoreRange(argv[2], argv[3])
    else:
        rng = LexRange(argv[2], argv[3])
    zs = _write(c, key)
    if zs is None:
        return 0
    n = len(zs)
    if kind == RANK:
        span = _rank_span(n, rng[0], rng[1])
        if span is None:
            return 0
        lo, hi = span[0], span[1] + 1
    elif kind == SCORE:
        lo, hi = rng.bounds(zs)
    else:
        lo = rng.first(zs)
        hi = lo
        if lo is not None:
            for _, m in zs.slice(lo, n):
                if not rng.lte_max(m):
                    break
                hi += 1
        else:
            lo = hi = 0
    deleted = zs.delete_ranks(lo, hi)
    if deleted:
        emptied = _changed(c, key, zs)
        _notify(c, "zremrangeby" + kind, key)
        if emptied:
            _notify(c, "del", key, "g")
    c.state.dirty += deleted
    return deleted


@command("zremrangebyrank")
def zremrangebyrank(c, argv):
    return _zremrange(c, argv, RANK)


@command("zremrangebyscore")
def zremrangebyscore(c, argv):
    return _zremrange(c, argv, SCORE)


@command("zremrangebylex")
def zremrangebylex(c, argv):
    return _zremrange(c, argv, LEX)


# --------------------------------------------------------------------------------------------------- set algebra

UNION, INTER, DIFF = "union", "inter", "diff"
_AGGREGATES = {b"sum": "sum", b"min": "min", b"max": "max"}


class _Source:
    """One input of ZUNION/ZINTER/ZDIFF: a sorted set, a plain set (every score 1), or a missing key."""

    __slots__ = ("value", "weight", "is_zset")

    def __init__(self, value):
        self.value = value
        self.weight = 1.0
        self.is_zset = value.__class__ is ZSet

    def __len__(self) -> int:
        return len(self.value) if self.value is not None else 0

    def items(self):
        """(member, score), sorted sets from the highest score down as Redis iterates them."""
        v = self.value
        if v is None:
            return ()
        if self.is_zset:
            return ((m, s) for s, m in v.slice(0, len(v), True))
        return ((m, 1.0) for m in v.members())

    def find(self, member):
        """The member's score here, or None."""
        v = self.value
        if v is None:
            return None
        if self.is_zset:
            return v.scores.get(member)
        return 1.0 if member in v else None


def _aggregate(agg: str, acc: float, val: float) -> float:
    if agg == "sum":
        acc = acc + val
        return 0.0 if acc != acc else acc  # inf + -inf: Redis keeps 0
    if agg == "min":
        return val if val < acc else acc
    return val if val > acc else acc


def _setop(c, argv, numkeys_at: int, op: str, dst: bytes | None, card_only: bool = False):
    """zunionInterDiffGenericCommand."""
    setnum = _long(argv[numkeys_at])
    name = argv[0].decode("utf-8", "replace").lower()
    if setnum < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if setnum > len(argv) - (numkeys_at + 1):
        raise CommandError(SYNTAX)
    sources = []
    db = c.db
    j = numkeys_at + 1
    for _ in range(setnum):
        v = db.lookup_read(argv[j])
        if v is not None and v.__class__ is not ZSet and v.__class__ is not SetValue:
            raise CommandError(WRONGTYPE)
        sources.append(_Source(v))
        j += 1
    agg = "sum"
    withscores = False
    limit = 0
    argc = len(argv)
    while j < argc:
        remaining = argc - j
        opt = argv[j].lower()
        if op != DIFF and not card_only and remaining >= setnum + 1 and opt == b"weights":
            j += 1
            for src in sources:
                src.weight = parse_double(argv[j], "ERR weight value is not a float")
                j += 1
        elif op != DIFF and not card_only and remaining >= 2 and opt == b"aggregate":
            agg = _AGGREGATES.get(argv[j + 1].lower())
            if agg is None:
                raise CommandError(SYNTAX)
            j += 2
        elif remaining >= 1 and dst is None and not card_only and opt == b"withscores":
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            limit = _positive(argv[j + 1], "ERR LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)

    if op != DIFF:
        sources.sort(key=len)  # smallest first, a stable sort as glibc's qsort (a merge sort) is
    if op == INTER:
        result = _inter(sources, agg, card_only, limit)
        if card_only:
            return result
    elif op == UNION:
        result = _union(sources, agg)
    else:
        result = _diff(sources)

    if dst is not None:
        result.to_listpack_if_small(limits_of(c.state.config))
        event = {UNION: "zunionstore", INTER: "zinterstore", DIFF: "zdiffstore"}[op]
        return _store(c, dst, result, event)
    return _pairs(c, iter(result), withscores)


def _weighted(score: float, weight: float) -> float:
    v = score * weight
    return 0.0 if v != v else v  # 0 * inf: Redis keeps 0


def _new_result(scores: dict) -> ZSet:
    """A result set built as Redis builds it: a skiplist, made a listpack at the end by the STORE variants."""
    z = ZSet(listpack=False)
    z.scores = scores
    z.order.update((s, m) for m, s in scores.items())
    return z


def _inter(sources, agg: str, card_only: bool, limit: int):
    first = sources[0]
    scores: dict = {}
    count = 0
    if len(first):
        rest = sources[1:]
        for member, s in first.items():
            score = _weighted(s, first.weight)
            for src in rest:
                if src.value is first.value:
                    val = s * src.weight
                else:
                    val = src.find(member)
                    if val is None:
                        break
                    val *= src.weight
                score = _aggregate(agg, score, val)
            else:
                if card_only:
                    count += 1
                    if limit and count >= limit:
                        break
                else:
                    scores[member] = score
    return count if card_only else _new_result(scores)


def _union(sources, agg: str) -> ZSet:
    scores: dict = {}
    for src in sources:
        w = src.weight
        for member, s in src.items():
            score = _weighted(s, w)
            cur = scores.get(member)
            scores[member] = score if cur is None else _aggregate(agg, cur, score)
    return _new_result(scores)


def _diff(sources) -> ZSet:
    first = sources[0]
    scores: dict = {}
    if len(first):
        rest = sources[1:]
        if any(src.value is first.value for src in rest):
            return _new_result({})  # a set minus itself
        for member, s in first.items():
            if not any(src.find(member) is not None for src in rest):
                scores[member] = s
    return _new_result(scores)


@command("zunion")
def zunion(c, argv):
    return _setop(c, argv, 1, UNION, None)


@command("zinter")
def zinter(c, argv):
    return _setop(c, argv, 1, INTER, None)


@command("zdiff")
def zdiff(c, argv):
    return _setop(c, argv, 1, DIFF, None)


@command("zunionstore")
def zunionstore(c, argv):
    return _setop(c, argv, 2, UNION, argv[1])


@command("zinterstore")
def zinterstore(c, argv):
    return _setop(c, argv, 2, INTER, argv[1])


@command("zdiffstore")
def zdiffstore(c, argv):
    return _setop(c, argv, 2, DIFF, argv[1])


@command("zintercard")
def zintercard(c, argv):
    return _setop(c, argv, 1, INTER, None, card_only=True)


# --------------------------------------------------------------------------------------------------- ZRANDMEMBER


@command("zrandmember")
def zrandmember(c, argv):
    if len(argv) >= 3:
        count = _range_long(argv[2], -LONG_MAX, LONG_MAX)
        withscores = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
            raise CommandError(SYNTAX)
        if len(argv) == 4:
            withscores = True
            if count < -(LONG_MAX // 2) or count > LONG_MAX // 2:  # count * 2 must fit the reply length
                raise CommandError("ERR value is out of range")
        return _randmember_count(c, argv[1], count, withscores)
    zs = _read(c, argv[1])
    if zs is None:
        return None
    return zs.random_element()[1]


def _randmember_count(c, key: bytes, count: int, withscores: bool):
    zs = _read(c, key)
    if zs is None or count == 0:
        return []
    size = len(zs)
    if count < 0 or count == 1:
        n = -count if count < 0 else 1
        # the reply grows with the count, not with the set: Redis builds it however large (and dies near -2^63);
        # we refuse what could never be built, as SRANDMEMBER and HRANDFIELD do (see sets.py)
        check_random_reply_size(n)
        order = zs.order
        items = [order[random.randrange(size)] for _ in range(n)]
        return _pairs(c, items, withscores)
    if count >= size:
        # the whole set, walked from the highest score down as Redis's set iterators go
        return _pairs(c, zs.slice(0, size, True), withscores)
    picks = random.sample(range(size), count)
    if zs.listpack:
        picks.sort()  # lpRandomPairsUnique keeps the listpack's order
    order = zs.order
    return _pairs(c, [order[i] for i in picks], withscores)



# --------------------------------------------------------------------------------------------------- pops


def _pop_reply(c, key: bytes, popped: list, emit_key: bool, nested: bool):
    """genericZpopCommand's reply shapes: flat [member, score, ...] (RESP2, or a single pop), nested pairs
    (RESP3 with a count), [key, member, score] (BZPOPMIN/BZPOPMAX), [key, [[member, score], ...]] (Z/BZMPOP)."""
    if nested:
        pairs = [[m, Double(s)] for s, m in popped]
        return [key, pairs] if emit_key else pairs
    flat = []
    for s, m in popped:
        flat.append(m)
        flat.append(Double(s))
    return [key] + flat if emit_key else flat


def _pop_from(c, key: bytes, zs: ZSet, where_max: bool, count: int) -> list:
    """Pop up to `count` members from a non-empty set: events, dirty, deletion when emptied."""
    n = min(count, len(zs))
    index = -1 if where_max else 0
    popped = [zs.pop_at(index) for _ in range(n)]
    c.state.dirty += n
    _notify(c, "zpopmax" if where_max else "zpopmin", key)
    if _changed(c, key, zs):
        _notify(c, "del", key, "g")
    return popped


def _pop_argv(key: bytes, where_max: bool, count: int | None) -> list:
    argv = [b"ZPOPMAX" if where_max else b"ZPOPMIN", key]
    if count is not None:
        argv.append(b"%d" % count)
    return argv


def _zpop(c, argv, where_max: bool):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = _positive(argv[2], NOT_POSITIVE) if len(argv) == 3 else -1
    nested = c.proto > 2 and count != -1
    key = argv[1]
    zs = _write(c, key)
    if zs is None or count == 0:
        return []
    popped = _pop_from(c, key, zs, where_max, 1 if count == -1 else count)
    return _pop_reply(c, key, popped, False, nested)


@command("zpopmin")
def zpopmin(c, argv):
    return _zpop(c, argv, False)


@command("zpopmax")
def zpopmax(c, argv):
    return _zpop(c, argv, True)


def _first_nonempty(c, keys):
    """The first key holding a sorted set (WRONGTYPE at the first key of another type before it)."""
    for k in keys:
        zs = _write(c, k)
        if zs is not None and len(zs):
            return k, zs
    return None, None


def _parse_mpop(argv, numkeys_at: int):
    """ZMPOP/BZMPOP arguments: (keys, where_max, count)."""
    numkeys = _range_long(argv[numkeys_at], 1, LONG_MAX, "ERR numkeys should be greater than 0")
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(SYNTAX)
    where = argv[where_at].lower()
    if where not in (b"min", b"max"):
        raise CommandError(SYNTAX)
    count = -1
    j = where_at + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _range_long(argv[j + 1], 1, LONG_MAX, "ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1:where_at], where == b"max", (1 if count == -1 else count)


@command("zmpop")
def zmpop(c, argv):
    keys, where_max, count = _parse_mpop(argv, 1)
    key, zs = _first_nonempty_any(c, keys)
    if zs is None:
        return NULL_ARRAY
    n = min(count, len(zs))
    popped = _pop_from(c, key, zs, where_max, count)
    argv[:] = _pop_argv(key, where_max, n)
    return _pop_reply(c, key, popped, True, True)


def _first_nonempty_any(c, keys):
    """genericZpopCommand's candidate: the first existing key (WRONGTYPE if it is not a sorted set)."""
    for k in keys:
        zs = _write(c, k)
        if zs is not None:
            return k, zs
    return None, None


def _unique(keys) -> list:
    return list(dict.fromkeys(keys))


def _blocking_pop(c, argv, keys, timeout_arg: bytes, where_max: bool, count: int, mpop: bool):
    """blockingGenericZpopCommand: pop from the first non-empty key now, or block on all of them."""
    timeout = parse_timeout(timeout_arg)
    pop_count = count if mpop else 1

    def serve(k, zs):
        n = min(pop_count, len(zs))
        popped = _pop_from(c, k, zs, where_max, pop_count)
        return popped, _pop_argv(k, where_max, n if mpop else None)

    key, zs = _first_nonempty(c, keys)
    if zs is not None:
        popped, argv[:] = serve(key, zs)
        return _pop_reply(c, key, popped, True, mpop)
    if c.no_block:
        return NULL_ARRAY

    def retry():
        ready = getattr(blocked, "ready_key", None)
        for k in ((ready,) if ready is not None else keys):
            cur = c.db.get(k)
            if cur is not None and cur.__class__ is ZSet and len(cur):
                popped, blocked.argv = serve(k, cur)
                return _pop_reply(c, k, popped, True, mpop)
        raise blocked

    blocked = Blocked(_unique(keys), timeout, retry, lambda: NULL_ARRAY)
    raise blocked


@command("bzpopmin")
def bzpopmin(c, argv):
    return _blocking_pop(c, argv, argv[1:-1], argv[-1], False, 1, False)


@command("bzpopmax")
def bzpopmax(c, argv):
    return _blocking_pop(c, argv, argv[1:-1], argv[-1], True, 1, False)


@command("bzmpop")
def bzmpop(c, argv):
    keys, where_max, count = _parse_mpop(argv, 2)
    return _blocking_pop(c, argv, keys, argv[1], where_max, count, True)


# --------------------------------------------------------------------------------------------------- ZSCAN


@command("zscan")
def zscan(c, argv):
    cursor = _parse_cursor(argv[2])
    zs = _read(c, argv[1])
    if zs is None:
        return [b"0", []]
    count, pattern = parse_scan_options(argv, 3)  # after the key's type check, as in Redis
    match = pattern.match if pattern is not None else None
    out = []
    if zs.listpack:
        # a listpack is returned whole in one call, whatever the cursor
        for s, m in zs:
            if match is None or match(m):
                out.append(m)
                out.append(scan_score_repr(s, True))
        return [b"0", out]
    next_cursor, members = _scan_members(zs, cursor, count)
    scores = zs.scores
    for m in members:
        if match is None or match(m):
            out.append(m)
            out.append(scan_score_repr(scores[m], False))
    return [b"%d" % next_cursor, out]


def _scan_members(zs: ZSet, cursor: int, count: int):
    """A cursor walk over the members in insertion order (keyspace.ScanIndex), so a member present for the whole
    scan is returned at least once however the set changes between calls."""
    from ..keyspace import ScanIndex
    idx = zs.scan_index
    if idx is None:
        idx = zs.scan_index = ScanIndex(zs.scores)
    p = idx.resolve(cursor)
    order = idx.order
    end = min(len(order), p + count)
    found = []
    while p < end:
        m = order[p]
        p += 1
        if m is None:
            if end < len(order):
                end += 1
            continue
        found.append(m)
    return idx.cursor(p), found
