"""The set value, and `SlotTable`, the insertion-ordered table behind hashtable-encoded sets and all hashes.

Redis 7.0 keeps a set as an *intset* (a sorted array of integers) while every member is the canonical spelling
of a 64-bit integer and there are at most `set-max-intset-entries` of them, and as a *hashtable* otherwise; the
conversion is one way (listpack-encoded sets came with 7.2; checked against redis-server 7.0.15). The order
replies show follows the encoding: an intset answers in ascending integer order, which we match exactly; a
hashtable answers in the order of its buckets, which depends on Redis's seeded SipHash and cannot be matched, so
ours answers in insertion order.

Complexities (n members, k asked for):
* intset: a `SortedList` of ints. Add, remove, membership, pick the i-th: O(log n) (Redis: O(log n) lookups,
  O(n) inserts). Members are stored as ints and printed back (`b"%d"`), which round-trips exactly since only
  canonical spellings are ever stored.
* hashtable: a `SlotTable`. Add, remove, membership, random pick: O(1) (amortised). SSCAN/HSCAN step: O(COUNT +
  log n). SRANDMEMBER/SPOP with a count: O(k), or O(n) when k is a large part of n (as Redis's "case 3").
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import compress
from random import choices, randrange, sample

from sortedcontainers import SortedList

from ..numbers import string2ll

# a table is compacted once it holds more holes than this and more holes than live entries
_MIN_HOLES = 8


class SlotTable:
    """Keys (and, for hashes, values) in insertion order, with O(1) add/remove/lookup/random pick and SCAN cursors
    that never miss an entry present for the whole scan.

    Entries live in `keys` (and the parallel `vals`) at the slot `pos[key]`; a removed entry leaves a hole (None)
    that the next compaction squeezes out. Every entry also gets a sequence number, increasing with insertion
    time and kept in the parallel `seqs`. A SCAN cursor is the sequence number of the next entry to visit: it
    survives compactions (which move slots but never change sequence numbers or their order), so a scan resumes
    with a bisection exactly where it stopped. An entry removed and added again gets a new number and may be
    seen twice, which SCAN allows.

    Holes never outnumber live entries by more than `_MIN_HOLES`, so a random slot is live with probability at
    least about one half, and compaction (O(n)) is paid for by the n/2 removals before it.
    """

    __slots__ = ("keys", "vals", "pos", "seqs", "holes", "next_seq")

    def __init__(self, with_values: bool):
        self.keys: list = []
        self.vals: list | None = [] if with_values else None
        self.pos: dict = {}
        self.seqs = array("Q")
        self.holes = 0
        self.next_seq = 1  # cursor 0 means "from the start" (and, in a reply, "done")

    def __len__(self) -> int:
        return len(self.pos)

    def __contains__(self, key) -> bool:
        return key in self.pos

    def add(self, key, value=None) -> None:
        """Append a key known to be absent."""
        keys = self.keys
        self.pos[key] = len(keys)
        keys.append(key)
        if self.vals is not None:
            self.vals.append(value)
        self.seqs.append(self.next_seq)
        self.next_seq += 1

    def remove(self, key) -> bool:
        i = self.pos.pop(key, None)
        if i is None:
            return False
        keys = self.keys
        vals = self.vals
        if i == len(keys) - 1:
            # the last slot, and any holes it uncovers, go at once: keeps random picks and scans tight
            seqs = self.seqs
            keys.pop()
            seqs.pop()
            if vals is not None:
                vals.pop()
            while keys and keys[-1] is None:
                keys.pop()
                seqs.pop()
                if vals is not None:
                    vals.pop()
                self.holes -= 1
        else:
            keys[i] = None
            if vals is not None:
                vals[i] = None
            self.holes += 1
            if self.holes > _MIN_HOLES and self.holes > len(self.pos):
                self._compact()
        return True

    def _compact(self) -> None:
        live = [k is not None for k in self.keys]
        self.keys = list(compress(self.keys, live))
        if self.vals is not None:
            self.vals = list(compress(self.vals, live))
        self.seqs = array("Q", compress(self.seqs, live))
        self.pos = dict(zip(self.keys, range(len(self.keys))))
        self.holes = 0

    def clear(self) -> None:
        self.keys = []
        if self.vals is not None:
            self.vals = []
        self.pos = {}
        self.seqs = array("Q")
        self.holes = 0

    def live_keys(self) -> list:
        if not self.holes:
            return list(self.keys)
        return [k for k in self.keys if k is not None]

    def live_slots(self) -> list[int]:
        keys = self.keys
        if not self.holes:
            return list(range(len(keys)))
        return [i for i in range(len(keys)) if keys[i] is not None]

    # ------------------------------------------------------------------ random picks

    def random_slot(self) -> int:
        """A live slot, uniformly (the table must not be empty)."""
        keys = self.keys
        n = len(keys)
        while True:
            i = randrange(n)
            if keys[i] is not None:
                return i

    def random_slots(self, k: int) -> list[int]:
        """k live slots drawn uniformly with repetition: O(k)."""
        keys = self.keys
        n = len(keys)
        picks = choices(range(n), k=k)
        if self.holes:
            for j, i in enumerate(picks):
                while keys[i] is None:
                    i = randrange(n)
                picks[j] = i
        return picks

    def distinct_slots(self, k: int) -> list[int]:
        """k different live slots (k < len), in slot order (so in insertion order)."""
        live = len(self.pos)
        if k * 3 > live:
            # a large part of the table: sample from the list of live slots, O(n)
            picked = sample(self.live_slots(), k)
        else:
            # a small part: draw until k distinct, O(k) expected
            chosen: set[int] = set()
            while len(chosen) < k:
                chosen.add(self.random_slot())
            picked = list(chosen)
        picked.sort()
        return picked

    # ------------------------------------------------------------------ scanning

    def scan(self, cursor: int, count: int) -> tuple[int, list[int]]:
        """One SCAN step: up to `count` live slots from `cursor`, and the cursor that continues after them.

        Work per call is bounded like Redis's (at most 10 × COUNT slots visited, holes included)."""
        seqs = self.seqs
        i = bisect_left(seqs, cursor) if cursor else 0
        keys = self.keys
        n = len(keys)
        out: list[int] = []
        budget = count * 10
        while i < n and len(out) < count and budget:
            if keys[i] is not None:
                out.append(i)
            i += 1
            budget -= 1
        return (seqs[i] if i < n else 0), out

    def copy(self) -> "SlotTable":
        dup = SlotTable.__new__(SlotTable)
        dup.keys = list(self.keys)
        dup.vals = list(self.vals) if self.vals is not None else None
        dup.pos = dict(self.pos)
        dup.seqs = array("Q", self.seqs)
        dup.holes = self.holes
        dup.next_seq = self.next_seq
        return dup


def _int_member(i: int) -> bytes:
    return b"%d" % i


def _intset_width(ints: SortedList) -> int:
    """Bytes per element of Redis's intset: 2, 4 or 8, by the widest value."""
    if not ints:
        return 2
    lo, hi = ints[0], ints[-1]
    if -2**15 <= lo and hi < 2**15:
        return 2
    if -2**31 <= lo and hi < 2**31:
        return 4
    return 8


class SetValue:
    """A Redis set: intset-encoded (`ints`, a SortedList of ints) or hashtable-encoded (`table`, a SlotTable)."""

    TYPE_NAME = "set"
    __slots__ = ("ints", "table", "nbytes")

    def __init__(self, intset: bool = True):
        self.ints: SortedList | None = SortedList() if intset else None
        self.table: SlotTable | None = None if intset else SlotTable(False)
        self.nbytes = 0  # total length of the members, kept for memory_usage

    @classmethod
    def for_member(cls, member: bytes) -> "SetValue":
        """Redis 7.0's setTypeCreate: an intset if the first member is an integer, else a hashtable."""
        return cls(intset=string2ll(member) is not None)

    @classmethod
    def from_members(cls, members, max_intset: int) -> "SetValue":
        """A set built as Redis builds a result set (createIntsetObject, then one setTypeAdd per member)."""
        s = cls(intset=True)
        for m in members:
            s.add(m, max_intset)
        return s

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return len(self.ints) if self.ints is not None else len(self.table)

    def __contains__(self, member: bytes) -> bool:
        if self.ints is not None:
            i = string2ll(member)
            return i is not None and i in self.ints
        return member in self.table.pos

    def __iter__(self):
        """The members as bytes, in the order replies show them (ascending for an intset)."""
        if self.ints is not None:
            return map(_int_member, self.ints)
        if self.table.holes:
            return (k for k in self.table.keys if k is not None)
        return iter(self.table.keys)

    def members(self) -> list[bytes]:
        if self.ints is not None:
            return [b"%d" % i for i in self.ints]
        return self.table.live_keys()

    def __repr__(self) -> str:
        return f"SetValue({self.members()[:10]!r}, encoding={self.encoding()})"

    def encoding(self, config=None) -> str:
        return "intset" if self.ints is not None else "hashtable"

    def is_intset(self) -> bool:
        return self.ints is not None

    # ------------------------------------------------------------------ changes

    def add(self, member: bytes, max_intset: int) -> bool:
        """Add `member`; True if it was new. Converts an intset to a hashtable as Redis's setTypeAdd does: on a
        member that is not an integer, or once the intset holds more than `max_intset` entries."""
        ints = self.ints
        if ints is not None:
            i = string2ll(member)
            if i is not None:
                if i in ints:
                    return False
                ints.add(i)
                self.nbytes += len(member)
                if len(ints) > max_intset:
                    self._to_hashtable()
                return True
            self._to_hashtable()
        table = self.table
        if member in table.pos:
            return False
        table.add(member)
        self.nbytes += len(member)
        return True

    def remove(self, member: bytes) -> bool:
        ints = self.ints
        if ints is not None:
            i = string2ll(member)
            if i is None or i not in ints:
                return False
            ints.remove(i)
        elif not self.table.remove(member):
            return False
        self.nbytes -= len(member)
        return True

    def _to_hashtable(self) -> None:
        table = SlotTable(False)
        for i in self.ints:
            table.add(b"%d" % i)
        self.table = table
        self.ints = None

    # ------------------------------------------------------------------ random

    def random_member(self) -> bytes:
        """A member picked uniformly (the set must not be empty)."""
        ints = self.ints
        if ints is not None:
            return b"%d" % ints[randrange(len(ints))]
        t = self.table
        return t.keys[t.random_slot()]

    def pop_random(self) -> bytes:
        ints = self.ints
        if ints is not None:
            m = b"%d" % ints.pop(randrange(len(ints)))
        else:
            t = self.table
            m = t.keys[t.random_slot()]
            t.remove(m)
        self.nbytes -= len(m)
        return m

    def random_members(self, k: int) -> list[bytes]:
        """k members drawn uniformly with repetition (SRANDMEMBER with a negative count)."""
        ints = self.ints
        if ints is not None:
            n = len(ints)
            return [b"%d" % ints[randrange(n)] for _ in range(k)]
        keys = self.table.keys
        return [keys[i] for i in self.table.random_slots(k)]

    def distinct_random_members(self, k: int) -> list[bytes]:
        """k different members (0 < k < len), in the set's own order."""
        ints = self.ints
        if ints is not None:
            return [b"%d" % ints[i] for i in sorted(sample(range(len(ints)), k))]
        keys = self.table.keys
        return [keys[i] for i in self.table.distinct_slots(k)]

    # ------------------------------------------------------------------ scanning

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """SSCAN step. An intset is answered whole with cursor 0, whatever the cursor, as Redis does for every
        encoding that is not a hashtable."""
        if self.ints is not None:
            return 0, self.members()
        nxt, slots = self.table.scan(cursor, count)
        keys = self.table.keys
        return nxt, [keys[i] for i in slots]

    # ------------------------------------------------------------------ COPY, MEMORY USAGE

    def copy(self) -> "SetValue":
        dup = SetValue.__new__(SetValue)
        dup.ints = SortedList(self.ints) if self.ints is not None else None
        dup.table = self.table.copy() if self.table is not None else None
        dup.nbytes = self.nbytes
        return dup

    def memory_usage(self, samples: int = 5) -> int:
        """Redis-like bytes for the encoding (not Python's): an intset is a 8-byte header plus 2/4/8 bytes a
        member; a hashtable is a bucket array plus, per member, a dict entry and an sds string. Exact and
        stable for the same contents (no sampling needed: the total member length is kept up to date)."""
        n = len(self)
        if self.ints is not None:
            return 16 + 8 + _intset_width(self.ints) * n
        buckets = 4
        while buckets < n:
            buckets *= 2
        return 16 + 56 + 8 * buckets + n * (24 + 4 + 8) + self.nbytes
