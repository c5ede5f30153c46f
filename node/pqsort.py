"""Redis's pqsort (pqsort.c: NetBSD's qsort by Bentley & McIlroy, partitions outside [lrange, rrange] left
unsorted), move for move, so that elements comparing equal end up where Redis puts them. SORT ... LIMIT and the geo
commands with COUNT use it: their replies would otherwise differ from Redis's only in the order of ties. O(n log n)
on average."""
from __future__ import annotations


def pqsort(a: list, cmp, lrange: int, rrange: int) -> None:
    """Sort `a` in place well enough that positions lrange..rrange hold what a full sort puts there, making
    exactly the moves Redis's pqsort makes (a Bentley-McIlroy quicksort that skips partitions lying outside the
    range), so that elements comparing equal come out in the same order as in Redis."""
    _pq(a, 0, len(a), cmp, lrange, rrange)


def _med3(a, i, j, k, cmp) -> int:
    if cmp(a[i], a[j]) < 0:
        if cmp(a[j], a[k]) < 0:
            return j
        return k if cmp(a[i], a[k]) < 0 else i
    if cmp(a[j], a[k]) > 0:
        return j
    return i if cmp(a[i], a[k]) < 0 else k


def _insertion_sort(a, lo: int, n: int, cmp) -> None:
    for m in range(lo + 1, lo + n):
        j = m
        while j > lo and cmp(a[j - 1], a[j]) > 0:
            a[j - 1], a[j] = a[j], a[j - 1]
            j -= 1


def _swap_runs(a, i: int, j: int, n: int) -> None:
    for k in range(n):
        a[i + k], a[j + k] = a[j + k], a[i + k]


def _overlaps(lo: int, n: int, lrange: int, rrange: int) -> bool:
    """Whether elements lo..lo+n-1 meet the wanted range; the arithmetic is Redis's, on byte addresses of
    16-byte elements, so that even an empty wanted range (rrange = lrange - 1) behaves as there."""
    first, last = lo * 16, (lo + n) * 16 - 1
    left, right = lrange * 16, (rrange + 1) * 16 - 1
    return not ((left < first and right < first) or (left > last and right > last))


def _pq(a, lo: int, n: int, cmp, lrange: int, rrange: int) -> None:
    while True:
        if n < 7:
            _insertion_sort(a, lo, n, cmp)
            return
        pm = lo + n // 2
        if n > 7:
            pl, pn = lo, lo + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[lo], a[pm] = a[pm], a[lo]  # the pivot waits at lo
        pa = pb = lo + 1
        pc = pd = lo + n - 1
        while True:
            # equal elements gather at both ends (pa, pd), smaller ones after the left group, larger before the right
            while pb <= pc:
                r = cmp(a[pb], a[lo])
                if r > 0:
                    break
                if r == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(a[pc], a[lo])
                if r < 0:
                    break
                if r == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        # (Redis 7.0's copy has no switch to insertion sort when a pass moved nothing, unlike later ones)
        pn = lo + n
        r = min(pa - lo, pb - pa)
        _swap_runs(a, lo, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _swap_runs(a, pb, pn - r, r)
        r = pb - pa
        if r > 1 and _overlaps(lo, r, lrange, rrange):
            _pq(a, lo, r, cmp, lrange, rrange)
        r = pd - pc
        if r > 1:
            lo, n = pn - r, r
            if _overlaps(lo, n, lrange, rrange):
                continue
        return
