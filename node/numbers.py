"""Numbers exactly as Redis parses and prints them.

Redis keeps INCRBYFLOAT values as C `long double`, which on x86-64 is the 80-bit extended format: a 64-bit
significand and a 15-bit exponent. Python has no such type, so this module models one exactly with integers:
a finite long double is `m * 2**e` (here a `fractions.Fraction`), rounded to 64 significant bits (round half to
even, with subnormals) after every parse and every addition. That is what makes `INCRBYFLOAT` answer, digit for
digit, what Redis answers (`10.5 + 0.1` is `10.6`, `1e17 + 0.1` is `100000000000000000.1015625`...).

* `string2ld` is Redis's string2ld: `strtold` on the whole argument, no leading space, nothing left over, no NaN,
  no overflow to HUGE_VAL and no underflow to zero; "inf" itself is accepted (the addition then fails).
* `ld_add` is one `long double` addition.
* `ld2string_human` is Redis's `ld2string(..., LD_STR_HUMAN)`: `"%.17Lf"`, then trailing zeros and a bare
  point removed, and "-0" printed as "0".
"""
from __future__ import annotations

import re
from fractions import Fraction

from .resp import string2ll as _resp_string2ll

LLONG_MAX = 2**63 - 1
LLONG_MIN = -2**63

# x87 extended precision
_PREC = 64  # significand bits, integer bit included
_EMIN = -16382  # exponent of the smallest normal number (2**_EMIN)
_EMAX = 16383  # exponent of the largest binade
_QMIN = _EMIN - _PREC + 1  # exponent of the smallest subnormal step: 2**-16445
_MAX_LONG_DOUBLE_CHARS = 5 * 1024

INF = float("inf")
NEG_INF = float("-inf")

# Redis's strict integer parse (no '+', spaces or leading zeros; within a signed 64-bit integer), re-exported so
# every number rule of the string commands is found here
string2ll = _resp_string2ll


def wrap64(v: int) -> int:
    """`v` as a C int64_t after two's complement wrap-around (what an overflowing `long long` becomes)."""
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


# --------------------------------------------------------------------------------------------------- big decimals

# Python refuses int<->str conversions above 4300 digits (a guard against quadratic work on untrusted input).
# A long double printed with %.17Lf reaches ~4950 digits and string2ld reads up to 5119 characters, so these
# convert in halves: bounded input, bounded work.
_CHUNK = 4000


def _digits_to_int(s: bytes) -> int:
    if len(s) <= _CHUNK:
        return int(s)
    half = len(s) // 2
    return _digits_to_int(s[:half]) * 10 ** (len(s) - half) + _digits_to_int(s[half:])


def _int_to_digits(n: int) -> str:
    """Decimal digits of n >= 0."""
    if n < 10**_CHUNK:
        return str(n)
    k = len(bin(n)) * 3 // 20  # about half the number of decimal digits
    hi, lo = divmod(n, 10**k)
    return _int_to_digits(hi) + _int_to_digits(lo).rjust(k, "0")


# --------------------------------------------------------------------------------------------------- rounding


def _round_half_even(num: int, den: int) -> int:
    """num/den (den > 0, num >= 0) rounded to the nearest integer, ties to even."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


def _to_long_double(x: Fraction):
    """Round the exact value `x` to the nearest long double. Returns a Fraction, or ±inf on overflow."""
    if x == 0:
        return Fraction(0)
    neg = x < 0
    num, den = abs(x.numerator), x.denominator
    # e = floor(log2(|x|))
    e = num.bit_length() - den.bit_length()
    if (num << -e if e < 0 else num) < (den << e if e > 0 else den):
        e -= 1
    q = max(e - _PREC + 1, _QMIN)  # exponent of one unit in the last place
    if q >= 0:
        m = _round_half_even(num, den << q)
    else:
        m = _round_half_even(num << -q, den)
    if m == 0:
        return Fraction(0)
    if m.bit_length() + q > _EMAX + 1:
        return NEG_INF if neg else INF
    v = Fraction(m << q) if q >= 0 else Fraction(m, 1 << -q)
    return -v if neg else v


# --------------------------------------------------------------------------------------------------- parsing

_DEC_RE = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX_RE = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INF_RE = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)


def string2ld(s) -> Fraction | float | None:
    """Redis's string2ld: the long double `s` spells (a Fraction, or ±inf for "inf"), or None if invalid."""
    n = len(s)
    if n == 0 or n >= _MAX_LONG_DOUBLE_CHARS:
        return None
    s = bytes(s)
    if _INF_RE.fullmatch(s):
        return NEG_INF if s[:1] == b"-" else INF
    m = _HEX_RE.fullmatch(s)
    if m is not None:
        return _parse_hex(m)
    m = _DEC_RE.fullmatch(s)
    if m is not None:
        return _parse_dec(m)
    return None


def _parse_dec(m) -> Fraction | None:
    sign, ip, fp, ex = m.groups()
    fp = fp or b""
    if not ip and not fp:
        return None
    digits = (ip + fp).lstrip(b"0")
    exp = (int(ex) if ex else 0) - len(fp)
    if not digits:
        return Fraction(0)  # an exact zero: no underflow
    mag = exp + len(digits)  # |x| < 10**mag
    if mag > 4934:
        return None  # overflows to HUGE_VAL
    if mag < -4952:
        return None  # underflows to zero
    d = _digits_to_int(digits)
    x = Fraction(d * 10**exp) if exp >= 0 else Fraction(d, 10**-exp)
    return _finish_parse(x, sign)


def _parse_hex(m) -> Fraction | None:
    sign, ip, fp, ex = m.groups()
    fp = fp or b""
    if not ip and not fp:
        return None  # "0x" alone: strtold reads just the "0", leaving "x"
    digits = (ip + fp).lstrip(b"0")
    exp = (int(ex) if ex else 0) - 4 * len(fp)
    if not digits:
        return Fraction(0)
    bits = exp + 4 * len(digits)  # 2**(bits-4) <= |x| < 2**bits
    if bits - 4 > _EMAX + 1:
        return None  # overflows to HUGE_VAL
    if bits < _QMIN - 1:
        return None  # below half the smallest subnormal: underflows to zero
    d = int(digits, 16)
    x = Fraction(d << exp) if exp >= 0 else Fraction(d, 1 << -exp)
    return _finish_parse(x, sign)


def _finish_parse(x: Fraction, sign: bytes):
    v = _to_long_double(x)
    if v == 0 or v in (INF, NEG_INF):
        return None  # ERANGE: HUGE_VAL or an underflow to zero
    return -v if sign == b"-" else v


# --------------------------------------------------------------------------------------------------- arithmetic


def ld_add(a, b):
    """a + b in long double arithmetic. Infinities (floats) propagate; inf + -inf is NaN."""
    if a.__class__ is float:
        if b.__class__ is float:
            return a + b
        return a
    if b.__class__ is float:
        return b
    return _to_long_double(a + b)


def ld_is_finite(v) -> bool:
    return v.__class__ is not float


def ld2string_human(v: Fraction) -> bytes:
    """`"%.17Lf"` with trailing zeros (and a bare '.') removed; "-0" becomes "0"."""
    neg = v < 0
    a = -v if neg else v
    scaled = _round_half_even(a.numerator * 10**17, a.denominator)
    digits = _int_to_digits(scaled).rjust(18, "0")
    s = digits[:-17] + "." + digits[-17:]
    s = s.rstrip("0")
    if s.endswith("."):
        s = s[:-1]
    if neg:
        s = "-" + s
    if s == "-0":
        s = "0"
    return s.encode()


def ll2string(v: int) -> bytes:
    return b"%d" % v
