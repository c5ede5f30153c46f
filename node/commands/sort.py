"""SORT and SORT_RO, as Redis 7.0's sort.c behaves.

    SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE destination]

The steps, in Redis's order (which decides which error wins):
1. options are parsed left to right (words compared as C strings, so "asc\\0x" is ASC); a LIMIT number that is
   not a long gives "value is not an integer", anything unknown (STORE included, for SORT_RO) a syntax error;
2. the key is looked up: missing sorts as an empty list, a type other than list/set/zset is WRONGTYPE;
3. a sorted set is converted to a skiplist for good, whatever the options (Redis's zsetConvert at this point);
4. the elements are loaded: a list or a zset with a constant BY pattern ("BY nosort": no '*') keeps its own
   order (reversed by DESC) and loads only the LIMIT range; a set with a constant BY pattern also keeps its
   order, unless the result is STOREd (or the caller is a script), when it is sorted ALPHA instead so that
   replicas see the same list;
5. unless BY is constant, each element gets a weight: itself or the value its BY pattern points to, a double
   (strtod, see `_score`) or, with ALPHA, a string; the vector is sorted (see `_sorted_vector` for ties);
6. the LIMIT range is answered (one entry per GET pattern, or the element itself), or STOREd as a list.

Ordering (sortCompare): numeric weights compare as doubles and equal ones by the elements' bytes; ALPHA compares
with strcoll, which in the C locale Redis runs under is strcmp (the bytes up to the first NUL), or with the
whole bytes when STORE is given; with ALPHA and BY a missing weight sorts before every present one. DESC negates
the comparison. A plain sort is glibc's qsort, a stable merge sort; a sort BY a pattern with a LIMIT that
leaves elements out is Redis's own partial quicksort, which is not stable (node/pqsort.py).

Patterns (lookupKeyByPattern): "#" is the element itself; otherwise the first '*' is replaced by the element,
and "->field" after it (a non-empty field) reads a hash field; a pattern without '*', a missing key, or a key of
the wrong type gives nothing (a null reply, an empty string in STORE, a weight of 0 or "missing").

Cluster mode: Redis 7.0 refuses a BY pattern containing '*' ("ERR BY option of SORT denied in Cluster mode.")
and any GET ("ERR GET option of SORT denied in Cluster mode."), since the keys they name may live in other
slots; ACLs without full key access are refused likewise ("... denied due to insufficient ACL permissions.").
Neither is wired yet: see `_check_pattern_allowed`.

Complexity: O(n log n) for n elements plus O(m * g) lookups for m answered elements and g GET patterns, as in
Redis. Weights are computed once per element.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..keyspace import type_name
from ..numbers import _digits_to_int, string2ll
from ..pqsort import pqsort
from ..types.list import ListValue
from .registry import command

SCORE_ERROR = "ERR One or more scores can't be converted into double"

INF = float("inf")
DBL_MIN = 2.2250738585072014e-308  # the smallest normal double: below it glibc's strtod may report ERANGE

# --------------------------------------------------------------------------------------------------- strtod

_WS = rb"[ \t\n\v\f\r]*"
_DECIMAL = re.compile(_WS + rb"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)").fullmatch
_HEX = re.compile(_WS + rb"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?[0-9]+))?").fullmatch
_INFINITY = re.compile(_WS + rb"([+-]?)inf(?:inity)?", re.IGNORECASE).fullmatch
_NONZERO_DIGIT = re.compile(rb"[1-9]").search


def _cstr(b: bytes) -> bytes:
    """What C string functions see of `b`: the bytes before the first NUL."""
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


def _score(s: bytes) -> float | None:
    """A weight as SORT reads it: glibc's strtod on the C string, which must be consumed to its end, with no
    ERANGE and no NaN; None when it fails. Unlike the strict number parsers, leading white space, hex floats and
    "inf" pass, and the empty string is 0. glibc reports ERANGE on overflow and on any inexact result below
    the normal range (checked against redis-server: 4.9e-324 and 1e-320 fail, 0x1p-1070 and 0e-400 pass)."""
    s = _cstr(s)
    if not s:
        return 0.0  # strtod parses nothing and stops at the terminating NUL: no error
    m = _DECIMAL(s)
    if m is not None:
        text = m.group(1)
        v = float(text)  # correctly rounded, as glibc's strtod
        if v == INF or v == -INF:
            return None
        if -DBL_MIN < v < DBL_MIN and not _decimal_is_exact(text, v):
            return None
        return v
    m = _HEX(s)
    if m is not None:
        return _hex_score(m)
    m = _INFINITY(s)
    if m is not None:
        return -INF if m.group(1) == b"-" else INF
    return None  # NaN, or characters left over


def _decimal_is_exact(text: bytes, v: float) -> bool:
    """Whether the tiny (subnormal or zero) double `v` is exactly the decimal `text`."""
    mantissa, _, exp = text.lower().partition(b"e")
    if _NONZERO_DIGIT(mantissa) is None:
        return True  # a zero, whatever its exponent
    if v == 0.0:
        return False  # a non-zero number rounded to zero
    int_part, _, frac = mantissa.lstrip(b"+-").partition(b".")
    digits = _digits_to_int(int_part + frac)  # int() refuses more than 4300 digits
    e = _signed_int(exp) - len(frac)
    # v is subnormal, so e is within a few hundred of -324 plus the number of digits: these powers stay small
    exact = Fraction(digits) * Fraction(10) ** e
    return exact == Fraction(abs(v))


def _signed_int(text: bytes | None) -> int:
    """An exponent's digits (optionally signed, maybe thousands of them) as an int; None or empty is 0."""
    if not text:
        return 0
    negative = text[:1] == b"-"
    v = _digits_to_int(text.lstrip(b"+-"))
    return -v if negative else v


def _hex_score(m) -> float | None:
    sign, mant, pexp = m.group(1), m.group(2), m.group(3)
    int_part, _, frac = mant.partition(b".")
    digits = int((int_part + frac) or b"0", 16)
    if digits == 0:
        return -0.0 if sign == b"-" else 0.0
    e = _signed_int(pexp) - 4 * len(frac)
    top = digits.bit_length() + e  # the value is in [2**(top-1), 2**top)
    if top > 1024:
        return None  # overflow
    if top < -1074:
        return None  # rounds to zero (or to the smallest subnormal): inexact
    v = float(Fraction(digits) * Fraction(2) ** e)  # correctly rounded
    if v == INF:
        return None
    if v < DBL_MIN and Fraction(v) != Fraction(digits) * Fraction(2) ** e:
        return None
    return -v if sign == b"-" else v


# --------------------------------------------------------------------------------------------------- patterns


class Pattern:
    """A BY or GET pattern, split once: "#", or prefix + element + postfix, optionally ->field."""

    __slots__ = ("is_self", "is_constant", "prefix", "postfix", "field")

    def __init__(self, pattern: bytes):
        c = _cstr(pattern)
        self.is_self = c == b"#"
        star = c.find(b"*")
        self.is_constant = star < 0
        self.prefix = self.postfix = self.field = None
        if self.is_self or self.is_constant:
            return
        arrow = c.find(b"->", star + 1)
        if arrow >= 0 and arrow + 2 < len(c):  # "->" followed by a non-empty field
            self.field = pattern[arrow + 2:]
            self.postfix = pattern[star + 1:arrow]
        else:
            self.postfix = pattern[star + 1:]
        self.prefix = pattern[:star]

    def lookup(self, db, elem: bytes):
        """The string the pattern points to for `elem`, or None."""
        if self.is_self:
            return elem
        if self.is_constant:
            return None
        v = db.lookup_read(self.prefix + elem + self.postfix)  # counts hits and misses, as lookupKeyRead
        if v is None:
            return None
        if self.field is not None:
            if getattr(v, "TYPE_NAME", None) != "hash":
                return None
            return v.get(self.field)
        if v.__class__ is bytes:
            return v
        if v.__class__ is bytearray:
            return bytes(v)
        return None


def _check_pattern_allowed(c, pattern: Pattern, option: str) -> None:
    """Cluster mode (and ACLs without full key access) refuse BY/GET patterns in Redis; neither exists in the
    node yet. When cluster mode lands: raise "ERR BY option of SORT denied in Cluster mode." for a BY pattern
    with '*', "ERR GET option of SORT denied in Cluster mode." for any GET, during option parsing."""


# --------------------------------------------------------------------------------------------------- options


class SortOptions:
    __slots__ = ("desc", "alpha", "limit_start", "limit_count", "store", "by", "dontsort", "gets")

    def __init__(self):
        self.desc = False
        self.alpha = False
        self.limit_start = 0
        self.limit_count = -1
        self.store: bytes | None = None
        self.by: Pattern | None = None
        self.dontsort = False  # once a constant BY is seen it stays set, as in Redis
        self.gets: list[Pattern] = []


def _long(arg: bytes) -> int:
    v = string2ll(arg)
    if v is None:
        raise CommandError(NOT_INTEGER)
    return v


def parse_options(c, argv, readonly: bool) -> SortOptions:
    o = SortOptions()
    argc = len(argv)
    j = 2
    while j < argc:
        left = argc - j - 1
        word = _cstr(argv[j]).lower()  # strcasecmp
        if word == b"asc":
            o.desc = False
        elif word == b"desc":
            o.desc = True
        elif word == b"alpha":
            o.alpha = True
        elif word == b"limit" and left >= 2:
            o.limit_start = _long(argv[j + 1])
            o.limit_count = _long(argv[j + 2])
            j += 2
        elif not readonly and word == b"store" and left >= 1:
            o.store = argv[j + 1]
            j += 1
        elif word == b"by" and left >= 1:
            o.by = Pattern(argv[j + 1])
            if o.by.is_constant:
                o.dontsort = True
            else:
                _check_pattern_allowed(c, o.by, "BY")
            j += 1
        elif word == b"get" and left >= 1:
            p = Pattern(argv[j + 1])
            _check_pattern_allowed(c, p, "GET")
            o.gets.append(p)
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return o


def _from_script(c) -> bool:
    # Redis's CLIENT_SCRIPT flag; the scripting room may set `in_script` on the client it runs commands through
    return bool(getattr(c, "in_script", False))


# --------------------------------------------------------------------------------------------------- the command


@command("sort")
def sort(c, argv):
    return _sort(c, argv, readonly=False)


@command("sort_ro")
def sort_ro(c, argv):
    return _sort(c, argv, readonly=True)


def _sort(c, argv, readonly: bool):
    o = parse_options(c, argv, readonly)
    db = c.db
    value = db.lookup_read(argv[1])
    kind = "list" if value is None else type_name(value)
    if kind not in ("list", "set", "zset"):
        raise CommandError(WRONGTYPE)
    if value is None:
        value = ListValue()

    if o.dontsort and kind == "set" and (o.store is not None or _from_script(c)):
        # a set's own order is not the same on a replica or in an AOF: sort it
        o.dontsort = False
        o.alpha = True
        o.by = None

    if kind == "zset":
        value.listpack = False  # Redis converts it to a skiplist here, for good

    n = len(value)
    start = min(max(o.limit_start, 0), n)
    count = min(max(o.limit_count, -1), n)
    end = n - 1 if count < 0 else start + count - 1
    if start >= n:
        start, end = n - 1, n - 2
    if end >= n:
        end = n - 1

    if o.dontsort and kind in ("list", "zset"):
        vector = _native_range(value, kind, start, end, o.desc)
        if end >= start:
            end -= start
            start = 0
    else:
        vector = _all_elements(value, kind)
        if not o.dontsort:
            vector = _sorted_vector(db, vector, o, start, end)

    if o.store is None:
        return _reply(db, vector, start, end, o.gets)
    return _store(c, vector, start, end, o)


def _native_range(value, kind: str, start: int, end: int, desc: bool) -> list[bytes]:
    """Elements start..end of a list or zset in its own order (from the tail when `desc`)."""
    if end < start:
        return []
    n = len(value)
    if kind == "list":
        if desc:
            out = value.range(n - 1 - end, n - start)
            out.reverse()
            return out
        return value.range(start, end + 1)
    if desc:
        return [m for _, m in value.slice(n - 1 - end, n - start, reverse=True)]
    return [m for _, m in value.slice(start, end + 1)]


def _all_elements(value, kind: str) -> list[bytes]:
    if kind == "zset":
        return [m for _, m in value]  # Redis walks its dict: any order will do, the vector gets sorted
    return list(value)  # a list in order; a set in its own order (ascending for an intset, as Redis)


def _sorted_vector(db, vector: list[bytes], o: SortOptions, start: int, end: int) -> list[bytes]:
    """The vector in Redis's order. Numeric sorting is a total order up to identical elements, so any correct
    sort gives Redis's answer. ALPHA can tie distinct elements (equal BY weights, missing weights, bytes after a
    NUL): a stable sort then matches glibc's qsort (a merge sort); Redis's partial quicksort, used for BY with a
    LIMIT that leaves elements out, orders ties its own way, so it is replayed exactly when ties exist."""
    by = o.by
    if not o.alpha:
        keyed = []
        failed = False
        for e in vector:
            w = by.lookup(db, e) if by is not None else e
            if w is None:
                keyed.append((0.0, e))  # a missing weight stays 0
                continue
            s = _score(w)
            if s is None:
                failed = True  # Redis goes on loading the other weights (and counting their lookups)
                s = 0.0
            keyed.append((s, e))
        if failed:
            raise CommandError(SCORE_ERROR)
        keyed.sort(reverse=o.desc)
        return [e for _, e in keyed]

    whole = o.store is not None  # STORE compares whole strings (compareStringObjects), else strcoll
    if by is None:
        keys = vector if whole else [_cstr(e) for e in vector]
        order = sorted(range(len(vector)), key=keys.__getitem__, reverse=o.desc)
        return [vector[i] for i in order]

    keys = []
    for e in vector:
        w = by.lookup(db, e)
        if w is None:
            keys.append((0, b""))  # a missing weight sorts before any string
        else:
            keys.append((1, w if whole else _cstr(w)))
    partial = start != 0 or end != len(vector) - 1
    if partial and _has_ambiguous_ties(keys, vector):
        items = list(zip(keys, vector))
        sign = -1 if o.desc else 1

        def cmp(a, b):
            ka, kb = a[0], b[0]
            return 0 if ka == kb else (sign if ka > kb else -sign)

        pqsort(items, cmp, start, end)
        return [e for _, e in items]
    order = sorted(range(len(vector)), key=keys.__getitem__, reverse=o.desc)
    return [vector[i] for i in order]


def _has_ambiguous_ties(keys: list, vector: list[bytes]) -> bool:
    """Whether two different elements share a weight (identical elements tie harmlessly)."""
    first = {}
    for k, e in zip(keys, vector):
        if first.setdefault(k, e) != e:
            return True
    return False


def _reply(db, vector: list[bytes], start: int, end: int, gets: list[Pattern]) -> list:
    if not gets:
        return vector[start:end + 1]
    out = []
    for e in vector[start:end + 1]:
        for p in gets:
            out.append(p.lookup(db, e))
    return out


def _store(c, vector: list[bytes], start: int, end: int, o: SortOptions) -> int:
    db = c.db
    st = c.state
    if not o.gets:
        items = vector[start:end + 1]
    else:
        items = []
        for e in vector[start:end + 1]:
            for p in o.gets:
                v = p.lookup(db, e)
                items.append(b"" if v is None else v)
    dst = o.store
    if items:
        db.set(dst, ListValue(items))  # setKey: replaces any type, drops the TTL
        if st.notify_flags:
            st.notify_keyspace_event("sortstore", dst, c.dbid, "l")
        st.dirty += len(items)
    elif db.delete(dst):
        if st.notify_flags:
            st.notify_keyspace_event("del", dst, c.dbid, "g")
        st.dirty += 1
    return len(items)
