#!/usr/bin/env python3
"""Record Redis command metadata for Shoal's command table.

Starts a throwaway ``redis-server`` on 127.0.0.1 (free port, no persistence),
talks to it over a raw socket (RESP2 and RESP3, no third-party client), reads
``COMMAND`` and ``COMMAND DOCS`` and writes:

* ``node/commands/data/redis_commands.json`` -- interface facts only (names,
  arity, flags, ACL categories, key specs, tips, argument trees, since,
  group, doc flags, ...).  Redis's prose (``summary``, ``complexity``, the
  text of ``history`` entries and key-spec ``notes``) is NOT stored; only the
  history versions are, and a key spec Redis annotates keeps ``"notes": null``
  to say that the field is sent.
* ``node/commands/data/descriptions.json`` -- Shoal's own prose
  (``summary``, ``complexity``, ``history`` as [version, text] pairs, and
  ``key_spec_notes``: one entry per key spec, null where Redis has no note).
  Existing entries are never overwritten; missing ones are added as
  placeholders (``""``; a complexity that is a bare formula such as ``O(1)``
  is a fact, not prose, and is filled in directly) and listed in a warning.
* ``tests/unit/data/command_replies/*.bin`` -- the reply bytes of a few
  COMMAND INFO / COMMAND DOCS calls in RESP2 and RESP3, exactly as Redis sent
  them except that every prose string is replaced by ours from
  descriptions.json (so Redis's wording is not committed), and that the
  subcommands of a COMMAND DOCS reply are sorted by name (Redis sends them in
  hash-table order, which changes from process to process).  The byte-exact
  encoder tests compare Shoal's replies with these.

Usage:  python tests/tools/record_redis_commands.py [--redis-server PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "node" / "commands" / "data"
COMMANDS_JSON = DATA_DIR / "redis_commands.json"
DESCRIPTIONS_JSON = DATA_DIR / "descriptions.json"
FIXTURE_DIR = ROOT / "tests" / "unit" / "data" / "command_replies"

# Positions of the COMMAND INFO array.
INFO_FIELDS = [
    "name", "arity", "flags", "first_key", "last_key", "step",
    "acl_categories", "tips", "key_specs", "subcommands",
]
# Prose fields of COMMAND DOCS (stored in descriptions.json, not copied).
PROSE_DOC_FIELDS = ("summary", "complexity", "history")
# Prose fields that may appear inside argument maps (none in 7.0).
PROSE_ARG_FIELDS = ("summary",)
# Field order of the Redis 7.0 source (addReplyCommandDocs /
# addReplyCommandArgList).  Fields that never occur together in a reply can
# not be ordered by observation, so this is the base; the recorder checks it
# against every map it receives and fails on any contradiction.
DOCS_ORDER_HINT = (
    "summary", "since", "group", "complexity", "module", "doc_flags",
    "deprecated_since", "replaced_by", "history", "arguments", "subcommands",
)
ARG_ORDER_HINT = (
    "name", "type", "display_text", "key_spec_index", "token", "summary",
    "since", "deprecated_since", "flags", "value", "arguments",
)
KEY_SPEC_ORDER_HINT = ("notes", "flags", "begin_search", "find_keys")
BARE_FORMULA = re.compile(r"^O\([^\s]*\)$")

FIXTURES = {
    "info_get": ["COMMAND", "INFO", "get"],
    "info_set": ["COMMAND", "INFO", "set"],
    "docs_set": ["COMMAND", "DOCS", "set"],
    "docs_config": ["COMMAND", "DOCS", "config"],
}


# --------------------------------------------------------------------------
# Minimal RESP2/RESP3 reader.  Every value is parsed into a node
# ``(kind, value)`` so that the wire type (simple vs bulk string, array vs
# set vs map, ...) is kept; maps hold a list of (key_node, value_node).
# --------------------------------------------------------------------------

class RespError(Exception):
    pass


class Conn:
    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.pos = 0

    def close(self) -> None:
        self.sock.close()

    # -- low level --------------------------------------------------------
    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        if self.buf[self.pos + n:self.pos + n + 2] != b"\r\n":
            raise RespError("bad bulk terminator")
        self.pos += n + 2
        return data

    def _node(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return ("simple", rest.decode())
        if t == b"-":
            return ("error", rest.decode())
        if t == b":":
            return ("integer", int(rest))
        if t == b"(":
            return ("bignum", int(rest))
        if t == b",":
            return ("double", rest.decode())
        if t == b"#":
            return ("boolean", rest == b"t")
        if t == b"_":
            return ("null", None)  # RESP3 null
        if t in (b"$", b"!", b"="):
            n = int(rest)
            if n < 0:
                return ("null_bulk", None)
            data = self._exact(n).decode()
            kind = {b"$": "bulk", b"!": "blob_error", b"=": "verbatim"}[t]
            return (kind, data)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return ("null_array", None)
            kind = {b"*": "array", b"~": "set", b">": "push"}[t]
            return (kind, [self._node() for _ in range(n)])
        if t in (b"%", b"|"):
            n = int(rest)
            pairs = [(self._node(), self._node()) for _ in range(n)]
            return ("map" if t == b"%" else "attribute", pairs)
        raise RespError(f"unknown RESP type byte {t!r}")

    # -- public -----------------------------------------------------------
    def call(self, *args: str):
        """Send one command; return (node, raw_reply_bytes)."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        start = self.pos
        node = self._node()
        raw = self.buf[start:self.pos]
        # Drop consumed bytes so the buffer does not grow forever.
        self.buf = self.buf[self.pos:]
        self.pos = 0
        if node[0] in ("error", "blob_error"):
            raise RespError(node[1])
        return node, raw


def plain(node):
    """Convert a node tree to plain Python (maps -> dicts, order kept)."""
    kind, val = node
    if kind in ("array", "set", "push"):
        return [plain(v) for v in val]
    if kind in ("map", "attribute"):
        return {plain(k): plain(v) for k, v in val}
    return val


def pairs(node):
    """Key/value pairs of a RESP3 map or a RESP2 flat array."""
    kind, val = node
    if kind == "map":
        return [(plain(k), v) for k, v in val]
    if kind in ("array", "set"):
        return [(plain(val[i]), val[i + 1]) for i in range(0, len(val), 2)]
    raise TypeError(f"not a map-like node: {kind}")


def encode(node) -> bytes:
    """The wire bytes of a node tree: the inverse of ``Conn._node``."""
    kind, val = node
    if kind in ("simple", "error", "double"):
        return b"%s%s\r\n" % ({"simple": b"+", "error": b"-", "double": b","}[kind],
                               val.encode())
    if kind in ("integer", "bignum"):
        return b"%s%d\r\n" % (b":" if kind == "integer" else b"(", val)
    if kind == "boolean":
        return b"#t\r\n" if val else b"#f\r\n"
    if kind in ("null", "null_bulk", "null_array"):
        return {"null": b"_\r\n", "null_bulk": b"$-1\r\n",
                "null_array": b"*-1\r\n"}[kind]
    if kind in ("bulk", "blob_error", "verbatim"):
        data = val.encode()
        mark = {"bulk": b"$", "blob_error": b"!", "verbatim": b"="}[kind]
        return b"%s%d\r\n%s\r\n" % (mark, len(data), data)
    if kind in ("array", "set", "push"):
        mark = {"array": b"*", "set": b"~", "push": b">"}[kind]
        return b"%s%d\r\n" % (mark, len(val)) + b"".join(encode(v) for v in val)
    if kind in ("map", "attribute"):
        mark = b"%" if kind == "map" else b"|"
        return b"%s%d\r\n" % (mark, len(val)) + b"".join(
            encode(k) + encode(v) for k, v in val)
    raise RespError(f"cannot encode node kind {kind}")


# --------------------------------------------------------------------------
# Fixtures: Redis's replies with Shoal's prose in place of Redis's
# --------------------------------------------------------------------------

def map_items(node):
    """The (key node, value node) pairs of a RESP3 map or RESP2 flat array."""
    kind, val = node
    if kind == "map":
        return list(val)
    return [(val[i], val[i + 1]) for i in range(0, len(val), 2)]


def rebuild_map(node, items):
    kind, _ = node
    if kind == "map":
        return ("map", items)
    return (kind, [x for pair in items for x in pair])


def ours(desc: dict, name: str, field: str, index: int | None = None) -> str:
    entry = desc.get(name, {}).get(field)
    if index is not None:
        item = entry[index] if entry and index < len(entry) else None
        if field == "history":
            return item[1] if item else ""
        return item or ""
    return entry or ""


def with_our_info_prose(info, desc):
    """A COMMAND INFO entry with our key-spec notes (and its subcommands')."""
    kind, vals = info
    vals = list(vals)
    name = vals[0][1].lower()
    specs = []
    for i, spec in enumerate(vals[8][1]):
        items = [(k, ("bulk", ours(desc, name, "key_spec_notes", i)))
                 if plain(k) == "notes" else (k, v) for k, v in map_items(spec)]
        specs.append(rebuild_map(spec, items))
    vals[8] = (vals[8][0], specs)
    vals[9] = (vals[9][0], [with_our_info_prose(sub, desc) for sub in vals[9][1]])
    return (kind, vals)


def with_our_docs_prose(name, docs, desc):
    """A COMMAND DOCS map with our prose, subcommands sorted by name."""
    items = []
    for k, v in map_items(docs):
        key = plain(k)
        if key in ("summary", "complexity"):
            v = ("bulk", ours(desc, name, key))
        elif key == "history":
            v = (v[0], [(h[0], [h[1][0], ("bulk", ours(desc, name, "history", i))])
                        for i, h in enumerate(v[1])])
        elif key == "subcommands":
            subs = [(sk, with_our_docs_prose(plain(sk).lower(), sv, desc))
                    for sk, sv in map_items(v)]
            v = rebuild_map(v, sorted(subs, key=lambda pair: plain(pair[0])))
        items.append((k, v))
    return rebuild_map(docs, items)


def fixture_bytes(cmd, node, raw, desc) -> bytes:
    if encode(node) != raw:
        raise SystemExit(f"re-encoding {cmd} does not give Redis's bytes back")
    if cmd[1] == "INFO":
        node = (node[0], [with_our_info_prose(i, desc) for i in node[1]])
    else:
        node = rebuild_map(node, [(k, with_our_docs_prose(plain(k).lower(), v, desc))
                                  for k, v in map_items(node)])
    return encode(node)


# --------------------------------------------------------------------------
# Wire-type census: which RESP type carries each field, per protocol.
# --------------------------------------------------------------------------

class TypeCensus:
    def __init__(self):
        self.seen: dict[str, dict[str, set]] = {}

    def add(self, proto: str, path: str, node) -> None:
        self.seen.setdefault(path, {}).setdefault(proto, set()).add(node[0])

    def add_items(self, proto, path, node):
        self.add(proto, path, node)
        if node[0] in ("array", "set"):
            for item in node[1]:
                self.add(proto, path + "[]", item)

    def report(self) -> dict:
        out = {}
        for path in sorted(self.seen):
            entry = {}
            for proto in ("resp2", "resp3"):
                kinds = sorted(self.seen[path].get(proto, ()))
                entry[proto] = kinds[0] if len(kinds) == 1 else kinds
            out[path] = entry
        return out

    # ---- walkers ---------------------------------------------------------
    def info(self, proto, node, prefix="info"):
        for field, item in zip(INFO_FIELDS, node[1]):
            path = f"{prefix}.{field}"
            if field == "key_specs":
                self.add(proto, path, item)
                for spec in item[1]:
                    self.map_tree(proto, f"{prefix}.key_spec", spec)
            elif field == "subcommands":
                kind = "{}(empty)" if not item[1] else "{}(non-empty)"
                self.add(proto, path, (kind.format(item[0]), None))
                for sub in item[1]:
                    self.info(proto, sub, prefix)
            else:
                self.add_items(proto, path, item)

    def keys(self, proto, node):
        kind, val = node
        keys = [k for k, _ in val] if kind == "map" else val[0::2]
        for k in keys:
            self.add(proto, "<map key>", k)

    def map_tree(self, proto, path, node):
        """Record a map-like node whose values may be maps themselves."""
        self.add(proto, path, node)
        self.keys(proto, node)
        for key, val in pairs(node):
            sub = f"{path}.{key}"
            if key in ("begin_search", "find_keys", "spec"):
                self.map_tree(proto, sub, val)
            else:
                self.add_items(proto, sub, val)

    def docs(self, proto, node, prefix="docs"):
        self.add(proto, prefix, node)
        self.keys(proto, node)
        for key, val in pairs(node):
            path = f"{prefix}.{key}"
            if key == "history":
                self.add(proto, path, val)
                for h in val[1]:
                    self.add(proto, path + "[]", h)
                    self.add(proto, path + "[].version", h[1][0])
                    self.add(proto, path + "[].text", h[1][1])
            elif key == "arguments":
                self.add(proto, path, val)
                for arg in val[1]:
                    self.argument(proto, arg)
            elif key == "subcommands":
                self.add(proto, path, val)
                for _name, sub in pairs(val):
                    self.docs(proto, sub, prefix)
                self.keys(proto, val)
            else:
                self.add_items(proto, path, val)

    def argument(self, proto, node):
        self.add(proto, "argument", node)
        self.keys(proto, node)
        for key, val in pairs(node):
            path = f"argument.{key}"
            if key == "arguments":
                self.add(proto, path, val)
                for arg in val[1]:
                    self.argument(proto, arg)
            else:
                self.add_items(proto, path, val)


# --------------------------------------------------------------------------
# Field order bookkeeping
# --------------------------------------------------------------------------

class OrderMerger:
    """Merge the key sequences of many maps into one consistent order."""

    def __init__(self):
        self.before: dict[str, set] = {}
        self.keys: list[str] = []

    def add(self, keys):
        for k in keys:
            if k not in self.before:
                self.before[k] = set()
                self.keys.append(k)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                self.before[a].add(b)

    def order(self, hint=()):
        """Return one order consistent with every observed sequence.

        Fields never seen together cannot be ordered from observation
        alone, so ``hint`` (the order used by the Redis source) is taken as
        the base and checked against every observed pair; a field missing
        from the hint is an error, so that a new Redis field is noticed.
        """
        for a in self.keys:
            for b in self.before[a]:
                if a in self.before[b]:
                    raise SystemExit(f"inconsistent field order: {a} / {b}")
        if hint:
            unknown = [k for k in self.keys if k not in hint]
            if unknown:
                raise SystemExit(f"fields missing from order hint: {unknown}")
            for a in self.keys:
                for b in self.before[a]:
                    if hint.index(a) > hint.index(b):
                        raise SystemExit(f"order hint contradicts Redis: "
                                         f"{a} is sent before {b}")
            return list(hint)
        result, remaining = [], list(self.keys)
        while remaining:
            for k in remaining:
                if not any(k in self.before[o] for o in remaining if o != k):
                    result.append(k)
                    remaining.remove(k)
                    break
        return result


# --------------------------------------------------------------------------
# Server lifecycle
# --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="shoal-record-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", workdir,
         "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            conn = Conn("127.0.0.1", port)
            conn.call("PING")
            conn.close()
            return proc, port, workdir
        except (OSError, RespError):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)


# --------------------------------------------------------------------------
# Conversion to Shoal's JSON
# --------------------------------------------------------------------------

def convert_argument(node, order: OrderMerger):
    out = {}
    keys = []
    for key, val in pairs(node):
        keys.append(key)
        if key in PROSE_ARG_FIELDS:
            continue
        if key == "arguments":
            out[key] = [convert_argument(a, order) for a in val[1]]
        else:
            out[key] = plain(val)
    order.add(keys)
    return out


def convert_docs(name, node, docs_order, arg_order, prose_out, all_docs):
    """Fill all_docs[name] (facts) and prose_out[name] (Redis prose)."""
    docs, prose, keys = {}, prose_out.setdefault(name, {}), []
    for key, val in pairs(node):
        keys.append(key)
        if key == "summary" or key == "complexity":
            prose[key] = plain(val)
        elif key == "history":
            hist = plain(val)
            prose["history"] = hist
            docs["history_versions"] = [h[0] for h in hist]
        elif key == "arguments":
            docs["arguments"] = [convert_argument(a, arg_order) for a in val[1]]
        elif key == "subcommands":
            for sub_name, sub in pairs(val):
                convert_docs(sub_name.lower(), sub, docs_order, arg_order,
                             prose_out, all_docs)
        else:
            docs[key] = plain(val)
    docs_order.add(keys)
    docs["prose_fields"] = [k for k in keys if k in PROSE_DOC_FIELDS]
    all_docs[name] = docs


def convert_info(node, out: dict, prose: dict):
    vals = node[1]
    entry = {}
    for field, item in zip(INFO_FIELDS, vals):
        if field == "subcommands":
            continue
        entry[field] = plain(item)
    name = entry["name"].lower()
    notes = [spec.get("notes") for spec in entry["key_specs"]]
    if any(n is not None for n in notes):
        prose.setdefault(name, {})["key_spec_notes"] = notes
    for spec in entry["key_specs"]:
        if "notes" in spec:
            spec["notes"] = None  # Redis sends a note here; the words are ours
    entry["name"] = name
    subs = []
    for sub in vals[9][1]:
        subs.append(convert_info(sub, out, prose))
    if subs:
        entry["subcommands"] = sorted(subs)
    out[name] = entry
    return name


# --------------------------------------------------------------------------
# descriptions.json maintenance
# --------------------------------------------------------------------------

def update_descriptions(redis_prose: dict) -> list[str]:
    if DESCRIPTIONS_JSON.exists():
        desc = json.loads(DESCRIPTIONS_JSON.read_text())
    else:
        desc = {}
    missing = []
    for name in sorted(redis_prose):
        rp = redis_prose[name]
        entry = desc.setdefault(name, {})
        if "summary" in rp and "summary" not in entry:
            entry["summary"] = ""
            missing.append(f"{name}.summary")
        if "complexity" in rp and "complexity" not in entry:
            cx = rp["complexity"].strip()
            if BARE_FORMULA.match(cx):
                entry["complexity"] = cx  # a formula is a fact, not prose
            else:
                entry["complexity"] = ""
                missing.append(f"{name}.complexity")
        if "history" in rp:
            # History entries are matched by position: a version may occur
            # more than once (e.g. CLIENT KILL has two 2.8.12 entries).
            hist = entry.setdefault("history", [])
            for i, (version, _text) in enumerate(rp["history"]):
                if i >= len(hist):
                    hist.append([version, ""])
                    missing.append(f"{name}.history[{i}]({version})")
                elif hist[i][0] != version:
                    print(f"warning: {name} history[{i}] is {hist[i][0]} in "
                          f"descriptions.json but {version} in Redis",
                          file=sys.stderr)
        if "key_spec_notes" in rp:
            # One entry per key spec; null where Redis has no note.
            notes = entry.setdefault("key_spec_notes", [])
            for i, text in enumerate(rp["key_spec_notes"]):
                if i >= len(notes):
                    notes.append(None if text is None else "")
                elif text is not None and notes[i] is None:
                    notes[i] = ""
                else:
                    continue
                if text is not None:
                    missing.append(f"{name}.key_spec_notes[{i}]")
    # Keep file sorted by command name; key order inside entries is fixed.
    ordered = {}
    for name in sorted(desc):
        e = desc[name]
        ordered[name] = {k: e[k] for k in ("summary", "complexity", "history",
                                           "key_spec_notes") if k in e}
        for k in e:
            ordered[name].setdefault(k, e[k])
    DESCRIPTIONS_JSON.write_text(
        json.dumps(ordered, indent=2, ensure_ascii=False) + "\n")
    stale = sorted(set(desc) - set(redis_prose))
    if stale:
        print("warning: descriptions.json has entries for unknown commands: "
              + ", ".join(stale), file=sys.stderr)
    return missing


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def record(binary: str) -> None:
    proc, port, workdir = start_server(binary)
    try:
        r2 = Conn("127.0.0.1", port)
        r3 = Conn("127.0.0.1", port)
        hello, _ = r3.call("HELLO", "3")
        version = plain(hello)["version"]

        census = TypeCensus()

        # Fixture replies; written once our prose is known (below).
        fixtures = {}
        for fname, cmd in FIXTURES.items():
            for proto, conn in (("resp2", r2), ("resp3", r3)):
                fixtures[f"{fname}.{proto}.bin"] = (cmd, *conn.call(*cmd))

        count = plain(r3.call("COMMAND", "COUNT")[0])

        info3, _ = r3.call("COMMAND")
        info2, _ = r2.call("COMMAND")
        docs3, _ = r3.call("COMMAND", "DOCS")
        docs2, _ = r2.call("COMMAND", "DOCS")

        for proto, info, docs in (("resp2", info2, docs2),
                                  ("resp3", info3, docs3)):
            for cmd in info[1]:
                census.info(proto, cmd)
            census.add(proto, "docs.<reply>", docs)
            census.keys(proto, docs)
            for _name, d in pairs(docs):
                census.docs(proto, d)

        commands: dict = {}
        all_docs, redis_prose = {}, {}
        for cmd in info3[1]:
            convert_info(cmd, commands, redis_prose)

        docs_order, arg_order = OrderMerger(), OrderMerger()
        for name, d in pairs(docs3):
            convert_docs(name.lower(), d, docs_order, arg_order,
                         redis_prose, all_docs)

        if set(all_docs) != set(commands):
            raise SystemExit("COMMAND and COMMAND DOCS disagree: "
                             f"{sorted(set(all_docs) ^ set(commands))}")
        for name, entry in commands.items():
            entry["docs"] = all_docs[name]

        key_spec_order = OrderMerger()
        for entry in commands.values():
            for ks in entry["key_specs"]:
                key_spec_order.add(list(ks))

        top = [n for n in commands if "|" not in n]
        subs = [n for n in commands if "|" in n]
        if len(top) != count:
            raise SystemExit(f"COMMAND COUNT={count} but got {len(top)}")

        result = {
            "__redis_version__": version,
            "__counts__": {"commands": len(top), "subcommands": len(subs)},
            "__docs_field_order__": {
                "command": docs_order.order(DOCS_ORDER_HINT),
                "argument": arg_order.order(ARG_ORDER_HINT),
                "key_spec": key_spec_order.order(KEY_SPEC_ORDER_HINT),
                "info": INFO_FIELDS,
                "notes": (
                    "COMMAND DOCS per-command map keys appear in 'command' "
                    "order; absent fields are skipped. summary/complexity/"
                    "history come from descriptions.json (docs.prose_fields "
                    "says which ones Redis emits); history_versions gives the "
                    "history entry versions. A key spec with 'notes': null "
                    "means Redis sends a note there; the text is ours, "
                    "descriptions.json key_spec_notes[spec index]. "
                    "'subcommands' is a map of "
                    "subcommand name -> docs map. Argument maps use "
                    "'argument' order. Redis emits top-level commands and "
                    "subcommands in hash-table order, which is randomised per "
                    "process (siphash seed), so that order is not recorded; "
                    "subcommand lists are sorted here."),
            },
            "__resp_types__": census.report(),
        }
        for name in sorted(commands):
            result[name] = commands[name]

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        COMMANDS_JSON.write_text(
            json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        missing = update_descriptions(redis_prose)

        desc = json.loads(DESCRIPTIONS_JSON.read_text())
        FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
        for fname, (cmd, node, raw) in fixtures.items():
            (FIXTURE_DIR / fname).write_bytes(fixture_bytes(cmd, node, raw, desc))

        print(f"redis {version}: {len(top)} commands, {len(subs)} subcommands"
              f" -> {COMMANDS_JSON.relative_to(ROOT)}")
        if missing:
            print(f"warning: {len(missing)} prose fields in "
                  f"{DESCRIPTIONS_JSON.relative_to(ROOT)} need writing:\n  "
                  + "\n  ".join(missing), file=sys.stderr)
        r2.close()
        r3.close()
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis-server",
                    default=shutil.which("redis-server") or "redis-server")
    args = ap.parse_args()
    record(args.redis_server)


if __name__ == "__main__":
    main()
