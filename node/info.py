"""INFO: one builder per section, with Redis 7.0's field names and values read from the node's state.

`info_text(state, args)` answers INFO [section ...]: no argument means `default`; `all` is every section but
module ones, `everything` every section; unknown names add nothing. Sections come out in Redis's fixed order
whatever order they were asked in. Other rooms add or replace sections through `state.info_sections`
(name -> fn(state) -> list of "field:value" lines): a name that is already a section replaces its builder (the
persistence room will own `persistence`, replication `replication`), a new name is a section of its own that is
part of `default` and `all`.

Where Redis measures something Python cannot, the value says so in its own way rather than copying a number that
would mean something else; see the memory section.

`install(state)` is called once by NodeState: it starts the instantaneous-metrics sampler (a cron hook) and the
caches the hot path reads (latency threshold).
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import NodeState

SHOAL_VERSION = "0.1.0"
REDIS_VERSION = "7.0.15"

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "module_list",
                    "errorstats", "cluster", "keyspace")
ALL_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "module_list",
                "commandstats", "errorstats", "latencystats", "cluster", "keyspace")
# how each section is titled in the text
TITLES = {"server": "Server", "clients": "Clients", "memory": "Memory", "persistence": "Persistence",
          "stats": "Stats", "replication": "Replication", "cpu": "CPU", "module_list": "Modules",
          "commandstats": "Commandstats", "errorstats": "Errorstats", "latencystats": "Latencystats",
          "cluster": "Cluster", "keyspace": "Keyspace"}

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
STATS_METRIC_SAMPLES = 16
_SAMPLE_EVERY_MS = 100  # Redis samples its instantaneous metrics every 100 ms


# --------------------------------------------------------------------------------------------------- install


class Metrics:
    """Instantaneous ops/sec and network kbps, sampled like Redis's trackInstantaneousMetric: every 100 ms the
    rate since the previous sample goes into a ring of 16; INFO shows their mean."""

    NAMES = ("command", "net_input", "net_output")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        now = time.monotonic()
        self.last_time = {n: now for n in self.NAMES}
        self.last_count: dict[str, int] = {}
        self.samples = {n: [0.0] * STATS_METRIC_SAMPLES for n in self.NAMES}
        self.idx = {n: 0 for n in self.NAMES}

    def track(self, name: str, count: int, now: float) -> None:
        last = self.last_count.get(name)
        elapsed = now - self.last_time[name]
        if last is not None and elapsed > 0:
            rate = (count - last) / elapsed
            self.samples[name][self.idx[name]] = max(rate, 0.0)
            self.idx[name] = (self.idx[name] + 1) % STATS_METRIC_SAMPLES
        self.last_time[name] = now
        self.last_count[name] = count

    def mean(self, name: str) -> float:
        return sum(self.samples[name]) / STATS_METRIC_SAMPLES


def install(state: "NodeState") -> None:
    """Per-node set-up for the server commands: metrics sampling, peak memory, cached thresholds."""
    state.metrics = Metrics()
    state.memory_startup = rss_bytes()
    state.memory_peak = state.memory_startup
    if not getattr(state, "replid", None):
        state.replid = os.urandom(20).hex()
    cfg = state.config
    state.latency_threshold_ms = cfg["latency-monitor-threshold"]
    cfg.on_change("latency-monitor-threshold", lambda v, old: setattr(state, "latency_threshold_ms", v))
    # a value given at start-up must reach the notification fast path too, not only later changes
    state.notify_flags = cfg["notify-keyspace-events"]
    last = [0.0]

    def sample(now: float) -> None:
        mono = time.monotonic()
        if (mono - last[0]) * 1000 < _SAMPLE_EVERY_MS:
            return
        last[0] = mono
        st = state.stats
        m = state.metrics
        m.track("command", st.total_commands_processed, mono)
        m.track("net_input", st.total_net_input_bytes, mono)
        m.track("net_output", st.total_net_output_bytes, mono)
        rss = rss_bytes()
        if rss > state.memory_peak:
            state.memory_peak = rss

    state.cron_hooks.append(sample)


# --------------------------------------------------------------------------------------------------- process facts


def rss_bytes() -> int:
    """Resident memory of this process (from /proc/self/statm; getrusage's peak as a fallback)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * _PAGE
    except (ValueError, OSError, AttributeError):
        return 0


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman: B, K, M, G, T, P with two decimals."""
    if n < 1024:
        return f"{n}B"
    for i, unit in enumerate("KMGTP", 1):
        if n < 1024 ** (i + 1) or unit == "P":
            return "%.2f%s" % (n / 1024**i, unit)
    return f"{n}B"


def lru_clock(now: float | None = None) -> int:
    """Redis's LRU clock: seconds, wrapping at 2^24."""
    return int(time.time() if now is None else now) & ((1 << 24) - 1)


def _cpu(usage) -> tuple[str, str]:
    return "%.6f" % usage.ru_stime, "%.6f" % usage.ru_utime


# --------------------------------------------------------------------------------------------------- sections


def _server(state: "NodeState") -> list[str]:
    cfg = state.config
    u = platform.uname()
    now = time.time()
    uptime = state.uptime()
    compiler = platform.python_compiler().split()
    return [
        f"redis_version:{REDIS_VERSION}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        "redis_build_id:0",
        f"redis_mode:{'cluster' if cfg['cluster-enabled'] else 'standalone'}",
        f"os:{u.system} {u.release} {u.machine}",
        f"arch_bits:{64 if sys.maxsize > 2**32 else 32}",
        "monotonic_clock:POSIX clock_gettime",
        "multiplexing_api:epoll" if sys.platform.startswith("linux") else "multiplexing_api:kqueue",
        "atomicvar_api:python-gil",
        f"gcc_version:{compiler[1] if len(compiler) > 1 and compiler[0] == 'GCC' else '0.0.0'}",
        f"process_id:{os.getpid()}",
        f"process_supervised:{cfg['supervised']}",
        f"run_id:{state.run_id}",
        f"tcp_port:{_port(state)}",
        f"server_time_usec:{int(now * 1_000_000)}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
        f"hz:{cfg['hz']}",
        f"configured_hz:{cfg['hz']}",
        f"lru_clock:{lru_clock(now)}",
        f"executable:{os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable}",
        f"config_file:{cfg.config_file or ''}",
        "io_threads_active:0",
        f"shoal_version:{SHOAL_VERSION}",
    ]


def _port(state) -> int:
    return getattr(state, "port", 0) or state.config["port"]


def _clients(state: "NodeState") -> list[str]:
    clients = list(state.clients.values())
    normal = [c for c in clients if not c.is_replica_link]
    blocked = [c for c in clients if c.blocked is not None]
    return [
        f"connected_clients:{len(normal)}",
        "cluster_connections:0",
        f"maxclients:{state.config['maxclients']}",
        f"client_recent_max_input_buffer:{max((c.query_peak for c in clients), default=0)}",
        f"client_recent_max_output_buffer:{max((c.out_pending for c in clients), default=0)}",
        f"blocked_clients:{len(blocked)}",
        f"tracking_clients:{sum(1 for c in clients if c.tracking)}",
        f"clients_in_timeout_table:{sum(1 for c in blocked if getattr(c.blocked, 'timeout', 0))}",
    ]


def _memory(state: "NodeState") -> list[str]:
    # Python cannot count bytes per allocation as jemalloc does for Redis, so used_memory is the process's
    # resident set size (from /proc/self/statm): an upper bound that includes the interpreter itself.
    # used_memory_startup is the RSS when the node started, so used_memory_dataset is what was added since.
    cfg = state.config
    used = rss_bytes()
    if used > getattr(state, "memory_peak", 0):
        state.memory_peak = used
    peak = state.memory_peak
    startup = getattr(state, "memory_startup", used)
    clients_mem = sum(c.out_pending + c.query_peak for c in state.clients.values())
    overhead = min(used, startup + clients_mem)
    dataset = used - overhead
    net = used - startup
    maxmemory = cfg["maxmemory"]
    return [
        f"used_memory:{used}",
        f"used_memory_human:{bytes_to_human(used)}",
        f"used_memory_rss:{used}",
        f"used_memory_rss_human:{bytes_to_human(used)}",
        f"used_memory_peak:{peak}",
        f"used_memory_peak_human:{bytes_to_human(peak)}",
        "used_memory_peak_perc:%.2f%%" % (used * 100 / peak if peak else 0),
        f"used_memory_overhead:{overhead}",
        f"used_memory_startup:{startup}",
        f"used_memory_dataset:{dataset}",
        "used_memory_dataset_perc:%.2f%%" % (dataset * 100 / net if net > 0 else 0),
        f"allocator_allocated:{used}",
        f"allocator_active:{used}",
        f"allocator_resident:{used}",
        f"total_system_memory:{total_system_memory()}",
        f"total_system_memory_human:{bytes_to_human(total_system_memory())}",
        "used_memory_lua:0",
        "used_memory_vm_eval:0",
        "used_memory_lua_human:0B",
        "used_memory_scripts_eval:0",
        "number_of_cached_scripts:0",
        "number_of_functions:0",
        "number_of_libraries:0",
        "used_memory_vm_functions:0",
        "used_memory_vm_total:0",
        "used_memory_vm_total_human:0B",
        "used_memory_functions:0",
        "used_memory_scripts:0",
        "used_memory_scripts_human:0B",
        f"maxmemory:{maxmemory}",
        f"maxmemory_human:{bytes_to_human(maxmemory)}",
        f"maxmemory_policy:{cfg['maxmemory-policy']}",
        "allocator_frag_ratio:1.00",
        "allocator_frag_bytes:0",
        "allocator_rss_ratio:1.00",
        "allocator_rss_bytes:0",
        "rss_overhead_ratio:1.00",
        "rss_overhead_bytes:0",
        "mem_fragmentation_ratio:1.00",
        "mem_fragmentation_bytes:0",
        "mem_not_counted_for_evict:0",
        "mem_replication_backlog:0",
        "mem_total_replication_buffers:0",
        "mem_clients_slaves:0",
        f"mem_clients_normal:{clients_mem}",
        "mem_cluster_links:0",
        "mem_aof_buffer:0",
        "mem_allocator:pymalloc",
        "active_defrag_running:0",
        "lazyfree_pending_objects:0",
        "lazyfreed_objects:0",
    ]


def _persistence(state: "NodeState") -> list[str]:
    if state.persistence is not None:
        return state.persistence.info_lines()
    # a node built without persistence (unit tests): nothing in progress, nothing ever saved
    return [
        f"loading:{int(bool(state.loading))}",
        "async_loading:0",
        "current_cow_peak:0",
        "current_cow_size:0",
        "current_cow_size_age:0",
        "current_fork_perc:0.00",
        "current_save_keys_processed:0",
        "current_save_keys_total:0",
        f"rdb_changes_since_last_save:{state.dirty}",
        "rdb_bgsave_in_progress:0",
        f"rdb_last_save_time:{state.last_save_time}",
        "rdb_last_bgsave_status:ok",
        "rdb_last_bgsave_time_sec:-1",
        "rdb_current_bgsave_time_sec:-1",
        "rdb_saves:0",
        "rdb_last_cow_size:0",
        "rdb_last_load_keys_expired:0",
        "rdb_last_load_keys_loaded:0",
        f"aof_enabled:{int(bool(state.config['appendonly']))}",
        "aof_rewrite_in_progress:0",
        "aof_rewrite_scheduled:0",
        "aof_last_rewrite_time_sec:-1",
        "aof_current_rewrite_time_sec:-1",
        "aof_last_bgrewrite_status:ok",
        "aof_rewrites:0",
        "aof_rewrites_consecutive_failures:0",
        "aof_last_write_status:ok",
        "aof_last_cow_size:0",
        "module_fork_in_progress:0",
        "module_fork_last_cow_size:0",
    ]


def _stats(state: "NodeState") -> list[str]:
    st = state.stats
    m = getattr(state, "metrics", None)
    ops = int(m.mean("command")) if m else 0
    kin = m.mean("net_input") / 1024 if m else 0.0
    kout = m.mean("net_output") / 1024 if m else 0.0
    g = lambda name: getattr(st, name, 0)  # noqa: E731  (counters other rooms may not have added yet)
    return [
        f"total_connections_received:{st.total_connections_received}",
        f"total_commands_processed:{st.total_commands_processed}",
        f"instantaneous_ops_per_sec:{ops}",
        f"total_net_input_bytes:{st.total_net_input_bytes}",
        f"total_net_output_bytes:{st.total_net_output_bytes}",
        "total_net_repl_input_bytes:0",
        "total_net_repl_output_bytes:0",
        "instantaneous_input_kbps:%.2f" % kin,
        "instantaneous_output_kbps:%.2f" % kout,
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
        f"rejected_connections:{st.rejected_connections}",
        f"sync_full:{st.sync_full}",
        f"sync_partial_ok:{st.sync_partial_ok}",
        f"sync_partial_err:{st.sync_partial_err}",
        f"expired_keys:{st.expired_keys}",
        "expired_stale_perc:%.2f" % (_stale_perc(state) * 100),
        f"expired_time_cap_reached_count:{st.expired_time_cap_reached_count}",
        "expire_cycle_cpu_milliseconds:0",
        f"evicted_keys:{st.evicted_keys}",
        f"evicted_clients:{st.evicted_clients}",
        f"total_eviction_exceeded_time:{g('total_eviction_exceeded_time')}",
        f"current_eviction_exceeded_time:{g('current_eviction_exceeded_time')}",
        f"keyspace_hits:{st.keyspace_hits}",
        f"keyspace_misses:{st.keyspace_misses}",
        f"pubsub_channels:{st.pubsub_channels}",
        f"pubsub_patterns:{g('pubsub_patterns')}",
        f"pubsubshard_channels:{g('pubsubshard_channels')}",
        f"latest_fork_usec:{state.background.latest_fork_usec if state.background else 0}",
        f"total_forks:{state.background.total_forks if state.background else 0}",
        "migrate_cached_sockets:0",
        "slave_expires_tracked_keys:0",
        "active_defrag_hits:0",
        "active_defrag_misses:0",
        "active_defrag_key_hits:0",
        "active_defrag_key_misses:0",
        "total_active_defrag_time:0",
        "current_active_defrag_time:0",
        f"tracking_total_keys:{g('tracking_total_keys')}",
        f"tracking_total_items:{g('tracking_total_items')}",
        f"tracking_total_prefixes:{g('tracking_total_prefixes')}",
        f"unexpected_error_replies:{st.unexpected_error_replies}",
        f"total_error_replies:{st.total_error_replies}",
        "dump_payload_sanitizations:0",
        f"total_reads_processed:{st.total_reads_processed}",
        f"total_writes_processed:{st.total_writes_processed}",
        "io_threaded_reads_processed:0",
        "io_threaded_writes_processed:0",
        "reply_buffer_shrinks:0",
        "reply_buffer_expands:0",
    ]


def _stale_perc(state) -> float:
    dbs = [db for db in state.keyspace.dbs if db.expires]
    if not dbs:
        return state.stats.expired_stale_perc
    return sum(db.expired_stale_perc for db in dbs) / len(dbs)


def _replication(state: "NodeState") -> list[str]:
    return [
        f"role:{'slave' if state.is_replica else 'master'}",
        "connected_slaves:0",
        "master_failover_state:no-failover",
        f"master_replid:{getattr(state, 'replid', '0' * 40)}",
        "master_replid2:0000000000000000000000000000000000000000",
        "master_repl_offset:0",
        "second_repl_offset:-1",
        "repl_backlog_active:0",
        f"repl_backlog_size:{state.config['repl-backlog-size']}",
        "repl_backlog_first_byte_offset:0",
        "repl_backlog_histlen:0",
    ]


def _cpu_section(state: "NodeState") -> list[str]:
    sys_s, user_s = _cpu(resource.getrusage(resource.RUSAGE_SELF))
    csys, cuser = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    thread = getattr(resource, "RUSAGE_THREAD", None)
    tsys, tuser = _cpu(resource.getrusage(thread)) if thread is not None else (sys_s, user_s)
    return [
        f"used_cpu_sys:{sys_s}",
        f"used_cpu_user:{user_s}",
        f"used_cpu_sys_children:{csys}",
        f"used_cpu_user_children:{cuser}",
        f"used_cpu_sys_main_thread:{tsys}",
        f"used_cpu_user_main_thread:{tuser}",
    ]


def _modules(state: "NodeState") -> list[str]:
    return []


def _commandstats(state: "NodeState") -> list[str]:
    out = []
    for cmd in sorted(state.table.all_commands(), key=lambda c: c.name):
        if not (cmd.calls or cmd.failed_calls or cmd.rejected_calls):
            continue
        per_call = cmd.usec / cmd.calls if cmd.calls else 0.0
        out.append(f"cmdstat_{cmd.name}:calls={cmd.calls},usec={cmd.usec},usec_per_call={per_call:.2f},"
                   f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}")
    return out


def _errorstats(state: "NodeState") -> list[str]:
    return [f"errorstat_{code}:count={n}" for code, n in sorted(state.stats.errorstats.items())]


def _latencystats(state: "NodeState") -> list[str]:
    # Redis fills this from per-command latency histograms. Shoal keeps none (recording one per call would cost
    # every command on the hot path), so, like Redis for a command without a histogram, it lists nothing.
    return []


def _cluster(state: "NodeState") -> list[str]:
    return [f"cluster_enabled:{int(bool(state.config['cluster-enabled']))}"]


def _keyspace(state: "NodeState") -> list[str]:
    out = []
    for db in state.keyspace.dbs:
        if db.data:
            out.append(f"db{db.id}:keys={len(db.data)},expires={len(db.expires)},avg_ttl={db.avg_ttl}")
    return out


BUILDERS = {"server": _server, "clients": _clients, "memory": _memory, "persistence": _persistence,
            "stats": _stats, "replication": _replication, "cpu": _cpu_section, "module_list": _modules,
            "commandstats": _commandstats, "errorstats": _errorstats, "latencystats": _latencystats,
            "cluster": _cluster, "keyspace": _keyspace}


# --------------------------------------------------------------------------------------------------- INFO


def selected_sections(state: "NodeState", args: list[str]) -> list[str]:
    """The section names INFO `args` asks for, in output order."""
    extra = [n for n in getattr(state, "info_sections", {}) if n not in BUILDERS and n != "modules"]
    wanted = set()
    everything = False
    for a in (a.lower() for a in args) if args else ("default",):
        if a == "default":
            wanted.update(DEFAULT_SECTIONS, extra)
        elif a == "all":
            wanted.update(ALL_SECTIONS, extra)
        elif a == "everything":
            wanted.update(ALL_SECTIONS, extra)
            everything = True
        elif a == "modules":
            wanted.add("module_list")
        else:
            wanted.add(a)
    order = list(ALL_SECTIONS) + extra
    del everything  # no module sections exist yet; `everything` is `all` plus those
    return [name for name in order if name in wanted]


def section_lines(state: "NodeState", name: str) -> list[str]:
    hook = getattr(state, "info_sections", {}).get(name if name != "module_list" else "modules")
    if hook is not None:
        return list(hook(state))
    return BUILDERS[name](state)


def info_text(state: "NodeState", args: list[str]) -> bytes:
    """The INFO reply text: sections separated by an empty line, each "# Title" then "field:value" lines."""
    parts = []
    for name in selected_sections(state, args):
        title = TITLES.get(name, name.capitalize())
        lines = section_lines(state, name)
        parts.append("".join([f"# {title}\r\n"] + [f"{line}\r\n" for line in lines]))
    return "\r\n".join(parts).encode("utf-8", "replace")
