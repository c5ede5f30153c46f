"""OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT / HELP and MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE /
HELP: what is known about one key's value, and about the process's memory.

OBJECT looks a key up without touching its access time (Redis's LOOKUP_NOTOUCH) but does count a keyspace hit or
miss. Memory figures are this process's, from node/memory.py: MEMORY USAGE is what the key costs in CPython's
allocator (its name, its value with sampled elements, its share of the database's tables, its expiry), and
used_memory is the accounting the maxmemory limit is checked against (see node/memory.py).
"""
from __future__ import annotations

import gc

from ..errors import NOT_INTEGER, SYNTAX, CommandError
from .. import memory
from ..eviction import key_freq, key_idle_seconds
from ..info import bytes_to_human
from ..resp import OK, Double, MapReply, Verbatim, string2ll
from .registry import command
from .server_admin import help_reply

OBJ_SHARED_INTEGERS = 10000
OBJ_SHARED_REFCOUNT = 2**31 - 1
MEMORY_USAGE_SAMPLES = 5

LFU_NOT_SELECTED = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
                    "when switching between policies at runtime LRU and LFU data will take some time to adjust.")
LFU_SELECTED = ("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
                "between policies at runtime LRU and LFU data will take some time to adjust.")

# OBJECT ENCODING for a type whose value class does not say (a class may define encoding() to answer itself)
_DEFAULT_ENCODING = {"list": "quicklist", "set": "hashtable", "zset": "skiplist", "hash": "hashtable",
                     "stream": "stream"}


def _lookup_notouch(c, key):
    v = c.db.get(key)
    st = c.state.stats
    if v is None:
        st.keyspace_misses += 1
    else:
        st.keyspace_hits += 1
    return v


def _is_string(v) -> bool:
    return v.__class__ is bytes or v.__class__ is bytearray


def encoding_of(v) -> str:
    if _is_string(v):
        try:
            from .strings import string_encoding
        except ImportError:
            return "raw"
        return string_encoding(v)
    enc = getattr(v, "encoding", None)
    if callable(enc):
        return enc()
    if isinstance(enc, str):
        return enc
    return _DEFAULT_ENCODING.get(getattr(v, "TYPE_NAME", ""), "unknown")


def _lfu_policy(c) -> bool:
    return "lfu" in c.state.config["maxmemory-policy"]


def _lru_policy(c) -> bool:
    return "lru" in c.state.config["maxmemory-policy"]


idle_seconds = key_idle_seconds  # DEBUG OBJECT's lru_seconds_idle


@command("object|encoding")
def object_encoding(c, argv):
    v = _lookup_notouch(c, argv[2])
    return None if v is None else encoding_of(v).encode()


@command("object|refcount")
def object_refcount(c, argv):
    v = _lookup_notouch(c, argv[2])
    if v is None:
        return None
    # Redis shares the objects of small integers (0..9999), except when maxmemory is set with an LRU/LFU policy
    # (such a policy needs access data per key)
    cfg = c.state.config
    shared = not cfg["maxmemory"] or not (_lru_policy(c) or _lfu_policy(c))
    if shared and v.__class__ is bytes and encoding_of(v) == "int":
        n = string2ll(v)
        if n is not None and 0 <= n < OBJ_SHARED_INTEGERS:
            return OBJ_SHARED_REFCOUNT
    return 1


@command("object|idletime")
def object_idletime(c, argv):
    v = _lookup_notouch(c, argv[2])
    if v is None:
        return None
    if _lfu_policy(c):
        raise CommandError(LFU_SELECTED)
    return idle_seconds(c.db, argv[2])


@command("object|freq")
def object_freq(c, argv):
    v = _lookup_notouch(c, argv[2])
    if v is None:
        return None
    if not _lfu_policy(c):
        raise CommandError(LFU_NOT_SELECTED)
    return key_freq(c.db, argv[2])


_OBJECT_HELP = [
    "ENCODING <key>",
    "    Name the internal representation of the value stored at <key>.",
    "FREQ <key>",
    "    Give the logarithmic access-frequency counter of <key> (needs an LFU maxmemory-policy).",
    "IDLETIME <key>",
    "    Give the seconds since <key> was last read or written (not with an LFU maxmemory-policy).",
    "REFCOUNT <key>",
    "    Give how many references the value of <key> has.",
]


@command("object|help")
def object_help(c, argv):
    return help_reply("OBJECT", _OBJECT_HELP)


# --------------------------------------------------------------------------------------------------- MEMORY


def value_size(v, samples: int = MEMORY_USAGE_SAMPLES) -> int:
    """Bytes a value costs in this process (`samples` elements measured per collection, 0: all)."""
    return memory.value_cost(v, samples)


def _length(v) -> int:
    try:
        return len(v)
    except TypeError:
        return 0


def _iterate(v):
    items = getattr(v, "items", None)
    try:
        return iter(items()) if callable(items) else iter(v)
    except TypeError:
        return iter(())


@command("memory|usage")
def memory_usage(c, argv):
    samples = MEMORY_USAGE_SAMPLES
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            n = string2ll(argv[i + 1])
            if n is None:
                raise CommandError(NOT_INTEGER)
            if n < 0:
                raise CommandError(SYNTAX)
            samples = n if n else 0
            i += 2
        else:
            raise CommandError(SYNTAX)
    key = argv[2]
    v = _lookup_notouch(c, key)
    if v is None:
        return None
    return memory.key_cost(c.db, key, samples)


def memory_facts(state) -> dict:
    return state.memory.facts()


def info_memory_lines(state) -> list[str]:
    """INFO memory: the field list of node/info.py, its memory figures replaced by the accounting's."""
    from ..info import _memory
    f = state.memory.facts()
    used, rss, peak, startup, dataset = f["used"], f["rss"], f["peak"], f["startup"], f["dataset"]
    net = used - startup
    frag = rss / used if used else 0.0
    total, current = state.evictor.exceeded_ms()
    state.stats.total_eviction_exceeded_time = total  # the stats section, printed after this one, shows them
    state.stats.current_eviction_exceeded_time = current
    ours = {
        "used_memory": used,
        "used_memory_human": bytes_to_human(used),
        "used_memory_rss": rss,
        "used_memory_rss_human": bytes_to_human(rss),
        "used_memory_peak": peak,
        "used_memory_peak_human": bytes_to_human(peak),
        "used_memory_peak_perc": "%.2f%%" % (used * 100 / peak if peak else 0),
        "used_memory_overhead": f["overhead"],
        "used_memory_startup": startup,
        "used_memory_dataset": dataset,
        "used_memory_dataset_perc": "%.2f%%" % (dataset * 100 / net if net > 0 else 0),
        "allocator_allocated": used,
        "allocator_active": used,
        "allocator_resident": rss,
        "mem_fragmentation_ratio": "%.2f" % frag,
        "mem_fragmentation_bytes": rss - used,
        "mem_clients_normal": f["clients"],
    }
    out = []
    for line in _memory(state):
        name = line.split(":", 1)[0]
        out.append(f"{name}:{ours[name]}" if name in ours else line)
    return out


@command("memory|stats")
def memory_stats(c, argv):
    f = memory_facts(c.state)
    used, net = f["used"], f["used"] - f["startup"]
    out = [
        (b"peak.allocated", f["peak"]),
        (b"total.allocated", used),
        (b"startup.allocated", f["startup"]),
        (b"replication.backlog", 0),
        (b"clients.slaves", 0),
        (b"clients.normal", f["clients"]),
        (b"cluster.links", 0),
        (b"aof.buffer", 0),
        (b"lua.caches", 0),
        (b"functions.caches", 0),
    ]
    for dbid, (main, expires) in f["db_overhead"].items():
        out.append((b"db.%d" % dbid, MapReply([(b"overhead.hashtable.main", main),
                                               (b"overhead.hashtable.expires", expires),
                                               (b"overhead.hashtable.slot-to-keys", 0)])))
    out += [
        (b"overhead.total", f["overhead"]),
        (b"keys.count", f["keys"]),
        (b"keys.bytes-per-key", net // f["keys"] if f["keys"] else 0),
        (b"dataset.bytes", f["dataset"]),
        (b"dataset.percentage", Double(f["dataset"] * 100 / net if net > 0 else 0.0)),
        (b"peak.percentage", Double(used * 100 / f["peak"] if f["peak"] else 0.0)),
        (b"allocator.allocated", used),
        (b"allocator.active", used),
        (b"allocator.resident", f["rss"]),
        (b"allocator-fragmentation.ratio", Double(1.0)),
        (b"allocator-fragmentation.bytes", 0),
        (b"allocator-rss.ratio", Double(1.0)),
        (b"allocator-rss.bytes", 0),
        (b"rss-overhead.ratio", Double(1.0)),
        (b"rss-overhead.bytes", 0),
        (b"fragmentation", Double(f["rss"] / used if used else 0.0)),
        (b"fragmentation.bytes", f["rss"] - used),
    ]
    return MapReply(out)


@command("memory|doctor")
def memory_doctor(c, argv):
    f = memory_facts(c.state)
    cfg = c.state.config
    lines = []
    if f["used"] - f["startup"] < 5 * 1024 * 1024:
        lines.append("This node holds very little data, so there is nothing to diagnose yet.")
    else:
        lines.append(f"The process uses {bytes_to_human(f['used'])} (peak {bytes_to_human(f['peak'])}), "
                     f"{bytes_to_human(f['startup'])} of it from before any data was loaded.")
        if f["peak"] > f["used"] * 3 // 2:
            lines.append("The peak is well above the current use: memory freed since then may not have been "
                         "returned to the system yet.")
        big_clients = f["clients"] > 200 * 1024 * f["keys"] if f["keys"] else f["clients"] > 1024 * 1024
        if big_clients:
            lines.append("Client buffers take a large share: look for slow readers or big MULTI transactions "
                         "(CLIENT LIST shows qbuf and omem).")
        if cfg["maxmemory"] and f["used"] > cfg["maxmemory"]:
            lines.append("Memory use is above maxmemory: keys are being evicted or writes refused, depending "
                         "on maxmemory-policy.")
        if len(lines) == 1:
            lines.append("No memory problem was found.")
    return Verbatim(("\n".join(lines) + "\n").encode())


@command("memory|malloc-stats")
def memory_malloc_stats(c, argv):
    return Verbatim(b"Shoal runs on Python's own allocator (pymalloc), which keeps no statistics to report.\n")


@command("memory|purge")
def memory_purge(c, argv):
    # the nearest thing Python has to giving dirty pages back: collect unreachable cycles now
    gc.collect()
    return OK


_MEMORY_HELP = [
    "DOCTOR",
    "    Describe memory problems, if any, in words.",
    "MALLOC-STATS",
    "    Show the memory allocator's own statistics.",
    "PURGE",
    "    Ask the allocator to give unused memory back.",
    "STATS",
    "    Show how the process's memory is used.",
    "USAGE <key> [SAMPLES <count>]",
    "    Estimate the bytes that <key> and its value take. Collections are measured on <count> sampled",
    "    elements (5 by default, 0 for all of them).",
]


@command("memory|help")
def memory_help(c, argv):
    return help_reply("MEMORY", _MEMORY_HELP)
