"""COMMAND and its subcommands: the command table describing itself.

Everything is computed from the table at call time, so a command appears here once it is registered with a
function (or, for a container such as CONFIG, once one of its subcommands is). The shape of every reply follows
Redis 7.0 byte for byte: which fields exist, their order, and which RESP type carries each (flags are sets of
status strings, key specs are maps, a command without subcommands has an empty set where Redis puts one). The
facts come from the recorded catalog (`data/redis_commands.json`); the prose (summaries, complexity, history
texts, key-spec notes) from our own `data/descriptions.json`. Both were written by
`tests/tools/record_redis_commands.py`, whose notes at the top of the catalog explain the field orders.

Redis lists commands in hash-table order, which changes from process to process; we list them in table order.
"""
from __future__ import annotations

from ..errors import CommandError
from ..glob import GlobPattern
from ..resp import MapReply, SetReply, Simple
from .registry import NO_MANDATORY_KEYS, Command, CommandTable, command, get_keys_and_flags, has_keys

SYNTAX = "ERR syntax error"

# The field orders Redis 7.0 writes (addReplyCommandDocs, addReplyCommandArgList), used if the catalog lacks
# them; the recorder checks them against every reply it sees and keeps them in the catalog.
_DEFAULT_ORDERS = {
    "command": ["summary", "since", "group", "complexity", "module", "doc_flags", "deprecated_since",
                "replaced_by", "history", "arguments", "subcommands"],
    "argument": ["name", "type", "display_text", "key_spec_index", "token", "summary", "since", "deprecated_since",
                 "flags", "value", "arguments"],
}
# Argument fields whose value is a set of status strings; the rest are bulk strings or integers.
_ARG_SET_FIELDS = frozenset({"flags"})


# ------------------------------------------------------------------------------------------ what is served


def _served(cmd: Command) -> bool:
    return cmd.fn is not None or any(sub.fn is not None for sub in cmd.subcommands.values())


def _top_level(table: CommandTable) -> list[Command]:
    return [cmd for cmd in table.commands.values() if _served(cmd)]


def _subcommands(cmd: Command) -> list[Command]:
    return [sub for sub in cmd.subcommands.values() if sub.fn is not None]


def _text(b: bytes) -> str | None:
    try:
        return b.decode("utf-8").lower()
    except UnicodeDecodeError:
        return None


def _by_fullname(table: CommandTable, name: bytes) -> Command | None:
    """A name as COMMAND INFO/DOCS take it: "get" or "config|get" (Redis's strict lookupCommandBySds)."""
    parts = name.split(b"|")
    if len(parts) > 2:
        return None
    cmd = table.lookup(parts[0])
    if cmd is None or not _served(cmd):
        return None
    if len(parts) == 1:
        return cmd
    sub = cmd.subcommands.get(_text(parts[1]))
    return sub if sub is not None and sub.fn is not None else None


def _by_call(table: CommandTable, argv: list[bytes]) -> Command | None:
    """The command a call would run: argv[1] picks the subcommand of a container (Redis's lookupCommand)."""
    cmd = table.lookup(argv[0])
    if cmd is None or not _served(cmd):
        return None
    if len(argv) == 1 or not cmd.subcommands:
        return cmd
    sub = cmd.subcommands.get(_text(argv[1]))
    return sub if sub is not None and sub.fn is not None else None


# ------------------------------------------------------------------------------------------ COMMAND INFO


def _status_set(words) -> SetReply:
    return SetReply(Simple(w) for w in words)


def _command_flags(cmd: Command) -> list[str]:
    flags = list(cmd.flags)
    if "movablekeys" not in flags and cmd.key_specs and _needs_movable(cmd):
        flags.append("movablekeys")
    return flags


def _needs_movable(cmd: Command) -> bool:
    # commands Redis does not have: a keyword or keynum spec means the key positions move with the arguments
    return any(spec["begin_search"]["type"] != "index" or spec["find_keys"]["type"] != "range"
               for spec in cmd.key_specs)


def _prose(cmd: Command) -> dict:
    return cmd.docs.get("prose", {})


def _search_step(step: dict) -> MapReply:
    spec = MapReply((k.encode(), v.encode() if isinstance(v, str) else v) for k, v in step["spec"].items())
    return MapReply([(b"type", step["type"].encode()), (b"spec", spec)])


def _key_spec(cmd: Command, index: int, spec: dict) -> MapReply:
    out = MapReply()
    if "notes" in spec:  # Redis sends a note here; the words are ours
        notes = _prose(cmd).get("key_spec_notes") or []
        text = notes[index] if index < len(notes) and notes[index] is not None else ""
        out.append((b"notes", text.encode()))
    out.append((b"flags", _status_set(spec["flags"])))
    out.append((b"begin_search", _search_step(spec["begin_search"])))
    out.append((b"find_keys", _search_step(spec["find_keys"])))
    return out


def command_info(cmd: Command) -> list:
    """One command's COMMAND INFO entry (addReplyCommandInfo)."""
    subs = [command_info(sub) for sub in _subcommands(cmd)] if cmd.subcommands else SetReply()
    return [
        cmd.name.encode(), cmd.arity, _status_set(_command_flags(cmd)), cmd.first_key, cmd.last_key, cmd.step,
        _status_set(cmd.acl_categories), SetReply(t.encode() for t in cmd.tips),
        SetReply(_key_spec(cmd, i, spec) for i, spec in enumerate(cmd.key_specs)), subs,
    ]


# ------------------------------------------------------------------------------------------ COMMAND DOCS


def _orders(table: CommandTable) -> dict:
    return table.catalog.get("__docs_field_order__") or _DEFAULT_ORDERS


def _argument(arg: dict, order: list[str]) -> MapReply:
    out = MapReply()
    for field in order:
        if field not in arg:
            continue
        v = arg[field]
        if field == "arguments":
            v = [_argument(a, order) for a in v]
        elif field in _ARG_SET_FIELDS:
            v = _status_set(v)
        elif isinstance(v, str):
            v = v.encode()
        out.append((field.encode(), v))
    return out


def _history(cmd: Command) -> SetReply:
    texts = _prose(cmd).get("history") or []
    out = SetReply()
    for i, version in enumerate(cmd.docs["history_versions"]):
        text = texts[i][1] if i < len(texts) else ""
        out.append([version.encode(), text.encode()])
    return out


def command_docs(cmd: Command, orders: dict) -> MapReply:
    """One command's COMMAND DOCS map (addReplyCommandDocs)."""
    docs, prose = cmd.docs, _prose(cmd)
    # which prose fields Redis sends for this command; for commands Redis lacks, whichever prose we have
    sends_prose = set(docs.get("prose_fields", prose))
    out = MapReply()
    for field in orders["command"]:
        if field in ("summary", "complexity"):
            if field in sends_prose:
                out.append((field.encode(), (prose.get(field) or "").encode()))
        elif field == "group":
            out.append((b"group", docs.get("group", "module" if "module" in docs else "generic").encode()))
        elif field == "history":
            if docs.get("history_versions"):
                out.append((b"history", _history(cmd)))
        elif field == "doc_flags":
            if docs.get("doc_flags"):
                out.append((b"doc_flags", _status_set(docs["doc_flags"])))
        elif field == "arguments":
            if docs.get("arguments"):
                out.append((b"arguments", [_argument(a, orders["argument"]) for a in docs["arguments"]]))
        elif field == "subcommands":
            if cmd.subcommands:
                subs = MapReply((sub.name.encode(), command_docs(sub, orders)) for sub in _subcommands(cmd))
                out.append((b"subcommands", subs))
        elif docs.get(field):
            out.append((field.encode(), docs[field].encode()))
    return out


# ------------------------------------------------------------------------------------------ COMMAND LIST


def _word(arg: bytes) -> bytes:
    """An option word as Redis compares it (strcasecmp: ASCII case-insensitive, stops at a NUL byte)."""
    return arg.split(b"\0", 1)[0].lower()


def _list_filter(argv: list[bytes]):
    """The FILTERBY of COMMAND LIST as a predicate on commands, None without one."""
    i, keep = 2, None
    while i < len(argv):
        if _word(argv[i]) != b"filterby" or len(argv) - 1 - i != 2:
            raise CommandError(SYNTAX)
        kind, arg = _word(argv[i + 1]), argv[i + 2]
        if kind == b"module":
            name = _text(arg)
            keep = lambda cmd: name is not None and (cmd.docs.get("module") or "").lower() == name  # noqa: E731
        elif kind == b"aclcat":
            category = "@" + (_text(arg) or "\0")
            keep = lambda cmd: category in (c.lower() for c in cmd.acl_categories)  # noqa: E731
        elif kind == b"pattern":
            keep = lambda cmd, pattern=GlobPattern(arg, nocase=True): pattern.match(cmd.name.encode())  # noqa: E731
        else:
            raise CommandError(SYNTAX)
        i += 3
    return keep


# ------------------------------------------------------------------------------------------ the commands


@command("command")
def command_(c, argv):
    return [command_info(cmd) for cmd in _top_level(c.state.table)]


@command("command|count")
def command_count(c, argv):
    return len(_top_level(c.state.table))


@command("command|info")
def command_info_(c, argv):
    table = c.state.table
    if len(argv) == 2:
        return [command_info(cmd) for cmd in _top_level(table)]
    out = []
    for name in argv[2:]:
        cmd = _by_fullname(table, name)
        out.append(None if cmd is None else command_info(cmd))
    return out


@command("command|docs")
def command_docs_(c, argv):
    table = c.state.table
    orders = _orders(table)
    if len(argv) == 2:
        cmds = _top_level(table)
    else:  # unknown names are left out, as Redis does
        cmds = [cmd for cmd in (_by_fullname(table, name) for name in argv[2:]) if cmd is not None]
    return MapReply((cmd.name.encode(), command_docs(cmd, orders)) for cmd in cmds)


@command("command|list")
def command_list(c, argv):
    keep = _list_filter(argv)
    out = []
    for cmd in _top_level(c.state.table):
        for each in [cmd, *_subcommands(cmd)]:
            if keep is None or keep(each):
                out.append(each.name.encode())
    return out


def _getkeys(c, argv: list[bytes], with_flags: bool) -> list:
    call = argv[2:]
    cmd = _by_call(c.state.table, call)
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    if not has_keys(cmd):
        raise CommandError("ERR The command has no key arguments")
    if (cmd.arity > 0 and cmd.arity != len(call)) or len(call) < -cmd.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    keys = get_keys_and_flags(cmd, call)
    if not keys:
        if cmd.bits & NO_MANDATORY_KEYS:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    if with_flags:
        return [[call[pos], _status_set(flags)] for pos, flags in keys]
    return [call[pos] for pos, _flags in keys]


@command("command|getkeys")
def command_getkeys(c, argv):
    return _getkeys(c, argv, with_flags=False)


@command("command|getkeysandflags")
def command_getkeysandflags(c, argv):
    return _getkeys(c, argv, with_flags=True)


# Usage text in our own words (the first line keeps Redis's shape, which tools and people recognise).
_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Describe every command this node serves.",
    "COUNT",
    "    How many commands this node serves.",
    "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <glob>)]",
    "    Names of the commands this node serves, optionally filtered.",
    "INFO [<command-name> ...]",
    "    Describe the named commands (all of them when none is named).",
    "DOCS [<command-name> ...]",
    "    Documentation of the named commands (all of them when none is named).",
    "GETKEYS <full-command>",
    "    Which arguments of the given command line are keys.",
    "GETKEYSANDFLAGS <full-command>",
    "    The keys of the given command line with their access flags.",
    "HELP",
    "    Show this text.",
]


@command("command|help")
def command_help(c, argv):
    return [Simple(line) for line in _HELP]
