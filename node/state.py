"""The node's state, without I/O: configuration, databases, connected clients, statistics, and the hooks
other rooms plug into (cluster routing, replication/AOF propagation, keyspace notifications, blocked clients).

`server.py` drives it; commands reach it as `client.state`.
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Callable

from .commands.registry import TABLE, CommandTable
from .config import Config
from .blocking import BlockingManager
from .keyspace import Keyspace

if TYPE_CHECKING:
    from .client import Client


class Stats:
    """Counters INFO reports (stats section)."""

    def __init__(self, table: CommandTable | None = None):
        self.table = table
        self.reset()

    @property
    def total_commands_processed(self) -> int:
        # the per-command counters already count every call; summing them keeps one increment off the hot path
        if self.table is None:
            return 0
        return sum(cmd.calls for cmd in self.table.all_commands())

    def reset(self) -> None:
        self.total_connections_received = 0
        self.total_net_input_bytes = 0
        self.total_net_output_bytes = 0
        self.rejected_connections = 0
        self.expired_keys = 0
        self.expired_stale_perc = 0.0
        self.expired_time_cap_reached_count = 0
        self.evicted_keys = 0
        self.evicted_clients = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        self.pubsub_channels = 0
        self.total_error_replies = 0
        self.unexpected_error_replies = 0
        self.total_reads_processed = 0
        self.total_writes_processed = 0
        self.client_query_buffer_limit_disconnections = 0
        self.client_output_buffer_limit_disconnections = 0
        self.errorstats: dict[str, int] = {}
        self.sync_full = self.sync_partial_ok = self.sync_partial_err = 0
        self.instantaneous: dict[str, float] = {}


class NodeState:
    def __init__(self, config: Config | None = None, table: CommandTable | None = None):
        self._slowlog_threshold = -1
        self._latency_threshold_ms = 0
        self.slow_call_us = 1 << 62
        self.config = config or Config()
        self.table = table or TABLE
        self.stats = Stats(self.table)
        self.keyspace = Keyspace(self, self.config["databases"])
        self.clients: dict[int, "Client"] = {}
        self.next_client_id = 1
        self.start_time = time.time()
        self.run_id = os.urandom(20).hex()
        self.dirty = 0  # changes since the last save, as Redis counts them
        self.lru_clock = int(time.time())
        self._loading = False
        self.is_replica = False
        self.shutdown_requested: Callable | None = None  # set by the server shell
        self.shutdown_saved = False  # SHUTDOWN (the command) has applied its SAVE/NOSAVE choice already
        self.save_snapshot: Callable | None = None  # persistence: a foreground snapshot (FLUSHALL, SHUTDOWN)
        self.background = None  # persistence: the forked child slot shared by BGSAVE and BGREWRITEAOF
        self.paused_until = 0.0
        self.pause_writes_only = False
        self.last_save_time = int(time.time())
        self.lookup_bytes = self.table.by_bytes.get
        # extension points
        self._router = None
        self._write_gate = None
        self.on_key_modified: Callable | None = None  # blocked clients, client tracking
        self.propagate_hooks: list[Callable] = []  # AOF, replication: fn(dbid, argv)
        self.notify_hook: Callable | None = None  # pub/sub delivery of keyspace events
        self.notify_flags = ""
        self.slowlog: list = []
        self.slowlog_next_id = 0
        self.latency_events: dict[str, list] = {}
        self.on_client_connect: Callable | None = None
        self.on_client_disconnect: Callable | None = None
        self.kill_client: Callable | None = None  # set by the server shell: fn(client)
        self.blocking = BlockingManager(self)  # clients blocked on keys (BLPOP & co.), see dispatch.Blocked
        self.active_expire_enabled = True
        self.cron_hooks: list[Callable] = []  # fn(now) each cron tick
        self.info_sections: dict[str, Callable] = {}  # extra INFO sections from other rooms: name → fn() -> str
        self.oom_check: Callable | None = None  # maxmemory: fn(client, cmd) -> None or an OOM error text
        self.write_refusal: str | None = None  # MISCONF text while snapshots/AOF cannot be written
        self.persistence = None  # node/persistence: snapshots, AOF, background children
        self.cluster = None  # cluster mode: shoal.cluster.cluster.Cluster (the view, the bus, nodes.conf)
        self.before_reply: Callable | None = None  # AOF: writes its buffer before output leaves (set while it has some)
        self.slowlog_threshold = self.config["slowlog-log-slower-than"]
        self.config.on_change("notify-keyspace-events", self._notify_changed)
        self.config.on_change("slowlog-log-slower-than", self._slowlog_changed)
        from .info import install as _install_server_hooks  # INFO metrics sampler, latency threshold cache
        _install_server_hooks(self)
        from .eviction import install as _install_eviction  # used_memory accounting, maxmemory, LRU/LFU
        _install_eviction(self)

    @property
    def router(self):
        """Cluster mode: fn(client, cmd, argv) -> None to serve here, or an error text (MOVED, ASK, ...)."""
        return self._router

    @router.setter
    def router(self, fn) -> None:
        self._router = fn
        self._regate()

    @property
    def oom_check(self):
        """maxmemory: fn(client, cmd) -> None or an OOM error text, for denyoom commands."""
        return self._oom_check

    @oom_check.setter
    def oom_check(self, fn) -> None:
        self._oom_check = fn
        self._regate()

    @property
    def loading(self) -> bool:
        """While the dataset is being loaded, commands without the `loading` flag get -LOADING."""
        return self._loading

    @loading.setter
    def loading(self, v: bool) -> None:
        self._loading = v
        self._regate()

    @property
    def write_refusal(self) -> str | None:
        """While set, write commands (and PING, as Redis) are refused with this error: the disk failed us."""
        return self._write_refusal

    @write_refusal.setter
    def write_refusal(self, text: str | None) -> None:
        self._write_refusal = text
        self._regate()

    @property
    def write_gate(self):
        """Replication: fn(client, cmd, writes) -> None to allow the command, or an error text (READONLY on a
        read-only replica, NOREPLICAS on a primary short of good replicas, MASTERDOWN on a replica that must not
        serve stale data). Plugged in only while it can refuse something."""
        return self._write_gate

    @write_gate.setter
    def write_gate(self, fn) -> None:
        self._write_gate = fn
        self._regate()

    def _regate(self) -> None:
        # one flag on the hot path: does any command need the slow checks in dispatch._gate? The router alone
        # does not set it: dispatch.execute calls it directly when nothing else needs _gate (cluster mode's
        # every-command cost, see cluster/routing.py), and _gate calls it for the clients that go through there
        self.gated = (getattr(self, "_oom_check", None) is not None
                      or getattr(self, "_write_refusal", None) is not None or getattr(self, "_loading", False)
                      or getattr(self, "_write_gate", None) is not None)

    def _slowlog_changed(self, v, old) -> None:
        self.slowlog_threshold = v

    @property
    def latency_threshold_ms(self) -> int:
        return self._latency_threshold_ms

    @latency_threshold_ms.setter
    def latency_threshold_ms(self, v: int) -> None:
        self._latency_threshold_ms = v
        self._update_slow_call_us()

    @property
    def slowlog_threshold(self) -> int:
        return self._slowlog_threshold

    @slowlog_threshold.setter
    def slowlog_threshold(self, v: int) -> None:
        self._slowlog_threshold = v
        self._update_slow_call_us()

    def _update_slow_call_us(self) -> None:
        # a plain attribute the dispatcher compares each call's duration with: one test instead of two
        cands = []
        if self._slowlog_threshold >= 0:
            cands.append(self._slowlog_threshold)
        if self._latency_threshold_ms > 0:
            cands.append(self._latency_threshold_ms * 1000)
        self.slow_call_us = min(cands) if cands else 1 << 62

    def slowlog_add(self, client: "Client", argv: list[bytes], usec: int) -> None:
        """Record a slow command as Redis does: at most 32 arguments, each cut to 128 bytes."""
        maxlen = self.config["slowlog-max-len"]
        if maxlen <= 0:
            return
        args = []
        n = len(argv)
        shown = argv[:32] if n <= 32 else argv[:31]
        for a in shown:
            if len(a) > 128:
                a = a[:128] + b"... (%d more bytes)" % (len(a) - 128)
            args.append(bytes(a))
        if n > 32:
            args.append(b"... (%d more arguments)" % (n - 31))
        self.slowlog.insert(0, (self.slowlog_next_id, int(time.time()), usec, args,
                                client.addr.encode(), client.name))
        self.slowlog_next_id += 1
        del self.slowlog[maxlen:]

    def _notify_changed(self, v, old) -> None:
        self.notify_flags = v

    # ------------------------------------------------------------------ events

    def notify_keyspace_event(self, event: str, key: bytes, dbid: int, cls: str) -> None:
        """Keyspace notification of class `cls` (one of g$lshzxetdn...) — delivered by the pub/sub hook."""
        flags = self.notify_flags
        if not flags or self.notify_hook is None:
            return
        if cls not in flags and not ("A" in flags and cls in "g$lshzxetd"):
            return
        self.notify_hook(event, key, dbid, cls, flags)

    def propagate(self, dbid: int, argv: list[bytes]) -> None:
        for fn in self.propagate_hooks:
            fn(dbid, argv)

    def propagate_del(self, dbid: int, key: bytes) -> None:
        if self.propagate_hooks:
            self.propagate(dbid, [b"DEL", key])

    def command_may_write(self, client: "Client", argv: list[bytes]) -> bool:
        """For CLIENT PAUSE WRITE: does this call write (or may it, like EVAL)?"""
        from .commands.registry import MAY_REPLICATE, WRITE
        cmd = self.table.lookup_argv(argv)
        if cmd is None:
            return False
        if cmd.name in ("exec",) and client.in_multi:
            return any(c.bits & (WRITE | MAY_REPLICATE) for c, _ in client.multi_queue)
        return bool(cmd.bits & (WRITE | MAY_REPLICATE))

    # ------------------------------------------------------------------ clients

    def new_client_id(self) -> int:
        cid = self.next_client_id
        self.next_client_id += 1
        return cid

    def uptime(self) -> int:
        return int(time.time() - self.start_time)
