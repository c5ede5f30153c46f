"""Glob patterns as Redis matches them (KEYS, SCAN MATCH, PSUBSCRIBE, ACL key patterns, CONFIG GET).

`GlobPattern(pattern, nocase).match(s)` answers exactly what Redis 7.0's `stringmatchlen()` answers, quirks
included, but in bounded time: Redis's recursive matcher was exponential on patterns like `*a*a*a*...b`
(CVE-2022-36021) and unbounded in depth (CVE-2024-31228); this one is never worse than
O(len(pattern) × len(string)).

How: the pattern is compiled once into tokens that each consume exactly one byte (a literal, `?`, or a `[...]`
class as a 256-entry table) separated by `*` runs. Between two stars lies a fixed-length segment, and for
fixed-length segments the leftmost occurrence of each one is always the right choice (any match that places a
segment later can slide it left without harming the segments after it). So the matcher anchors the first
segment at the start, the last at the end, and finds each middle segment left to right with `bytes.find` (all
literal) or a quantifier-free regex (nothing to backtrack into), never revisiting an earlier star.

Redis's quirks kept on purpose (checked against redis-server 7.0.15):
- an empty string matches only the empty pattern (`*` does not match ``; KEYS and SCAN special-case a lone `*`
  before matching, use `matches_everything` for that);
- `[` without a closing `]` is a class that runs to the end of the pattern (`[abc` is one class of a, b, c);
  `[]` never matches, `[^]` matches any byte, `[a-]` is the range a..`]` that then continues the class;
- in a class, `\\x` is the literal x compared case-sensitively even with nocase; ranges compare bytes as C's
  signed `char` (so `[a-\\xff]` is the range -1..97) and accept reversed bounds (`[z-a]`);
- more than 1000 nested `*`s never match (Redis's CVE-2024-31228 nesting limit): a pattern whose stars, not
  counting a trailing run, form more than 1000 runs matches nothing.
"""
from __future__ import annotations

import functools
import re

_SPECIAL = frozenset(b"*?[\\")
_MAX_NESTING = 1000  # Redis: `if (nesting > 1000) return 0;`
_STAR = None  # token marking a run of stars
_ALL = bytes([1]) * 256  # the class table of `?`

_UPPER = range(ord("A"), ord("Z") + 1)


def _signed(b: int) -> int:
    """A byte as C's (signed) char, as Redis's class ranges compare them."""
    return b - 256 if b > 127 else b


def _lower(b: int) -> int:
    """C tolower() in the C locale, on a (possibly negative) char value."""
    return b + 32 if 65 <= b <= 90 else b


def _mark_signed_range(table: bytearray, lo: int, hi: int) -> None:
    """Mark every byte whose signed value lies in lo..hi."""
    if lo > hi:
        return
    neg_lo, neg_hi = lo, min(hi, -1)
    if neg_lo <= neg_hi:
        table[neg_lo + 256:neg_hi + 257] = b"\x01" * (neg_hi - neg_lo + 1)
    pos_lo, pos_hi = max(lo, 0), hi
    if pos_lo <= pos_hi:
        table[pos_lo:pos_hi + 1] = b"\x01" * (pos_hi - pos_lo + 1)


def _parse_class(p: bytes, i: int, nocase: bool) -> tuple[bytes, int]:
    """The class starting just after a `[` at p[i]: (its 256-entry match table, index after it).

    Walks the pattern exactly as Redis's `case '['` does, including its handling of a missing `]`."""
    n = len(p)
    table = bytearray(256)
    negate = i < n and p[i] == 0x5E  # '^'
    if negate:
        i += 1
    while True:
        left = n - i
        if left >= 2 and p[i] == 0x5C:  # '\\': the next byte, compared exactly even with nocase
            i += 1
            table[p[i]] = 1
        elif left > 0 and p[i] == 0x5D:  # ']'
            i += 1
            break
        elif left == 0:
            break  # unterminated: the class took the rest of the pattern
        elif left >= 3 and p[i + 1] == 0x2D:  # 'x-y'
            start, end = _signed(p[i]), _signed(p[i + 2])
            if start > end:
                start, end = end, start
            if nocase:
                start, end = _lower(start), _lower(end)
                in_range = bytearray(256)
                _mark_signed_range(in_range, start, end)
                for u in _UPPER:  # the byte is lowered too: 'A' is in the range iff 'a' is
                    in_range[u] = 1 if start <= u + 32 <= end else 0
                for b in range(256):
                    table[b] |= in_range[b]
            else:
                _mark_signed_range(table, start, end)
            i += 3
            continue
        else:
            b = p[i]
            table[b] = 1
            if nocase and (65 <= b <= 90 or 97 <= b <= 122):
                table[b ^ 0x20] = 1
        i += 1
    if negate:
        table = bytearray(1 - x for x in table)
    return bytes(table), i


def _tokenize(p: bytes, nocase: bool) -> list:
    """Tokens: _STAR for a run of `*`, an int for a literal byte, a 256-entry bytes table for `?` / `[...]`."""
    tokens: list = []
    classes: dict[bytes, bytes] = {}
    interned: dict[bytes, bytes] = {}
    i, n = 0, len(p)
    while i < n:
        b = p[i]
        if b == 0x2A:  # '*'
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
            i += 1
        elif b == 0x3F:  # '?'
            tokens.append(_ALL)
            i += 1
        elif b == 0x5B:  # '['
            # the same class text always parses the same way (unless it runs to the end): reuse its table
            close = p.find(b"]", i + 2)
            source = p[i:close + 1] if close > 0 and p.find(b"\\", i, close) < 0 else None
            cached = classes.get(source) if source is not None else None
            if cached is not None:
                tokens.append(cached)
                i = close + 1
                continue
            table, i = _parse_class(p, i + 1, nocase)
            table = interned.setdefault(table, table)
            if source is not None and i == close + 1:
                classes[source] = table
            tokens.append(table)
        else:
            if b == 0x5C and n - i >= 2:  # '\\' escapes the next byte (a lone trailing '\\' is literal)
                i += 1
                b = p[i]
            if nocase and (65 <= b <= 90 or 97 <= b <= 122):
                t = bytearray(256)
                t[b] = t[b ^ 0x20] = 1
                t = bytes(t)
                tokens.append(interned.setdefault(t, t))
            else:
                tokens.append(b)
            i += 1
    return tokens


@functools.lru_cache(maxsize=1024)
def _class_regex(table: bytes) -> bytes:
    """A regex atom for a byte table: `.` for all bytes, `(?!)` for none, else a `[...]` of byte ranges."""
    if table == _ALL:
        return b"."
    parts = []
    b = 0
    while b < 256:
        if table[b]:
            e = b
            while e + 1 < 256 and table[e + 1]:
                e += 1
            parts.append(b"\\x%02x" % b if b == e else b"\\x%02x-\\x%02x" % (b, e))
            b = e + 1
        else:
            b += 1
    if not parts:
        return b"(?!)"
    return b"[" + b"".join(parts) + b"]"


_REGEX_MAX_TOKENS = 256  # longer segments are matched token by token: compiling a huge regex costs seconds


@functools.lru_cache(maxsize=256)
def _byte_table(b: int) -> bytes:
    return bytes(256)[:b] + b"\x01" + bytes(255 - b)


class _Segment:
    """A fixed-length run of one-byte tokens between stars."""

    __slots__ = ("length", "literal", "regex", "tables")

    def __init__(self, tokens: list):
        self.length = len(tokens)
        self.literal = self.regex = self.tables = None
        if all(t.__class__ is int for t in tokens):
            self.literal = bytes(tokens)
        elif len(tokens) <= _REGEX_MAX_TOKENS:
            atoms = [re.escape(bytes([t])) if t.__class__ is int else _class_regex(t) for t in tokens]
            self.regex = re.compile(b"".join(atoms), re.DOTALL)
        else:
            self.tables = [_byte_table(t) if t.__class__ is int else t for t in tokens]

    def _tables_match(self, s: bytes, pos: int) -> bool:
        # a memoryview slice copies nothing: an early mismatch costs O(1), not O(length)
        return all(t[b] for t, b in zip(self.tables, memoryview(s)[pos:pos + self.length]))

    def match_at(self, s: bytes, pos: int) -> bool:
        """Whether the segment matches s at pos (the caller has checked it fits)."""
        if self.literal is not None:
            return s.startswith(self.literal, pos)
        if self.regex is not None:
            return self.regex.match(s, pos) is not None
        return self._tables_match(s, pos)

    def find(self, s: bytes, pos: int, end: int) -> int:
        """Leftmost start of a whole occurrence within s[pos:end], or -1."""
        if self.literal is not None:
            return s.find(self.literal, pos, end)
        if self.regex is not None:
            m = self.regex.search(s, pos, end)
            return -1 if m is None else m.start()
        first = self.tables[0]
        for i in range(pos, end - self.length + 1):
            if first[s[i]] and self._tables_match(s, i):
                return i
        return -1


class GlobPattern:
    """A compiled Redis glob pattern. `match(s)` ≡ Redis's `stringmatchlen(pattern, s, nocase)`."""

    __slots__ = ("pattern", "nocase", "matches_everything", "_exact", "_never", "_head", "_middle", "_tail",
                 "_starred")

    def __init__(self, pattern: bytes, nocase: bool = False):
        pattern = bytes(pattern)
        self.pattern = pattern
        self.nocase = nocase
        # KEYS and SCAN skip matching for a lone `*` (so it also returns the empty key, which `match` would not)
        self.matches_everything = pattern == b"*"
        self._exact: bytes | None = None
        self._never = False
        self._head = self._tail = None
        self._middle: list[_Segment] = []
        self._starred = False
        if not _SPECIAL.intersection(pattern):
            self._exact = pattern.lower() if nocase else pattern
            return
        tokens = _tokenize(pattern, nocase)
        star_runs = tokens.count(_STAR) - (1 if tokens and tokens[-1] is _STAR else 0)
        if star_runs > _MAX_NESTING:
            self._never = True
            return
        self._compile(tokens)

    def _compile(self, tokens: list) -> None:
        segments: list[list] = [[]]
        for t in tokens:
            if t is _STAR:
                segments.append([])
            else:
                segments[-1].append(t)
        if len(segments) == 1:  # no star: one segment anchored at both ends
            self._head = _Segment(segments[0])
            return
        self._starred = True
        self._head = _Segment(segments[0]) if segments[0] else None
        self._tail = _Segment(segments[-1]) if segments[-1] else None
        self._middle = [_Segment(seg) for seg in segments[1:-1] if seg]

    def match(self, s: bytes) -> bool:
        if self._exact is not None:
            if self.nocase:
                return len(s) == len(self._exact) and bytes(s).lower() == self._exact
            return s == self._exact
        if self._never or not s:  # Redis: the empty string only matches the empty pattern (handled above)
            return False
        head = self._head
        if not self._starred:
            return len(s) == head.length and head.match_at(s, 0)
        pos = 0
        end = len(s)
        if head is not None:
            if head.length > end or not head.match_at(s, 0):
                return False
            pos = head.length
        tail = self._tail
        if tail is not None:
            end -= tail.length
            if end < pos or not tail.match_at(s, end):
                return False
        for seg in self._middle:
            i = seg.find(s, pos, end)
            if i < 0:
                return False
            pos = i + seg.length
        return True

    def __repr__(self) -> str:
        return f"GlobPattern({self.pattern!r}, nocase={self.nocase})"


def glob_match(pattern: bytes, s: bytes, nocase: bool = False) -> bool:
    """One-off match (compiles the pattern each call; keep a GlobPattern to match many strings)."""
    return GlobPattern(pattern, nocase).match(s)
