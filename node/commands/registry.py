"""The command table: one entry per command (and per subcommand), its metadata, and its function.

A command is a plain function `fn(client, argv) -> reply` registered with `@command("name")`. Its metadata
(arity, flags, ACL categories, key specs, docs) comes from `data/redis_commands.json`, recorded from Redis 7.0
by `tests/tools/record_redis_commands.py`, so COMMAND INFO/DOCS answer exactly what Redis answers and the cluster
router finds keys exactly where Redis finds them. Commands Redis does not have (module commands) pass their
metadata to `command()` themselves.

The same table checks arity before a call, answers `COMMAND`, and gives routing its keys (`get_keys`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

from ..errors import CommandError

_DATA = os.path.join(os.path.dirname(__file__), "data")

# flag bits checked on the hot path (the string flags stay for COMMAND INFO)
WRITE = 1 << 0
READONLY = 1 << 1
DENYOOM = 1 << 2
ADMIN = 1 << 3
PUBSUB = 1 << 4
NOSCRIPT = 1 << 5
BLOCKING = 1 << 6
LOADING = 1 << 7
STALE = 1 << 8
NO_MULTI = 1 << 9
FAST = 1 << 10
NO_AUTH = 1 << 11
MAY_REPLICATE = 1 << 12
MOVABLE_KEYS = 1 << 13
ALLOW_BUSY = 1 << 14
SKIP_SLOWLOG = 1 << 15
NO_MANDATORY_KEYS = 1 << 16
SKIP_MONITOR = 1 << 17

_FLAG_BITS = {
    "write": WRITE, "readonly": READONLY, "denyoom": DENYOOM, "admin": ADMIN, "pubsub": PUBSUB,
    "noscript": NOSCRIPT, "blocking": BLOCKING, "loading": LOADING, "stale": STALE, "no_multi": NO_MULTI,
    "fast": FAST, "no_auth": NO_AUTH, "may_replicate": MAY_REPLICATE, "movablekeys": MOVABLE_KEYS,
    "allow_busy": ALLOW_BUSY, "skip_slowlog": SKIP_SLOWLOG, "no_mandatory_keys": NO_MANDATORY_KEYS,
    "skip_monitor": SKIP_MONITOR,
}


@dataclass(eq=False)
class Command:
    name: str  # lowercase; "parent|sub" for subcommands
    fn: Callable | None
    arity: int
    flags: list[str]
    first_key: int = 0
    last_key: int = 0
    step: int = 0
    acl_categories: list[str] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)
    key_specs: list[dict] = field(default_factory=list)
    docs: dict = field(default_factory=dict)
    subcommands: dict[str, "Command"] = field(default_factory=dict)
    parent: "Command | None" = None
    bits: int = 0
    # statistics for INFO commandstats
    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0

    @property
    def fullname(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """How error messages name it: `config|get` → `config|get` (Redis 7 prints the full name)."""
        return self.name

    def reset_stats(self) -> None:
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        for sub in self.subcommands.values():
            sub.reset_stats()


class CommandTable:
    def __init__(self):
        self.commands: dict[str, Command] = {}
        # lookup by the exact bytes clients send: lowercase and uppercase spellings are both keys, so the hot path
        # needs no .lower() for redis-py / redis-benchmark / redis-cli traffic
        self.by_bytes: dict[bytes, Command] = {}
        self.catalog = _load_catalog()

    def add(self, cmd: Command) -> None:
        if cmd.parent is not None:
            cmd.parent.subcommands[cmd.name.split("|", 1)[1]] = cmd
            return
        self.commands[cmd.name] = cmd
        b = cmd.name.encode()
        self.by_bytes[b] = cmd
        self.by_bytes[b.upper()] = cmd

    def remove(self, name: str) -> None:
        cmd = self.commands.pop(name, None)
        if cmd is not None:
            b = name.encode()
            self.by_bytes.pop(b, None)
            self.by_bytes.pop(b.upper(), None)

    def lookup(self, name: bytes) -> Command | None:
        cmd = self.by_bytes.get(name)
        if cmd is None:
            try:
                cmd = self.commands.get(name.decode("utf-8").lower())
            except UnicodeDecodeError:
                return None
        return cmd

    def lookup_argv(self, argv: list[bytes]) -> Command | None:
        """The command or subcommand `argv` names (None if unknown)."""
        cmd = self.lookup(argv[0])
        if cmd is not None and cmd.subcommands and len(argv) >= 2:
            try:
                return cmd.subcommands.get(argv[1].decode("utf-8").lower(), cmd)
            except UnicodeDecodeError:
                return cmd
        return cmd

    def all_commands(self):
        """Top-level commands then their subcommands, for COMMAND and INFO commandstats."""
        for cmd in self.commands.values():
            yield cmd
            yield from cmd.subcommands.values()


def _load_catalog() -> dict:
    path = os.path.join(_DATA, "redis_commands.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        data = {}
    try:
        with open(os.path.join(_DATA, "descriptions.json"), encoding="utf-8") as f:
            prose = json.load(f)
    except FileNotFoundError:
        prose = {}
    for name, text in prose.items():
        if name in data and isinstance(data[name], dict):
            data[name].setdefault("docs", {})["prose"] = text
    return data


TABLE = CommandTable()


def command(name: str, *, arity: int | None = None, flags: str | None = None, keys: tuple[int, int, int] | None = None,
            acl: str | None = None, table: CommandTable | None = None, group: str = "generic",
            key_specs: list | None = None):
    """Register `fn` as command `name` ("get", or "config|get" for a subcommand).

    Metadata comes from the Redis 7.0 catalog; the keyword arguments are for commands Redis does not have, or
    to override it.
    """
    tbl = table or TABLE

    def deco(fn):
        meta = tbl.catalog.get(name, {})
        if not meta and arity is None:
            raise ValueError(f"command {name!r} is not in the Redis catalog: give its arity and flags")
        parent = None
        if "|" in name:
            pname = name.split("|", 1)[0]
            parent = tbl.commands.get(pname)
            if parent is None:
                parent = _container(tbl, pname)
        flag_list = flags.split() if flags is not None else list(meta.get("flags", []))
        fk, lk, st = keys if keys is not None else (meta.get("first_key", 0), meta.get("last_key", 0),
                                                     meta.get("step", 0))
        cmd = Command(
            name=name, fn=fn, arity=arity if arity is not None else meta["arity"], flags=flag_list,
            first_key=fk, last_key=lk, step=st,
            acl_categories=acl.split() if acl is not None else list(meta.get("acl_categories", [])),
            tips=list(meta.get("tips", [])),
            key_specs=key_specs if key_specs is not None else list(meta.get("key_specs", [])),
            docs=meta.get("docs", {"group": group}), parent=parent,
        )
        cmd.bits = _bits(cmd.flags) | (MOVABLE_KEYS if _movable(cmd) else 0)
        tbl.add(cmd)
        fn.command = cmd
        return fn

    return deco


def _container(tbl: CommandTable, pname: str) -> Command:
    """A command with subcommands (CONFIG, CLIENT ...): calling it bare is an arity error, its HELP is separate."""
    meta = tbl.catalog.get(pname, {"arity": -2, "flags": []})
    cmd = Command(name=pname, fn=None, arity=meta["arity"], flags=list(meta.get("flags", [])),
                  acl_categories=list(meta.get("acl_categories", [])), tips=list(meta.get("tips", [])),
                  key_specs=list(meta.get("key_specs", [])), docs=meta.get("docs", {}))
    cmd.bits = _bits(cmd.flags)
    tbl.add(cmd)
    return cmd


def _bits(flags) -> int:
    b = 0
    for f in flags:
        b |= _FLAG_BITS.get(f, 0)
    return b


def _movable(cmd: Command) -> bool:
    for spec in cmd.key_specs:
        if spec.get("find_keys", {}).get("type") == "keynum" or spec.get("begin_search", {}).get("type") == "keyword":
            return True
    return "movablekeys" in cmd.flags


# --------------------------------------------------------------------------------------------------- keys


def get_keys(cmd: Command, argv: list[bytes]) -> list[int]:
    """Positions in argv of the keys this call touches, following the command's key specs exactly as Redis 7.0's
    getKeysUsingKeySpecs does (including its quirks: a forward keyword search never looks at the last argument)."""
    if not cmd.key_specs:
        return _legacy_keys(cmd, argv)
    argc = len(argv)
    out: list[int] = []
    for spec in cmd.key_specs:
        bs = spec.get("begin_search", {})
        bspec = bs.get("spec", {})
        first = 0
        if bs.get("type") == "index":
            first = bspec["index"]
        elif bs.get("type") == "keyword":
            kw = bspec["keyword"].lower().encode()
            sf = bspec["startfrom"]
            start = sf if sf > 0 else argc + sf
            end = argc - 1 if sf > 0 else 0
            i = start
            while i != end:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == kw:
                    first = i + 1
                    break
                i = i + 1 if start <= end else i - 1
            if not first:
                continue
        else:
            continue
        fk = spec.get("find_keys", {})
        fspec = fk.get("spec", {})
        if fk.get("type") == "range":
            lastkey, step, limit = fspec["lastkey"], fspec["keystep"], fspec["limit"]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif fk.get("type") == "keynum":
            idx = first + fspec["keynumidx"]
            if fspec["keynumidx"] >= argc or idx >= argc:
                continue
            n = _ll(argv[idx])
            if n is None or n < 0:
                continue
            first += fspec["firstkey"]
            last = first + n - 1
            step = fspec["keystep"]
        else:
            continue
        i = first
        while i <= last:
            if i >= argc or i < first:
                break
            out.append(i)
            i += step
    return out


def _ll(b: bytes):
    from ..resp import string2ll
    return string2ll(b)


def _legacy_keys(cmd: Command, argv: list[bytes]) -> list[int]:
    if cmd.first_key <= 0:
        return []
    last = cmd.last_key if cmd.last_key >= 0 else len(argv) + cmd.last_key
    return list(range(cmd.first_key, min(last, len(argv) - 1) + 1, cmd.step or 1))


def arity_error(cmd_name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{cmd_name}' command")
