"""The sorted set value: members with IEEE-double scores, ordered by (score, member).

Two structures hold the same elements, as Redis's skiplist + dict do:

* `scores`, a dict member → score: O(1) ZSCORE, membership, and the score needed to find an element in `order`;
* `order`, a `sortedcontainers.SortedList` of `(score, member)` tuples. Tuples compare by score, then by member
  bytes, which is exactly Redis's order (memcmp, the shorter string first on a common prefix), and -0.0 equals
  0.0 so both sort together by member as in Redis. SortedList keeps a positional index, so insert, delete,
  rank (`bisect_left`) and the element at a rank are O(log n), and a range of m elements is O(log n + m) with
  `islice` — the complexities of Redis's skiplist with spans.

Scores are never NaN (the commands refuse them before they get here).

Encoding (OBJECT ENCODING): Redis starts a sorted set as a listpack and converts it to a skiplist, one way, when a
new member would make it longer than `zset-max-listpack-entries` or a new member is longer than
`zset-max-listpack-value` bytes. `listpack` is that flag. It is more than a name: a listpack stores a score as an
integer when it is one (up to ±2^62), so a -0 score comes back as 0 there, and ZSCAN shows scores in that stored
form. Both quirks are kept (see `store_score` and `scan_score_repr`).
"""
from __future__ import annotations

import random
import sys
from itertools import islice

from sortedcontainers import SortedList

from ..resp import format_double

# The largest magnitude Redis 7.0's double2ll accepts (LLONG_MAX/2 as a double, i.e. 2^62): integral scores up to
# this are kept as integers in a listpack.
_LISTPACK_INT_LIMIT = float(2**62)


class _Top:
    """Compares greater than any member bytes: (score, TOP) sorts after every element with that score."""

    __slots__ = ()

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True

    def __le__(self, other):
        return other is self

    def __ge__(self, other):
        return True

    def __eq__(self, other):
        return other is self

    def __hash__(self):
        return 0


TOP = _Top()
BOTTOM = b""  # the smallest member: (score, b"") sorts before every element with that score


def limits_of(config) -> tuple[int, int]:
    """(zset-max-listpack-entries, zset-max-listpack-value) from the node's config."""
    return config["zset-max-listpack-entries"], config["zset-max-listpack-value"]


def scan_score_repr(score: float, listpack: bool) -> bytes:
    """A score as ZSCAN shows it: in a listpack the stored form (an integer when the score is integral and within
    ±2^62, else %.17g), in a skiplist %.17g (Redis's ld2string)."""
    if listpack and -_LISTPACK_INT_LIMIT <= score <= _LISTPACK_INT_LIMIT and score == int(score):
        return b"%d" % int(score)
    return format_double(score)


class ZSet:
    TYPE_NAME = "zset"

    __slots__ = ("scores", "order", "listpack", "scan_index")

    def __init__(self, listpack: bool = True):
        self.scores: dict[bytes, float] = {}
        self.order = SortedList()
        self.listpack = listpack
        self.scan_index = None  # ScanIndex of the members, built by the first ZSCAN of a skiplist (see zsets.py)

    # ------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self.scores)

    def __contains__(self, member) -> bool:
        return member in self.scores

    def get(self, member):
        """The score of `member`, or None."""
        return self.scores.get(member)

    def rank(self, member) -> int | None:
        """0-based rank in ascending order, or None. O(log n)."""
        score = self.scores.get(member)
        if score is None:
            return None
        return self.order.bisect_left((score, member))

    def at(self, index: int) -> tuple[float, bytes]:
        """(score, member) at a rank (negative counts from the end). O(log n)."""
        return self.order[index]

    def slice(self, start: int, stop: int, reverse: bool = False):
        """(score, member) of the ranks start..stop-1, from `start` up, or from stop-1 down when `reverse`.
        O(log n + m)."""
        return self.order.islice(start, stop, reverse=reverse)

    def __iter__(self):
        """(score, member) in ascending order."""
        return iter(self.order)

    def items(self):
        """(member, score) in ascending order."""
        return ((m, s) for s, m in self.order)

    def score_index(self, score: float, exclusive: bool, upper: bool) -> int:
        """Rank boundary for a score bound: with upper=False the first rank whose score is >= score (> if
        exclusive); with upper=True the first rank whose score is > score (>= if exclusive). O(log n)."""
        if upper != exclusive:
            return self.order.bisect_right((score, TOP))
        return self.order.bisect_left((score, BOTTOM))

    def random_element(self) -> tuple[float, bytes]:
        return self.order[random.randrange(len(self.order))]

    # ------------------------------------------------------------------ writes

    def store_score(self, score: float) -> float:
        """The score as this encoding keeps it: a listpack stores integral scores as integers, so -0 becomes 0."""
        if self.listpack and score == 0.0:
            return 0.0
        return score

    def insert(self, member: bytes, score: float, limits: tuple[int, int]) -> None:
        """Add a member known to be absent, converting to a skiplist first when Redis would (zsetAdd)."""
        if self.listpack and (len(self.scores) + 1 > limits[0] or len(member) > limits[1]):
            self.listpack = False
        if self.listpack and score == 0.0:
            score = 0.0
        self.scores[member] = score
        self.order.add((score, member))
        if self.scan_index is not None:
            self.scan_index.add(member)

    def change(self, member: bytes, old: float, new: float) -> None:
        """Give a present member a new score (the caller checked that it differs)."""
        new = self.store_score(new)
        self.order.remove((old, member))
        self.order.add((new, member))
        self.scores[member] = new

    def put(self, member: bytes, score: float, limits: tuple[int, int]) -> tuple[bool, bool]:
        """Plain ZADD of one pair: (added, updated)."""
        old = self.scores.get(member)
        if old is None:
            self.insert(member, score, limits)
            return True, False
        if old != score:
            self.change(member, old, score)
            return False, True
        return False, False

    def delete(self, member) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        if self.scan_index is not None:
            self.scan_index.remove(member)
        return True

    def pop_at(self, index: int) -> tuple[float, bytes]:
        """Remove and return (score, member) at a rank (0 the lowest, -1 the highest)."""
        score, member = self.order.pop(index)
        del self.scores[member]
        if self.scan_index is not None:
            self.scan_index.remove(member)
        return score, member

    def delete_ranks(self, start: int, stop: int) -> int:
        """Remove ranks start..stop-1. O(m log n)."""
        if start >= stop:
            return 0
        doomed = list(self.order.islice(start, stop))
        if stop - start == len(self.order):
            self.order.clear()
        else:
            del self.order[start:stop]
        scores = self.scores
        idx = self.scan_index
        for _, member in doomed:
            del scores[member]
            if idx is not None:
                idx.remove(member)
        return len(doomed)

    def to_listpack_if_small(self, limits: tuple[int, int]) -> None:
        """zsetConvertToListpackIfNeeded, for a freshly built result (ZUNIONSTORE & co.): small enough results
        become listpacks, whose integer scores turn -0 into 0."""
        if self.listpack:
            return
        if len(self.scores) <= limits[0] and all(len(m) <= limits[1] for m in self.scores):
            self.listpack = True
            if any(s == 0.0 for s in self.scores.values()):
                zeros = [m for m, s in self.scores.items() if s == 0.0]
                for m in zeros:
                    self.change(m, self.scores[m], 0.0)

    # ------------------------------------------------------------------ generic value protocol

    def encoding(self, config=None) -> str:
        return "listpack" if self.listpack else "skiplist"

    def copy(self) -> "ZSet":
        z = ZSet(self.listpack)
        z.scores = dict(self.scores)
        z.order = SortedList(self.order)  # already sorted: timsort makes this linear
        return z

    def memory_usage(self, samples: int = 0) -> int:
        """A stable estimate: the containers, a fixed cost per element (tuple, float, list slot, dict entry), and
        the member sizes measured on the first `samples` elements (all when 0), scaled to the whole set."""
        n = len(self.scores)
        size = 64 + sys.getsizeof(self.scores) + 8 * n
        if not n:
            return size
        size += n * (sys.getsizeof((0.0, b"")) + sys.getsizeof(0.0))
        k = n if samples <= 0 else min(samples, n)
        measured = sum(sys.getsizeof(m) for _, m in islice(self.order, k))
        return size + measured * n // k
