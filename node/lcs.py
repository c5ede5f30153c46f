"""Longest common subsequence for the LCS command, with Redis's exact answer.

Redis fills the whole (len(a)+1) x (len(b)+1) table of LCS lengths and walks it back from the bottom-right
corner: on equal bytes it steps diagonally, otherwise it steps to the larger neighbour, preferring to drop a
byte of `b` on ties. Which common subsequence it reports (and which IDX ranges) depends on that walk, so ours
must take the very same path.

A Python loop over every cell would be far too slow, so the table is kept bit-parallel (Allison-Dix /
Crochemore et al.): one big integer per row over the shorter string, whose bit j-1 is 0 exactly where the row
grows by one at column j. Any cell is then a masked popcount, a row costs a few big-integer operations, and the
walk jumps over runs of columns where it could only step left: O(n·m/64) word operations instead of O(n·m)
Python steps.
"""
from __future__ import annotations


def _row_masks(col: bytes, chars) -> dict[int, int]:
    """For each byte value in `chars`: an integer with bit p set where col[p] is that byte."""
    masks = {}
    base = bytearray(b"0" * 256)
    for ch in set(chars):
        base[ch] = ord("1")
        masks[ch] = int(col.translate(bytes(base))[::-1], 2)
        base[ch] = ord("0")
    return masks


def _rows(row: bytes, col: bytes, keep: bool):
    """Bit rows V_0..V_n (or only the last one): T(r, c) = c - popcount(V_r & (2**c - 1))."""
    m = len(col)
    full = (1 << m) - 1
    masks = _row_masks(col, row)
    v = full
    rows = [v] if keep else None
    for ch in row:
        u = v & masks[ch]
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(v)
    return rows if keep else [v]


def lcs_length(a: bytes, b: bytes) -> int:
    if not a or not b:
        return 0
    row, col = (a, b) if len(a) <= len(b) else (b, a)
    v = _rows(row, col, keep=False)[-1]
    return len(col) - v.bit_count()


def lcs(a: bytes, b: bytes, minmatchlen: int = 0) -> tuple[int, bytes, list]:
    """(length, the subsequence Redis reports, its IDX ranges) where a range is
    (a_start, a_end, b_start, b_end, length), in the order Redis emits them (from the end of the strings)."""
    if not a or not b:
        return 0, b"", []
    a_rows = len(a) <= len(b)  # rows run over `a` (Redis's i), else over `b`
    row, col = (a, b) if a_rows else (b, a)
    rows = _rows(row, col, keep=True)
    m = len(col)
    full = (1 << m) - 1

    def cell(r: int, c: int) -> int:
        return c - (rows[r] & ((1 << c) - 1)).bit_count()

    def zero_bit(r: int, c: int) -> int:
        """1 if row r grows at column c (T(r,c) - T(r,c-1))."""
        return ((~rows[r] & full) >> (c - 1)) & 1

    r, c = len(row), m
    cur = cell(r, c)
    length = cur
    out = bytearray()
    ranges: list = []
    # the range being grown, in Redis's (i over a, j over b) coordinates
    open_range = None  # [a_start, a_end, b_start, b_end]

    def emit():
        nonlocal open_range
        a0, a1, b0, b1 = open_range
        n = a1 - a0 + 1
        if minmatchlen == 0 or n >= minmatchlen:
            ranges.append((a0, a1, b0, b1, n))
        open_range = None

    while r > 0 and c > 0:
        ch = row[r - 1]
        if col[c - 1] == ch:
            out.append(ch)
            ai, bj = (r - 1, c - 1) if a_rows else (c - 1, r - 1)
            if open_range is None:
                open_range = [ai, ai, bj, bj]
            else:
                open_range[0] = ai
                open_range[2] = bj
            r -= 1
            c -= 1
            cur -= 1
            if ai == 0 or bj == 0:
                emit()
            continue
        if open_range is not None:
            emit()
        up = cell(r - 1, c)
        left = cur - zero_bit(r, c)
        # Redis steps to the larger neighbour and drops a byte of b on ties
        go_up = up > left if a_rows else up >= left
        if go_up:
            r -= 1
            cur = up
            continue
        c -= 1
        cur = left
        # Columns where the row neither grows nor matches can only be stepped over leftwards: jump to the
        # nearest one that can stop the walk (a match, or a column where the row grows).
        if c > 0 and col[c - 1] != ch and not zero_bit(r, c):
            jm = col.rfind(bytes((ch,)), 0, c) + 1
            jz = ((~rows[r] & full) & ((1 << c) - 1)).bit_length()
            c = max(jm, jz)
    out.reverse()
    return length, bytes(out), ranges
