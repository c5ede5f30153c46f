"""Every option by its redis.conf name: the table of options, parsing redis.conf files and `--option value` flags,
CONFIG GET / SET / REWRITE.

The table (`OPTIONS`) lists every option Redis 7.0's `CONFIG GET *` shows, with the names, aliases, defaults,
ranges, flags and value types recorded from a real redis-server 7.0.15, plus Redis's hidden options (matched only
by exact name). An option's kind decides how a value is parsed and validated, how CONFIG GET prints it and how
CONFIG REWRITE writes it back:

    bool     yes/no                         -> Python bool
    num      integer with a range; `fmt` says whether memory units ("1gb"), a percentage ("10%", kept
             negative as Redis keeps it) or octal are accepted  -> int
    enum     one name of a list; `bitflags` enums take several names (shutdown-on-sigint)  -> str
    string   free text, maybe checked by a validator     -> str ("" for unset)
    special  own parser/printer/rewriter (save, bind, dir, client-output-buffer-limit, ...)

Side effects of a change are listeners (`Config.on_change(name, fn)`), called with (new, old) after CONFIG SET
changed a value; a listener raising ConfigError refuses the change and CONFIG SET puts every option of the call
back, as Redis does. Options whose change needs the server to act (port, bind, appendonly...) are refused with
Redis's text when nothing listens for them.
"""
from __future__ import annotations

import glob as _glob
import os
import re
import resource
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

REDIS_VERSION = "7.0.15"

INT_MIN, INT_MAX, UINT_MAX = -(2**31), 2**31 - 1, 2**32 - 1
LONG_MAX = LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
ULLONG_MAX = 2**64 - 1

# option flags
IMMUTABLE = 1
PROTECTED = 2  # settable only when enable-protected-configs allows it
HIDDEN = 4  # not matched by CONFIG GET patterns
SENSITIVE = 8  # redacted from slowlog / monitor
DENY_LOADING = 16  # refused while loading a dataset
MULTI_ARG = 32  # takes several arguments (CONFIG SET splits its value on spaces)

# numeric formats
PLAIN, MEMORY, PERCENT, OCTAL = "plain", "memory", "percent", "octal"


class ConfigError(Exception):
    """A value or directive refused; the text is Redis's (without the error code)."""


class ConfigFileUnreadable(ConfigError):
    """A config file that cannot be opened: reported as such, without the FATAL CONFIG FILE ERROR frame."""


class ConfigSetError(Exception):
    """CONFIG SET refused; the text is the whole error reply (with its code)."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


# --------------------------------------------------------------------------------------------------- numbers


def string2ll(s: str) -> int | None:
    """Redis's strict integer syntax: optional '-', no '+', no spaces, no leading zeros, 64-bit range."""
    if not re.fullmatch(r"-?[1-9][0-9]*|0", s) or len(s) > 20:
        return None
    v = int(s)
    return v if LLONG_MIN <= v <= LLONG_MAX else None


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def memtoull(s: str) -> int | None:
    """Redis's memtoull: digits then an optional unit (case-insensitive). An empty number is 0; a number past
    2^64-1 saturates and the multiplication wraps around 2^64, as the C code does."""
    if s.startswith("-"):
        return None
    m = re.match(r"[0-9]*", s)
    digits, unit = m.group(0), s[m.end():].lower()
    if unit not in _UNITS or len(digits) >= 128:
        return None
    val = min(int(digits), ULLONG_MAX) if digits else 0
    return (val * _UNITS[unit]) & ULLONG_MAX


def parse_memory(s: str) -> int:
    v = memtoull(s)
    if v is None:
        raise ConfigError("argument must be a memory value")
    return v


def parse_bool(s: str) -> bool:
    s = s.lower()
    if s == "yes":
        return True
    if s == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def _signed64(v: int) -> int:
    return v - 2**64 if v > LLONG_MAX else v


def format_memory(v: int) -> str:
    """How CONFIG REWRITE writes bytes: the largest of gb/mb/kb that divides them."""
    for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if v and v % size == 0:
            return f"{v // size}{unit}"
    return str(v)


def c_repr(s: str) -> str:
    """sdscatrepr: a double-quoted string with C escapes, as CONFIG REWRITE writes string values."""
    out = ['"']
    for ch in s.encode("utf-8", "surrogateescape"):
        c = chr(ch)
        if c in '\\"':
            out.append("\\" + c)
        elif c in "\n\r\t\a\b":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b"}[c])
        elif 0x20 <= ch <= 0x7E:
            out.append(c)
        else:
            out.append("\\x%02x" % ch)
    out.append('"')
    return "".join(out)


def split_config_line(line: str) -> list[str] | None:
    """sdssplitargs over a config line (quotes and escapes as redis-cli); None on unbalanced quotes."""
    from .resp import split_args
    parts = split_args(line.encode("utf-8", "surrogateescape"))
    if parts is None:
        return None
    return [p.decode("utf-8", "surrogateescape") for p in parts]


def stringmatch(pattern: str, name: str, nocase: bool = True) -> bool:
    """Redis's glob (`*`, `?`, `[a-z]`, `[^x]`, `\\` escapes) for CONFIG GET patterns."""
    from .glob import glob_match
    enc = "utf-8", "surrogateescape"
    return glob_match(pattern.encode(*enc), name.encode(*enc), nocase)


# --------------------------------------------------------------------------------------------------- the table


@dataclass(eq=False)
class Option:
    name: str
    kind: str  # bool num enum string special
    default: Any
    flags: int = 0
    alias: str | None = None
    # num
    lo: int = 0
    hi: int = 0
    unsigned: bool = False  # the C type is unsigned: negative input wraps and fails the range check
    fmt: str = PLAIN
    # enum: (name, value) pairs; several names may share a value (the first is the one shown)
    choices: tuple = ()
    bitflags: bool = False
    # string
    null_if_empty: bool = True
    check: Callable[[str], str | None] | None = None  # returns an error text
    # special
    parse: Callable | None = None  # (config, option, args, startup) -> value
    show: Callable | None = None  # (config, value) -> str
    rewrite: Callable | None = None  # (config, option, state)
    # value fix-up applied after every set (hz is clamped)
    fix: Callable | None = None
    # the change needs the server to act: error text when nothing listens (None: fine without a listener)
    needs_hook: Callable | None = None


def _b(name, default, flags=0, alias=None):
    return Option(name, "bool", default, flags, alias)


def _i(name, lo, hi, default, flags=0, alias=None, unsigned=False, fmt=PLAIN, **kw):
    return Option(name, "num", default, flags, alias, lo=lo, hi=hi, unsigned=unsigned, fmt=fmt, **kw)


def _m(name, lo, hi, default, flags=0, alias=None, unsigned=False):
    return _i(name, lo, hi, default, flags, alias, unsigned, MEMORY)


def _e(name, choices, default, flags=0, alias=None, bitflags=False, check=None):
    pairs = tuple(c if isinstance(c, tuple) else (c, c) for c in choices)
    return Option(name, "enum", default, flags | (MULTI_ARG if bitflags else 0), alias, choices=pairs,
                  bitflags=bitflags, check=check)


def _s(name, default="", flags=0, alias=None, null_if_empty=True, check=None, **kw):
    return Option(name, "string", default, flags, alias, null_if_empty=null_if_empty, check=check, **kw)


def _x(name, default, parse, show, rewrite, flags=0, alias=None, **kw):
    return Option(name, "special", default, flags, alias, parse=parse, show=show, rewrite=rewrite, **kw)


# ---- validators (error texts are Redis's)


def _basename_check(what: str, kind: str = "filename", allow_empty: bool = True):
    def check(v: str) -> str | None:
        if not allow_empty and v == "":
            return f"{what} can't be empty"
        if "/" in v or "\\" in v:
            return f"{what} can't be a path, just a {kind}"
        return None
    return check


def _hostname_check(v: str) -> str | None:
    if len(v) >= 256:
        return "Hostnames must be less than 256 characters"
    if any(not (ch.isascii() and (ch.isalnum() or ch in "-.")) for ch in v):
        return "Hostnames may only contain alphanumeric characters, hyphens or dots"
    return None


_TITLE_VARS = {"title": "", "listen-addr": "x", "server-mode": "", "port": "x", "tls-port": "x",
               "unixsocket": "", "config-file": "x"}


def _proc_title_check(v: str) -> str | None:
    """The template must expand (known {variables}, `{{`/`}}` escapes) to something not blank; variables that
    can be empty for a standalone node ({title}, {server-mode}, {unixsocket}) count as empty."""
    out = []
    i = 0
    while i < len(v):
        ch = v[i]
        if ch == "{":
            if v.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            end = v.find("}", i)
            if end < 0 or v[i + 1:end] not in _TITLE_VARS:
                return "template format is invalid or contains unknown variables"
            out.append(_TITLE_VARS[v[i + 1:end]])
            i = end + 1
            continue
        if v.startswith("}}", i):
            i += 1
        out.append(ch)
        i += 1
    if not "".join(out).strip(" "):
        return "template format is invalid or contains unknown variables"
    return None


def _clamp_hz(v: int) -> int:
    return max(1, min(500, v))


def _shutdown_check(v: int) -> str | None:
    if v & 1 and v & 2:
        return "shutdown options SAVE and NOSAVE can't be used simultaneously"
    return None


# ---- special options


def _parse_save(cfg: "Config", o: Option, args: list[str], startup: bool):
    if len(args) == 1 and args[0] == "":
        args = []
    if len(args) % 2:
        raise ConfigError("Invalid save parameters")
    pairs = []
    for j, a in enumerate(args):
        m = re.match(r"\s*[+-]?[0-9]*", a)  # strtoll's accepted prefix; the rest must be empty
        if m.end() != len(a):
            raise ConfigError("Invalid save parameters")
        num = a[:m.end()].strip()
        val = int(num) if num not in ("", "+", "-") else 0
        if (j % 2 == 0 and val < 1) or (j % 2 == 1 and val < 0):
            raise ConfigError("Invalid save parameters")
        pairs.append(val)
    new = [(pairs[k], pairs[k + 1]) for k in range(0, len(pairs), 2)]
    if startup:
        # the first `save` line at start-up replaces the defaults; later ones add save points
        if cfg._save_loaded:
            return list(cfg.values["save"]) + new
        cfg._save_loaded = True
    return new


def _show_save(cfg, v) -> str:
    return " ".join(f"{a} {b}" for a, b in v)


def _rewrite_save(cfg, o, st: "RewriteState") -> None:
    v = cfg.values["save"]
    if not v:
        st.line("save", 'save ""', True)
    for secs, changes in v:
        st.line("save", f"save {secs} {changes}", True)
    st.mark("save")


_COBL_CLASSES = ("normal", "replica", "pubsub")
_COBL_NAMES = {"normal": "normal", "replica": "replica", "slave": "replica", "pubsub": "pubsub"}
_COBL_DEFAULT = {"normal": (0, 0, 0), "replica": (256 * 1024 * 1024, 64 * 1024 * 1024, 60),
                 "pubsub": (32 * 1024 * 1024, 8 * 1024 * 1024, 60)}


def _parse_cobl(cfg, o, args, startup):
    if len(args) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    new = dict(cfg.values["client-output-buffer-limit"])
    for j in range(0, len(args), 4):
        cls = _COBL_NAMES.get(args[j].lower())
        if cls is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        hard, soft = memtoull(args[j + 1]), memtoull(args[j + 2])
        m = re.match(r"\s*[+-]?[0-9]*", args[j + 3])
        secs_text = args[j + 3][:m.end()].strip()
        secs = int(secs_text) if secs_text not in ("", "+", "-") else 0
        if hard is None or soft is None or secs < 0 or m.end() != len(args[j + 3]):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        new[cls] = (hard, soft, secs)
    return new


def _show_cobl(cfg, v) -> str:
    names = {"normal": "normal", "replica": "slave", "pubsub": "pubsub"}
    return " ".join(f"{names[c]} {v[c][0]} {v[c][1]} {v[c][2]}" for c in _COBL_CLASSES)


def _rewrite_cobl(cfg, o, st) -> None:
    v = cfg.values["client-output-buffer-limit"]
    for c in _COBL_CLASSES:
        hard, soft, secs = v[c]
        st.line(o.name, f"{o.name} {c} {format_memory(hard)} {format_memory(soft)} {secs}",
                v[c] != _COBL_DEFAULT[c])


def _parse_oom_values(cfg, o, args, startup):
    if len(args) != 3:
        raise ConfigError("wrong number of arguments")
    vals = []
    for a in args:
        m = re.match(r"\s*[+-]?[0-9]*", a)
        num = a[:m.end()].strip()
        val = int(num) if num not in ("", "+", "-") else 0
        if m.end() != len(a) or not -2000 <= val <= 2000:
            raise ConfigError("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
        vals.append(val)
    return tuple(vals)


def _show_oom_values(cfg, v) -> str:
    return " ".join(str(x) for x in v)


def _rewrite_oom_values(cfg, o, st) -> None:
    v = cfg.values[o.name]
    st.line(o.name, f"{o.name} {_show_oom_values(cfg, v)}", v != o.default)


_NOTIFY_CLASSES = "g$lshzxetd"  # what 'A' stands for


def _parse_notify(cfg, o, args, startup):
    if len(args) != 1:
        raise ConfigError("wrong number of arguments")
    flags = set()
    for ch in args[0]:
        if ch == "A":
            flags.update(_NOTIFY_CLASSES)
        elif ch in "g$lshzxeKEtmdn":
            flags.add(ch)
        else:
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return notify_flags_canonical("".join(flags))


def notify_flags_canonical(s: str) -> str:
    """The flags as one string: 'A' when every class of A is set, else the classes in Redis's order, then
    K E m n. This is the stored value (what keyspace notifications test against)."""
    flags = set(s)
    if "A" in flags or set(_NOTIFY_CLASSES) <= flags:
        out = "A"
    else:
        out = "".join(ch for ch in _NOTIFY_CLASSES if ch in flags)
    return out + "".join(ch for ch in "KEmn" if ch in flags)


def parse_notify_flags(s: str) -> str:
    return _parse_notify(None, None, [s], False)


def _show_notify(cfg, v: str) -> str:
    # Redis 7.0 prints 'n' among the classes, so it vanishes from the text when 'A' is shown (it stays set)
    if v.startswith("A"):
        return "A" + "".join(ch for ch in "KEm" if ch in v)
    return "".join(ch for ch in _NOTIFY_CLASSES + "n" if ch in v) + "".join(ch for ch in "KEm" if ch in v)


def _rewrite_notify(cfg, o, st) -> None:
    v = cfg.values[o.name]
    st.line(o.name, f"{o.name} {c_repr(_show_notify(cfg, v))}", v != "")


def _parse_bind(cfg, o, args, startup):
    if len(args) > 16:
        raise ConfigError("Too many bind addresses specified.")
    if len(args) == 1 and args[0] == "":
        args = []
    return " ".join(args)


def _rewrite_bind(cfg, o, st) -> None:
    v = cfg.values["bind"]
    if v == o.default:
        st.mark("bind")
        return
    st.line("bind", f"bind {v}" if v else 'bind ""', True)


def _parse_replicaof(cfg, o, args, startup):
    if len(args) != 2:
        raise ConfigError("wrong number of arguments")
    if args[0].lower() == "no" and args[1].lower() == "one":
        return ""
    m = re.match(r"\s*[+-]?[0-9]*", args[1])
    num = args[1][:m.end()].strip()
    port = int(num) if num not in ("", "+", "-") else 0
    if m.end() != len(args[1]) or not 0 <= port <= 65535:
        raise ConfigError("Invalid master port")
    return f"{args[0]} {port}"


def _rewrite_replicaof(cfg, o, st) -> None:
    v = cfg.values["replicaof"]
    if not v or cfg.values["cluster-enabled"]:
        st.mark("replicaof")
        return
    st.line("replicaof", f"replicaof {v}", True)


def _parse_percentiles(cfg, o, args, startup):
    if len(args) == 1 and args[0] == "":
        return []
    out = []
    for a in args:
        try:
            if a != a.strip() or a.lower() in ("nan", "-nan", "+nan"):
                raise ValueError
            p = float(a)
        except ValueError:
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters") from None
        if p > 100.0 or p < 0.0:
            raise ConfigError("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
        out.append(p)
    return out


def format_percentile(p: float) -> str:
    """'%f' without trailing zeros (trimDoubleString): 99.9, 50, 99.999."""
    s = "%f" % p
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _show_percentiles(cfg, v) -> str:
    return " ".join(format_percentile(p) for p in v)


def _rewrite_percentiles(cfg, o, st) -> None:
    v = cfg.values[o.name]
    st.line(o.name, f"{o.name} {_show_percentiles(cfg, v)}" if v else f'{o.name} ""', True)


def _parse_dir(cfg, o, args, startup):
    if len(args) != 1:
        raise ConfigError("wrong number of arguments")
    try:
        os.chdir(args[0])
    except OSError as e:
        raise ConfigError(e.strerror or str(e)) from None
    return os.getcwd()


def _show_dir(cfg, v) -> str:
    try:
        return os.getcwd()
    except OSError:
        return ""


def _rewrite_dir(cfg, o, st) -> None:
    try:
        cwd = os.getcwd()
    except OSError:
        st.mark("dir")
        return
    st.line("dir", f"dir {c_repr(cwd)}", True)


def _needs_aof_hook(v) -> str | None:
    return "Unable to turn on AOF. Check server logs." if v else None


def _needs_tls_hook(v) -> str | None:
    return "Unable to update TLS configuration. Check server logs." if v else None


_LOGLEVELS = ("debug", "verbose", "notice", "warning")
_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu",
             "allkeys-random", "noeviction")
_PROTECTED_ACTION = ("no", "yes", "local")
_SHUTDOWN_FLAGS = (("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8))
_TLS_FILES = ("tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-client-cert-file", "tls-client-key-file",
              "tls-client-key-file-pass", "tls-dh-params-file", "tls-ca-cert-file", "tls-ca-cert-dir",
              "tls-protocols", "tls-ciphers", "tls-ciphersuites")

OPTIONS: list[Option] = [
    # ---- yes/no
    _b("rdbchecksum", True, IMMUTABLE),
    _b("daemonize", False, IMMUTABLE),
    _b("io-threads-do-reads", False, IMMUTABLE),
    _b("always-show-logo", False, IMMUTABLE),
    _b("protected-mode", True),
    _b("rdbcompression", True),
    _b("rdb-del-sync-files", False),
    _b("activerehashing", True),
    _b("stop-writes-on-bgsave-error", True),
    _b("set-proc-title", True, IMMUTABLE),
    _b("dynamic-hz", True),
    _b("lazyfree-lazy-eviction", False),
    _b("lazyfree-lazy-expire", False),
    _b("lazyfree-lazy-server-del", False),
    _b("lazyfree-lazy-user-del", False),
    _b("lazyfree-lazy-user-flush", False),
    _b("repl-disable-tcp-nodelay", False),
    _b("repl-diskless-sync", True),
    _b("aof-rewrite-incremental-fsync", True),
    _b("no-appendfsync-on-rewrite", False),
    _b("cluster-require-full-coverage", True),
    _b("rdb-save-incremental-fsync", True),
    _b("aof-load-truncated", True),
    _b("aof-use-rdb-preamble", True),
    _b("aof-timestamp-enabled", False),
    _b("cluster-replica-no-failover", False, alias="cluster-slave-no-failover"),
    _b("replica-lazy-flush", False, alias="slave-lazy-flush"),
    _b("replica-serve-stale-data", True, alias="slave-serve-stale-data"),
    _b("replica-read-only", True, alias="slave-read-only"),
    _b("replica-ignore-maxmemory", True, alias="slave-ignore-maxmemory"),
    _b("jemalloc-bg-thread", True),
    _b("activedefrag", False),
    _b("syslog-enabled", False, IMMUTABLE),
    _b("cluster-enabled", False, IMMUTABLE),
    Option("appendonly", "bool", False, DENY_LOADING, needs_hook=_needs_aof_hook),
    _b("cluster-allow-reads-when-down", False),
    _b("cluster-allow-pubsubshard-when-down", True),
    _b("crash-log-enabled", True),
    _b("crash-memcheck-enabled", True),
    _b("use-exit-on-panic", False, HIDDEN),
    _b("disable-thp", True, IMMUTABLE),
    _b("cluster-allow-replica-migration", True),
    _b("replica-announced", True),
    _b("latency-tracking", True),
    _b("aof-disable-auto-gc", False),
    _b("replica-ignore-disk-write-errors", False),
    # ---- strings
    _s("aclfile", "", IMMUTABLE, null_if_empty=False),
    _s("unixsocket", "", IMMUTABLE),
    _s("pidfile", "", IMMUTABLE),
    _s("replica-announce-ip", "", alias="slave-announce-ip"),
    _s("masteruser", "", SENSITIVE),
    _s("cluster-announce-ip", ""),
    _s("cluster-config-file", "nodes.conf", IMMUTABLE, null_if_empty=False),
    _s("cluster-announce-hostname", "", check=_hostname_check),
    # ours, not Redis's: a shared key that authenticates every cluster bus message (HMAC); empty = no check
    _s("cluster-secret", "", SENSITIVE | HIDDEN),
    _s("syslog-ident", "redis", IMMUTABLE, null_if_empty=False),
    _s("dbfilename", "dump.rdb", PROTECTED, null_if_empty=False, check=_basename_check("dbfilename")),
    _s("appendfilename", "appendonly.aof", IMMUTABLE, null_if_empty=False,
       check=_basename_check("appendfilename", allow_empty=False)),
    _s("appenddirname", "appendonlydir", IMMUTABLE, null_if_empty=False,
       check=_basename_check("appenddirname", "dirname", allow_empty=False)),
    _s("server_cpulist", "", IMMUTABLE),
    _s("bio_cpulist", "", IMMUTABLE),
    _s("aof_rewrite_cpulist", "", IMMUTABLE),
    _s("bgsave_cpulist", "", IMMUTABLE),
    _s("ignore-warnings", "", null_if_empty=False),
    _s("proc-title-template", "{title} {listen-addr} {server-mode}", null_if_empty=False, check=_proc_title_check),
    _s("bind-source-addr", ""),
    _s("logfile", "", IMMUTABLE, null_if_empty=False),
    _s("masterauth", "", SENSITIVE),
    _s("requirepass", "", SENSITIVE),
    # ---- enums
    _e("supervised", ("upstart", "systemd", "auto", "no"), "no", IMMUTABLE),
    _e("syslog-facility", ("user",) + tuple(f"local{i}" for i in range(8)), "local0", IMMUTABLE),
    _e("repl-diskless-load", ("disabled", "on-empty-db", "swapdb"), "disabled", DENY_LOADING),
    _e("loglevel", _LOGLEVELS, "notice"),
    _e("maxmemory-policy", _POLICIES, "noeviction"),
    _e("appendfsync", ("everysec", "always", "no"), "everysec"),
    _e("oom-score-adj", (("no", "no"), ("yes", "yes"), ("relative", "yes"), ("absolute", "absolute")), "no"),
    _e("acl-pubsub-default", ("allchannels", "resetchannels"), "resetchannels"),
    _e("sanitize-dump-payload", ("no", "yes", "clients"), "no"),
    _e("enable-protected-configs", _PROTECTED_ACTION, "no", IMMUTABLE),
    _e("enable-debug-command", _PROTECTED_ACTION, "no", IMMUTABLE),
    _e("enable-module-command", _PROTECTED_ACTION, "no", IMMUTABLE),
    _e("cluster-preferred-endpoint-type", ("ip", "hostname", "unknown-endpoint"), "ip"),
    _e("propagation-error-behavior", ("ignore", "panic", "panic-on-replicas"), "ignore"),
    _e("shutdown-on-sigint", _SHUTDOWN_FLAGS, "default", bitflags=True, check=_shutdown_check),
    _e("shutdown-on-sigterm", _SHUTDOWN_FLAGS, "default", bitflags=True, check=_shutdown_check),
    # ---- integers
    _i("databases", 1, INT_MAX, 16, IMMUTABLE),
    _i("port", 0, 65535, 6379, needs_hook=lambda v: "Unable to listen on this port. Check server logs."),
    _i("io-threads", 1, 128, 1, IMMUTABLE),
    _i("auto-aof-rewrite-percentage", 0, INT_MAX, 100),
    _i("cluster-replica-validity-factor", 0, INT_MAX, 10, alias="cluster-slave-validity-factor"),
    _i("list-max-listpack-size", INT_MIN, INT_MAX, -2, alias="list-max-ziplist-size"),
    _i("tcp-keepalive", 0, INT_MAX, 300),
    _i("cluster-migration-barrier", 0, INT_MAX, 1),
    _i("active-defrag-cycle-min", 1, 99, 1),
    _i("active-defrag-cycle-max", 1, 99, 25),
    _i("active-defrag-threshold-lower", 0, 1000, 10),
    _i("active-defrag-threshold-upper", 0, 1000, 100),
    _i("lfu-log-factor", 0, INT_MAX, 10),
    _i("lfu-decay-time", 0, INT_MAX, 1),
    _i("replica-priority", 0, INT_MAX, 100, alias="slave-priority"),
    _i("repl-diskless-sync-delay", 0, INT_MAX, 5),
    _i("maxmemory-samples", 1, INT_MAX, 5),
    _i("maxmemory-eviction-tenacity", 0, 100, 10),
    _i("timeout", 0, INT_MAX, 0),
    _i("replica-announce-port", 0, 65535, 0, alias="slave-announce-port"),
    _i("tcp-backlog", 0, INT_MAX, 511, IMMUTABLE),
    _i("cluster-port", 0, 65535, 0, IMMUTABLE),
    _i("cluster-announce-bus-port", 0, 65535, 0),
    _i("cluster-announce-port", 0, 65535, 0),
    _i("cluster-announce-tls-port", 0, 65535, 0),
    _i("repl-timeout", 1, INT_MAX, 60),
    _i("repl-ping-replica-period", 1, INT_MAX, 10, alias="repl-ping-slave-period"),
    _i("list-compress-depth", 0, INT_MAX, 0),
    _i("rdb-key-save-delay", INT_MIN, INT_MAX, 0, HIDDEN),
    _i("key-load-delay", INT_MIN, INT_MAX, 0, HIDDEN),
    _i("active-expire-effort", 1, 10, 1),
    _i("hz", 0, INT_MAX, 10, fix=_clamp_hz),
    _i("min-replicas-to-write", 0, INT_MAX, 0, alias="min-slaves-to-write"),
    _i("min-replicas-max-lag", 0, INT_MAX, 10, alias="min-slaves-max-lag"),
    _i("watchdog-period", 0, INT_MAX, 0, HIDDEN),
    _i("shutdown-timeout", 0, INT_MAX, 10),
    _i("repl-diskless-sync-max-replicas", 0, INT_MAX, 0),
    _i("maxclients", 1, UINT_MAX, 10000, unsigned=True),
    _i("unixsocketperm", 0, 0o777, 0, IMMUTABLE, unsigned=True, fmt=OCTAL),
    _i("socket-mark-id", 0, UINT_MAX, 0, IMMUTABLE, unsigned=True),
    _i("active-defrag-max-scan-fields", 1, LONG_MAX, 1000),
    _i("slowlog-max-len", 0, LONG_MAX, 128),
    _i("acllog-max-len", 0, LONG_MAX, 128),
    _i("busy-reply-threshold", 0, LONG_MAX, 5000, alias="lua-time-limit"),
    _i("cluster-node-timeout", 0, LLONG_MAX, 15000),
    _i("slowlog-log-slower-than", -1, LLONG_MAX, 10000),
    _i("latency-monitor-threshold", 0, LLONG_MAX, 0),
    _m("proto-max-bulk-len", 1024 * 1024, LONG_MAX, 512 * 1024 * 1024),
    _i("stream-node-max-entries", 0, LLONG_MAX, 100),
    _m("repl-backlog-size", 1, LLONG_MAX, 1024 * 1024),
    _m("maxmemory", 0, ULLONG_MAX, 0, unsigned=True),
    _m("cluster-link-sendbuf-limit", 0, ULLONG_MAX, 0, unsigned=True),
    _i("hash-max-listpack-entries", 0, LONG_MAX, 512, alias="hash-max-ziplist-entries", unsigned=True),
    _i("set-max-intset-entries", 0, LONG_MAX, 512, unsigned=True),
    _i("zset-max-listpack-entries", 0, LONG_MAX, 128, alias="zset-max-ziplist-entries", unsigned=True),
    _m("active-defrag-ignore-bytes", 1, LLONG_MAX, 100 << 20, unsigned=True),
    _m("hash-max-listpack-value", 0, LONG_MAX, 64, alias="hash-max-ziplist-value", unsigned=True),
    _m("stream-node-max-bytes", 0, LONG_MAX, 4096, unsigned=True),
    _m("zset-max-listpack-value", 0, LONG_MAX, 64, alias="zset-max-ziplist-value", unsigned=True),
    _m("hll-sparse-max-bytes", 0, LONG_MAX, 3000, unsigned=True),
    _i("tracking-table-max-keys", 0, LONG_MAX, 1000000, unsigned=True),
    _m("client-query-buffer-limit", 1024 * 1024, LONG_MAX, 1024 * 1024 * 1024, unsigned=True),
    _i("maxmemory-clients", -100, LLONG_MAX, 0, fmt=PERCENT),
    _i("repl-backlog-ttl", 0, LONG_MAX, 3600),
    _m("auto-aof-rewrite-min-size", 0, LLONG_MAX, 64 * 1024 * 1024),
    _i("loading-process-events-interval-bytes", 1024, INT_MAX, 2 * 1024 * 1024, HIDDEN),
    # ---- TLS (recorded so CONFIG GET * matches a TLS-capable Redis; a TLS listener needs a server hook)
    _i("tls-port", 0, 65535, 0, needs_hook=_needs_tls_hook),
    _i("tls-session-cache-size", 0, INT_MAX, 20 * 1024),
    _i("tls-session-cache-timeout", 0, INT_MAX, 300),
    _b("tls-cluster", False),
    _b("tls-replication", False),
    _e("tls-auth-clients", ("no", "yes", "optional"), "yes"),
    _b("tls-prefer-server-ciphers", False),
    _b("tls-session-caching", True),
    *[_s(n, "") for n in _TLS_FILES],
    # ---- special
    _x("dir", "", _parse_dir, _show_dir, _rewrite_dir, PROTECTED | DENY_LOADING),
    _x("save", [(3600, 1), (300, 100), (60, 10000)], _parse_save, _show_save, _rewrite_save, MULTI_ARG),
    _x("client-output-buffer-limit", dict(_COBL_DEFAULT), _parse_cobl, _show_cobl, _rewrite_cobl, MULTI_ARG),
    _x("oom-score-adj-values", (0, 200, 800), _parse_oom_values, _show_oom_values, _rewrite_oom_values,
       MULTI_ARG),
    _x("notify-keyspace-events", "", _parse_notify, _show_notify, _rewrite_notify),
    _x("bind", "* -::*", _parse_bind, lambda cfg, v: v, _rewrite_bind, MULTI_ARG,
       needs_hook=lambda v: "Failed to bind to specified addresses."),
    _x("replicaof", "", _parse_replicaof, lambda cfg, v: v, _rewrite_replicaof, IMMUTABLE | MULTI_ARG,
       alias="slaveof"),
    _x("latency-tracking-info-percentiles", [50.0, 99.0, 99.9], _parse_percentiles, _show_percentiles,
       _rewrite_percentiles, MULTI_ARG),
]

# name (and alias) -> option; CONFIG GET answers under the name it matched
_BY_NAME: dict[str, Option] = {}
for _o in OPTIONS:
    assert _o.name not in _BY_NAME, _o.name
    _BY_NAME[_o.name] = _o
for _o in OPTIONS:
    if _o.alias:
        assert _o.alias not in _BY_NAME, _o.alias
        _BY_NAME[_o.alias] = _o

# directives of a config file that are not options
_FILE_DIRECTIVES = ("include", "rename-command", "user", "loadmodule", "sentinel")
_DEPRECATED = ("list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands")


def lookup_option(name: str) -> Option | None:
    return _BY_NAME.get(name.lower())


def is_local_address(addr: str) -> bool:
    """Redis's islocalClient: a unix socket or a loopback peer."""
    if not addr or addr.startswith("/") or ":" not in addr:
        return True
    host = addr.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "::1")


# --------------------------------------------------------------------------------------------------- rewrite state

REWRITE_SIGNATURE = "# Generated by CONFIG REWRITE"


class RewriteState:
    """The old file's lines plus, per option, the line numbers it used (Redis's rewriteConfigState).

    Rewriting an option replaces its old lines one by one and appends what is left over (after the signature
    comment); lines of rewritten options that were not reused are blanked at the end."""

    def __init__(self, text: str | None, force_write: bool = False):
        self.lines: list[str] = []
        self.option_lines: dict[str, list[int]] = {}
        self.rewritten: set[str] = set()
        self.needs_signature = True
        self.force_write = force_write
        if text:
            self._read(text)

    def _read(self, text: str) -> None:
        for i, raw in enumerate(text.split("\n")):
            line = raw.strip("\r\n\t ")
            if not line or line.startswith("#"):
                if self.needs_signature and line == REWRITE_SIGNATURE:
                    self.needs_signature = False
                self.lines.append(line)
                continue
            argv = split_config_line(line)
            if not argv or (lookup_option(argv[0]) is None and argv[0].lower() not in _FILE_DIRECTIVES):
                # unparsable, or an option that no longer exists: kept as a comment
                self.lines.append("# ??? " + line)
                continue
            # an alias line (slave-read-only, hash-max-ziplist-entries) counts as its option's line
            o = lookup_option(argv[0])
            name = o.name if o is not None else argv[0].lower()
            self.lines.append(line)
            self.option_lines.setdefault(name, []).append(i)

    def mark(self, option: str) -> None:
        self.rewritten.add(option.lower())

    def line(self, option: str, text: str, force: bool) -> None:
        option = option.lower()
        self.mark(option)
        used = self.option_lines.get(option)
        if not used and not force and not self.force_write:
            return
        if used:
            self.lines[used.pop(0)] = text
            if not used:
                del self.option_lines[option]
            return
        if self.needs_signature:
            self.lines.append(REWRITE_SIGNATURE)
            self.needs_signature = False
        self.lines.append(text)

    def content(self) -> str:
        # lines of rewritten options that were not reused are blanked; runs of blank lines become one
        for option, nums in self.option_lines.items():
            if option in self.rewritten:
                for n in nums:
                    self.lines[n] = ""
        out = []
        was_empty = False
        for line in self.lines:
            if not line:
                if was_empty:
                    continue
                was_empty = True
            else:
                was_empty = False
            out.append(line + "\n")
        return "".join(out)


# --------------------------------------------------------------------------------------------------- Config


class Config:
    def __init__(self):
        self.values: dict[str, Any] = {}
        for o in OPTIONS:
            d = o.default
            self.values[o.name] = dict(d) if isinstance(d, dict) else list(d) if isinstance(d, list) else d
        try:
            self.values["dir"] = os.getcwd()
        except OSError:
            pass
        self.listeners: dict[str, list[Callable]] = {}
        self.config_file: str | None = None  # absolute path given at start-up (CONFIG REWRITE writes it)
        self.rewrite_hooks: list[Callable[[RewriteState], None]] = []  # ACL users, modules: fn(state)
        self.renamed_commands: list[tuple[str, str]] = []
        self.user_lines: list[list[str]] = []  # `user` directives, for the ACL room
        self.loadmodules: list[tuple[str, list[str]]] = []
        self.module_configs: dict[str, str] = {}
        self._save_loaded = False
        self._file_lines = 0

    # ------------------------------------------------------------------ reading

    def __getitem__(self, name: str):
        return self.values[_BY_NAME[name].name]

    def get(self, name: str, default=None):
        o = lookup_option(name)
        return self.values[o.name] if o else default

    def on_change(self, name: str, fn: Callable) -> None:
        """fn(new, old) after CONFIG SET changed `name`; raising ConfigError refuses the change."""
        self.listeners.setdefault(_BY_NAME[name].name, []).append(fn)

    def show(self, name: str) -> str:
        """The value as CONFIG GET prints it."""
        o = _BY_NAME[name]
        v = self.values[o.name]
        k = o.kind
        if k == "bool":
            return "yes" if v else "no"
        if k == "num":
            if o.fmt == PERCENT and v < 0:
                return f"{-v}%"
            if o.fmt == OCTAL:
                return "%o" % v
            return str(v)
        if k == "special":
            return o.show(self, v)
        return str(v)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, value) pairs for one CONFIG GET argument: an exact name (under the spelling asked), or a glob
        over every name and alias except hidden options."""
        if not any(ch in pattern for ch in "[*?"):
            o = lookup_option(pattern)
            return [(pattern, self.show(o.name))] if o else []
        return [(name, self.show(name)) for name, o in _BY_NAME.items()
                if not o.flags & HIDDEN and stringmatch(pattern, name)]

    # ------------------------------------------------------------------ parsing a value

    def parse_value(self, o: Option, args: list[str], startup: bool = False):
        """The value `args` (one string, or several for a multi-argument option) stands for; ConfigError with
        Redis's text when invalid."""
        k = o.kind
        if k == "bool":
            return parse_bool(args[0])
        if k == "num":
            return self._parse_number(o, args[0])
        if k == "enum":
            return self._parse_enum(o, args)
        if k == "string":
            err = o.check(args[0]) if o.check else None
            if err:
                raise ConfigError(err)
            return args[0]
        return o.parse(self, o, args, startup)

    @staticmethod
    def _parse_number(o: Option, raw: str) -> int:
        v = None
        if o.fmt in (MEMORY, PERCENT):
            v = memtoull(raw)
            if v is not None:
                v = v if o.unsigned else _signed64(v)
        if v is None and o.fmt == PERCENT and len(raw) > 1 and raw.endswith("%"):
            p = string2ll(raw[:-1])
            if p is not None and p >= 0:
                v = -p
        if v is None and o.fmt == OCTAL:
            try:
                v = int(raw.lstrip(" \t\n\r\f\v"), 8)
            except ValueError:
                v = None
            if v is not None and not LLONG_MIN <= v <= LLONG_MAX:
                v = None
        if v is None and o.fmt == PLAIN:
            v = string2ll(raw)
        if v is None:
            raise ConfigError({MEMORY: "argument must be a memory value",
                               PERCENT: "argument must be a memory or percent value",
                               OCTAL: "argument couldn't be parsed as an octal number"}.get(
                                   o.fmt, "argument couldn't be parsed into an integer"))
        if o.unsigned:
            u = v & ULLONG_MAX
            if u > o.hi or u < o.lo:
                lo, hi = ("%o" % o.lo, "%o" % o.hi) if o.fmt == OCTAL else (o.lo, o.hi)
                raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
            return u
        if o.fmt == PERCENT and v < 0:
            if v < o.lo:
                raise ConfigError(f"percentage argument must be less or equal to {-o.lo}")
            return v
        if v > o.hi or v < o.lo:
            raise ConfigError(f"argument must be between {o.lo} and {o.hi} inclusive")
        return v

    @staticmethod
    def _parse_enum(o: Option, args: list[str]) -> str:
        values = dict((n, val) for n, val in reversed(o.choices))
        bits = 0
        ok = bool(args) and (o.bitflags or len(args) == 1)
        for a in args if ok else ():
            val = values.get(a.lower())
            if val is None:
                ok = False
                break
            if o.bitflags:
                bits |= val
        if not ok:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(n for n, _ in o.choices))
        if not o.bitflags:
            return next(n for n, val in o.choices if val == values[args[0].lower()])
        if o.check is not None:
            err = o.check(bits)
            if err:
                raise ConfigError(err)
        return _flags_name(o, bits)

    # ------------------------------------------------------------------ setting

    def _assign(self, o: Option, v) -> None:
        if o.name == "dir" and v != self.values["dir"]:
            try:
                os.chdir(v)
            except OSError:
                pass
        if o.fix is not None:
            v = o.fix(v)
        self.values[o.name] = v

    def set(self, name: str, raw: str, *, startup: bool = False) -> None:
        """Set one option from its CONFIG SET / command-line text (ConfigError if refused)."""
        o = lookup_option(name)
        if o is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if o.flags & IMMUTABLE and not startup:
            raise ConfigError("can't set immutable config")
        args = _split_multi(raw) if o.flags & MULTI_ARG else [raw]
        new = self.parse_value(o, args, startup)
        old = self.values[o.name]
        self._assign(o, new)
        if not startup:
            try:
                self._apply(o, self.values[o.name], old)
            except ConfigError:
                self._assign(o, old)
                raise

    def _apply(self, o: Option, new, old) -> None:
        if new == old:
            return
        fns = self.listeners.get(o.name, ())
        if not fns and o.needs_hook is not None:
            err = o.needs_hook(new)
            if err:
                raise ConfigError(err)
        if o.name == "maxclients":
            _check_open_files(new)
        for fn in fns:
            fn(new, old)

    def set_many(self, pairs: list[tuple[str, str]], *, client_addr: str = "", loading: bool = False) -> list[int]:
        """CONFIG SET of several options, all or nothing, with Redis 7's checks and error texts (ConfigSetError).
        Returns the indexes (into `pairs`) of sensitive values, which callers redact from logs.

        As in Redis, a name and its alias are different entries (both may be set in one call, the later wins);
        the same entry twice, in any case, is a duplicate."""
        sensitive = []
        opts: list[Option] = []
        names: list[str] = []  # the entry each pair names: the option's name or its alias, lowercase
        unknown = err_name = err = None
        deny_loading = False
        for i, (name, _) in enumerate(pairs):
            o = lookup_option(name)
            if o is None:
                if unknown is None and err_name is None and not deny_loading:
                    unknown = name
                continue
            if o.flags & SENSITIVE:
                sensitive.append(i)
            if unknown is not None or err_name is not None or deny_loading:
                continue
            if o.flags & IMMUTABLE:
                err_name, err = name, "can't set immutable config"
            elif o.flags & PROTECTED and not self._protected_allowed(client_addr):
                err_name, err = name, "can't set protected config"
            elif loading and o.flags & DENY_LOADING:
                deny_loading = True
            elif name.lower() in names:
                err_name, err = name, "duplicate parameter"
            opts.append(o)
            names.append(name.lower())
        if deny_loading:
            raise ConfigSetError("LOADING Redis is loading the dataset in memory")
        if unknown is not None:
            raise ConfigSetError(f"ERR Unknown option or number of arguments for CONFIG SET - '{unknown}'")
        if err_name is not None:
            raise ConfigSetError(f"ERR CONFIG SET failed (possibly related to argument '{err_name}') - {err}")
        old = [self.values[o.name] for o in opts]
        done = 0
        try:
            for o, (_, raw) in zip(opts, pairs):
                args = _split_multi(raw) if o.flags & MULTI_ARG else [raw]
                self._assign(o, self.parse_value(o, args))
                done += 1
        except ConfigError as e:
            for o, v in reversed(list(zip(opts[:done], old[:done]))):
                self._assign(o, v)
            raise ConfigSetError(f"ERR CONFIG SET failed (possibly related to argument '{names[done]}') - "
                                 f"{e}") from None
        applied: list[int] = []
        for i, o in enumerate(opts):
            if any(opts[j] is o for j in applied):
                continue  # a name and its alias: one change, applied once
            try:
                self._apply(o, self.values[o.name], old[i])
                applied.append(i)
            except ConfigError as e:
                new_values = [self.values[x.name] for x in opts]
                for x, v in reversed(list(zip(opts, old))):
                    self._assign(x, v)
                for j in applied:  # tell those that took the new value that it is gone again
                    try:
                        self._apply(opts[j], old[j], new_values[j])
                    except ConfigError:
                        pass
                raise ConfigSetError(f"ERR CONFIG SET failed (possibly related to argument '{names[i]}') - "
                                     f"{e}") from None
        return sensitive

    def _protected_allowed(self, client_addr: str) -> bool:
        mode = self.values["enable-protected-configs"]
        return mode == "yes" or (mode == "local" and is_local_address(client_addr))

    # ------------------------------------------------------------------ start-up: files and flags

    def load_file(self, path: str) -> None:
        """Read a redis.conf file (the path is kept for CONFIG REWRITE)."""
        text = _read_config_file(path)
        self.config_file = os.path.abspath(path)
        self._file_lines = len(text.split("\n"))
        self.load_text(text)

    def load_args(self, args: list[str]) -> None:
        """`--option value [value ...]` as redis-server takes them: turned into config lines (values quoted)
        appended after the file, with the file's line numbering continued; then the final checks."""
        text = args_to_config_text(args)
        if text:
            # the file's text, a newline, then these lines: numbering goes on from the file's last line
            self.load_text(text, first_line=(self._file_lines or 1) + 1)
        self.finish_loading()

    def load_text(self, text: str, first_line: int = 1) -> None:
        lines = text.split("\n")
        for i, raw in enumerate(lines):
            line = raw.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            try:
                self._directive(line)
            except ConfigFileUnreadable:
                raise
            except ConfigError as e:
                raise ConfigError(f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
                                  f"Reading the configuration file, at line {first_line + i}\n"
                                  f">>> '{line}'\n{e}") from None

    def finish_loading(self) -> None:
        """Redis's checks after every directive is read."""
        logfile = self.values["logfile"]
        err = None
        if logfile:
            try:
                with open(logfile, "a"):
                    pass
            except OSError as e:
                err = f"Can't open the log file: {e.strerror}"
        if err is None and self.values["cluster-enabled"] and self.values["replicaof"]:
            err = "replicaof directive not allowed in cluster mode"
        if err is not None:
            raise ConfigError(f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n{err}")

    def _directive(self, line: str) -> None:
        argv = split_config_line(line)
        if argv is None:
            raise ConfigError("Unbalanced quotes in configuration line")
        if not argv:
            return
        name = argv[0].lower()
        o = _BY_NAME.get(name)
        if o is not None:
            if not o.flags & MULTI_ARG and len(argv) != 2:
                raise ConfigError("wrong number of arguments")
            args = argv[1:]
            if o.flags & MULTI_ARG and len(args) == 1 and args[0]:
                # `--save "900 1"`: one non-empty argument of a multi-argument option is split again
                args = split_config_line(args[0]) or args
            self._assign(o, self.parse_value(o, args, startup=True))
            return
        if name in _DEPRECATED and len(argv) == 2:
            return
        if name == "include" and len(argv) == 2:
            self._include(argv[1])
        elif name == "rename-command" and len(argv) == 3:
            self._rename_command(argv[1], argv[2])
        elif name == "user" and len(argv) >= 2:
            self.user_lines.append(argv[1:])
        elif name == "loadmodule" and len(argv) >= 2:
            self.loadmodules.append((argv[1], argv[2:]))
        elif "." in name:
            if len(argv) != 2:
                raise ConfigError("Module config specified without value")
            self.module_configs[argv[0]] = argv[1]
        elif name == "sentinel":
            if len(argv) != 1:
                raise ConfigError("sentinel directive while not in sentinel mode")
        else:
            raise ConfigError("Bad directive or wrong number of arguments")

    def _include(self, path: str) -> None:
        if any(ch in path for ch in "*?["):
            paths = sorted(_glob.glob(path))  # no match is fine: an empty conf.d
        else:
            paths = [path]
        for p in paths:
            self.load_text(_read_config_file(p))

    def _rename_command(self, old: str, new: str) -> None:
        from .commands.registry import TABLE
        cmd = TABLE.lookup(old.encode())
        if cmd is None:
            raise ConfigError("No such command in rename-command")
        if new and TABLE.lookup(new.encode()) is not None:
            raise ConfigError("Target command name already exists")
        TABLE.remove(cmd.name)
        if new:
            key = new.lower()
            TABLE.commands[key] = cmd
            TABLE.by_bytes[key.encode()] = cmd
            TABLE.by_bytes[key.upper().encode()] = cmd
        self.renamed_commands.append((old, new))

    # ------------------------------------------------------------------ CONFIG REWRITE

    def rewrite(self, path: str | None = None, force_write: bool = False) -> None:
        """Write the configuration back into the file given at start-up (or `path`), keeping its comments and
        order; OSError on failure (errno set)."""
        path = path or self.config_file
        if path is None:
            raise ConfigError("The server is running without a config file")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        st = RewriteState(text, force_write)
        for o in OPTIONS:
            self._rewrite_option(o, st)
        for fn in self.rewrite_hooks:
            fn(st)
        _overwrite_file(path, st.content())

    def rewrite_content(self, text: str, force_write: bool = False) -> str:
        """What CONFIG REWRITE would make of a file holding `text` (for tests)."""
        st = RewriteState(text, force_write)
        for o in OPTIONS:
            self._rewrite_option(o, st)
        for fn in self.rewrite_hooks:
            fn(st)
        return st.content()

    def _rewrite_option(self, o: Option, st: RewriteState) -> None:
        v = self.values[o.name]
        k = o.kind
        name = o.name
        if k == "bool":
            st.line(name, f"{name} {'yes' if v else 'no'}", v != o.default)
        elif k == "num":
            if o.fmt == PERCENT and v < 0:
                st.line(name, f"{name} {-v}%", -v != o.default)
            elif o.fmt in (MEMORY, PERCENT):
                st.line(name, f"{name} {format_memory(v)}", v != o.default)
            elif o.fmt == OCTAL:
                st.line(name, f"{name} {v:o}", v != o.default)
            else:
                st.line(name, f"{name} {v}", v != o.default)
        elif k == "enum":
            st.line(name, f"{name} {v}", v != o.default)
        elif k == "string":
            if v == "" and o.null_if_empty:
                st.mark(name)  # unset: no line at all, so the next start leaves it unset too
            else:
                st.line(name, f"{name} {c_repr(v)}", v != o.default)
        else:
            o.rewrite(self, o, st)


def _flags_name(o: Option, bits: int) -> str:
    """A bitflags enum's value as Redis prints it: the name of an exact match, else the set flags in order."""
    for n, val in o.choices:
        if val == bits:
            return n
    return " ".join(n for n, val in o.choices if val and bits & val == val)


def _split_multi(raw: str) -> list[str]:
    """CONFIG SET's split of a multi-argument value: on single spaces, empty text is no argument at all."""
    return raw.split(" ") if raw else []


def _check_open_files(maxclients: int) -> None:
    """Redis raises the open-files limit to maxclients + 32 reserved descriptors, or refuses."""
    need = maxclients + 32
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    best = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (best, hard))
    except (OSError, ValueError):
        best = soft
    if best < need:
        raise ConfigError("The operating system is not able to handle the specified number of clients, "
                          f"try with {best - 32}")


def _overwrite_file(path: str, content: str) -> None:
    """Replace the file atomically: a temporary file beside it, fsync, mode 0644 less the umask, rename."""
    path = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(f.fileno(), 0o644 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_config_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise ConfigFileUnreadable(f"Fatal error, can't open config file '{path}': {e.strerror}") from None


def args_to_config_text(args: list[str]) -> str:
    """redis-server's command line as config text: `--name` starts a line, each value follows quoted;
    `--save` with no value means `save ""`."""
    out = ""
    value_seen = True  # has the last option name received a value?
    for j, a in enumerate(args):
        if value_seen and a.startswith("--"):
            if out:
                out += "\n"
            out += a[2:] + " "
            name_only = len(split_config_line(a) or []) == 1
            value_seen = not name_only
            last = j == len(args) - 1
            if name_only and a.lower() == "--save" and (last or args[j + 1].startswith("--")):
                out += '""'
                value_seen = True
        else:
            out += c_repr(a) + " "
            value_seen = True
    return out
