"""Persistence: snapshots (`rdb.py` the format, `snapshot.py` SAVE/BGSAVE and the save rules), the append-only
file (`aof.py` and its parts), and the forked children that write both in the background (`background.py`).

`install(state, server)` is called by the composition root before the node serves: it loads the dataset (the AOF
when `appendonly yes`, else the snapshot, as Redis's loadDataFromDisk) and plugs savers into the node's hooks.
"""
from __future__ import annotations

from .aof import Aof
from .aof import install as install_aof
from .background import BackgroundJobs
from .snapshot import Snapshots


class Persistence:
    """What the rest of the node sees: the snapshots, the AOF, their shared child slot, and one write gate."""

    def __init__(self, state, snapshots: Snapshots, aof: Aof, background: BackgroundJobs) -> None:
        self.state = state
        self.snapshots = snapshots
        self.aof = aof
        self.background = background

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
    background = BackgroundJobs()
    state.background = background
    snapshots = Snapshots(state)
    aof = install_aof(state, server)  # loads the AOF when appendonly is on (exits the process if it cannot)
    if not state.config["appendonly"]:
        snapshots.load_on_start()
    p = Persistence(state, snapshots, aof, background)
    snapshots.on_status_change = p.refresh_write_gate
    aof.on_write_status_change = p.refresh_write_gate
    for name in ("stop-writes-on-bgsave-error", "save"):
        state.config.on_change(name, lambda v, old: p.refresh_write_gate())
    state.cron_hooks.insert(0, p.cron)  # reap a finished child before anything decides to start another
    state.save_snapshot = snapshots.save_for_shutdown_or_flush
    state.persistence = p
    if server is not None:
        server.shutdown_hooks.insert(0, p.on_shutdown)
    return p
