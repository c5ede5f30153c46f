"""The driver shared by the model tests (test_model_<group>.py): strategies that build argvs, the connection
pairs, and the loop that runs a drawn sequence of commands step by step on a shoal-node and on redis-server and
fails with the whole history at the first step whose replies disagree. Each test module only declares what to
draw and, where Redis's reply is not reproducible byte for byte, how two replies may still agree.
"""
from __future__ import annotations

from typing import Callable, Iterable

import pytest
from hypothesis import strategies as st

from .harness import RawConnection, render, show_argv

Argv = list[bytes]


def _flatten(parts) -> Argv:
    return [a for p in parts for a in (p if isinstance(p, list) else [p])]


def cmd(*parts) -> st.SearchStrategy:
    """A strategy for one argv; each part is bytes (literal), a strategy of bytes, or of a list of bytes."""
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(_flatten)


def opt(*choices) -> st.SearchStrategy:
    """Nothing, or one of the argv fragments described by `choices` (each a tuple of cmd parts)."""
    return st.one_of(st.just([]), *(cmd(*c) for c in choices))


def open_pair(shoal, redis_ref, proto: int = 2) -> tuple[RawConnection, RawConnection]:
    """One connection to each server, switched to RESP3 when asked."""
    ours = RawConnection(shoal.host, shoal.port)
    theirs = RawConnection(redis_ref.host, redis_ref.port)
    if proto == 3:
        for conn in (ours, theirs):
            assert conn.call("HELLO", "3")[:1] == b"%"
    return ours, theirs


def open_pairs(shoal, redis_ref) -> dict[int, tuple[RawConnection, RawConnection]]:
    """A pair of connections for each protocol, RESP2 and RESP3."""
    return {proto: open_pair(shoal, redis_ref, proto) for proto in (2, 3)}


def close_pairs(pairs) -> None:
    for pair in pairs:
        for conn in pair:
            conn.close()


def reset(pair, *config: tuple[str, str]) -> list[str]:
    """FLUSHALL both servers and apply CONFIG SET name value for each pair; the log lines that say so."""
    for conn, who in zip(pair, ("shoal-node", "redis-server")):
        reply = conn.call("FLUSHALL")
        assert reply == b"+OK\r\n", f"{who}: FLUSHALL failed: {reply!r}"
        for name, value in config:
            reply = conn.call("CONFIG", "SET", name, value)
            assert reply == b"+OK\r\n", f"{who}: CONFIG SET {name} {value} failed: {reply!r}"
    return [f"CONFIG SET {name} {value}" for name, value in config]


def exchange(pair, argv: Argv) -> tuple[bytes, bytes]:
    ours, theirs = pair
    ours.send(argv)
    theirs.send(argv)
    return ours.read_reply(), theirs.read_reply()


def run_steps(pair, steps: Iterable[Argv], *, agree: Callable | None = None, look_before: Callable | None = None,
              log: list[str] | None = None, label: str = "") -> None:
    """Run `steps` on both servers, failing at the first pair of replies that differ and do not `agree`.

    agree(argv, ours, theirs[, seen]) judges replies that differ byte for byte; `seen` is what
    look_before(argv) returned just before the step ran (e.g. an encoding asked of redis-server)."""
    log = list(log or [])
    for i, argv in enumerate(steps):
        seen = look_before(argv) if look_before else None
        a, b = exchange(pair, argv)
        if a != b and not (agree and (agree(argv, a, b, seen) if look_before else agree(argv, a, b))):
            pytest.fail("\n".join([
                f"{label}replies differ at step {i + 1}: {show_argv(argv)}",
                "  shoal-node:", render(a), f"    raw {a!r}",
                "  redis-server:", render(b), f"    raw {b!r}",
                "  steps before (all matched):", *("    " + s for s in log),
            ]))
        log.append(f"{show_argv(argv)}  ->  {b[:100]!r}")


def same_random_shape(a: bytes, b: bytes) -> bool:
    """For replies of random picks (SRANDMEMBER, HRANDFIELD): one pick is a bulk string either way, several are
    arrays of the same length."""
    if a[:1] == b"$":
        return b[:1] == b"$"
    return a.split(b"\r\n", 1)[0] == b.split(b"\r\n", 1)[0]


def compare_data(pair, probes: Iterable[Argv]) -> None:
    """The data itself, not only the replies: each probe must read the same on both servers."""
    for argv in probes:
        a, b = exchange(pair, argv)
        assert a == b, (argv, a, b)
