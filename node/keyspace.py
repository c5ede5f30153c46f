"""Databases: key → value, key → expiry, lazy and active expiry, WATCH invalidation, SCAN cursors.

Values: strings are `bytes` (or `bytearray` once SETRANGE/APPEND/SETBIT grew them in place); other types are
instances from `node/types/`. Every write goes through a `Database` method, so that WATCH, keyspace
notifications, the dirty counter and blocked clients all see it; command functions never assign into `data`
for a new key themselves.

Time: `now_ms()` is wall-clock milliseconds, read when needed (only volatile keys pay for it).
"""
from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from .state import NodeState


def now_ms() -> int:
    return int(time.time() * 1000)


def type_name(v) -> str:
    t = v.__class__
    if t is bytes or t is bytearray:
        return "string"
    return getattr(v, "TYPE_NAME", "none")


class ScanIndex:
    """Insertion order of the keys, for SCAN cursors that never skip a key present for the whole scan.

    A cursor is a position in `order` (holes are None). New keys append, so a scan in progress sees them or not,
    never loses old ones. When holes pile up the list is compacted; each compaction remembers where its holes
    were, so a cursor from before it maps to the same key boundary after it (the cursor carries the
    compaction generation in its low bits).
    """

    GEN_BITS = 8

    __slots__ = ("order", "pos", "holes", "gen", "history")

    def __init__(self, keys):
        self.order: list = list(keys)
        self.pos: dict = {k: i for i, k in enumerate(self.order)}
        self.holes = 0
        self.gen = 0
        self.history: dict[int, list[int]] = {}  # generation → sorted hole positions compacted away

    def add(self, key) -> None:
        self.pos[key] = len(self.order)
        self.order.append(key)

    def remove(self, key) -> None:
        i = self.pos.pop(key, None)
        if i is not None:
            self.order[i] = None
            self.holes += 1
            if self.holes > 1024 and self.holes * 2 > len(self.order):
                self._compact()

    def _compact(self) -> None:
        hole_pos = [i for i, k in enumerate(self.order) if k is None]
        self.history[self.gen] = hole_pos
        # keep the remap tables of the last few generations only; older cursors restart (SCAN may repeat keys)
        for g in list(self.history):
            if g < self.gen - 16:
                del self.history[g]
        self.gen = (self.gen + 1) % (1 << self.GEN_BITS)
        self.order = [k for k in self.order if k is not None]
        self.pos = {k: i for i, k in enumerate(self.order)}
        self.holes = 0

    def resolve(self, cursor: int) -> int:
        """Position in the current order for a client's cursor."""
        if cursor == 0:
            return 0
        gen = cursor & ((1 << self.GEN_BITS) - 1)
        p = cursor >> self.GEN_BITS
        import bisect
        while gen != self.gen:
            holes = self.history.get(gen)
            if holes is None:
                return 0
            p -= bisect.bisect_left(holes, p)
            gen = (gen + 1) % (1 << self.GEN_BITS)
        return p

    def cursor(self, p: int) -> int:
        if p >= len(self.order):
            return 0
        return (p << self.GEN_BITS) | self.gen


class Database:
    __slots__ = ("id", "data", "expires", "state", "watched", "blocked", "scan_index", "vol_keys", "vol_pos", "lru",
                 "avg_ttl", "expired_stale_perc")

    def __init__(self, dbid: int, state: "NodeState"):
        self.id = dbid
        self.state = state
        self.data: dict = {}
        self.expires: dict = {}
        self.watched: dict = {}  # key → set of clients WATCHing it
        self.blocked: dict = {}  # keys some client is blocked on (BLPOP...), see node/blocking.py
        self.scan_index: ScanIndex | None = None
        # volatile keys in a list too, so the active expiry cycle can sample them at random in O(1)
        self.vol_keys: list = []
        self.vol_pos: dict = {}
        self.lru: dict = {}  # key → LRU clock (seconds) of its last access, for OBJECT IDLETIME / eviction
        self.avg_ttl = 0
        self.expired_stale_perc = 0.0

    # ------------------------------------------------------------------ reads

    def get(self, key):
        """The live value of `key` or None; deletes it first if it has expired."""
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires and self._expire_if_needed(key):
            return None
        return v

    def lookup_read(self, key):
        """`get` for read commands: counts keyspace hits and misses and the key's access time."""
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires and self._expire_if_needed(key):
            v = None
        st = self.state.stats
        if v is None:
            st.keyspace_misses += 1
            if self.state.notify_flags:
                self.state.notify_keyspace_event("keymiss", key, self.id, "m")  # Redis's lookupKeyRead
        else:
            st.keyspace_hits += 1
            self.lru[key] = self.state.lru_clock
        return v

    def __len__(self) -> int:
        return len(self.data)

    # ------------------------------------------------------------------ writes

    def set(self, key, value, keep_ttl: bool = False) -> None:
        """SET semantics: create or overwrite; an overwrite drops the TTL unless `keep_ttl`."""
        data = self.data
        if key not in data:
            if self.expires and key in self.expires:
                self._drop_expire(key)
            data[key] = value
            if self.scan_index is not None:
                self.scan_index.add(key)
            if self.state.notify_flags:
                self.state.notify_keyspace_event("new", key, self.id, "n")  # Redis's dbAdd
        else:
            data[key] = value
            if not keep_ttl and self.expires and key in self.expires:
                self._drop_expire(key)
        self.lru[key] = self.state.lru_clock
        if self.watched or self.blocked:
            self.touch(key)

    def add(self, key, value) -> None:
        """Insert a key known to be absent."""
        self.data[key] = value
        if self.scan_index is not None:
            self.scan_index.add(key)
        self.lru[key] = self.state.lru_clock
        if self.state.notify_flags:
            self.state.notify_keyspace_event("new", key, self.id, "n")  # Redis's dbAdd
        if self.watched or self.blocked:
            self.touch(key)

    def replace(self, key, value) -> None:
        """Change the value of an existing key in place, keeping its TTL (APPEND, SETRANGE, INCR...)."""
        self.data[key] = value
        if self.watched or self.blocked:
            self.touch(key)

    def delete(self, key) -> bool:
        if key not in self.data:
            return False
        if self.expires and key in self.expires and self._expire_if_needed(key):
            return False
        self._remove(key)
        if self.watched or self.blocked:
            self.touch(key)
        return True

    def _remove(self, key) -> None:
        del self.data[key]
        self.lru.pop(key, None)
        if self.expires and key in self.expires:
            self._drop_expire(key)
        if self.scan_index is not None:
            self.scan_index.remove(key)

    def pop(self, key):
        """Remove and return the value (None if absent)."""
        v = self.get(key)
        if v is not None:
            self._remove(key)
            if self.watched or self.blocked:
                self.touch(key)
        return v

    def touch(self, key) -> None:
        """A key changed: break every WATCH on it (Redis's signalModifiedKey)."""
        clients = self.watched.get(key)
        if clients:
            for c in clients:
                if c.watched_expired and (self.id, key) in c.watched_expired:
                    # WATCHed while already expired: deleting it is no logical change (multi.c touchWatchedKey)
                    c.watched_expired.discard((self.id, key))
                    if key not in self.data:
                        continue
                c.dirty_cas = True
        if self.blocked and key in self.blocked:
            self.state.blocking.key_modified(self.id, key)
        hook = self.state.on_key_modified
        if hook is not None:
            hook(self, key)

    def flush(self) -> int:
        n = len(self.data)
        if self.watched:
            self.touch_all_watched(None)
        if self.blocked:  # clients blocked on a deleted key may need to hear of it (XREADGROUP: an error)
            for key in self.blocked:
                if key in self.data:
                    self.state.blocking.key_modified(self.id, key)
        self.data = {}
        self.expires = {}
        self.vol_keys = []
        self.vol_pos = {}
        self.lru = {}
        self.scan_index = None
        return n

    def touch_all_watched(self, replaced_with: "Database | None") -> None:
        """This database is about to be emptied (FLUSHDB/FLUSHALL) or swapped with `replaced_with` (SWAPDB): break
        the WATCHes of keys that exist here or there, except on keys already expired when WATCHed that will not
        come back (multi.c touchAllWatchedKeysInDb)."""
        other = replaced_with.data if replaced_with is not None else {}
        for key, clients in self.watched.items():
            if key not in self.data and key not in other:
                continue
            for c in clients:
                entry = (self.id, key)
                if c.watched_expired and entry in c.watched_expired:
                    c.watched_expired.discard(entry)
                    if key not in other:
                        continue
                c.dirty_cas = True

    # ------------------------------------------------------------------ expiry

    def set_expire(self, key, when_ms: int) -> None:
        if key not in self.expires:
            self.vol_pos[key] = len(self.vol_keys)
            self.vol_keys.append(key)
        self.expires[key] = when_ms

    def get_expire(self, key) -> int:
        """Absolute expiry in ms, or -1."""
        return self.expires.get(key, -1)

    def persist(self, key) -> bool:
        if key in self.expires:
            self._drop_expire(key)
            return True
        return False

    def _drop_expire(self, key) -> None:
        del self.expires[key]
        i = self.vol_pos.pop(key)
        last = self.vol_keys.pop()
        if last != key or i != len(self.vol_keys):
            self.vol_keys[i] = last
            self.vol_pos[last] = i

    def is_expired(self, key) -> bool:
        when = self.expires.get(key)
        return when is not None and when <= now_ms() and not self.state.loading

    def _expire_if_needed(self, key) -> bool:
        """Delete `key` if its time has come. True if it is (logically) gone."""
        when = self.expires[key]
        if when > now_ms() or self.state.loading:
            return False
        if self.state.is_replica:
            # a replica waits for its primary's DEL, but answers as if the key were gone
            return True
        self.expire_now(key)
        return True

    def expire_now(self, key) -> None:
        """Delete an expired key, and tell whoever listens (notification, AOF/replicas, WATCH)."""
        self._remove(key)
        st = self.state
        st.stats.expired_keys += 1
        st.notify_keyspace_event("expired", key, self.id, "x")
        st.propagate_del(self.id, key)
        if self.watched or self.blocked:
            self.touch(key)

    def active_expire_cycle(self, deadline: float, sample: int = 20) -> int:
        """One database's share of the active expiry cycle: sample volatile keys at random and delete the
        expired ones; repeat while more than a quarter of a sample was expired, until `deadline`
        (time.perf_counter()). Bounded work per call, as Redis's activeExpireCycle."""
        expired_total = 0
        vk = self.vol_keys
        while vk:
            now = now_ms()
            n = min(sample, len(vk))
            expired = 0
            ttl_sum = 0
            ttl_n = 0
            for _ in range(n):
                if not vk:
                    break
                key = vk[random.randrange(len(vk))]
                when = self.expires[key]
                if when <= now:
                    self.expire_now(key)
                    expired += 1
                else:
                    ttl_sum += when - now
                    ttl_n += 1
            if ttl_n:
                avg = ttl_sum // ttl_n
                self.avg_ttl = avg if not self.avg_ttl else (self.avg_ttl // 50) * 49 + avg // 50
            expired_total += expired
            self.expired_stale_perc = expired / n * 0.05 + self.expired_stale_perc * 0.95
            if expired * 4 <= n or time.perf_counter() > deadline:
                break
        return expired_total

    # ------------------------------------------------------------------ iteration

    def random_key(self):
        """A random live key or None (RANDOMKEY)."""
        data = self.data
        if not data:
            return None
        idx = self._scan_index()
        for _ in range(100):
            k = idx.order[random.randrange(len(idx.order))]
            if k is None:
                continue
            if self.expires and k in self.expires and self._expire_if_needed(k):
                if not data:
                    return None
                continue
            return k
        for k in list(data):
            if self.get(k) is not None:
                return k
        return None

    def _scan_index(self) -> ScanIndex:
        if self.scan_index is None:
            self.scan_index = ScanIndex(self.data)
        return self.scan_index

    def scan(self, cursor: int, count: int, accept: Callable | None = None) -> tuple[int, list]:
        """SCAN step: up to about `count` positions from `cursor`; returns (next cursor, keys)."""
        idx = self._scan_index()
        p = idx.resolve(cursor)
        order = idx.order
        out = []
        end = min(len(order), p + max(count, 1))
        while p < end:
            k = order[p]
            p += 1
            if k is None:
                if end < len(order):
                    end += 1  # holes do not count toward COUNT, but work per call stays bounded
                continue
            if accept is None or accept(k):
                out.append(k)
        return idx.cursor(p), out

    def keys(self) -> Iterator:
        """A snapshot of the key names (KEYS), safe to iterate while keys expire."""
        return iter(list(self.data))



class Keyspace:
    """The numbered databases (SELECT, SWAPDB, FLUSHALL)."""

    def __init__(self, state: "NodeState", n: int):
        self.dbs = [Database(i, state) for i in range(n)]

    def __getitem__(self, i: int) -> Database:
        return self.dbs[i]

    def __len__(self) -> int:
        return len(self.dbs)

    def swap(self, a: int, b: int) -> None:
        da, db_ = self.dbs[a], self.dbs[b]
        if da.watched:
            da.touch_all_watched(db_)
        if db_.watched:
            db_.touch_all_watched(da)
        # clients keep pointing at the same numbered database: swap contents, not objects
        for attr in ("data", "expires", "scan_index", "vol_keys", "vol_pos", "lru", "avg_ttl",
                     "expired_stale_perc"):
            va, vb = getattr(da, attr), getattr(db_, attr)
            setattr(da, attr, vb)
            setattr(db_, attr, va)
