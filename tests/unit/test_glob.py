"""node/glob.py: Redis's stringmatchlen() semantics, in bounded time.

The oracle is `redis_stringmatchlen` below: a line-by-line transcription of Redis 7.0.15's recursive matcher
(with Debian's nesting limit), simple enough to trust on small inputs, exponential on adversarial ones. The fast
matcher must agree with it everywhere; a regex translation checks the plain-glob subset independently.
"""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings, strategies as st

from shoal.node.glob import GlobPattern, glob_match


def redis_stringmatchlen(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis's util.c matcher, transcribed: C's NUL terminator is read as 0 past the end, chars are signed."""

    def at(buf: bytes, i: int) -> int:
        return buf[i] if i < len(buf) else 0

    def sch(v: int) -> int:
        return v - 256 if v > 127 else v

    def low(v: int) -> int:
        return v + 32 if 65 <= v <= 90 else v

    skip = [False]

    def impl(p: int, plen: int, s: int, slen: int, nesting: int) -> bool:
        if nesting > 1000:
            return False
        while plen and slen:
            c = at(pattern, p)
            if c == 0x2A:  # *
                while plen and at(pattern, p + 1) == 0x2A:
                    p += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, plen - 1, s, slen, nesting + 1):
                        return True
                    if skip[0]:
                        return False
                    s += 1
                    slen -= 1
                skip[0] = True
                return False
            elif c == 0x3F:  # ?
                s += 1
                slen -= 1
            elif c == 0x5B:  # [
                p += 1
                plen -= 1
                neg = at(pattern, p) == 0x5E
                if neg:
                    p += 1
                    plen -= 1
                match = False
                while True:
                    if at(pattern, p) == 0x5C and plen >= 2:
                        p += 1
                        plen -= 1
                        if at(pattern, p) == string[s]:
                            match = True
                    elif at(pattern, p) == 0x5D:
                        break
                    elif plen == 0:
                        p -= 1
                        plen += 1
                        break
                    elif plen >= 3 and at(pattern, p + 1) == 0x2D:
                        start, end, ch = sch(at(pattern, p)), sch(at(pattern, p + 2)), sch(string[s])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = low(start), low(end), low(ch)
                        p += 2
                        plen -= 2
                        if start <= ch <= end:
                            match = True
                    else:
                        if nocase:
                            if low(at(pattern, p)) == low(string[s]):
                                match = True
                        elif at(pattern, p) == string[s]:
                            match = True
                    p += 1
                    plen -= 1
                if neg:
                    match = not match
                if not match:
                    return False
                s += 1
                slen -= 1
            else:
                if c == 0x5C and plen >= 2:
                    p += 1
                    plen -= 1
                pc = at(pattern, p)
                if nocase:
                    if low(pc) != low(string[s]):
                        return False
                elif pc != string[s]:
                    return False
                s += 1
                slen -= 1
            p += 1
            plen -= 1
            if slen == 0:
                while at(pattern, p) == 0x2A:
                    p += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string), 0)


# ------------------------------------------------------------------ fixed cases (each checked on redis-server)

CASES = [
    (b"*", b"anything", True),
    (b"*", b"", False),  # Redis: only the empty pattern matches the empty string
    (b"**", b"", False),
    (b"", b"", True),
    (b"", b"a", False),
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h*llo", b"heeeello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hbllo", True),  # reversed bounds
    (b"h\\*llo", b"h*llo", True),
    (b"h\\*llo", b"hallo", False),
    (b"\\", b"\\", True),  # lone trailing backslash is literal
    (b"[abc", b"b", True),  # unterminated class runs to the end
    (b"[abc", b"bc", False),
    (b"*[abc", b"xxc", True),
    (b"[", b"[", False),
    (b"[]", b"]", False),
    (b"[]a]", b"a]", False),  # `[]` is an empty class, never matches
    (b"[^]", b"x", True),
    (b"[^", b"x", True),
    (b"[a-]", b"]", True),  # range a..] (then the class is unterminated)
    (b"[a-]", b"-", False),
    (b"[\\]]", b"]", True),
    (b"[\\a]", b"A", False),
    (b"a*b*c", b"aXXbYYc", True),
    (b"a*b*c", b"aXXbYY", False),
    (b"*a*a*a*b", b"a" * 50, False),
    (b"*\xe9*", b"caf\xe9s", True),
]


@pytest.mark.parametrize("pattern,s,expected", CASES)
def test_fixed_cases(pattern, s, expected):
    assert redis_stringmatchlen(pattern, s) is expected
    assert GlobPattern(pattern).match(s) is expected


NOCASE_CASES = [
    (b"HELLO", b"hello", True),
    (b"h*O", b"hellO", True),
    (b"[A-C]", b"b", True),
    (b"[a-c]", b"B", True),
    (b"[Z-a]", b"z", False),  # bounds are lowered after the swap: 'z'..'a' is empty
    (b"[\\A]", b"a", False),  # an escaped class char compares exactly
    (b"[^A]", b"a", False),
]


@pytest.mark.parametrize("pattern,s,expected", NOCASE_CASES)
def test_nocase_cases(pattern, s, expected):
    assert redis_stringmatchlen(pattern, s, nocase=True) is expected
    assert GlobPattern(pattern, nocase=True).match(s) is expected


def test_signed_char_ranges():
    # Redis compares class bounds as signed chars: [a-\xff] is the range -1..97, i.e. bytes 0x00-0x61 and 0xff
    g = GlobPattern(b"[a-\xff]")
    assert g.match(b"\xff") and g.match(b"A") and g.match(b"a")
    assert not g.match(b"b") and not g.match(b"\x80")
    for b in range(256):
        assert g.match(bytes([b])) == redis_stringmatchlen(b"[a-\xff]", bytes([b]))


def test_nesting_limit():
    # Debian's 7.0.15 refuses to recurse past 1000 stars (CVE-2024-31228); a trailing star needs no recursion
    s = b"a" * 1100
    assert GlobPattern(b"a*" * 999).match(s)
    assert GlobPattern(b"a*" * 1000 + b"a").match(s)
    assert GlobPattern(b"a*" * 1001).match(s)
    assert not GlobPattern(b"a*" * 1002).match(s)
    assert not GlobPattern(b"a*" * 1001 + b"a").match(s)
    assert GlobPattern(b"*" * 5000 + b"a" * 1100).match(s)  # one run of stars is one level


def test_fast_paths():
    g = GlobPattern(b"user:1000")
    assert g.match(b"user:1000") and not g.match(b"user:10000")
    assert GlobPattern(b"USER:1", nocase=True).match(b"user:1")
    assert GlobPattern(b"*").matches_everything and not GlobPattern(b"**").matches_everything
    assert glob_match(b"k*", b"key")


def test_accepts_bytearray_and_memoryview():
    g = GlobPattern(b"a?c*")
    assert g.match(bytearray(b"abcd"))
    assert g.match(bytes(memoryview(b"abc")))


# ------------------------------------------------------------------ property tests

_alphabet = st.sampled_from(list(b"ab*?[]^-\\Az\xff"))
patterns = st.lists(_alphabet, max_size=9).map(bytes)
strings = st.lists(st.sampled_from(list(b"ab]-\\^Az\xff*[?")), max_size=9).map(bytes)


@settings(max_examples=2000, deadline=None)
@given(patterns, strings, st.booleans())
def test_agrees_with_redis_transcription(pattern, s, nocase):
    assert GlobPattern(pattern, nocase).match(s) == redis_stringmatchlen(pattern, s, nocase)


def _fnmatch_regex(pattern: bytes) -> re.Pattern:
    """Plain globs (only `*`, `?` and letters) as a regex, the textbook way."""
    out = b"".join(b".*" if c == 0x2A else b"." if c == 0x3F else re.escape(bytes([c])) for c in pattern)
    return re.compile(out, re.DOTALL)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(list(b"ab*?")), max_size=8).map(bytes), st.lists(st.sampled_from(list(b"ab")),
                                                                                 min_size=1, max_size=10).map(bytes))
def test_agrees_with_fnmatch_on_plain_globs(pattern, s):
    expected = _fnmatch_regex(pattern).fullmatch(s) is not None
    assert GlobPattern(pattern).match(s) == expected


_units = st.sampled_from([b"a", b"b", b"?", b"[ab]", b"[^a]", b"[a-]", b"[]", b"\\[", b"[\\]]", b"[b-a]"])


@settings(max_examples=60, deadline=None)
@given(st.lists(_units, min_size=1, max_size=4), st.integers(60, 90), st.lists(st.integers(0, 300), max_size=3),
       st.lists(st.sampled_from(list(b"ab]-[")), min_size=100, max_size=300).map(bytes))
def test_long_patterns_agree(units, repeat, star_at, s):
    """Long segments (matched token by token, not by regex) and repeated classes (parsed once)."""
    body = b"".join(units) * repeat
    for pos in sorted(set(star_at), reverse=True):
        body = body[:pos] + b"*" + body[pos:]
    for pattern in (body, b"*" + body, body + b"*", b"*" + body + b"*"):
        assert GlobPattern(pattern).match(s) == redis_stringmatchlen(pattern, s), pattern
        # a string built to match the pattern's shape, so matches are exercised too
        fitting = bytes(b if b in b"ab" else 0x61 for b in pattern if b != 0x2A)
        assert GlobPattern(pattern).match(fitting) == redis_stringmatchlen(pattern, fitting), pattern


# ------------------------------------------------------------------ bounded work

def test_backtracking_pattern_is_polynomial():
    # CVE-2022-36021's shape: exponential for a naive backtracking matcher
    pattern = b"*a" * 29 + b"*b"  # 60 bytes
    s = b"a" * 10240
    g = GlobPattern(pattern)
    t0 = time.perf_counter()
    assert not g.match(s)
    assert time.perf_counter() - t0 < 3.0


def test_backtracking_with_classes_is_polynomial():
    pattern = b"*[ab]?" * 20 + b"*c"
    s = b"ab" * 5000
    t0 = time.perf_counter()
    assert not GlobPattern(pattern).match(s)
    assert time.perf_counter() - t0 < 3.0


def test_long_pattern_compiles_quickly():
    pattern = b"[a-z]" * 20000 + b"*" + b"?" * 1000
    t0 = time.perf_counter()
    g = GlobPattern(pattern)
    assert g.match(b"q" * 20000 + b"z" * 1000)
    assert not g.match(b"q" * 20000)
    assert time.perf_counter() - t0 < 5.0


def test_huge_pattern_is_not_compiled_into_a_huge_regex():
    pattern = b"*" + b"[^a]b?" * 100000 + b"*"
    t0 = time.perf_counter()
    g = GlobPattern(pattern)
    assert not g.match(b"q" * 300005)
    assert g.match(b"x" + b"qbq" * 100000)
    assert time.perf_counter() - t0 < 5.0
