"""Eviction and LRU/LFU bookkeeping in process, where time and access data can be set exactly: the quality of the
approximated LRU/LFU/TTL choice, LFU counting and decay, propagation and events, the helpers other rooms use,
and when eviction must not run (replica ignoring maxmemory, paused clients, loading)."""
from __future__ import annotations

import random
import time

import pytest

from shoal.node import eviction
from shoal.node.eviction import (EVICT_FAIL, EVICT_OK, key_freq, key_idle_seconds, set_key_freq, set_key_idle)
from shoal.node.keyspace import Database, LfuDatabase
from tests.node.helpers import EventNode


@pytest.fixture
def node():
    n = EventNode()
    n.state.lru_clock = int(time.time())
    return n


def fill(node, n: int, prefix: str = "k", value: bytes = b"v" * 50):
    db = node.state.keyspace[0]
    for i in range(n):
        db.set(f"{prefix}{i}".encode(), value)
    return db


def evict_to(node, fraction: float) -> None:
    """Set maxmemory so that about `fraction` of the data must go, and evict."""
    st = node.state
    used = st.memory.refresh()
    data = used - st.memory.startup
    st.config.set("maxmemory", str(int(used - data * fraction)))
    assert st.evictor.perform(budget_us=10e6) == EVICT_OK


# --------------------------------------------------------------------------------------------------- choice


def test_lru_evicts_mostly_the_longest_idle(node):
    db = fill(node, 20000)
    rnd = random.Random(1)
    idle = {}
    for key in list(db.data):
        idle[key] = rnd.randrange(100000)
        set_key_idle(db, key, idle[key])
    node.state.config.set("maxmemory-policy", "allkeys-lru")
    evict_to(node, 0.3)
    gone = [k for k in idle if k not in db.data]
    assert 0.2 * len(idle) < len(gone) < 0.5 * len(idle)
    cut = sorted(idle.values(), reverse=True)[len(gone)]  # what a perfect LRU would keep: idle below this
    precise = sum(1 for k in gone if idle[k] > cut) / len(gone)
    assert precise > 0.85, precise  # Redis's pool of 16 with 5 samples gets about 0.9 here
    assert node.state.stats.evicted_keys == len(gone)


def test_lfu_evicts_the_rarely_used(node):
    node.state.config.set("maxmemory-policy", "allkeys-lfu")
    db = fill(node, 20000)
    assert db.__class__ is LfuDatabase
    rnd = random.Random(2)
    freq = {}
    for key in list(db.data):
        freq[key] = rnd.randrange(256)
        set_key_freq(db, key, freq[key])
    evict_to(node, 0.3)
    gone = [k for k in freq if k not in db.data]
    cut = sorted(freq.values())[len(gone)]
    precise = sum(1 for k in gone if freq[k] <= cut) / len(gone)
    assert precise > 0.85, precise


def test_volatile_ttl_evicts_the_soonest_and_spares_persistent_keys(node):
    db = fill(node, 5000, "p")
    now = int(time.time() * 1000)
    rnd = random.Random(3)
    when = {}
    for i in range(15000):
        key = b"v%d" % i
        db.set(key, b"v" * 50)
        when[key] = now + 1_000_000 + rnd.randrange(10_000_000)
        db.set_expire(key, when[key])
    node.state.config.set("maxmemory-policy", "volatile-ttl")
    evict_to(node, 0.3)
    assert all(b"p%d" % i in db.data for i in range(5000))
    gone = [k for k in when if k not in db.data]
    cut = sorted(when.values())[len(gone)]
    assert sum(1 for k in gone if when[k] <= cut) / len(gone) > 0.85


@pytest.mark.parametrize("policy", ["allkeys-random", "volatile-random"])
def test_random_policies_take_keys_from_every_database(node, policy):
    st = node.state
    for dbid in (0, 3):
        db = st.keyspace[dbid]
        for i in range(3000):
            db.set(b"k%d" % i, b"v" * 50)
            db.set_expire(b"k%d" % i, int(time.time() * 1000) + 10**7)
    st.config.set("maxmemory-policy", policy)
    evict_to(node, 0.3)
    left = [len(st.keyspace[d].data) for d in (0, 3)]
    assert all(1000 < n < 2900 for n in left), left  # both databases gave keys, about evenly


def test_nothing_to_evict_is_a_failure_and_refuses_writes(node):
    fill(node, 1000)
    st = node.state
    st.config.set("maxmemory-policy", "volatile-lru")
    st.config.set("maxmemory", "1")
    assert st.evictor.perform() == EVICT_FAIL
    assert node("SET", "x", "1").startswith(b"-OOM ")
    assert node("GET", "k1") == b"$50\r\n" + b"v" * 50 + b"\r\n"


# --------------------------------------------------------------------------------------------------- effects


def test_each_eviction_is_a_del_for_replicas_and_an_event(node):
    fill(node, 200)
    node.take()
    node.take_propagated()
    node.state.config.set("maxmemory-policy", "allkeys-random")
    node.state.config.set("maxmemory", "1")
    node("PING")  # the check before the command evicts (within its time budget)
    assert node.state.evictor.perform(budget_us=10e6) == EVICT_FAIL  # all gone: nothing left to evict
    db = node.state.keyspace[0]
    assert not db.data
    events = node.take()
    propagated = node.take_propagated()
    assert sorted(k for e, k in events if e == "evicted") == sorted(b"k%d" % i for i in range(200))
    assert sorted(p[1] for p in propagated) == sorted(b"k%d" % i for i in range(200))
    assert all(p[0] == b"DEL" for p in propagated)
    assert node.state.stats.evicted_keys == 200


def test_ghosts_in_the_pool_are_skipped(node):
    db = fill(node, 3000)
    st = node.state
    st.config.set("maxmemory-policy", "allkeys-lru")
    for key in list(db.data):
        set_key_idle(db, key, 1000)
    ev = st.evictor
    ev._populate(db, True)
    pooled = [k for _, k in ev.pool_keys]
    for k in pooled:
        db.delete(k)  # every pooled key deleted behind the pool's back
    db_before = len(db.data)
    picked = ev._pick()
    assert picked is not None and picked[1] in db.data and picked[1] not in pooled
    assert len(db.data) == db_before


def test_the_sample_list_survives_deletes_and_is_compacted(node):
    db = fill(node, 5000)
    st = node.state
    st.config.set("maxmemory-policy", "allkeys-random")
    st.config.set("maxmemory", str(st.memory.refresh() * 2))  # set, but not reached
    ev = st.evictor
    assert ev._sample(db, True, 5)
    assert db.sample_keys is not None and len(db.sample_keys) == 5000
    for i in range(4000):
        db.delete(b"k%d" % i)
    for i in range(5000, 9000):
        db.set(b"k%d" % i, b"v")
    got = set()
    for _ in range(200):
        got.update(ev._sample(db, True, 5))
    assert got and all(k in db.data for k in got)
    ev.cron(time.time())
    assert len(db.sample_keys) <= 2 * len(db.data) + 1024


def test_no_eviction_on_a_replica_ignoring_maxmemory_or_while_paused(node):
    fill(node, 1000)
    st = node.state
    st.config.set("maxmemory-policy", "allkeys-random")
    st.config.set("maxmemory", "1")
    st.is_replica = True
    assert st.evictor.perform() == EVICT_OK and len(st.keyspace[0].data) == 1000
    st.config.set("replica-ignore-maxmemory", "no")
    assert st.evictor.perform(budget_us=10e6) == EVICT_FAIL and not st.keyspace[0].data
    st.is_replica = False
    fill(node, 100)
    st.paused_until = time.time() + 10
    assert st.evictor.perform() == EVICT_OK and len(st.keyspace[0].data) == 100
    st.paused_until = 0.0


def test_tenacity_time_limits():
    assert eviction.eviction_time_limit_us(0) == 0
    assert eviction.eviction_time_limit_us(10) == 500
    assert eviction.eviction_time_limit_us(11) == pytest.approx(575)
    assert eviction.eviction_time_limit_us(100) == float("inf")


# --------------------------------------------------------------------------------------------------- LRU / LFU data


def test_lfu_counts_with_the_log_factor_and_decays_by_minutes(node):
    st = node.state
    st.config.set("maxmemory-policy", "allkeys-lfu")
    st.config.set("lfu-log-factor", "0")  # every access counts
    node("SET", "k", "v")
    db = st.keyspace[0]
    assert key_freq(db, b"k") == 5
    for _ in range(10):
        node("GET", "k")
    assert key_freq(db, b"k") == 15
    assert node("OBJECT", "FREQ", "k") == b":15\r\n"
    st.lru_clock += 5 * 60  # five minutes without access: one off per minute (lfu-decay-time 1)
    assert key_freq(db, b"k") == 10
    st.config.set("lfu-decay-time", "2")
    assert key_freq(db, b"k") == 13
    st.config.set("lfu-decay-time", "0")
    assert key_freq(db, b"k") == 15
    st.config.set("lfu-decay-time", "1")
    node("GET", "k")  # the access applies the decay, then counts
    assert key_freq(db, b"k") == 11
    st.config.set("lfu-log-factor", "10")
    hits = 0
    for _ in range(1000):
        node("GET", "k")
    hits = key_freq(db, b"k")
    assert 11 < hits < 40  # logarithmic: a thousand accesses add a handful at factor 10


def test_new_keys_start_at_lfu_init_and_idle_keys_decay_without_an_entry(node):
    st = node.state
    st.config.set("maxmemory-policy", "allkeys-lfu")
    node("SET", "k", "v")
    db = st.keyspace[0]
    assert b"k" not in db.lfu  # no entry until the key is accessed again
    st.lru_clock += 3 * 60
    assert key_freq(db, b"k") == 2


def test_policy_switch_changes_the_database_class_and_drops_lfu_data(node):
    st = node.state
    db = st.keyspace[0]
    st.config.set("maxmemory-policy", "volatile-lfu")
    node("SET", "k", "v")
    node("GET", "k")
    assert db.__class__ is LfuDatabase and db.lfu
    st.config.set("maxmemory-policy", "allkeys-lru")
    assert db.__class__ is Database and not db.lfu
    node("GET", "k")
    assert not db.lfu


def test_helpers_for_rdb_and_restore(node):
    st = node.state
    node("SET", "k", "v")
    db = st.keyspace[0]
    set_key_idle(db, b"k", 1234)
    assert key_idle_seconds(db, b"k") == 1234
    assert node("OBJECT", "IDLETIME", "k") == b":1234\r\n"
    set_key_freq(db, b"k", 77)  # no LFU policy: ignored, as Redis does
    assert b"k" not in db.lfu
    st.config.set("maxmemory-policy", "allkeys-lfu")
    set_key_freq(db, b"k", 77)
    assert key_freq(db, b"k") == 77
    set_key_freq(db, b"k", 1000)
    assert key_freq(db, b"k") == 255
    assert key_idle_seconds(db, b"missing") == 0
