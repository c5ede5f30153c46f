"""Databases: key → value, key → expiry, lazy and active expiry, WATCH invalidation, SCAN cursors.

Values: strings are `bytes` (or `bytearray` once SETRANGE/APPEND/SETBIT grew them in place); other types are
instances from `node/types/`. Every write goes through a `Database` method, so that WATCH, keyspace
notifications, the dirty counter and blocked clients all see it; command functions never assign into `data`
for a new key themselves.

Time: `now_ms()` is wall-clock milliseconds, read when needed (only volatile keys pay for it).

Memory accounting (node/memory.py reads it): `mem` is what the keys of this database cost, kept up to date by the
write methods. A `bytes` value is costed on the spot from its length (cheap enough for every SET); any other value
(collections, and strings grown in place as `bytearray`) may change size behind the keyspace's back, so its last
costed size sits in `msize` and the key joins `mdirty` whenever it is fetched for writing (`get`), written or
`touch`ed; memory.py re-costs the dirty keys lazily (before the next command when maxmemory is set, else at the
next cron tick). Code that fills
`data` directly (bulk loaders) must call `memory.recount(db)` afterwards.
"""
from __future__ import annotations

import random
import time
from random import random as _random
from itertools import islice
from typing import TYPE_CHECKING, Callable, Iterator

from .slots import key_slot

if TYPE_CHECKING:
    from .state import NodeState

# Per-key costs in bytes, as the allocator hands them out (pymalloc rounds to 16): a `bytes` object is 33 bytes
# plus its length; SLOT is a new key's average share of the `data` and `lru` hash tables, which grow in steps
# (memory.py measures the real tables and corrects the total by the difference).
SLOT = 84
LFU_INIT_VAL = 5


def bytes_cost(n: int) -> int:
    """Allocated size of a `bytes` object of length n (pymalloc's 16-byte classes; also close for big ones)."""
    return (n + 48) & -16


def lfu_decayed(packed: int, now_min: int, decay_time: int) -> int:
    """Redis's LFUDecrAndReturn: the counter of a packed LFU word `(minutes << 8) | counter`, less one per
    `lfu-decay-time` minutes since its last access."""
    counter = packed & 0xFF
    if decay_time:
        periods = (now_min - (packed >> 8)) // decay_time
        if periods > 0:
            return counter - periods if periods < counter else 0
    return counter


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
                 "lfu", "avg_ttl", "expired_stale_perc", "mem", "msize", "mdirty", "sample_keys", "slot_index")

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
        self.lfu: dict = {}  # key → packed LFU word, under LFU policies only (node/eviction.py)
        self.avg_ttl = 0
        self.expired_stale_perc = 0.0
        self.mem = 0  # bytes the keys and values cost (see the module docstring)
        self.msize: dict = {}  # key → (cost << 32) | length, as last costed, of a value that is not `bytes`
        self.mdirty: set = set()  # keys whose non-`bytes` value must be costed again
        self.sample_keys: list | None = None  # keys to sample for allkeys eviction when there is no scan_index
        # cluster mode, db 0 only: hash slot → {key: None} (a dict as an insertion-ordered set), so COUNTKEYSINSLOT
        # is O(1) and GETKEYSINSLOT O(count) (newest first: dicts iterate backwards in O(1) per step). None otherwise: then keeping it costs one test per new or deleted key
        self.slot_index: dict[int, dict] | None = None

    # ------------------------------------------------------------------ reads

    def get(self, key):
        """The live value of `key` or None; deletes it first if it has expired. The lookup of write commands (reads
        use `lookup_read`): a collection fetched here may be changed in place, so it is marked to be re-costed."""
        v = self.data.get(key)
        if v is not None:
            if self.expires and key in self.expires and self._expire_if_needed(key):
                return None
            if v.__class__ is not bytes:
                self.mdirty.add(key)
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
        old = data.get(key)
        if old.__class__ is bytes and value.__class__ is bytes:
            # the common case, a string over a string, kept short: only a change of size class moves `mem`
            data[key] = value
            n = len(value)
            if n != len(old):
                self.mem += ((n + 48) & -16) - ((len(old) + 48) & -16)
            if not keep_ttl and self.expires and key in self.expires:
                self._drop_expire(key)
            self.lru[key] = self.state.lru_clock
            if self.watched or self.blocked:
                self.touch(key)
            return
        if value.__class__ is bytes:
            cost = (len(value) + 48) & -16
        else:
            cost = 0
        if old is None:
            if self.expires and key in self.expires:
                self._drop_expire(key)
            data[key] = value
            cost += ((len(key) + 48) & -16) + SLOT
            if self.scan_index is not None:
                self.scan_index.add(key)
            elif self.sample_keys is not None:
                self.sample_keys.append(key)
            if self.slot_index is not None:
                self._slot_add(key)
            if self.state.notify_flags:
                self.state.notify_keyspace_event("new", key, self.id, "n")  # Redis's dbAdd
        else:
            data[key] = value
            if old.__class__ is bytes:
                cost -= (len(old) + 48) & -16
            else:
                cost -= self._uncost(key)
            if not keep_ttl and self.expires and key in self.expires:
                self._drop_expire(key)
        self.mem += cost
        if value.__class__ is not bytes:
            self.msize[key] = 0
            self.mdirty.add(key)
        self.lru[key] = self.state.lru_clock
        if self.watched or self.blocked:
            self.touch(key)

    def add(self, key, value) -> None:
        """Insert a key known to be absent."""
        self.data[key] = value
        if value.__class__ is bytes:
            self.mem += ((len(key) + 48) & -16) + ((len(value) + 48) & -16) + SLOT
        else:
            self.mem += ((len(key) + 48) & -16) + SLOT
            self.msize[key] = 0
            self.mdirty.add(key)
        if self.scan_index is not None:
            self.scan_index.add(key)
        elif self.sample_keys is not None:
            self.sample_keys.append(key)
        if self.slot_index is not None:
            self._slot_add(key)
        self.lru[key] = self.state.lru_clock
        if self.state.notify_flags:
            self.state.notify_keyspace_event("new", key, self.id, "n")  # Redis's dbAdd
        if self.watched or self.blocked:
            self.touch(key)

    def replace(self, key, value) -> None:
        """Change the value of an existing key in place, keeping its TTL (APPEND, SETRANGE, INCR...)."""
        self.set_representation(key, value)
        if self.watched or self.blocked:
            self.touch(key)

    def set_representation(self, key, value) -> None:
        """Put `value` in place of an existing key's value without telling anyone (no WATCH, no event): for a
        change of representation only, like `bytes` → `bytearray` before an in-place edit."""
        data = self.data
        old = data[key]
        data[key] = value
        if old.__class__ is bytes:
            self.mem -= (len(old) + 48) & -16
        elif old is not value:
            self.mem -= self._uncost(key)
        if value.__class__ is bytes:
            self.mem += (len(value) + 48) & -16
        else:
            if key not in self.msize:
                self.msize[key] = 0
            self.mdirty.add(key)

    def _uncost(self, key) -> int:
        """Forget the costed size of a non-`bytes` value; returns it."""
        self.mdirty.discard(key)
        return self.msize.pop(key, 0) >> 32

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
        old = self.data.pop(key)
        if old.__class__ is bytes:
            self.mem -= ((len(key) + 48) & -16) + ((len(old) + 48) & -16) + SLOT
        else:
            self.mem -= ((len(key) + 48) & -16) + SLOT + self._uncost(key)
        self.lru.pop(key, None)
        if self.lfu:
            self.lfu.pop(key, None)
        if self.expires and key in self.expires:
            self._drop_expire(key)
        if self.scan_index is not None:
            self.scan_index.remove(key)
        if self.slot_index is not None:
            self._slot_remove(key)

    def pop(self, key):
        """Remove and return the value (None if absent)."""
        v = self.get(key)
        if v is not None:
            self._remove(key)
            if self.watched or self.blocked:
                self.touch(key)
        return v

    def touch(self, key) -> None:
        """A key changed: break every WATCH on it (Redis's signalModifiedKey). Also the end of every in-place
        write, so the key counts as accessed (lookupKeyWrite) and its value is re-costed."""
        v = self.data.get(key)
        if v is not None:
            self.lru[key] = self.state.lru_clock
            if v.__class__ is not bytes:
                if key not in self.msize:
                    self.msize[key] = 0
                self.mdirty.add(key)
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
        self.lfu = {}
        self.scan_index = None
        if self.slot_index is not None:
            self.slot_index = {}
        self.mem = 0
        self.msize = {}
        self.mdirty = set()
        self.sample_keys = None
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

    # ------------------------------------------------------------------ hash slots (cluster mode)

    def _slot_add(self, key) -> None:
        slot = key_slot(key)
        keys = self.slot_index.get(slot)
        if keys is None:
            self.slot_index[slot] = {key: None}
        else:
            keys[key] = None

    def _slot_remove(self, key) -> None:
        # tolerant: a bulk loader may delete a duplicate it put in `data` before indexing it (rdb._settle)
        slot = key_slot(key)
        keys = self.slot_index.get(slot)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self.slot_index[slot]

    def index_slots(self, keys) -> None:
        """Add keys a bulk loader put in `data` directly to the slot index (no-op without one)."""
        if self.slot_index is not None:
            for k in keys:
                self._slot_add(k)

    def count_keys_in_slot(self, slot: int) -> int:
        """CLUSTER COUNTKEYSINSLOT, in O(1). Counts keys logically expired but not yet deleted, as Redis does."""
        if self.slot_index is None:
            return 0
        keys = self.slot_index.get(slot)
        return len(keys) if keys is not None else 0

    def keys_in_slot(self, slot: int, count: int) -> list:
        """CLUSTER GETKEYSINSLOT: up to `count` keys of `slot`, newest first as Redis 7.0 (its per-slot list grows
        at the head; checked against redis-server 7.0.15), in O(count)."""
        if self.slot_index is None or count <= 0:
            return []
        keys = self.slot_index.get(slot)
        return list(islice(reversed(keys), count)) if keys else []

    def delete_keys_in_slot(self, slot: int) -> int:
        """Delete every key of `slot` (CLUSTER FLUSHSLOTS, a slot this node lost): WATCHers and blocked clients
        hear of it, each deletion is propagated as a DEL and notified as `del` (Redis 7.2's delKeysInSlot; 7.0
        deleted silently, which left the keys in the AOF and on replicas). Returns how many there were."""
        if self.slot_index is None:
            return 0
        keys = self.slot_index.get(slot)
        if not keys:
            return 0
        st = self.state
        n = 0
        for key in list(keys):
            if key not in self.data:
                continue
            self._remove(key)
            n += 1
            st.propagate_del(self.id, key)
            st.notify_keyspace_event("del", key, self.id, "g")
            if self.watched or self.blocked:
                self.touch(key)
        return n



class LfuDatabase(Database):
    """A database under an LFU maxmemory-policy: each access also ages and bumps the key's LFU counter (Redis's
    updateLFU). node/eviction.py switches every database's class when the policy changes, so the other policies
    pay nothing for LFU. A key without an entry in `lfu` has the counter a new key gets, LFU_INIT_VAL, as of its
    last access in `lru`; only keys read or written after their creation get an entry."""

    __slots__ = ()

    def lookup_read(self, key):
        # Database.lookup_read with the LFU update inline: this is every read's path under an LFU policy
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires and self._expire_if_needed(key):
            v = None
        st = self.state
        if v is None:
            st.stats.keyspace_misses += 1
            if st.notify_flags:
                st.notify_keyspace_event("keymiss", key, self.id, "m")
        else:
            st.stats.keyspace_hits += 1
            self.lfu_hit(key, self.lru.get(key))
            self.lru[key] = st.lru_clock
        return v

    def set(self, key, value, keep_ttl: bool = False) -> None:
        # an overwrite counts as an access and keeps the counter (setKey's lookupKeyWrite, dbSetValue)
        last = self.lru.get(key, -1) if key in self.data else None
        Database.set(self, key, value, keep_ttl)
        if last is not None:
            self.lfu_hit(key, None if last < 0 else last)

    def touch(self, key) -> None:
        last = self.lru.get(key)
        Database.touch(self, key)
        if key in self.data:
            self.lfu_hit(key, last)

    def lfu_hit(self, key, last) -> None:
        """One access to `key` (last accessed at `last`, LRU clock seconds): decay the counter by the minutes since
        its last access, then maybe bump it (Redis's LFUDecrAndReturn and LFULogIncr, inline; the chance of a bump
        for each counter value is precomputed in `state.lfu_incr_prob`)."""
        st = self.state
        now_min = st.lru_clock // 60
        lfu = self.lfu
        packed = lfu.get(key)
        if packed is None:
            packed = ((last // 60 if last is not None else now_min) << 8) | LFU_INIT_VAL
            lfu[key] = packed
        counter = packed & 0xFF
        if packed >> 8 != now_min:
            decay_time = st.lfu_params[1]
            if decay_time:
                periods = (now_min - (packed >> 8)) // decay_time
                if periods > 0:
                    counter = counter - periods if periods < counter else 0
            lfu[key] = (now_min << 8) | counter
        if _random() < st.lfu_incr_prob[counter]:
            lfu[key] = (now_min << 8) | (counter + 1)


def lfu_incr_probabilities(log_factor: int) -> list[float]:
    """For each counter value, the chance an access bumps it (LFULogIncr): 1 up to LFU_INIT_VAL, then
    1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1), never past 255."""
    probs = []
    for counter in range(256):
        base = counter - LFU_INIT_VAL
        probs.append(0.0 if counter >= 255 else 1.0 if base <= 0 else 1.0 / (base * log_factor + 1))
    return probs


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
        for attr in ("data", "expires", "scan_index", "vol_keys", "vol_pos", "lru", "lfu", "avg_ttl",
                     "expired_stale_perc", "mem", "msize", "mdirty", "sample_keys"):
            va, vb = getattr(da, attr), getattr(db_, attr)
            setattr(da, attr, vb)
            setattr(db_, attr, va)
        # the slot index belongs to the numbered database (cluster mode indexes db 0), so it is rebuilt for the
        # data that database now holds rather than swapped (SWAPDB is refused in cluster mode anyway)
        for d in (da, db_):
            if d.slot_index is not None:
                enable_slot_index(d)


def enable_slot_index(db: Database) -> None:
    """Cluster mode: keep `db`'s keys indexed by hash slot from now on (the composition root calls it for db 0
    before the dataset loads; keys already there are indexed now)."""
    db.slot_index = {}
    db.index_slots(db.data)
