"""The latency monitor: LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP, and the sample
recorder the rest of the node feeds.

An event (`command`, `fast-command`, later `expire-cycle`, `fork`, ...) keeps, as Redis's latency.c does, the
all-time maximum and a ring of the last 160 samples, at most one per second (a second sample in the same second
only raises that second's value). Samples are in milliseconds and only recorded when they reach
`latency-monitor-threshold` (0 disables the monitor).

The dispatcher records `command` / `fast-command` samples after a call that took at least the threshold; other
rooms call `latency_add_sample_if_needed(state, event, ms)`.
"""
from __future__ import annotations

import time

from ..errors import CommandError
from ..resp import MapReply, Verbatim
from .registry import command
from .server_admin import help_reply

LATENCY_TS_LEN = 160


class LatencySeries:
    __slots__ = ("samples", "max")

    def __init__(self):
        self.samples: list[tuple[int, int]] = []  # (unix time, ms), oldest first, one per second
        self.max = 0

    def add(self, now: int, ms: int) -> None:
        if ms > self.max:
            self.max = ms
        if self.samples and self.samples[-1][0] == now:
            if ms > self.samples[-1][1]:
                self.samples[-1] = (now, ms)
            return
        self.samples.append((now, ms))
        if len(self.samples) > LATENCY_TS_LEN:
            del self.samples[0]


def latency_add_sample(state, event: str, ms: int) -> None:
    """Record `ms` for `event` (the caller checked the threshold)."""
    series = state.latency_events.get(event)
    if series is None:
        series = state.latency_events[event] = LatencySeries()
    series.add(int(time.time()), int(ms))


def latency_add_sample_if_needed(state, event: str, ms: int) -> None:
    threshold = state.config["latency-monitor-threshold"]
    if threshold and ms >= threshold:
        latency_add_sample(state, event, ms)


@command("latency|latest")
def latency_latest(c, argv):
    return [[event.encode(), s.samples[-1][0], s.samples[-1][1], s.max]
            for event, s in c.state.latency_events.items() if s.samples]


@command("latency|history")
def latency_history(c, argv):
    series = c.state.latency_events.get(argv[2].decode("utf-8", "replace"))
    if series is None:
        return []
    return [[t, ms] for t, ms in series.samples]


@command("latency|reset")
def latency_reset(c, argv):
    events = c.state.latency_events
    if len(argv) == 2:
        n = len(events)
        events.clear()
        return n
    n = 0
    for name in argv[2:]:
        if events.pop(name.decode("utf-8", "replace"), None) is not None:
            n += 1
    return n


@command("latency|graph")
def latency_graph(c, argv):
    event = argv[2].decode("utf-8", "replace")
    series = c.state.latency_events.get(event)
    if series is None or not series.samples:
        raise CommandError(f"ERR No samples available for event '{event}'")
    return Verbatim(_graph(event, series).encode())


def _graph(event: str, series: LatencySeries) -> str:
    """A small text chart, newest sample on the right: one column per sample, bar height proportional to its
    latency, with how long ago it was taken underneath."""
    samples = series.samples[-60:]
    values = [ms for _, ms in samples]
    hi, lo = max(values), min(values)
    rows = 4
    lines = [f"{event} - high {hi} ms, low {lo} ms (all time high {series.max} ms)", "-" * 80]
    for r in range(rows, 0, -1):
        cutoff = lo + (hi - lo) * (r - 1) / rows if hi != lo else 0
        lines.append("".join("#" if v > cutoff or (hi == lo and r == 1) else " " for v in values).rstrip())
    now = int(time.time())
    lines.append("".join(_age_mark(now - t) for t, _ in samples))
    return "\n".join(lines) + "\n"


def _age_mark(age: int) -> str:
    """One character for how old a sample is: s(econds), m(inutes), h(ours), d(ays)."""
    for limit, mark in ((60, "s"), (3600, "m"), (86400, "h")):
        if age < limit:
            return mark
    return "d"


@command("latency|doctor")
def latency_doctor(c, argv):
    return Verbatim(_doctor(c.state).encode())


def _doctor(state) -> str:
    events = {name: s for name, s in state.latency_events.items() if s.samples}
    threshold = state.config["latency-monitor-threshold"]
    if not events:
        if not threshold:
            return ("Latency monitoring is off on this Shoal node: no samples are recorded while "
                    "latency-monitor-threshold is 0. Turn it on with CONFIG SET latency-monitor-threshold "
                    "<milliseconds>.\n")
        return (f"No latency event reached the {threshold} ms threshold since the monitor was started or "
                "reset.\n")
    out = [f"Latency report of this Shoal node ({len(events)} event(s) over {threshold} ms):", ""]
    for i, (name, s) in enumerate(events.items(), 1):
        values = [ms for _, ms in s.samples]
        avg = sum(values) / len(values)
        first = s.samples[0][0]
        out.append(f"{i}. {name}: {len(values)} latency spikes (average {avg:.0f}ms, mean deviation "
                   f"{sum(abs(v - avg) for v in values) / len(values):.0f}ms, period "
                   f"{(int(time.time()) - first) / max(len(values), 1):.2f} sec). Worst all time event "
                   f"{s.max}ms.")
    out.append("")
    if any(name in ("command", "fast-command") for name in events):
        out.append("Slow commands are the likely cause: SLOWLOG GET lists them. Commands that work on whole "
                   "collections (KEYS, SMEMBERS, LRANGE 0 -1, ...) take time proportional to their size.")
    return "\n".join(out) + "\n"


@command("latency|histogram")
def latency_histogram(c, argv):
    # Redis answers from per-command latency histograms; Shoal records none (it would cost every call), so there
    # is no command with a histogram to report, asked for by name or not.
    return MapReply([])


_HELP = [
    "DOCTOR",
    "    Explain the latency samples recorded so far, in words.",
    "GRAPH <event>",
    "    Draw the samples of <event> as a text chart.",
    "HISTORY <event>",
    "    List the time and latency of each sample of <event>.",
    "LATEST",
    "    List each event with its newest sample and its highest latency.",
    "RESET [<event> ...]",
    "    Forget the samples of the given events (every event when none is given).",
    "HISTOGRAM [COMMAND ...]",
    "    Cumulative latency distribution per command (none are recorded by Shoal).",
]


@command("latency|help")
def latency_help(c, argv):
    return help_reply("LATENCY", _HELP)
