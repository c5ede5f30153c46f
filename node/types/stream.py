"""The stream value: entries in listpack-shaped nodes, consumer groups with their pending entries lists.

IDs are Python ints `ms << 64 | seq`, so comparing two IDs is one int comparison and the 128-bit order is
Redis's order.

Entries
-------
Redis keeps a stream as a radix tree of listpacks: each node holds up to `stream-node-max-entries` entries
(deleted ones included) and about `stream-node-max-bytes` bytes; XDEL only flags an entry deleted, and a node is
freed when its last live entry goes. That shape is visible from outside: `XTRIM MAXLEN ~ n` and `MINID ~ id`
only drop whole nodes, LIMIT counts entries of whole nodes, and XINFO STREAM reports `radix-tree-keys` and
`radix-tree-nodes`. So this class keeps the same nodes:

* `masters`: a `SortedList` of the first ID of each node (the node's key in Redis's radix tree), and `nodes`,
  master ID → `Node`. Finding the node of an ID is a bisect: O(log n); opening or dropping a node is O(log n).
* a `Node` holds its IDs (a sorted list: appends only) and, per ID, the field/value tuple or None once deleted.
  Inside a node, a bisect finds an ID: O(log node size).
* each node also keeps the exact byte size its listpack would have in Redis 7.0 (`nbytes`, see `str_elem`), because
  XADD opens a new node when `nbytes + len(fields and values) >= stream-node-max-bytes`.

So XADD is O(log n) (amortised O(1) in the node), XRANGE is O(log n + m), XDEL O(log n) per ID, trimming O(nodes
dropped + one node), as in Redis.

`rax` mirrors Redis's radix tree over the 16-byte big-endian node keys, only to count its nodes the way rax.c
does (XINFO's `radix-tree-nodes`); it follows the same insert/split/remove/recompress steps.

Consumer groups
---------------
`groups`: a `SortedDict` name → `Group` (XINFO lists groups and consumers in name order, like the rax Redis uses).
A group's pending entries list (PEL) is a `SortedDict` ID → `Nack`; each consumer has its own `SortedDict` of the
same `Nack` objects. XPENDING ranges, XAUTOCLAIM scans and XREADGROUP history are O(log n + m); XACK is O(log n).
"""
from __future__ import annotations

import itertools
import re
import sys
from bisect import bisect_left, bisect_right

from sortedcontainers import SortedDict, SortedList

from ..resp import string2ll

U64 = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE: the cap on a node's bytes and on one entry's elements
INVALID_ENTRIES_READ = -1  # SCG_INVALID_ENTRIES_READ

FLAG_SAMEFIELDS = 2  # an entry with the master entry's fields stores only its values


def fmt_id(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & U64)


def make_id(ms: int, seq: int) -> int:
    return ms << 64 | seq


# --------------------------------------------------------------------------------------------------- ID parsing

_SPACES = b" \t\n\v\f\r"


def string2ull(s: bytes) -> int | None:
    """Redis's string2ull on a C string: its strict string2ll first (a negative value is refused), then
    `strtoull(s, &end, 10)`, which also takes leading white space, a '+' or '-' sign (negating modulo 2^64) and
    leading zeros, as long as it consumes the whole string and does not overflow."""
    v = string2ll(s)
    if v is not None:
        return v if v >= 0 else None
    n = len(s)
    i = 0
    while i < n and s[i] in _SPACES:
        i += 1
    neg = False
    if i < n and s[i] in b"+-":
        neg = s[i] == 45
        i += 1
    j = i
    while j < n and 48 <= s[j] <= 57:
        j += 1
    if j == i or j != n:
        return None
    v = int(s[i:j])
    if v > U64:
        return None  # ERANGE
    return (-v) & U64 if neg else v


_PLAIN_ID = re.compile(rb"(0|[1-9][0-9]{0,19})(?:-(0|[1-9][0-9]{0,19}))?")


class BadID(Exception):
    """An argument that is not a stream ID (the caller picks the error text)."""


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False, seq_star: bool = False) -> tuple[int, bool]:
    """Redis's streamGenericParseIDOrReply: `ms-seq`, `ms` (seq = `missing_seq`), `-` and `+` (unless `strict`),
    and `ms-*` (only where `seq_star`: XADD). Returns (id, seq_given). The argument is read as Redis reads its
    C copy of it: at most 127 bytes, and only up to the first NUL byte."""
    m = _PLAIN_ID.fullmatch(arg)
    if m is not None:  # the usual spelling: canonical digits
        ms = int(m[1])
        seq = m[2]
        if seq is None:
            if ms <= U64:
                return ms << 64 | missing_seq, True
        else:
            seq = int(seq)
            if ms <= U64 and seq <= U64:
                return ms << 64 | seq, True
    if len(arg) > 127:
        raise BadID
    nul = arg.find(b"\0")
    s = arg if nul < 0 else arg[:nul]
    if s == b"-":
        if strict:
            raise BadID
        return 0, True
    if s == b"+":
        if strict:
            raise BadID
        return MAX_ID, True
    dot = s.find(b"-")
    if dot < 0:
        ms = string2ull(s)
        if ms is None:
            raise BadID
        return ms << 64 | missing_seq, True
    ms = string2ull(s[:dot])
    if ms is None:
        raise BadID
    tail = s[dot + 1:]
    if seq_star and tail == b"*":
        return ms << 64, False
    seq = string2ull(tail)
    if seq is None:
        raise BadID
    return ms << 64 | seq, True


# --------------------------------------------------------------------------------------------------- listpack sizes


def int_elem(v: int) -> int:
    """Bytes of an integer element in a listpack (encoding + data + 1 back-length byte)."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


def _backlen(n: int) -> int:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


_INT_RE = re.compile(rb"-?[1-9][0-9]{0,18}|0")


def str_elem(b: bytes) -> int:
    """Bytes of a string element in a listpack: stored as an integer when it is the canonical spelling of one
    (lpStringToInt64, the same rule as string2ll)."""
    n = len(b)
    if n < 21 and _INT_RE.fullmatch(b) is not None:
        v = int(b)
        if -9223372036854775808 <= v <= 9223372036854775807:
            return int_elem(v)
    e = n + 1 if n < 64 else n + 2 if n < 4096 else n + 5
    return e + _backlen(e)


def _wrap64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


# --------------------------------------------------------------------------------------------------- radix tree


class _RaxNode:
    __slots__ = ("chars", "compr", "children", "iskey")

    def __init__(self):
        self.chars = b""
        self.compr = False
        self.children: list = []
        self.iskey = False


class RaxShape:
    """The node structure of Redis's rax holding the stream's node keys, kept only to count its nodes
    (`radix-tree-nodes`). Same steps as rax.c's raxGenericInsert/raxRemove: a key ending inside a compressed node
    splits it in two; a mismatch inside one splits it around a one-child node; removal frees the chain of nodes
    left without keys and recompresses single-child chains. O(key length) = O(16) per change."""

    __slots__ = ("head", "numnodes")

    def __init__(self):
        self.head = _RaxNode()
        self.numnodes = 1

    def _walk(self, s: bytes, stack: list | None):
        h = self.head
        i = j = 0
        n = len(s)
        while h.chars and i < n:
            if h.compr:
                v = h.chars
                j = 0
                while j < len(v) and i < n and v[j] == s[i]:
                    j += 1
                    i += 1
                if j != len(v):
                    break
                child = h.children[0]
            else:
                j = h.chars.find(s[i:i + 1])
                if j < 0:
                    break
                i += 1
                child = h.children[j]
            if stack is not None:
                stack.append(h)
            h = child
            j = 0
        return h, i, j

    def insert(self, s: bytes) -> None:
        h, i, j = self._walk(s, None)
        n = len(s)
        if i == n and (not h.compr or j == 0):
            h.iskey = True
            return
        if h.compr and i != n:
            # split around the mismatching byte: [trimmed] -> split node -> [postfix] -> old child
            nxt = h.children[0]
            split = _RaxNode()
            split.chars = h.chars[j:j + 1]
            postfix_chars = h.chars[j + 1:]
            if postfix_chars:
                postfix = _RaxNode()
                postfix.chars = postfix_chars
                postfix.compr = len(postfix_chars) > 1
                postfix.children = [nxt]
                self.numnodes += 1
            else:
                postfix = nxt
            split.children = [postfix]
            if j == 0:
                # the split node takes the old node's place (and its key)
                split.iskey = h.iskey
                h.chars, h.compr, h.children, h.iskey = split.chars, False, split.children, split.iskey
                split = h
            else:
                h.chars = h.chars[:j]
                h.compr = j > 1
                h.children = [split]
                self.numnodes += 1
            h = split
        elif h.compr and i == n:
            # the key ends inside a compressed node: cut it, the second half holds the key
            postfix = _RaxNode()
            postfix.chars = h.chars[j:]
            postfix.compr = len(postfix.chars) > 1
            postfix.iskey = True
            postfix.children = h.children
            h.chars = h.chars[:j]
            h.compr = j > 1
            h.children = [postfix]
            self.numnodes += 1
            return
        while i < n:
            child = _RaxNode()
            if not h.chars and n - i > 1:
                h.chars = s[i:]
                h.compr = True
                h.children = [child]
                i = n
            else:
                c = s[i:i + 1]
                k = 0
                while k < len(h.chars) and h.chars[k:k + 1] < c:
                    k += 1
                h.chars = h.chars[:k] + c + h.chars[k:]
                h.children.insert(k, child)
                i += 1
            self.numnodes += 1
            h = child
        h.iskey = True

    def remove(self, s: bytes) -> None:
        stack: list = []
        h, i, j = self._walk(s, stack)
        if i != len(s) or (h.compr and j != 0) or not h.iskey:
            return
        h.iskey = False
        trycompress = False
        if not h.chars:
            child = None
            while h is not self.head:
                child = h
                self.numnodes -= 1
                h = stack.pop()
                if h.iskey or (not h.compr and len(h.chars) != 1):
                    break
            if child is not None:
                if h.compr:
                    h.chars, h.compr, h.children = b"", False, []
                else:
                    k = next(x for x, ch in enumerate(h.children) if ch is child)
                    h.chars = h.chars[:k] + h.chars[k + 1:]
                    del h.children[k]
                if len(h.chars) == 1 and not h.iskey:
                    trycompress = True
        elif len(h.chars) == 1:
            trycompress = True
        if not trycompress:
            return
        while True:
            parent = stack.pop() if stack else None
            if parent is None or parent.iskey or (not parent.compr and len(parent.chars) != 1):
                break
            h = parent
        start = h
        nodes = 1
        while h.chars:
            h = h.children[-1]
            if h.iskey or (not h.compr and len(h.chars) != 1):
                break
            nodes += 1
        if nodes == 1:
            return
        merged = _RaxNode()
        merged.compr = True
        self.numnodes += 1
        chars = []
        h = start
        while h.chars:
            chars.append(h.chars)
            nxt = h.children[-1]
            self.numnodes -= 1
            h = nxt
            if h.iskey or (not h.compr and len(h.chars) != 1):
                break
        merged.chars = b"".join(chars)
        merged.children = [h]
        merged.iskey = start.iskey
        # the merged node takes `start`'s place under its parent
        start.chars, start.compr, start.children, start.iskey = merged.chars, True, merged.children, merged.iskey


def rax_key(master: int) -> bytes:
    return master.to_bytes(16, "big")


# --------------------------------------------------------------------------------------------------- nodes


class Node:
    """One listpack of entries. `values[k]` is the flat field/value tuple of `ids[k]`, None once deleted."""

    __slots__ = ("ids", "values", "fields", "live", "deleted", "nbytes")

    def __init__(self, fields: tuple):
        self.ids: list[int] = []
        self.values: list = []
        self.fields = fields
        self.live = 0
        self.deleted = 0
        # header (6) + end byte (1) + master entry: count, deleted, field count, the fields, a 0 terminator
        self.nbytes = 7 + int_elem(0) + int_elem(0) + int_elem(len(fields)) + sum(map(str_elem, fields)) + int_elem(0)

    def mark_deleted(self, n: int) -> None:
        """`n` more entries flagged deleted: only the two counters of the master entry change size."""
        live, dead = self.live, self.deleted
        self.nbytes += (int_elem(live - n) - int_elem(live)) + (int_elem(dead + n) - int_elem(dead))
        self.live = live - n
        self.deleted = dead + n

    def copy(self) -> "Node":
        dup = Node.__new__(Node)
        dup.ids = self.ids[:]
        dup.values = self.values[:]
        dup.fields = self.fields
        dup.live = self.live
        dup.deleted = self.deleted
        dup.nbytes = self.nbytes
        return dup


# --------------------------------------------------------------------------------------------------- groups


class Nack:
    __slots__ = ("consumer", "delivery_time", "delivery_count")

    def __init__(self, consumer, now: int):
        self.consumer = consumer
        self.delivery_time = now
        self.delivery_count = 1


class Consumer:
    __slots__ = ("name", "seen_time", "pel")

    def __init__(self, name: bytes, now: int):
        self.name = name
        self.seen_time = now
        self.pel: SortedDict = SortedDict()


class Group:
    __slots__ = ("name", "last_id", "entries_read", "pel", "consumers")

    def __init__(self, name: bytes, last_id: int, entries_read: int):
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: SortedDict = SortedDict()
        self.consumers: SortedDict = SortedDict()

    def create_consumer(self, name: bytes, now: int) -> Consumer | None:
        if name in self.consumers:
            return None
        cons = self.consumers[name] = Consumer(name, now)
        return cons

    def delete_consumer(self, cons: Consumer) -> None:
        pel = self.pel
        for eid in cons.pel:
            del pel[eid]
        del self.consumers[cons.name]

    def remove_nack(self, eid: int, nack: Nack) -> None:
        del self.pel[eid]
        if nack.consumer is not None:
            del nack.consumer.pel[eid]

    def copy(self) -> "Group":
        dup = Group(self.name, self.last_id, self.entries_read)
        for name, cons in self.consumers.items():
            nc = dup.consumers[name] = Consumer(name, cons.seen_time)
            for eid, nack in cons.pel.items():
                nn = Nack(nc, nack.delivery_time)
                nn.delivery_count = nack.delivery_count
                nc.pel[eid] = nn
                dup.pel[eid] = nn
        return dup


# --------------------------------------------------------------------------------------------------- the stream

_serials = itertools.count(1)


class StreamValue:
    TYPE_NAME = "stream"
    __slots__ = ("masters", "nodes", "rax", "length", "last_id", "first_id", "max_deleted", "entries_added",
                 "groups", "serial", "ready_gen", "tail", "tail_master")

    def __init__(self):
        self.masters = SortedList()
        self.nodes: dict[int, Node] = {}
        self.rax = RaxShape()
        self.tail: Node | None = None  # the last node, where XADD appends
        self.tail_master = 0
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.groups: SortedDict | None = None  # created with the first group, as Redis does
        # `serial` tells stream objects apart; `ready_gen` counts the times Redis would signal the key ready to
        # blocked readers (XADD, XGROUP DESTROY). A blocked XREAD checks its data only after such a signal.
        self.serial = next(_serials)
        self.ready_gen = 0

    def __len__(self) -> int:
        return self.length

    def encoding(self, config=None) -> str:
        return "stream"

    # ------------------------------------------------------------------ adding

    def append(self, eid: int, fv: tuple, max_bytes: int, max_entries: int) -> None:
        """Add an entry with an ID known to be greater than `last_id`. A new node is opened when the tail one is
        full by Redis 7.0's rules: its bytes plus the new fields' and values' lengths reach `max_bytes`, or it
        holds `max_entries` entries counting deleted ones. (The hot path of XADD: kept lean.)"""
        node = self.tail
        if node is not None:
            if not max_bytes or max_bytes > LISTPACK_MAX_SIZE:
                max_bytes = LISTPACK_MAX_SIZE
            if node.nbytes + sum(map(len, fv)) >= max_bytes or \
                    (max_entries and node.live + node.deleted >= max_entries):
                node = None
        nfields = len(fv) >> 1
        if node is None:
            master = eid
            node = Node(fv[0::2])
            self.masters.add(eid)
            self.nodes[eid] = node
            self.rax.insert(rax_key(eid))
            self.tail = node
            self.tail_master = eid
            same = True
        else:
            master = self.tail_master
            same = node.fields == fv[0::2]
        # count + 1 (its size changes only at 127, 4095...), then the entry: flags, ID deltas, [field count,
        # fields,] values, its element count
        live = node.live
        size = 2 if live < 127 else int_elem(live + 1) - int_elem(live) + 2
        d = (eid >> 64) - (master >> 64)
        size += 2 if d < 128 else int_elem(_wrap64(d))
        d = (eid & U64) - (master & U64)
        size += 2 if 0 <= d < 128 else int_elem(_wrap64(d))
        if same:
            size += sum(map(str_elem, fv[1::2])) + (2 if nfields < 125 else int_elem(nfields + 3))
        else:
            size += int_elem(nfields) + sum(map(str_elem, fv)) + int_elem(2 * nfields + 4)
        node.nbytes += size
        node.ids.append(eid)
        node.values.append(fv)
        node.live = live + 1
        self.length += 1
        self.entries_added += 1
        self.last_id = eid
        if self.length == 1:
            self.first_id = eid

    # ------------------------------------------------------------------ reading

    def _node_index(self, eid: int) -> int:
        """Index in `masters` of the node that would hold `eid` (-1 if before every node)."""
        return self.masters.bisect_right(eid) - 1

    def get(self, eid: int):
        """The field/value tuple of a live entry, or None."""
        i = self._node_index(eid)
        if i < 0:
            return None
        node = self.nodes[self.masters[i]]
        k = bisect_left(node.ids, eid)
        if k < len(node.ids) and node.ids[k] == eid:
            return node.values[k]
        return None

    def range(self, start: int, end: int, count: int = 0):
        """Live entries with start <= ID <= end, oldest first: a list of (id, fields) (count 0: all)."""
        out = []
        if start > end or not self.masters:
            return out
        masters = self.masters
        nodes = self.nodes
        i = max(masters.bisect_right(start) - 1, 0)
        for m in masters.islice(i):
            if m > end:
                break
            node = nodes[m]
            ids = node.ids
            vals = node.values
            k = bisect_left(ids, start) if m < start else 0
            stop = bisect_right(ids, end)
            while k < stop:
                v = vals[k]
                if v is not None:
                    out.append((ids[k], v))
                    if len(out) == count:
                        return out
                k += 1
            if stop < len(ids):
                break
        return out

    def rev_range(self, start: int, end: int, count: int = 0):
        """Live entries with start <= ID <= end, newest first."""
        out = []
        if start > end or not self.masters:
            return out
        masters = self.masters
        nodes = self.nodes
        i = masters.bisect_right(end) - 1
        if i < 0:
            return out
        for m in masters.islice(0, i + 1, reverse=True):
            node = nodes[m]
            ids = node.ids
            vals = node.values
            k = bisect_right(ids, end) - 1
            lo = bisect_left(ids, start)
            while k >= lo:
                v = vals[k]
                if v is not None:
                    out.append((ids[k], v))
                    if len(out) == count:
                        return out
                k -= 1
            if m <= start:
                break
        return out

    def first_entry(self):
        r = self.range(0, MAX_ID, 1)
        return r[0] if r else None

    def last_entry(self):
        r = self.rev_range(0, MAX_ID, 1)
        return r[0] if r else None

    def last_valid_id(self) -> int:
        """streamLastValidID: the newest live entry's ID, 0-0 if none."""
        e = self.last_entry()
        return e[0] if e else 0

    # ------------------------------------------------------------------ removing

    def _drop_node(self, master: int) -> None:
        self.masters.remove(master)
        del self.nodes[master]
        self.rax.remove(rax_key(master))
        if master == self.tail_master:
            if self.masters:
                self.tail_master = self.masters[-1]
                self.tail = self.nodes[self.tail_master]
            else:
                self.tail = None
                self.tail_master = 0

    def delete(self, eid: int) -> bool:
        """XDEL of one ID: flag the entry deleted (freeing its node if it was the last live one there)."""
        i = self._node_index(eid)
        if i < 0:
            return False
        master = self.masters[i]
        node = self.nodes[master]
        k = bisect_left(node.ids, eid)
        if k == len(node.ids) or node.ids[k] != eid or node.values[k] is None:
            return False
        if node.live == 1:
            self._drop_node(master)
        else:
            node.values[k] = None
            node.mark_deleted(1)
        self.length -= 1
        return True

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: drop whole nodes from the head while they are entirely below the threshold (MAXLEN: the
        stream keeps at least `maxlen`; MINID: the node's last ID < `minid`); then, unless `approx`, flag the
        remaining entries below it in the next node. `limit` (0: none) caps the entries removed, counted in whole
        nodes. Returns the number of entries removed."""
        deleted = 0
        masters = self.masters
        nodes = self.nodes
        while masters:
            if maxlen is not None and self.length <= maxlen:
                break
            master = masters[0]
            node = nodes[master]
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                whole = self.length - entries >= maxlen
            else:
                whole = node.ids[-1] < minid
            if whole:
                self._drop_node(master)
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            removed = 0
            vals = node.values
            for k, eid in enumerate(node.ids):
                if (self.length <= maxlen) if maxlen is not None else (eid >= minid):
                    break
                if vals[k] is not None:
                    vals[k] = None
                    removed += 1
                    self.length -= 1
            if removed:
                node.mark_deleted(removed)
            deleted += removed
            break
        if deleted:
            self.refresh_first_id()
        return deleted

    def refresh_first_id(self) -> None:
        e = self.first_entry() if self.length else None
        self.first_id = e[0] if e else 0

    # ------------------------------------------------------------------ consumer-group bookkeeping

    def group(self, name: bytes) -> Group | None:
        g = self.groups
        return g.get(name) if g else None

    def create_group(self, name: bytes, last_id: int, entries_read: int) -> Group | None:
        if self.groups is None:
            self.groups = SortedDict()
        if name in self.groups:
            return None
        grp = self.groups[name] = Group(name, last_id, entries_read)
        return grp

    def range_has_tombstones(self, start: int, end: int = MAX_ID) -> bool:
        """streamRangeHasTombstones: may a deleted entry lie within [start, end]?"""
        md = self.max_deleted
        if not self.length or not md:
            return False
        if self.first_id > md:
            return False
        return start <= md <= end

    def estimate_distance(self, eid: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry: the logical read counter of `eid`, or -1 if unknown."""
        if not self.entries_added:
            return 0
        if not self.length and eid <= self.last_id:
            return self.entries_added
        if eid == self.last_id:
            return self.entries_added
        if eid > self.last_id:
            return INVALID_ENTRIES_READ
        md = self.max_deleted
        if not md or md < self.first_id:
            if eid < self.first_id:
                return self.entries_added - self.length
            if eid == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID_ENTRIES_READ

    def group_lag(self, grp: Group) -> int | None:
        """streamReplyWithCGLag: entries not yet read by the group, None where Redis cannot tell."""
        if not self.entries_added:
            return 0
        if grp.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(grp.last_id):
            return self.entries_added - grp.entries_read
        read = self.estimate_distance(grp.last_id)
        if read != INVALID_ENTRIES_READ:
            return self.entries_added - read
        return None

    def advance_group(self, grp: Group, eid: int) -> None:
        """A group delivered `eid`, newer than its last ID: move the last ID and the read counter on."""
        if grp.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(eid):
            grp.entries_read += 1
        elif self.entries_added:
            grp.entries_read = self.estimate_distance(eid)
        grp.last_id = eid

    # ------------------------------------------------------------------ copies and sizes

    def copy(self) -> "StreamValue":
        """COPY (Redis's streamDup): the same nodes, a radix tree rebuilt by inserting them in order."""
        dup = StreamValue()
        for m in self.masters:
            dup.masters.add(m)
            dup.nodes[m] = self.nodes[m].copy()
            dup.rax.insert(rax_key(m))
        if self.tail is not None:
            dup.tail_master = self.tail_master
            dup.tail = dup.nodes[self.tail_master]
        dup.length = self.length
        dup.last_id = self.last_id
        dup.first_id = self.first_id
        dup.max_deleted = self.max_deleted
        dup.entries_added = self.entries_added
        if self.groups is not None:
            dup.groups = SortedDict((name, g.copy()) for name, g in self.groups.items())
        return dup

    def memory_usage(self, samples: int = 5) -> int:
        """An estimate: the containers measured, entries estimated from up to `samples` nodes (0: all)."""
        size = sys.getsizeof(self) + sys.getsizeof(self.nodes) + 64 * len(self.masters)
        if self.masters:
            picked = list(self.masters.islice(0, samples)) if samples else list(self.masters)
            per_node = 0
            for m in picked:
                node = self.nodes[m]
                per_node += sys.getsizeof(node.ids) + sys.getsizeof(node.values) + node.nbytes
            size += per_node * len(self.masters) // len(picked)
        if self.groups:
            for g in self.groups.values():
                size += 200 + 120 * len(g.pel) + sum(100 + len(name) for name in g.consumers)
        return size

    def entries(self):
        """Every live entry, oldest first, as (id, fields)."""
        for m in self.masters:
            node = self.nodes[m]
            for eid, v in zip(node.ids, node.values):
                if v is not None:
                    yield eid, v
