"""Persistence: snapshots (`rdb.py` the format, `snapshot.py` SAVE/BGSAVE and the save rules), the append-only
file (`aof.py` and its parts), and the forked children that write both in the background (`background.py`).

The composition root calls `install(state, server)` before the node serves, then runs `load_and_attach()` beside
the server: the dataset (the AOF when `appendonly yes`, else the snapshot, as Redis's loadDataFromDisk) loads in
a worker thread while the node already answers, as Redis does, `-LOADING` to everything but the few commands
flagged `loading` (INFO, CONFIG, SHUTDOWN...). The keyspace has one writer at a time either way: commands that
could touch it are refused until the load is over, and the cron leaves it alone meanwhile. Only then are the
savers plugged into the node's hooks, so replaying a file never feeds the file.
"""
from __future__ import annotations

import logging
import os

import trio

from .aof import Aof
from .aof import attach as attach_aof
from .background import BackgroundJobs
from .snapshot import Snapshots

log = logging.getLogger("shoal.node")


class Persistence:
    """What the rest of the node sees: the snapshots, the AOF, their shared child slot, and one write gate."""

    def __init__(self, state, server) -> None:
        self.state = state
        self.server = server
        self.background = BackgroundJobs()
        state.background = self.background
        self.snapshots = Snapshots(state)
        self.aof = Aof(state)
        state.save_snapshot = self.snapshots.save_for_shutdown_or_flush
        state.persistence = self

    # ------------------------------------------------------------------ start-up

    def load(self) -> None:
        """loadDataFromDisk. Raises SystemExit(1) when the files cannot be trusted (logged with the reason)."""
        self.aof.load_on_start()  # reads the manifest even with AOF off: its sequence numbers go on
        if not self.state.config["appendonly"]:
            self.snapshots.load_on_start()

    def attach(self) -> None:
        state, server = self.state, self.server
        attach_aof(self.aof, state, server)
        self.snapshots.on_status_change = self.refresh_write_gate
        self.aof.on_write_status_change = self.refresh_write_gate
        for name in ("stop-writes-on-bgsave-error", "save"):
            state.config.on_change(name, lambda v, old: self.refresh_write_gate())
        state.cron_hooks.insert(0, self.cron)  # reap a finished child before anything decides to start another
        if server is not None:
            server.shutdown_hooks.insert(0, self.on_shutdown)
        state.loading = False

    async def load_and_attach(self) -> None:
        try:
            await trio.to_thread.run_sync(self.load, abandon_on_cancel=True)
        except SystemExit as e:
            # the reason is logged; leave now, before any task could save what was half loaded
            logging.shutdown()
            os._exit(e.code if isinstance(e.code, int) else 1)
        self.attach()

    # ------------------------------------------------------------------ running

    def refresh_write_gate(self) -> None:
        """writeCommandsDeniedByDiskError: a failed background save (when configured to stop writes) first, then
        an AOF that cannot be written."""
        self.state.write_refusal = self.snapshots.write_error() or self.aof.write_error()

    def cron(self, now: float) -> None:
        self.background.poll(now)
        self.snapshots.cron(now)

    def info_lines(self) -> list[str]:
        fields = [("loading", int(bool(self.state.loading))), ("async_loading", 0),
                  ("current_cow_peak", 0), ("current_cow_size", 0), ("current_cow_size_age", 0),
                  ("current_fork_perc", "0.00"), ("current_save_keys_processed", 0),
                  ("current_save_keys_total", 0)]
        fields += self.snapshots.info_fields()
        fields += self.aof.info_fields()
        return [f"{k}:{v}" for k, v in fields]

    async def on_shutdown(self) -> None:
        """prepareForShutdown for a signal (SHUTDOWN the command saves on its own, before asking to stop)."""
        snapshots = self.snapshots
        snapshots.kill_child()
        if not self.state.shutdown_saved and self.state.config["save"]:
            try:
                snapshots.save()
            except OSError:
                pass  # logged by save(); a signal-driven shutdown goes on, as Redis's does after logging


def install(state, server) -> Persistence:
    """Build the node's persistence; until `load_and_attach()` has run, the node is loading."""
    state.loading = True
    return Persistence(state, server)
