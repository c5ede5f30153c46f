"""maxmemory: per-key access data (LRU clock, LFU counter) and eviction, as Redis 7.0's evict.c behaves.

Access data lives beside the keyspace, not in the values (bytes cannot carry a field):
- `db.lru[key]`: the LRU clock (whole seconds, unwrapped) of the key's last access, kept under every policy;
- `db.lfu[key]`: under an LFU policy only, Redis's 24-bit LFU word as one int: `(minutes << 8) | counter`, where
  `minutes` is the minute clock of the last access and `counter` the logarithmic access counter (0..255). A key
  missing from `db.lfu` counts as a new key (LFU_INIT_VAL) last touched when `db.lru` says. Under an LFU policy
  the databases are `keyspace.LfuDatabase`s, whose reads and writes keep `lfu` up to date.
The helpers `key_idle_seconds`, `set_key_idle`, `key_freq`, `set_key_freq` are what other rooms (RDB, DUMP/RESTORE,
OBJECT) use to read and write that data.

Eviction (`Evictor`), when `maxmemory` is set: before every command the dispatcher calls `check` (installed as
`state.oom_check`), which runs `perform`: while used_memory (node/memory.py) is over the limit, pick a key by the
policy and delete it. The LRU, LFU and TTL policies sample `maxmemory-samples` keys of each database into a pool of
the 16 best candidates seen so far (the pool outlives the call, which is what makes the approximation good), then
evict the best candidate that still exists; the random policies take a random key, visiting the databases in
turn. After `maxmemory-eviction-tenacity`'s time budget the rest is left to the cron hook (Redis's eviction time
proc) and the command runs. When nothing can be evicted (noeviction, or no candidate key), commands flagged
`denyoom`, any command queued in MULTI, and an EXEC holding a denyoom command get the OOM error; others run.
Each eviction deletes the key as DEL would for WATCH and blocked clients, fires the `evicted` keyspace event,
propagates a DEL to the AOF and replicas, and counts in `evicted_keys`.
"""
from __future__ import annotations

import logging
import time
from bisect import bisect_left
from itertools import islice
from random import randrange
from typing import TYPE_CHECKING

from .commands.registry import DENYOOM
from .errors import OOM
from .keyspace import LFU_INIT_VAL, Database, LfuDatabase, lfu_decayed, lfu_incr_probabilities
from .memory import MemoryAccounting

if TYPE_CHECKING:
    from .state import NodeState

log = logging.getLogger("shoal.node")

LFU_COUNTER_MAX = 255
EVPOOL_SIZE = 16
EVICT_OK, EVICT_RUNNING, EVICT_FAIL = 0, 1, 2
CRON_BUDGET_US = 25_000  # each cron tick may go on evicting for this long (a quarter of a 10 Hz tick)
_MULTI_NEVER_REFUSED = frozenset({"exec", "discard", "quit", "reset"})


def lfu_policy_active(config) -> bool:
    return "lfu" in config["maxmemory-policy"]


def _clock(db) -> int:
    """The LRU clock (seconds) the accesses were stamped with: the server's, refreshed each cron tick, as
    Redis's LRU_CLOCK() reads a cached value (so IDLETIME and eviction agree with what reads recorded)."""
    return db.state.lru_clock


# ------------------------------------------------------------------------------------ helpers for other rooms


def key_idle_seconds(db, key) -> int:
    """Seconds since `key` was last read or written (0 when unknown), as OBJECT IDLETIME and RDB IDLE give it."""
    last = db.lru.get(key)
    if last is None:
        return 0
    idle = _clock(db) - last
    return idle if idle > 0 else 0


def set_key_idle(db, key, seconds: int) -> None:
    """Make `key` look idle for `seconds` (RDB IDLE, RESTORE IDLETIME). The key must exist."""
    db.lru[key] = _clock(db) - max(0, int(seconds))


def key_freq(db, key) -> int:
    """The key's LFU counter after decay, as OBJECT FREQ and RDB FREQ give it (LFU_INIT_VAL decayed by the key's
    idle time when no counter is kept for it)."""
    decay_time = db.state.lfu_params[1]
    now_min = _clock(db) // 60
    packed = db.lfu.get(key)
    if packed is None:
        last = db.lru.get(key)
        last_min = (last // 60) if last is not None else now_min
        packed = (last_min << 8) | LFU_INIT_VAL
    return lfu_decayed(packed, now_min, decay_time)


def set_key_freq(db, key, counter: int) -> None:
    """Set `key`'s LFU counter (RDB FREQ, RESTORE FREQ), as of now. Ignored unless an LFU policy is selected, as
    Redis ignores it then (the object's LRU field holds idle time instead). The key must exist."""
    if not lfu_policy_active(db.state.config):
        return
    counter = min(LFU_COUNTER_MAX, max(0, int(counter)))
    db.lfu[key] = ((_clock(db) // 60) << 8) | counter


# ------------------------------------------------------------------------------------ eviction


def eviction_time_limit_us(tenacity: int) -> float:
    """Redis's evictionTimeLimitUs: 0..500 µs up to tenacity 10, then 15% more per step, unlimited at 100."""
    if tenacity <= 10:
        return 50.0 * tenacity
    if tenacity < 100:
        return 500.0 * 1.15 ** (tenacity - 10)
    return float("inf")


class Evictor:
    """The maxmemory check before each command, the eviction loop, and its continuation in the cron."""

    def __init__(self, state: "NodeState"):
        self.state = state
        self.memory: MemoryAccounting = state.memory
        self.dbs = state.keyspace.dbs
        cfg = state.config
        self.maxmemory = cfg["maxmemory"]
        self.policy = cfg["maxmemory-policy"]
        self.samples = cfg["maxmemory-samples"]
        self.time_limit_us = eviction_time_limit_us(cfg["maxmemory-eviction-tenacity"])
        # the pool: candidates sorted by score, ascending; the best one is last
        self.pool_scores: list = []
        self.pool_keys: list = []  # (dbid, key), parallel to pool_scores
        self.next_db = 0
        self.running = False  # over the limit after a time-limited pass: the cron goes on evicting
        self.exceeded_since = 0.0  # perf_counter when used memory went over the limit (0: it is not)
        self.exceeded_total_us = 0.0

    # ------------------------------------------------------------------ configuration

    def configure(self) -> None:
        cfg = self.state.config
        self.maxmemory = cfg["maxmemory"]
        self.samples = cfg["maxmemory-samples"]
        self.time_limit_us = eviction_time_limit_us(cfg["maxmemory-eviction-tenacity"])
        policy = cfg["maxmemory-policy"]
        if policy != self.policy:
            self.pool_scores, self.pool_keys = [], []  # scores of another policy mean nothing now
        self.policy = policy
        lfu = "lfu" in policy
        for db in self.dbs:
            if lfu:
                db.__class__ = LfuDatabase
            else:
                db.__class__ = Database
                if db.lfu:
                    db.lfu = {}
            if not (self.maxmemory and policy.startswith("allkeys-")):
                db.sample_keys = None  # only allkeys sampling without a scan index needs it
        self.state.oom_check = self.check if self.maxmemory else None

    # ------------------------------------------------------------------ before each command

    def check(self, client, cmd) -> str | None:
        """The maxmemory part of processCommand: evict if needed, then refuse what would grow memory."""
        memory = self.memory
        if client.db not in memory.active:
            memory.activate(client.db)  # a database about to get its first keys
        if not self.running and memory.used_fast() <= self.maxmemory:
            if self.exceeded_since:
                self._exceeded_end()
            return None
        if self.perform() != EVICT_FAIL:
            return None
        name = cmd.name
        if cmd.bits & DENYOOM:
            return OOM
        if client.in_multi:
            if name == "exec":
                return OOM if any(c.bits & DENYOOM for c, _ in client.multi_queue) else None
            if name not in _MULTI_NEVER_REFUSED:
                return OOM  # queueing could grow memory without limit
        return None

    def _may_evict(self) -> bool:
        """Redis's isPerformEvictions: not while loading, not on a replica that ignores maxmemory, not while
        clients are paused (the dataset must stay still)."""
        st = self.state
        if st.loading:
            return False
        if st.is_replica and st.config["replica-ignore-maxmemory"]:
            return False
        if st.paused_until and time.time() < st.paused_until:
            return False
        return True

    def perform(self, budget_us: float | None = None) -> int:
        """Redis's performEvictions: EVICT_OK (under the limit, or evictions not allowed now), EVICT_RUNNING
        (over the limit after the time budget; the cron goes on), EVICT_FAIL (over the limit, nothing to evict)."""
        if not self.maxmemory or not self._may_evict():
            return EVICT_OK
        memory = self.memory
        if memory.used_fast() <= self.maxmemory or memory.refresh() <= self.maxmemory:
            self.running = False
            if self.exceeded_since:
                self._exceeded_end()
            return EVICT_OK
        if not self.exceeded_since:
            self.exceeded_since = time.perf_counter()
        if self.policy == "noeviction":
            self.running = False
            return EVICT_FAIL
        limit = self.time_limit_us if budget_us is None else max(budget_us, self.time_limit_us)
        t0 = time.perf_counter()
        n = 0
        result = EVICT_OK
        # measured after each key (cheap), rather than Redis's sum of the bytes each deletion freed: a deletion
        # frees less than the key's SLOT share here (hash tables do not shrink), and sampling may allocate
        while memory.used_fast() > self.maxmemory:
            picked = self._pick()
            if picked is None:
                result = EVICT_FAIL
                break
            db, key = picked
            t1 = time.perf_counter()
            self._evict(db, key)
            self._latency("eviction-del", t1)
            n += 1
            if n % 16 == 0 and (time.perf_counter() - t0) * 1e6 > limit:
                result = EVICT_RUNNING
                break
        self.running = result == EVICT_RUNNING
        self._latency("eviction-cycle", t0)
        if result == EVICT_OK and self.exceeded_since:
            self._exceeded_end()
        return result

    def _exceeded_end(self) -> None:
        self.exceeded_total_us += (time.perf_counter() - self.exceeded_since) * 1e6
        self.exceeded_since = 0.0

    def exceeded_ms(self) -> tuple[int, int]:
        """(total, current) time spent over maxmemory, in ms, for INFO stats."""
        current = (time.perf_counter() - self.exceeded_since) * 1e6 if self.exceeded_since else 0.0
        return int((self.exceeded_total_us + current) / 1000), int(current / 1000)

    def _latency(self, event: str, t0: float) -> None:
        ms = int((time.perf_counter() - t0) * 1000)
        if ms and self.state.latency_threshold_ms and ms >= self.state.latency_threshold_ms:
            from .commands.latency import latency_add_sample
            latency_add_sample(self.state, event, ms)

    # ------------------------------------------------------------------ choosing and deleting

    def _pick(self):
        """The (db, key) to evict under the current policy, or None when there is no candidate."""
        policy = self.policy
        allkeys = policy.startswith("allkeys-")
        dbs = self.dbs
        if policy.endswith("-random"):
            n = len(dbs)
            for i in range(n):
                j = (self.next_db + 1 + i) % n
                db = dbs[j]
                if db.data if allkeys else db.expires:
                    keys = self._sample(db, allkeys, 1)
                    if keys:
                        self.next_db = j
                        return db, keys[0]
            return None
        scores, entries = self.pool_scores, self.pool_keys
        for _ in range(64):  # each round samples every database again; a candidate normally turns up at once
            total = 0
            for db in dbs:
                size = len(db.data) if allkeys else len(db.expires)
                if size:
                    self._populate(db, allkeys)
                    total += size
            if not total:
                return None
            while entries:
                scores.pop()
                dbid, key = entries.pop()
                db = dbs[dbid]
                if key in (db.data if allkeys else db.expires):
                    return db, key
                # a ghost: deleted since it was pooled
        return None

    def _populate(self, db, allkeys: bool) -> None:
        """Redis's evictionPoolPopulate: score a sample of the database's keys (higher: better to evict) and keep
        the 16 best of everything seen."""
        policy = self.policy
        scores, entries = self.pool_scores, self.pool_keys
        lru = db.lru
        if "lru" in policy:
            now = self.state.lru_clock
            score_of = lambda key: now - lru.get(key, now)  # noqa: E731
        elif "lfu" in policy:
            lfu = db.lfu
            now_min = self.state.lru_clock // 60
            decay_time = self.state.lfu_params[1]

            def score_of(key):
                packed = lfu.get(key)
                if packed is None:
                    packed = ((lru.get(key, now_min * 60) // 60) << 8) | LFU_INIT_VAL
                return 255 - lfu_decayed(packed, now_min, decay_time)
        else:  # volatile-ttl: the sooner it expires, the better
            expires = db.expires
            score_of = lambda key: -expires[key]  # noqa: E731
        dbid = db.id
        for key in self._sample(db, allkeys, self.samples):
            score = score_of(key)
            k = bisect_left(scores, score)  # before the equal scores, as Redis inserts
            if k == 0 and len(scores) >= EVPOOL_SIZE:
                continue  # no better than the worst of a full pool
            scores.insert(k, score)
            entries.insert(k, (dbid, key))
            if len(scores) > EVPOOL_SIZE:
                del scores[0], entries[0]

    def _sample(self, db, allkeys: bool, count: int) -> list:
        """Up to `count` random live keys of the database (of its volatile keys unless `allkeys`)."""
        data = db.data
        if not allkeys:
            lst = db.vol_keys
            return [lst[randrange(len(lst))] for _ in range(min(count, len(lst)))] if lst else []
        if db.scan_index is not None:
            db.sample_keys = None
            lst = db.scan_index.order  # holes are None
            own = False
        else:
            lst = db.sample_keys
            if lst is None or len(lst) > 2 * len(data) + 64:
                lst = db.sample_keys = list(data)
            own = True
        out = []
        tries = 10 * count + 10
        while len(out) < count and tries and lst:
            tries -= 1
            i = randrange(len(lst))
            key = lst[i]
            if key is None:
                continue
            if own and key not in data:  # deleted since it was listed: drop it (swap with the last)
                last = lst.pop()
                if i < len(lst):
                    lst[i] = last
                continue
            out.append(key)
        if not out and data:
            # a list of mostly holes or deleted keys (after mass deletions): fresh keys, not random but correct
            if own:
                db.sample_keys = list(data)
            out = list(islice(iter(data), count))
        return out

    def _evict(self, db, key) -> None:
        st = self.state
        db._remove(key)
        st.stats.evicted_keys += 1
        db.touch(key)  # WATCH, blocked clients, client tracking (signalModifiedKey)
        st.notify_keyspace_event("evicted", key, db.id, "e")
        st.propagate_del(db.id, key)

    # ------------------------------------------------------------------ cron

    def cron(self, now: float) -> None:
        memory = self.memory
        memory.rebase()
        used = memory.refresh()
        if self.maxmemory and (self.running or used > self.maxmemory):
            self.perform(CRON_BUDGET_US)
        for db in self.dbs:
            sk = db.sample_keys
            if sk is not None and len(sk) > 2 * len(db.data) + 1024:
                db.sample_keys = list(db.data)  # keys deleted since they were listed: start over
        total, current = self.exceeded_ms()
        st = self.state.stats
        st.total_eviction_exceeded_time = total
        st.current_eviction_exceeded_time = current


# ------------------------------------------------------------------------------------ set-up


def install(state: "NodeState") -> None:
    """Called once by NodeState: memory accounting, LRU/LFU bookkeeping, the maxmemory check, INFO memory."""
    state.memory = MemoryAccounting(state)
    cfg = state.config
    evictor = state.evictor = Evictor(state)

    def lfu_changed(v=None, old=None) -> None:
        state.lfu_params = (cfg["lfu-log-factor"], cfg["lfu-decay-time"])
        state.lfu_incr_prob = lfu_incr_probabilities(cfg["lfu-log-factor"])

    lfu_changed()

    def maxmemory_changed(v, old) -> None:
        evictor.configure()
        if v:
            used = state.memory.refresh()
            if v < used:
                log.warning("WARNING: the new maxmemory value set via CONFIG SET (%d) is smaller than the current "
                            "memory usage (%d). This will result in key eviction and/or the inability to accept "
                            "new write commands depending on the maxmemory-policy.", v, used)
            evictor.running = True  # Redis starts its eviction time proc here

    for name in ("lfu-log-factor", "lfu-decay-time"):
        cfg.on_change(name, lfu_changed)
    for name in ("maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity"):
        cfg.on_change(name, lambda v, old: evictor.configure())
    cfg.on_change("maxmemory", maxmemory_changed)
    evictor.configure()
    if 0 < evictor.maxmemory < 1024 * 1024:
        log.warning("WARNING: You specified a maxmemory value that is less than 1MB (current value is %d bytes). "
                    "Are you sure this is what you really want?", evictor.maxmemory)
    state.cron_hooks.append(evictor.cron)
    from .commands.objects import info_memory_lines
    state.info_sections["memory"] = info_memory_lines
