"""Every option by its redis.conf name: parsing redis.conf files and `--option value` flags, CONFIG GET/SET.

An option is a row in `OPTIONS`: its type decides parsing, validation and how CONFIG GET prints it. Setters with
side effects (e.g. `maxclients`, `hz`) register listeners with `Config.on_change`.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable


class ConfigError(Exception):
    pass


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_memory(s: str) -> int:
    m = re.fullmatch(r"(-?\d+)([a-zA-Z]*)", s.strip())
    if not m or m.group(2).lower() not in _UNITS:
        raise ConfigError("argument must be a memory value")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def parse_bool(s: str) -> bool:
    s = s.lower()
    if s == "yes":
        return True
    if s == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


@dataclass
class Option:
    name: str
    kind: str  # bool int memory enum string special
    default: Any
    mutable: bool = True
    lo: int | None = None
    hi: int | None = None
    choices: tuple = ()
    alias: str | None = None
    parse: Callable | None = None  # for 'special': str → value
    show: Callable | None = None  # for 'special': value → str


def _opt(name, kind, default, **kw):
    return Option(name, kind, default, **kw)


LLMAX = 2**63 - 1

# ------------------------------------------------------------------ special option formats


def _parse_save(s: str):
    parts = s.split()
    if len(parts) % 2:
        raise ConfigError("Invalid save parameters")
    out = []
    for i in range(0, len(parts), 2):
        try:
            out.append((int(parts[i]), int(parts[i + 1])))
        except ValueError:
            raise ConfigError("Invalid save parameters") from None
    return out


def _show_save(v) -> str:
    return " ".join(f"{a} {b}" for a, b in v)


_COBL_CLASSES = ("normal", "replica", "pubsub")


def _parse_cobl(s: str, current=None):
    parts = s.split()
    if len(parts) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = dict(current or {})
    for i in range(0, len(parts), 4):
        cls = parts[i].lower()
        if cls == "slave":
            cls = "replica"
        if cls not in _COBL_CLASSES:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard = parse_memory(parts[i + 1])
            soft = parse_memory(parts[i + 2])
            secs = int(parts[i + 3])
        except (ConfigError, ValueError):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.") from None
        if hard < 0 or soft < 0 or secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        out[cls] = (hard, soft, secs)
    return out


def _show_cobl(v) -> str:
    return " ".join(f"{c} {v[c][0]} {v[c][1]} {v[c][2]}" for c in _COBL_CLASSES)


_NOTIFY_ALL = "g$lshzxetd"


def parse_notify_flags(s: str) -> str:
    for ch in s:
        if ch not in "KEg$lshzxeAtmdn":
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return s


def notify_flags_canonical(s: str) -> str:
    """The order CONFIG GET prints them in (keyspaceEventsFlagsToString)."""
    flags = set(s)
    out = ""
    if "A" in flags or set(_NOTIFY_ALL) <= flags:
        out += "A"
    else:
        for ch in "g$lshzxetd":
            if ch in flags:
                out += ch
    for ch in "KEmn":
        if ch in flags:
            out += ch
    return out


OPTIONS: list[Option] = [
    _opt("port", "int", 6379, mutable=False, lo=0, hi=65535),
    _opt("bind", "string", "* -::*", mutable=False),
    _opt("unixsocket", "string", "", mutable=False),
    _opt("tcp-backlog", "int", 511, mutable=False, lo=0),
    _opt("timeout", "int", 0, lo=0),
    _opt("tcp-keepalive", "int", 300, lo=0),
    _opt("protected-mode", "bool", True),
    _opt("databases", "int", 16, mutable=False, lo=1),
    _opt("hz", "int", 10, lo=0),
    _opt("dynamic-hz", "bool", True),
    _opt("maxclients", "int", 10000, lo=1),
    _opt("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    _opt("logfile", "string", "", mutable=False),
    _opt("syslog-enabled", "bool", False, mutable=False),
    _opt("daemonize", "bool", False, mutable=False),
    _opt("pidfile", "string", "", mutable=False),
    _opt("dir", "string", ""),
    _opt("dbfilename", "string", "dump.rdb"),
    _opt("save", "special", [(3600, 1), (300, 100), (60, 10000)], parse=_parse_save, show=_show_save),
    _opt("appendonly", "bool", False),
    _opt("appendfilename", "string", "appendonly.aof", mutable=False),
    _opt("appenddirname", "string", "appendonlydir", mutable=False),
    _opt("appendfsync", "enum", "everysec", choices=("always", "everysec", "no")),
    _opt("rdbcompression", "bool", True),
    _opt("rdbchecksum", "bool", True),
    _opt("stop-writes-on-bgsave-error", "bool", True),
    _opt("requirepass", "string", ""),
    _opt("masterauth", "string", ""),
    _opt("masteruser", "string", ""),
    _opt("maxmemory", "memory", 0, lo=0),
    _opt("maxmemory-policy", "enum", "noeviction", choices=(
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu",
        "allkeys-random", "noeviction")),
    _opt("maxmemory-samples", "int", 5, lo=1, hi=64),
    _opt("maxmemory-eviction-tenacity", "int", 10, lo=0, hi=100),
    _opt("lfu-log-factor", "int", 10, lo=0),
    _opt("lfu-decay-time", "int", 1, lo=0),
    _opt("proto-max-bulk-len", "memory", 512 * 1024 * 1024, lo=1024 * 1024),
    _opt("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, lo=1024 * 1024),
    _opt("client-output-buffer-limit", "special",
         {"normal": (0, 0, 0), "replica": (256 * 1024 * 1024, 64 * 1024 * 1024, 60),
          "pubsub": (32 * 1024 * 1024, 8 * 1024 * 1024, 60)}, parse=_parse_cobl, show=_show_cobl),
    _opt("slowlog-log-slower-than", "int", 10000, lo=-1),
    _opt("slowlog-max-len", "int", 128, lo=0),
    _opt("latency-monitor-threshold", "int", 0, lo=0),
    _opt("latency-tracking", "bool", True),
    _opt("notify-keyspace-events", "special", "", parse=parse_notify_flags, show=notify_flags_canonical),
    _opt("hash-max-listpack-entries", "int", 128, lo=0, alias="hash-max-ziplist-entries"),
    _opt("hash-max-listpack-value", "int", 64, lo=0, alias="hash-max-ziplist-value"),
    _opt("list-max-listpack-size", "int", -2, lo=-5, alias="list-max-ziplist-size"),
    _opt("list-compress-depth", "int", 0, lo=0),
    _opt("set-max-intset-entries", "int", 512, lo=0),
    _opt("zset-max-listpack-entries", "int", 128, lo=0, alias="zset-max-ziplist-entries"),
    _opt("zset-max-listpack-value", "int", 64, lo=0, alias="zset-max-ziplist-value"),
    _opt("hll-sparse-max-bytes", "memory", 3000, lo=0),
    _opt("stream-node-max-bytes", "memory", 4096, lo=0),
    _opt("stream-node-max-entries", "int", 100, lo=0),
    _opt("activerehashing", "bool", True),
    _opt("lazyfree-lazy-eviction", "bool", False),
    _opt("lazyfree-lazy-expire", "bool", False),
    _opt("lazyfree-lazy-server-del", "bool", False),
    _opt("lazyfree-lazy-user-del", "bool", False),
    _opt("lazyfree-lazy-user-flush", "bool", False),
    _opt("replica-read-only", "bool", True, alias="slave-read-only"),
    _opt("replica-serve-stale-data", "bool", True, alias="slave-serve-stale-data"),
    _opt("repl-backlog-size", "memory", 1024 * 1024, lo=1),
    _opt("repl-timeout", "int", 60, lo=1),
    _opt("min-replicas-to-write", "int", 0, lo=0, alias="min-slaves-to-write"),
    _opt("min-replicas-max-lag", "int", 10, lo=0, alias="min-slaves-max-lag"),
    _opt("replicaof", "string", "", mutable=False, alias="slaveof"),
    _opt("cluster-enabled", "bool", False, mutable=False),
    _opt("cluster-config-file", "string", "nodes.conf", mutable=False),
    _opt("cluster-node-timeout", "int", 15000, lo=0),
    _opt("cluster-port", "int", 0, mutable=False, lo=0, hi=65535),
    _opt("cluster-require-full-coverage", "bool", True),
    _opt("cluster-allow-reads-when-down", "bool", False),
    _opt("cluster-replica-validity-factor", "int", 10, lo=0),
    _opt("cluster-migration-barrier", "int", 1, lo=0),
    _opt("cluster-announce-ip", "string", ""),
    _opt("lua-time-limit", "int", 5000, lo=0, alias="busy-reply-threshold"),
    _opt("enable-debug-command", "enum", "no", mutable=False, choices=("no", "yes", "local")),
    _opt("enable-module-command", "enum", "no", mutable=False, choices=("no", "yes", "local")),
    _opt("enable-protected-configs", "enum", "no", mutable=False, choices=("no", "yes", "local")),
    _opt("active-expire-effort", "int", 1, lo=1, hi=10),
    _opt("io-threads", "int", 1, mutable=False, lo=1, hi=128),
    _opt("aclfile", "string", "", mutable=False),
    _opt("acllog-max-len", "int", 128, lo=0),
    _opt("shutdown-timeout", "int", 10, lo=0),
    _opt("busy-reply-threshold", "int", 5000, lo=0),
]

_BY_NAME: dict[str, Option] = {}
for _o in OPTIONS:
    _BY_NAME[_o.name] = _o
for _o in OPTIONS:
    if _o.alias and _o.alias not in _BY_NAME:
        _BY_NAME[_o.alias] = _o


class Config:
    def __init__(self):
        self.values: dict[str, Any] = {o.name: o.default for o in OPTIONS}
        self.listeners: dict[str, list[Callable]] = {}
        self.config_file: str | None = None

    def __getitem__(self, name: str):
        return self.values[_BY_NAME[name].name]

    def get(self, name: str, default=None):
        o = _BY_NAME.get(name)
        return self.values[o.name] if o else default

    def on_change(self, name: str, fn: Callable) -> None:
        self.listeners.setdefault(name, []).append(fn)

    # ------------------------------------------------------------------ parse & set

    def parse_value(self, o: Option, raw: str):
        if o.kind == "bool":
            return parse_bool(raw)
        if o.kind in ("int", "memory"):
            if o.kind == "int":
                try:
                    v = int(raw)
                except ValueError:
                    raise ConfigError("argument couldn't be parsed into an integer") from None
            else:
                v = parse_memory(raw)
            if (o.lo is not None and v < o.lo) or (o.hi is not None and v > o.hi) or v > LLMAX:
                lo = o.lo if o.lo is not None else "-inf"
                hi = o.hi if o.hi is not None else LLMAX
                raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
            return v
        if o.kind == "enum":
            if raw.lower() not in o.choices:
                raise ConfigError("argument(s) must be one of the following: " + ", ".join(o.choices))
            return raw.lower()
        if o.kind == "special":
            if o.name == "client-output-buffer-limit":
                return _parse_cobl(raw, self.values[o.name])
            return o.parse(raw)
        return raw

    def set(self, name: str, raw: str, *, startup: bool = False) -> None:
        o = _BY_NAME.get(name.lower())
        if o is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not o.mutable and not startup:
            raise ConfigError(f"can't set immutable config")
        v = self.parse_value(o, raw)
        old = self.values[o.name]
        self.values[o.name] = v
        try:
            for fn in self.listeners.get(o.name, ()):
                fn(v, old)
        except ConfigError:
            self.values[o.name] = old
            raise

    def show(self, name: str) -> str:
        o = _BY_NAME[name]
        v = self.values[o.name]
        if o.kind == "bool":
            return "yes" if v else "no"
        if o.kind == "special":
            return o.show(v)
        return str(v)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, value) for CONFIG GET: canonical names, plus aliases matched by name (as Redis does)."""
        out = []
        pat = pattern.lower()
        has_glob = any(ch in pat for ch in "*?[")
        for name, o in _BY_NAME.items():
            if (fnmatch.fnmatchcase(name, pat) if has_glob else name == pat):
                if name != o.name and has_glob:
                    continue
                out.append((name, self.show(o.name)))
        return out

    def load_file(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"Fatal error, can't open config file '{path}': {e.strerror}") from None
        self.config_file = os.path.abspath(path)
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                parts = shlex.split(line)
            except ValueError:
                raise ConfigError(f"*** FATAL CONFIG FILE ERROR ***\nline {lineno}: {line}\nUnbalanced quotes") from None
            self._apply(parts[0], parts[1:], f"line {lineno}: {line}")

    def load_args(self, args: list[str]) -> None:
        """`--option value [value ...]` pairs as redis-server takes them."""
        i = 0
        while i < len(args):
            a = args[i]
            if not a.startswith("--"):
                raise ConfigError(f"Invalid argument '{a}': options start with --")
            name = a[2:]
            vals = []
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                vals.append(args[i])
                i += 1
            self._apply(name, vals, f"--{name} {' '.join(vals)}")

    def _apply(self, name: str, vals: list[str], where: str) -> None:
        o = _BY_NAME.get(name.lower())
        if o is None:
            raise ConfigError(f"*** FATAL CONFIG FILE ERROR ***\n>>> '{where}'\nBad directive or wrong number of arguments")
        if o.name in ("save", "client-output-buffer-limit", "bind", "notify-keyspace-events"):
            raw = " ".join(vals)
        elif len(vals) != 1:
            raise ConfigError(f"*** FATAL CONFIG FILE ERROR ***\n>>> '{where}'\nwrong number of arguments")
        else:
            raw = vals[0]
        try:
            self.set(o.name, raw, startup=True)
        except ConfigError as e:
            raise ConfigError(f"*** FATAL CONFIG FILE ERROR ***\n>>> '{where}'\n{e}") from None
