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
import re
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
    # the dispatcher's fast path applies to commands without subcommands; containers take the full lookup
    needs_lookup: bool = True
    # statistics for INFO commandstats
    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0

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
            cmd.parent.needs_lookup = True
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
        cmd.needs_lookup = False  # set when subcommands are added
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
    """Positions in argv of the keys this call touches, as Redis 7.0 finds them (see get_keys_and_flags)."""
    return [pos for pos, _flags in get_keys_and_flags(cmd, argv)]


def get_keys_and_flags(cmd: Command, argv: list[bytes]) -> list[tuple[int, list[str]]]:
    """(position, key-spec flags) of each key, as Redis 7.0's getKeysFromCommandWithSpecs: the key-spec walk when
    the specs are complete and their flags fixed; otherwise, or when the walk fails, the command's own finder."""
    specs = cmd.key_specs
    if not specs:
        return [(i, []) for i in _legacy_keys(cmd, argv)]  # commands Redis does not have, with a plain range
    finder = _KEY_FINDERS.get(cmd.name)
    real = any("not_key" not in s["flags"] for s in specs)
    variable = any("variable_flags" in s["flags"] for s in specs)
    if real and not (variable and finder):
        found = _walk_key_specs(specs, argv)
        if found is not None:
            return found
    return finder(argv) if finder else []


def _walk_key_specs(specs: list[dict], argv: list[bytes]):
    """Redis 7.0's getKeysUsingKeySpecs, quirks included (a forward keyword search never looks at the last
    argument). None when a spec cannot be followed (unknown, incomplete, or out of range): then the caller
    falls back to the command's own finder, as Redis does."""
    argc = len(argv)
    out: list[tuple[int, list[str]]] = []
    for spec in specs:
        flags = spec["flags"]
        if "not_key" in flags:
            continue
        bs, fk = spec["begin_search"], spec["find_keys"]
        bspec, fspec = bs["spec"], fk["spec"]
        if bs["type"] == "index":
            first = bspec["index"]
        elif bs["type"] == "keyword":
            first = _keyword_search(argv, bspec["keyword"].encode(), bspec["startfrom"])
            if not first:
                continue
        else:
            return None
        if fk["type"] == "range":
            step, lastkey, limit = fspec["keystep"], fspec["lastkey"], fspec["limit"]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif fk["type"] == "keynum":
            step, idx = fspec["keystep"], first + fspec["keynumidx"]
            n = _ll(argv[idx]) if idx < argc else None
            if n is None or n < 0:
                return None
            first += fspec["firstkey"]
            last = first + ((n + 2**31) % 2**32 - 2**31) - 1  # Redis casts the count to a C int
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        out.extend((i, flags) for i in range(first, last + 1, step))
        if "incomplete" in flags:
            return None
    return out


def _keyword_search(argv: list[bytes], keyword: bytes, startfrom: int) -> int:
    """1 + the position of `keyword`, searched from `startfrom` (from the end if negative); 0 if absent."""
    argc = len(argv)
    start = startfrom if startfrom > 0 else argc + startfrom
    end = argc - 1 if startfrom > 0 else 1
    step = 1 if start <= end else -1
    for i in range(start, end, step):
        if i >= argc or i < 1:
            break
        if _is_word(argv[i], keyword):
            return i + 1
    return 0


def _is_word(arg: bytes, word: bytes) -> bool:
    """strcasecmp(arg, word) == 0: ASCII case-insensitive, and C stops reading `arg` at a NUL byte."""
    if b"\0" in arg:
        arg = arg.split(b"\0", 1)[0]
    return arg.lower() == word.lower()


def _atoi(b: bytes) -> int:
    """C's atoi as glibc does it (strtol, then truncated to int): leading blanks, a sign, digits, rest ignored."""
    m = re.match(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)", b)
    if m is None:
        return 0
    v = max(-2**63, min(2**63 - 1, int(m.group(1))))
    return (v + 2**31) % 2**32 - 2**31


# Redis's own key finders (getkeys_proc), used when the specs cannot describe a call. They report flags only
# where Redis does.
_RO_ACCESS, _OW_UPDATE = ["RO", "access"], ["OW", "update"]
_RW_ACCESS_UPDATE, _RW_ACCESS_DELETE = ["RW", "access", "update"], ["RW", "access", "delete"]


def _numkeys_finder(store: int, count_at: int, first: int):
    """genericGetKeys: `count_at` holds how many keys follow from `first`; `store` (if not 0) is one more, last."""
    def find(argv):
        num = _atoi(argv[count_at])
        if num < 1 or num > len(argv) - first:
            return []
        keys = [(first + i, []) for i in range(num)]
        return keys + [(store, [])] if store else keys
    return find


def _sort_keys(argv):
    keys, store, i = [(1, _RO_ACCESS)], None, 2
    while i < len(argv):
        arg = argv[i]
        if _is_word(arg, b"limit"):
            i += 2
        elif _is_word(arg, b"store") and i + 1 < len(argv):
            store = (i + 1, _OW_UPDATE)  # the last STORE wins, as in SORT itself
        elif _is_word(arg, b"get") or _is_word(arg, b"by"):
            i += 1
        i += 1
    return keys + [store] if store else keys


def _migrate_keys(argv):
    first, num, i = 3, 1, 6
    while i < len(argv):
        arg = argv[i]
        if _is_word(arg, b"keys"):
            if argv[3]:
                num = 0  # a key and KEYS together: a syntax error MIGRATE reports itself
            else:
                first, num = i + 1, len(argv) - i - 1
            break
        i += 1 if _is_word(arg, b"auth") else 2 if _is_word(arg, b"auth2") else 0
        i += 1
    return [(first + j, _RW_ACCESS_DELETE) for j in range(num)]


def _georadius_keys(argv):
    stored, i = None, 5
    while i < len(argv):
        if (_is_word(argv[i], b"store") or _is_word(argv[i], b"storedist")) and i + 1 < len(argv):
            stored = i + 1  # the last one wins, as in GEORADIUS itself
            i += 1
        i += 1
    return [(1, [])] + ([(stored, [])] if stored else [])


def _xread_keys(argv):
    i, streams = 1, None
    skip = {b"block": 1, b"count": 1, b"group": 2, b"noack": 0}
    while i < len(argv):
        word = argv[i].split(b"\0", 1)[0].lower()
        if word == b"streams":
            streams = i
            break
        if word not in skip:
            break
        i += skip[word] + 1
    num = len(argv) - streams - 1 if streams is not None else 0
    if num == 0 or num % 2:
        return []
    return [(streams + 1 + j, []) for j in range(num // 2)]


def _set_keys(argv):
    gets = any(a[:3].lower() == b"get" and (len(a) == 3 or a[3] == 0) for a in argv[3:])
    return [(1, _RW_ACCESS_UPDATE if gets else _OW_UPDATE)]


def _bitfield_keys(argv):
    readonly, i, argc = True, 2, len(argv)
    while i < argc:
        rest = argc - i - 1
        if _is_word(argv[i], b"get") and rest >= 2:
            i += 3
        elif _is_word(argv[i], b"overflow") and rest >= 1:
            i += 2
        else:
            readonly = False  # SET/INCRBY, or a syntax error: assume it writes
            break
    return [(1, _RO_ACCESS if readonly else _RW_ACCESS_UPDATE)]


_KEY_FINDERS = {
    "zunionstore": _numkeys_finder(1, 2, 3), "zinterstore": _numkeys_finder(1, 2, 3),
    "zdiffstore": _numkeys_finder(1, 2, 3),
    "zunion": _numkeys_finder(0, 1, 2), "zinter": _numkeys_finder(0, 1, 2), "zdiff": _numkeys_finder(0, 1, 2),
    "zintercard": _numkeys_finder(0, 1, 2), "sintercard": _numkeys_finder(0, 1, 2),
    "lmpop": _numkeys_finder(0, 1, 2), "zmpop": _numkeys_finder(0, 1, 2),
    "blmpop": _numkeys_finder(0, 2, 3), "bzmpop": _numkeys_finder(0, 2, 3),
    "eval": _numkeys_finder(0, 2, 3), "evalsha": _numkeys_finder(0, 2, 3), "eval_ro": _numkeys_finder(0, 2, 3),
    "evalsha_ro": _numkeys_finder(0, 2, 3), "fcall": _numkeys_finder(0, 2, 3), "fcall_ro": _numkeys_finder(0, 2, 3),
    "sort": _sort_keys, "sort_ro": lambda argv: [(1, _RO_ACCESS)], "migrate": _migrate_keys,
    "georadius": _georadius_keys, "georadiusbymember": _georadius_keys,
    "xread": _xread_keys, "xreadgroup": _xread_keys, "set": _set_keys, "bitfield": _bitfield_keys,
}


def has_keys(cmd: Command) -> bool:
    """Redis's doesCommandHaveKeys: a key finder of its own, or a key spec that is not a 'fake' key."""
    return cmd.name in _KEY_FINDERS or any("not_key" not in s["flags"] for s in cmd.key_specs) \
        or (not cmd.key_specs and cmd.first_key > 0)


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
