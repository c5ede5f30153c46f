"""The hash value: fields and values in a `SlotTable` (node/types/set.py), with Redis 7.0's encoding name.

Redis 7.0 keeps a hash as a *listpack* (a flat array of field, value, field, value... in insertion order) while
it has at most `hash-max-listpack-entries` fields and every field and value is at most `hash-max-listpack-value`
bytes, and as a *hashtable* once either limit is passed; the conversion is one way. A listpack answers in
insertion order — a new field goes to the end, an updated field keeps its place, a deleted one leaves the
others in order — and so does a SlotTable, so for listpack hashes our order is Redis's exactly. A hashtable
answers in the order of its SipHash buckets, which cannot be matched; ours keeps insertion order there too.

The structure is the same whatever the encoding, so "converting" only flips `listpack`; the commands decide when,
at the points where Redis converts (see node/commands/hashes.py).

Complexities: HGET/HSET/HDEL/HEXISTS and a random field O(1); HSCAN step O(COUNT + log n); HGETALL O(n).
"""
from __future__ import annotations

from .set import SlotTable


class HashValue:
    TYPE_NAME = "hash"
    __slots__ = ("table", "listpack", "nbytes")

    def __init__(self):
        self.table = SlotTable(True)
        self.listpack = True
        self.nbytes = 0  # total length of fields and values, kept for memory_usage

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return len(self.table.pos)

    def __contains__(self, field) -> bool:
        return field in self.table.pos

    def __iter__(self):
        """The fields, in order."""
        t = self.table
        if t.holes:
            return (k for k in t.keys if k is not None)
        return iter(t.keys)

    def get(self, field):
        t = self.table
        i = t.pos.get(field)
        return None if i is None else t.vals[i]

    def items(self) -> list[tuple[bytes, bytes]]:
        t = self.table
        if t.holes:
            return [(k, v) for k, v in zip(t.keys, t.vals) if k is not None]
        return list(zip(t.keys, t.vals))

    def fields(self) -> list[bytes]:
        return self.table.live_keys()

    def values(self) -> list[bytes]:
        t = self.table
        if t.holes:
            return [v for k, v in zip(t.keys, t.vals) if k is not None]
        return list(t.vals)

    def __repr__(self) -> str:
        return f"HashValue({self.items()[:10]!r}, encoding={self.encoding()})"

    def encoding(self, config=None) -> str:
        return "listpack" if self.listpack else "hashtable"

    # ------------------------------------------------------------------ changes

    def set(self, field: bytes, value: bytes) -> bool:
        """Set a field; True if it is new (an existing field keeps its place)."""
        t = self.table
        i = t.pos.get(field)
        if i is None:
            t.add(field, value)
            self.nbytes += len(field) + len(value)
            return True
        old = t.vals[i]
        t.vals[i] = value
        self.nbytes += len(value) - len(old)
        return False

    def delete(self, field: bytes) -> bool:
        t = self.table
        i = t.pos.get(field)
        if i is None:
            return False
        self.nbytes -= len(field) + len(t.vals[i])
        t.remove(field)
        return True

    def convert_if_too_long(self, args, max_value: int) -> None:
        """Redis's hashTypeTryConversion (and the check at the top of hashTypeSet): a listpack becomes a hashtable
        before a write if any field or value written is longer than `hash-max-listpack-value`."""
        if self.listpack:
            for a in args:
                if len(a) > max_value:
                    self.listpack = False
                    return

    def convert_if_too_many(self, max_entries: int) -> None:
        """After a field is added: past `hash-max-listpack-entries` fields a listpack becomes a hashtable."""
        if self.listpack and len(self.table.pos) > max_entries:
            self.listpack = False

    # ------------------------------------------------------------------ random

    def random_field(self) -> bytes:
        t = self.table
        return t.keys[t.random_slot()]

    def random_entries(self, k: int) -> list[tuple[bytes, bytes]]:
        """k (field, value) pairs drawn uniformly with repetition."""
        t = self.table
        keys, vals = t.keys, t.vals
        return [(keys[i], vals[i]) for i in t.random_slots(k)]

    def distinct_random_entries(self, k: int) -> list[tuple[bytes, bytes]]:
        """k different pairs (0 < k < len), in the hash's order (as Redis's lpRandomPairsUnique)."""
        t = self.table
        keys, vals = t.keys, t.vals
        return [(keys[i], vals[i]) for i in t.distinct_slots(k)]

    # ------------------------------------------------------------------ scanning

    def scan(self, cursor: int, count: int) -> tuple[int, list[tuple[bytes, bytes]]]:
        """HSCAN step. A listpack is answered whole with cursor 0, whatever the cursor, as Redis does."""
        if self.listpack:
            return 0, self.items()
        t = self.table
        nxt, slots = t.scan(cursor, count)
        keys, vals = t.keys, t.vals
        return nxt, [(keys[i], vals[i]) for i in slots]

    # ------------------------------------------------------------------ COPY, MEMORY USAGE

    def copy(self) -> "HashValue":
        dup = HashValue.__new__(HashValue)
        dup.table = self.table.copy()
        dup.listpack = self.listpack
        dup.nbytes = self.nbytes
        return dup

    def memory_usage(self, samples: int = 5) -> int:
        """Redis-like bytes for the encoding (not Python's): a listpack is a 7-byte header, and per entry its
        bytes plus about 2 bytes of header and back-length each for field and value; a hashtable is a bucket
        array plus, per field, a dict entry and two sds strings. Exact and stable for the same contents."""
        n = len(self)
        if self.listpack:
            return 16 + 7 + 1 + self.nbytes + 4 * n
        buckets = 4
        while buckets < n:
            buckets *= 2
        return 16 + 56 + 8 * buckets + n * (24 + 2 * (4 + 8)) + self.nbytes
