"""used_memory: what the node's data costs in this process, estimated so that it follows the real growth of the
process and goes down when keys go away (the resident set size does neither: pymalloc keeps freed arenas).

used_memory = startup + keys + tables + clients, where
- `startup` is the process's anonymous resident memory when the node started serving, before any key;
- `keys` is the sum of the databases' `mem` counters, kept by node/keyspace.py on every write: each key costs its
  name, its value and an average share (SLOT) of the `data` and `lru` hash tables;
- `tables` corrects the SLOT shares to the real size of every per-database table (data, lru, expires, lfu,
  scan index...), measured with sys.getsizeof, which is O(1); it is re-measured by `refresh()` (each cron tick,
  INFO, MEMORY, the start of an eviction), since a table grows in doubling steps that no per-key share follows;
- `clients` is a fixed cost per connection plus its pending output and queued MULTI commands.

Value costs model CPython's allocations (pymalloc rounds requests to 16 bytes; blocks over 512 bytes come from
malloc with an 8-byte header): exact for the containers (sys.getsizeof of each list, dict, array), and for the
elements of big collections the mean of `samples` elements picked evenly across the value, times their count.
Checked against the process's RSS growth in tests/node/test_memory_accounting.py.
"""
from __future__ import annotations

import os
import sys
from random import random as _random
from typing import TYPE_CHECKING

from .keyspace import SLOT, bytes_cost
from .types.hash import HashValue
from .types.list import ListValue
from .types.set import SetValue
from .types.stream import StreamValue
from .types.zset import ZSet

if TYPE_CHECKING:
    from .keyspace import Database
    from .state import NodeState

SETTLE_SAMPLES = 8  # elements measured per collection when the accounting re-costs a changed value
CLIENT_COST = 6 * 1024  # a connection's own objects: Client, parser, socket, trio task and its stack of frames
EXPIRE_COST = 48 + 32  # per volatile key: the expiry time (an int made by an addition: 48) and its vol_pos index
INT_COST = 32  # an int under 2**60 made from a C integer
PACKED_COST = 48  # an `msize` entry's int, (cost << 32) | length: up to 2**90
RECOST_EVERY = 32
_LEN_MASK = 0xFFFFFFFF
_TABLE_BIT = 1 << 31
_LEN_ONLY = _TABLE_BIT - 1
_sizeof = sys.getsizeof


def alloc(n: int) -> int:
    """Bytes the allocator really takes for a request of n bytes."""
    if n <= 512:
        return (n + 15) & -16
    return (n + 8 + 15) & -16


def string_cost(v) -> int:
    """An element or value string: `bytes` (the 1-byte and empty ones are CPython singletons and cost nothing
    more) or a `bytearray` (an object plus its separately allocated, over-allocated buffer)."""
    if v.__class__ is bytes:
        return bytes_cost(len(v)) if len(v) > 1 else 0
    if v.__class__ is bytearray:
        return 64 + alloc(v.__alloc__())
    return alloc(_sizeof(v))


def list_cost(lst) -> int:
    """A list object (56 bytes with its GC header) plus its item buffer."""
    items = _sizeof(lst) - 56
    return 64 + (alloc(items) if items else 0)


def dict_cost(d) -> int:
    """A dict object (64 bytes with its GC header) plus its key table (none while empty)."""
    table = _sizeof(d) - 64
    return 64 + (alloc(table) if table else 0)


def set_cost(s) -> int:
    return alloc(_sizeof(s))


def array_cost(a) -> int:
    return 80 + alloc(_sizeof(a) - 80)


def int_cost(i: int) -> int:
    return 0 if -5 <= i <= 256 else alloc(_sizeof(i))


def _evenly(n: int, k: int) -> list[int]:
    """k positions spread evenly over range(n) (k <= n)."""
    return [(2 * j + 1) * n // (2 * k) for j in range(k)]


def sortedlist_cost(sl) -> int:
    """A sortedcontainers SortedList without its elements: the object and its attribute dict, the list of
    sublists, each sublist's buffer (sampled when there are many), `_maxes` and `_index`."""
    lists = sl._lists
    size = 64 + dict_cost(sl.__dict__) + list_cost(lists) + list_cost(sl._maxes) + list_cost(sl._index)
    n = len(lists)
    if n <= 8:
        size += sum(list_cost(x) for x in lists)
    elif n:
        size += sum(list_cost(lists[i]) for i in _evenly(n, 8)) * n // 8
    return size


def sortedlist_sample(sl, k: int) -> list:
    n = len(sl)
    if k <= 0 or k >= n:
        return list(sl)
    return [sl[i] for i in _evenly(n, k)]


# --------------------------------------------------------------------------------------------------- values


def value_cost(v, samples: int = SETTLE_SAMPLES) -> int:
    """What value `v` costs in this process (samples: elements measured per collection, 0 for all)."""
    cls = v.__class__
    if cls is bytes or cls is bytearray:
        return string_cost(v)
    fn = _COSTERS.get(cls)
    if fn is not None:
        return fn(v, samples)
    custom = getattr(v, "memory_usage", None)  # a module's type that knows its size
    if callable(custom):
        return int(custom(samples))
    return generic_cost(v, samples)


def generic_cost(v, samples: int = SETTLE_SAMPLES) -> int:
    """A value of a class this module does not know: the object, the containers among its attributes, and its
    elements (iterated, `samples` of them measured, 0: all) scaled to its length."""
    size = alloc(_sizeof(v))
    attrs = getattr(v, "__dict__", None)
    inner = list(attrs.values()) if attrs else []
    for slot in getattr(type(v), "__slots__", ()):
        if hasattr(v, slot):
            inner.append(getattr(v, slot))
    for x in inner:
        if isinstance(x, (dict, list, set, tuple, bytearray)):
            size += alloc(_sizeof(x))
    try:
        n = len(v)
    except TypeError:
        return size
    if not n:
        return size
    items = getattr(v, "items", None)
    try:
        it = iter(items()) if callable(items) else iter(v)
    except TypeError:
        return size
    total = seen = 0
    for elem in it:
        total += sum(map(_leaf_cost, elem)) if isinstance(elem, tuple) else _leaf_cost(elem)
        seen += 1
        if samples and seen >= samples:
            break
    return size + (total * n // seen if seen else 0)


def _leaf_cost(x) -> int:
    if x.__class__ is bytes or x.__class__ is bytearray:
        return string_cost(x)
    return alloc(_sizeof(x))


def _list_cost(v, samples: int) -> int:
    chunks = v.chunks
    nch = len(chunks)
    size = alloc(_sizeof(v)) + list_cost(chunks)
    if samples <= 0 or nch <= 8:
        size += sum(list_cost(ch) for ch in chunks)
    else:
        size += sum(list_cost(chunks[i]) for i in _evenly(nch, 8)) * nch // 8
    if v.pos is not None:
        size += list_cost(v.pos) + INT_COST * max(0, len(v.pos) - 1)
    n = v.n
    if not n:
        return size
    if samples <= 0 or samples >= n:
        return size + sum(map(string_cost, v))
    picked = []
    for j in range(samples):
        ch = chunks[j * nch // samples]
        if ch:
            picked.append(ch[((j * nch) % samples) * len(ch) // samples])
    if not picked:
        return size
    return size + sum(map(string_cost, picked)) * n // len(picked)


def _slot_table_cost(t, samples: int) -> int:
    keys, vals = t.keys, t.vals
    n = len(t.pos)
    size = alloc(_sizeof(t)) + list_cost(keys) + dict_cost(t.pos) + array_cost(t.seqs)
    size += INT_COST * max(0, len(keys) - 257)  # slot numbers held by `pos` (the small ones are shared)
    if vals is not None:
        size += list_cost(vals)
    if not n:
        return size
    slots = range(len(keys)) if samples <= 0 or samples >= n else _evenly(len(keys), samples)
    total = 0
    seen = 0
    for i in slots:
        while i < len(keys) and keys[i] is None:  # a hole: take the next live slot
            i += 1
        if i >= len(keys):
            continue
        total += string_cost(keys[i])
        if vals is not None:
            total += string_cost(vals[i])
        seen += 1
    return size + (total * n // seen if seen else 0)


def _hash_cost(v, samples: int) -> int:
    return alloc(_sizeof(v)) + _slot_table_cost(v.table, samples)


def _set_cost(v, samples: int) -> int:
    size = alloc(_sizeof(v))
    if v.ints is None:
        return size + _slot_table_cost(v.table, samples)
    ints = v.ints
    size += sortedlist_cost(ints)
    n = len(ints)
    if n:
        picked = sortedlist_sample(ints, samples)
        size += sum(map(int_cost, picked)) * n // len(picked)
    return size


_PAIR = alloc(_sizeof((0.0, b"")))  # the (score, member) tuple of a sorted set's order
_FLOAT = alloc(_sizeof(0.0))


def _zset_cost(v, samples: int) -> int:
    # a member and its score are shared by the scores dict and the order tuple: each counted once
    n = len(v.scores)
    size = alloc(_sizeof(v)) + dict_cost(v.scores) + sortedlist_cost(v.order) + n * (_PAIR + _FLOAT)
    if v.scan_index is not None:
        size += scan_index_cost(v.scan_index)
    if n:
        picked = sortedlist_sample(v.order, samples)
        size += sum(string_cost(m) for _, m in picked) * n // len(picked)
    return size


_SORTEDDICT = 1800  # an empty SortedDict: the dict, its SortedList and a dozen bound methods in its __dict__
_NACK = 64 + 48 + 2 * (48 + 8)  # a Nack, its entry id, and its place in the group's and the consumer's PEL


def _stream_cost(v, samples: int) -> int:
    masters = v.masters
    nnodes = len(masters)
    size = alloc(_sizeof(v)) + sortedlist_cost(masters) + dict_cost(v.nodes) + nnodes * 48  # master ids
    size += v.rax.numnodes * 160  # a radix-tree node: object, its chars, its children
    if nnodes:
        picked = [masters[i] for i in _evenly(nnodes, min(nnodes, 8))] if samples > 0 else list(masters)
        per = 0
        for m in picked:
            node = v.nodes[m]
            per += alloc(_sizeof(node)) + list_cost(node.ids) + list_cost(node.values) + alloc(_sizeof(node.fields))
            entries = node.values
            idx = range(len(entries)) if samples <= 0 or samples >= len(entries) else \
                _evenly(len(entries), samples)
            total = seen = 0
            for i in idx:
                e = entries[i]
                if e is None:
                    continue
                total += 48 + alloc(_sizeof(e)) + sum(map(string_cost, e))
                seen += 1
            if seen:
                per += total * node.live // seen
        size += per * nnodes // len(picked)
    if v.groups:
        size += _SORTEDDICT
        for g in v.groups.values():
            size += 96 + string_cost(g.name) + 2 * _SORTEDDICT + len(g.pel) * _NACK
            size += len(g.consumers) * (64 + 56 + _SORTEDDICT)
    return size


_COSTERS = {ListValue: _list_cost, HashValue: _hash_cost, SetValue: _set_cost, ZSet: _zset_cost,
            StreamValue: _stream_cost}


# --------------------------------------------------------------------------------------------------- keys


def scan_index_cost(idx) -> int:
    return alloc(_sizeof(idx)) + list_cost(idx.order) + dict_cost(idx.pos) + INT_COST * max(0, len(idx.pos) - 257)


def key_cost(db: "Database", key, samples: int = SETTLE_SAMPLES) -> int:
    """MEMORY USAGE: the key's name and value, its share of the database's tables, and its expiry."""
    v = db.data[key]
    size = bytes_cost(len(key)) + SLOT + value_cost(v, samples)
    if key in db.expires:
        size += EXPIRE_COST + 2 * 36  # the int objects, and the entries in `expires` and `vol_pos`
    return size


def tables_cost(db: "Database") -> int:
    """The database's own tables, measured, with the objects they alone hold (expiry times, indexes...)."""
    return growing_tables_cost(db) + other_tables_cost(db)


def growing_tables_cost(db: "Database") -> int:
    """The tables that grow with every new key, as `MemoryAccounting.used_fast` measures them (keep in step)."""
    size = _sizeof(db.data) + _sizeof(db.lru) + EXPIRE_COST * len(db.expires)
    if db.lfu:
        size += _sizeof(db.lfu) + INT_COST * len(db.lfu)
    if db.sample_keys is not None:
        size += _sizeof(db.sample_keys)
    return size


def other_tables_cost(db: "Database") -> int:
    size = (dict_cost(db.expires) + list_cost(db.vol_keys) + dict_cost(db.vol_pos) + dict_cost(db.msize)
            + set_cost(db.mdirty) + len(db.msize) * PACKED_COST)
    if db.scan_index is not None:
        size += scan_index_cost(db.scan_index)
    return size


def settle(db: "Database") -> None:
    """Re-cost the values changed since the last time (the dirty keys). A value whose length moved by at most an
    eighth since it was last costed is scaled by its length (O(1)); one in RECOST_EVERY settles, and any bigger
    change, is costed afresh (containers measured, elements sampled), which also catches changes that keep the
    length (a bigger value under the same field, a stream's consumer groups)."""
    data, msize = db.data, db.msize
    delta = 0
    for key in db.mdirty:
        v = data.get(key)
        if v is None or v.__class__ is bytes:
            continue
        packed = msize.get(key, 0)
        old = packed >> 32
        n_prev = packed & _LEN_MASK
        n = _shape(v)
        a, b = n & _LEN_ONLY, n_prev & _LEN_ONLY
        if a and b and n ^ n_prev < _TABLE_BIT and abs(a - b) * 8 <= b and _random() >= 1 / RECOST_EVERY:
            new = old if a == b else old * a // b
        else:
            new = value_cost(v)
        msize[key] = (new << 32) | n
        delta += new - old
    db.mdirty = set()
    db.mem += delta


def _shape(v) -> int:
    """What `settle` scales a value's cost by: its length, or 0 (cost afresh every time) for a value whose cost
    does not follow its length: a stream with consumer groups (their PELs), a set that became a hashtable."""
    cls = v.__class__
    if cls is StreamValue and v.groups:
        return 0
    try:
        n = len(v)
    except TypeError:
        return 0
    n = min(n, _LEN_ONLY)
    if cls is SetValue and v.ints is None:
        n |= _TABLE_BIT  # a change of encoding changes the shape
    return n


def recount(db: "Database") -> None:
    """Cost every key again from scratch (after a bulk load that filled `data` directly)."""
    mem = 0
    msize = {}
    for key, v in db.data.items():
        mem += bytes_cost(len(key)) + SLOT
        if v.__class__ is bytes:
            mem += bytes_cost(len(v))
        else:
            c = value_cost(v)
            msize[key] = (c << 32) | _shape(v)
            mem += c
    db.mem = mem
    db.msize = msize
    db.mdirty = set()


def anon_rss() -> int:
    """The process's resident memory that is not file-backed (heap, stacks): its allocations, without the
    pages of the interpreter's and libraries' code."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):
    _PAGE = 4096


class MemoryAccounting:
    """The node's used_memory and the figures INFO memory and MEMORY STATS show."""

    def __init__(self, state: "NodeState"):
        self.state = state
        self.dbs = state.keyspace.dbs
        self.startup = anon_rss()
        self.rebased = False
        self.tables = 0  # tables_cost of every database, less the SLOT shares the keys already count
        self.tables_rest = 0  # tables_cost of every database, less the tables used_fast measures itself
        self.clients = 0
        self.peak = 0
        self.active: list = []  # databases holding keys as of the last refresh
        self.refresh()

    def rebase(self) -> None:
        """Take the startup figure again once the server runs (its own objects are not data), if no key was
        loaded yet; otherwise the figure taken when the node was built stays."""
        if not self.rebased:
            self.rebased = True
            if not any(db.data for db in self.dbs):
                self.startup = anon_rss()
                self.refresh()

    def refresh(self) -> int:
        """Measure the tables and the clients again; returns used_memory."""
        rest = growing = nkeys = 0
        active = []
        for db in self.dbs:
            if db.mdirty:
                settle(db)
            rest += other_tables_cost(db)
            g = growing_tables_cost(db)
            if db.data or db.mem or db in self.active:
                active.append(db)
                growing += g
            else:
                rest += g
            nkeys += len(db.data)
        self.tables = rest + growing - SLOT * nkeys
        self.tables_rest = rest  # all but the growing tables of the active databases, which used_fast measures
        self.active = active
        self.clients = self.clients_cost()
        used = self.used()
        if used > self.peak:
            self.peak = used
        return used

    def clients_cost(self) -> int:
        total = 0
        for c in self.state.clients.values():
            total += CLIENT_COST + c.out_pending + c.multi_mem
        return total

    def activate(self, db: "Database") -> None:
        """Count `db` among the `active` databases from now on (its growing tables leave `tables_rest`)."""
        self.tables_rest -= growing_tables_cost(db)
        self.active.append(db)

    def used_fast(self) -> int:
        """`used` for the check before each command, cheaper: the big tables that grow with the keys (data, lru,
        lfu, sample_keys) measured now in place of their SLOT shares, the rest as of the last refresh; only the
        `active` databases: those that held keys at the last refresh, and the ones the eviction check adds
        (the database of the client about to run a command)."""
        total = self.startup + self.tables_rest + self.clients
        for db in self.active:
            if db.mdirty:
                settle(db)
            total += db.mem - SLOT * len(db.data) + _sizeof(db.data) + _sizeof(db.lru)
            total += EXPIRE_COST * len(db.expires)
            if db.lfu:
                total += _sizeof(db.lfu) + INT_COST * len(db.lfu)
            if db.sample_keys is not None:
                total += _sizeof(db.sample_keys)
        return total

    def used(self) -> int:
        """used_memory as of now (re-costs dirty values; the tables and clients as of the last refresh)."""
        total = self.startup + self.tables + self.clients
        for db in self.dbs:
            if db.mdirty:
                settle(db)
            total += db.mem
        return total

    def dataset(self) -> int:
        """Bytes of keys and values alone."""
        for db in self.dbs:
            if db.mdirty:
                settle(db)
        return sum(db.mem for db in self.dbs) - SLOT * sum(len(db.data) for db in self.dbs)

    def facts(self) -> dict:
        """Everything INFO memory and MEMORY STATS/DOCTOR report, measured now."""
        used = self.refresh()
        dataset = self.dataset()
        db_overhead = {}
        for db in self.dbs:
            if db.data:
                db_overhead[db.id] = (dict_cost(db.data) + dict_cost(db.lru) + dict_cost(db.lfu),
                                      dict_cost(db.expires) + db.expires.__len__() * EXPIRE_COST)
        overhead = used - dataset
        return {"used": used, "peak": self.peak, "startup": self.startup, "clients": self.clients,
                "db_overhead": db_overhead, "overhead": overhead, "dataset": dataset,
                "keys": sum(len(db.data) for db in self.dbs), "rss": _rss()}


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0
