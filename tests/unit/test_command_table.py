"""COMMAND and its subcommands without sockets: replies are built by the command functions on a private command
table and encoded by the node's codec, then compared with Redis 7.0.15's bytes (the recorded fixtures, whose prose
is ours) and with key positions recorded from redis-server's COMMAND GETKEYSANDFLAGS."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from shoal.node.commands import introspection as intro
from shoal.node.commands.registry import TABLE, Command, CommandTable, command, get_keys, get_keys_and_flags
from shoal.node.errors import CommandError
from shoal.node.resp import encode

FIXTURES = os.path.join(os.path.dirname(__file__), "data", "command_replies")
CATALOG = TABLE.catalog


def _noop(c, argv):
    return None


def make_table(*names: str) -> CommandTable:
    """A command table serving `names` (with stand-in functions), plus COMMAND itself."""
    table = CommandTable()
    for name, fn in [("command", intro.command_), ("command|count", intro.command_count),
                     ("command|info", intro.command_info_), ("command|docs", intro.command_docs_),
                     ("command|list", intro.command_list), ("command|getkeys", intro.command_getkeys),
                     ("command|getkeysandflags", intro.command_getkeysandflags), ("command|help", intro.command_help)]:
        command(name, table=table)(fn)
    for name in names:
        command(name, table=table)(_noop)
    return table


def client(table: CommandTable, proto: int = 2):
    return SimpleNamespace(state=SimpleNamespace(table=table), proto=proto)


def run(table: CommandTable, proto: int, *args: str | bytes) -> bytes:
    """What COMMAND <args> answers, as wire bytes (errors as error replies), without the dispatcher."""
    argv = [a.encode() if isinstance(a, str) else a for a in ("COMMAND", *args)]
    sub = table.commands["command"].subcommands.get(argv[1].decode().lower()) if len(argv) > 1 else None
    fn = sub.fn if sub is not None else table.commands["command"].fn
    try:
        return encode(fn(client(table, proto), argv), proto)
    except CommandError as e:
        return b"-" + e.msg.encode() + b"\r\n"


def fixture(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


# ----------------------------------------------------------------------------- a RESP reader that keeps types


def parse(data: bytes):
    """One reply as a (type byte, value) tree; maps as lists of pairs, so order and wire types both count."""
    node, end = _parse(data, 0)
    assert end == len(data), "trailing bytes after the reply"
    return node


def _parse(data: bytes, pos: int):
    eol = data.index(b"\r\n", pos)
    t, rest, pos = data[pos:pos + 1], data[pos + 1:eol], eol + 2
    if t in b"+-:,#_(":
        return (t, rest), pos
    n = int(rest)
    if t in b"$=!":
        return (t, data[pos:pos + n] if n >= 0 else None), pos + n + 2 if n >= 0 else pos
    items = []
    for _ in range(2 * n if t in b"%|" else max(n, 0)):
        item, pos = _parse(data, pos)
        items.append(item)
    if t in b"%|":
        items = [(items[i], items[i + 1]) for i in range(0, len(items), 2)]
    return (t, items), pos


def sort_subcommands(node):
    """The same tree with every COMMAND DOCS `subcommands` map sorted by name (Redis's order is random)."""
    t, v = node
    if t == b"%":
        pairs = [(k, sort_subcommands(x)) for k, x in v]
        return (t, [(k, (x[0], sorted(x[1])) if k == (b"$", b"subcommands") else x) for k, x in pairs])
    if t in b"*~":  # RESP2 carries maps as flat arrays: key, value, ...
        items = [sort_subcommands(x) for x in v]
        for i in range(0, len(items) - 1):
            if items[i] == (b"$", b"subcommands") and items[i + 1][0] == b"*":
                sub = items[i + 1][1]
                pairs = sorted(zip(sub[0::2], sub[1::2]))
                items[i + 1] = (b"*", [x for pair in pairs for x in pair])
        return (t, items)
    return node


# ----------------------------------------------------------------------------- byte-exact replies


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("name,args", [
    ("info_get", ("INFO", "get")),
    ("info_set", ("INFO", "set")),
    ("docs_set", ("DOCS", "set")),
])
def test_reply_is_byte_identical_to_redis(name, args, proto):
    table = make_table("get", "set")
    assert run(table, proto, *args) == fixture(f"{name}.resp{proto}.bin")


@pytest.mark.parametrize("proto", [2, 3])
def test_docs_of_a_container_matches_redis_up_to_subcommand_order(proto):
    # registered out of order on purpose: Redis's order is random, ours is the table's
    table = make_table("config|set", "config|get", "config|rewrite", "config|help", "config|resetstat")
    ours, redis = run(table, proto, "DOCS", "config"), fixture(f"docs_config.resp{proto}.bin")
    assert len(ours) == len(redis)
    assert sort_subcommands(parse(ours)) == sort_subcommands(parse(redis))
    # and our order is the table's, every time
    assert run(table, proto, "DOCS", "config") == ours
    assert ours.index(b"config|set") < ours.index(b"config|get") < ours.index(b"config|resetstat")


def test_fixtures_hold_our_prose_not_redis():
    prose = json.load(open(os.path.join(os.path.dirname(intro.__file__), "data", "descriptions.json")))
    docs_set = fixture("docs_set.resp2.bin")
    assert prose["set"]["summary"].encode() in docs_set
    for version, text in prose["set"]["history"]:
        assert text.encode() in docs_set
    assert prose["set"]["key_spec_notes"][0].encode() in fixture("info_set.resp3.bin")
    assert prose["config|get"]["summary"].encode() in fixture("docs_config.resp3.bin")


def test_catalog_keeps_no_key_spec_notes_text():
    for name, meta in CATALOG.items():
        if name.startswith("__"):
            continue
        for spec in meta["key_specs"]:
            assert spec.get("notes", None) is None, name


# ----------------------------------------------------------------------------- what is listed


def test_only_served_commands_are_listed_and_counted():
    table = make_table("get", "config|get")
    table.add(Command(name="hset", fn=None, arity=-4, flags=[]))  # registered without a function: not served
    assert run(table, 2, "COUNT") == b":3\r\n"  # command, get, config
    listed = parse(run(table, 2, "LIST"))[1]
    assert [v for _t, v in listed] == [b"command", b"command|count", b"command|info", b"command|docs",
                                       b"command|list", b"command|getkeys", b"command|getkeysandflags",
                                       b"command|help", b"get", b"config", b"config|get"]
    everything = parse(run(table, 2))
    assert [entry[1][0][1] for entry in everything[1]] == [b"command", b"get", b"config"]
    # a container lists only the subcommands it serves
    config = parse(run(table, 3, "INFO", "config"))[1][0]
    assert [sub[1][0][1] for sub in config[1][9][1]] == [b"config|get"]
    assert run(table, 2, "INFO", "hset") == b"*1\r\n$-1\r\n"
    assert run(table, 3, "INFO", "hset") == b"*1\r\n_\r\n"
    assert run(table, 2, "DOCS", "hset", "get")[:4] == b"*2\r\n"
    assert run(table, 3, "DOCS") == run(table, 3, "DOCS", "command", "get", "config")


def test_info_without_names_is_command():
    table = make_table("get", "set")
    assert run(table, 3, "INFO") == run(table, 3)


@pytest.mark.parametrize("name", ["get|x", "config|get|x", "", "|", "config|", "|get", "config|nope", "CONFIG|GET",
                                  "\xff"])
def test_info_names_are_looked_up_as_redis_does(name):
    table = make_table("get", "config|get")
    raw = name.encode("latin-1")
    expect = run(table, 2, "INFO", "config|get") if name == "CONFIG|GET" else b"*1\r\n$-1\r\n"
    assert run(table, 2, "INFO", raw) == expect


def test_empty_subcommand_list_is_a_set_and_a_full_one_an_array():
    table = make_table("get", "config|get")
    get = parse(run(table, 3, "INFO", "get"))[1][0][1]
    config = parse(run(table, 3, "INFO", "config"))[1][0][1]
    assert get[9] == (b"~", [])
    assert config[9][0] == b"*"


def test_list_filters():
    table = make_table("get", "set", "mget", "ping", "config|get", "config|set")
    names = lambda *a: [v for _t, v in parse(run(table, 2, "LIST", *a))[1]]  # noqa: E731
    assert names("FILTERBY", "PATTERN", "*|G*") == [b"command|getkeys", b"command|getkeysandflags", b"config|get"]
    assert names("filterby", "pattern", "?et") == [b"get", b"set"]
    assert names("FILTERBY", "ACLCAT", "STRING") == [b"get", b"set", b"mget"]
    assert names("FILTERBY", "ACLCAT", "nosuchcategory") == []
    assert names("FILTERBY", "MODULE", "x") == []
    for bad in [("X",), ("FILTERBY",), ("FILTERBY", "ACLCAT"), ("FILTERBY", "NAME", "x"),
                ("FILTERBY", "ACLCAT", "read", "FILTERBY", "ACLCAT", "write")]:
        assert run(table, 2, "LIST", *bad) == b"-ERR syntax error\r\n", bad


def test_help_has_redis_shape_in_our_words():
    table = make_table()
    reply = run(table, 2, "HELP")
    assert reply.startswith(b"*17\r\n+COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n")
    assert reply.endswith(b"+HELP\r\n+    Show this text.\r\n")


# ----------------------------------------------------------------------------- key positions

# (argv, Redis's answer) as recorded from redis-server 7.0.15's COMMAND GETKEYSANDFLAGS: a list of
# (position, flags), or the error it gave (then get_keys finds nothing).
GETKEYS_CASES = [
    (["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"],
     [(1, ["OW", "update"]), (3, ["RO", "access"]), (4, ["RO", "access"])]),
    (["ZUNIONSTORE", "dst", "2x", "a", "b"], [(3, []), (4, []), (1, [])]),
    (["ZUNIONSTORE", "dst", " 2", "a", "b"], [(3, []), (4, []), (1, [])]),
    (["ZUNIONSTORE", "dst", "3", "a", "b"], "ERR Invalid arguments specified for command"),
    (["ZUNIONSTORE", "dst", "99999999999999999999", "a", "b"], "ERR Invalid arguments specified for command"),
    (["ZINTERSTORE", "dst", "1", "a", "AGGREGATE", "MAX"], [(1, ["OW", "update"]), (3, ["RO", "access"])]),
    (["ZDIFFSTORE", "dst", "2", "a", "b"], [(1, ["OW", "update"]), (3, ["RO", "access"]), (4, ["RO", "access"])]),
    (["ZUNION", "2", "a", "b", "WITHSCORES"], [(2, ["RO", "access"]), (3, ["RO", "access"])]),
    (["ZINTER", "0", "a"], "ERR Invalid arguments specified for command"),
    (["ZDIFF", "1", "a"], [(2, ["RO", "access"])]),
    (["EVAL", "return 1", "2", "k1", "k2", "a1"], [(3, ["RW", "access", "update"]), (4, ["RW", "access", "update"])]),
    (["EVAL", "return 1", "0", "a1"], []),
    (["EVAL", "return 1", "-1", "a1"], []),
    (["EVAL", "return 1", "3", "k1"], []),
    (["EVAL", "return 1", "2\x00", "k1", "k2"], [(3, []), (4, [])]),
    (["EVALSHA", "abc", "1", "k1"], [(3, ["RW", "access", "update"])]),
    (["EVAL_RO", "return 1", "1", "k1"], [(3, ["RO", "access"])]),
    (["EVALSHA_RO", "abc", "1", "k1", "x"], [(3, ["RO", "access"])]),
    (["FCALL", "f", "2", "k1", "k2", "x"], [(3, ["RW", "access", "update"]), (4, ["RW", "access", "update"])]),
    (["FCALL_RO", "f", "1", "k1"], [(3, ["RO", "access"])]),
    (["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"], [(4, ["RO", "access"]), (5, ["RO", "access"])]),
    (["XREAD", "BLOCK", "0", "STREAMS", "s1", "$"], [(4, ["RO", "access"])]),
    (["XREAD", "STREAMS", "s1", "s2", "0"], [(2, ["RO", "access"])]),
    (["XREAD", "COUNT", "streams", "STREAMS", "s1", "0"], [(3, ["RO", "access"])]),
    (["XREAD", "streams\x00x", "s1", "0"], [(2, ["RO", "access"])]),
    (["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"], [(5, ["RO", "access"]), (6, ["RO", "access"])]),
    (["XREADGROUP", "GROUP", "streams", "c", "COUNT", "1", "STREAMS", "s1", ">"], [(7, ["RO", "access"])]),
    (["XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s1", "0"], [(6, ["RO", "access"])]),
    (["MIGRATE", "127.0.0.1", "6379", "key", "0", "5000"], [(3, ["RW", "access", "delete"])]),
    (["MIGRATE", "127.0.0.1", "6379", "", "0", "5000", "KEYS", "k1", "k2"],
     [(7, ["RW", "access", "delete"]), (8, ["RW", "access", "delete"])]),
    (["MIGRATE", "127.0.0.1", "6379", "", "0", "5000", "COPY", "REPLACE", "AUTH", "pw", "KEYS", "k1", "k2"],
     [(11, ["RW", "access", "delete"]), (12, ["RW", "access", "delete"])]),
    (["MIGRATE", "127.0.0.1", "6379", "", "0", "5000", "AUTH2", "user", "keys", "KEYS", "k1"],
     [(10, ["RW", "access", "delete"])]),
    (["MIGRATE", "127.0.0.1", "6379", "key", "0", "5000", "KEYS", "k1"], "ERR Invalid arguments specified for command"),
    (["MIGRATE", "127.0.0.1", "6379", "", "0", "5000"], [(3, ["RW", "access", "delete"])]),
    (["SORT", "k"], [(1, ["RO", "access"])]),
    (["SORT", "k", "STORE", "dst"], [(1, ["RO", "access"]), (3, ["OW", "update"])]),
    (["SORT", "k", "BY", "w*", "GET", "#", "GET", "o*", "LIMIT", "0", "10", "ALPHA", "STORE", "dst"],
     [(1, ["RO", "access"]), (13, ["OW", "update"])]),
    (["SORT", "k", "GET", "store", "STORE", "dst"], [(1, ["RO", "access"]), (5, ["OW", "update"])]),
    (["SORT", "k", "STORE", "d1", "STORE", "d2"], [(1, ["RO", "access"]), (5, ["OW", "update"])]),
    (["SORT", "k", "STORE"], [(1, ["RO", "access"])]),
    (["SORT", "k", "LIMIT", "store", "x", "STORE", "dst"], [(1, ["RO", "access"]), (6, ["OW", "update"])]),
    (["SORT_RO", "k", "BY", "x", "GET", "y"], [(1, ["RO", "access"])]),
    (["GEORADIUS", "k", "0", "0", "10", "km", "STORE", "dst"], [(1, ["RO", "access"]), (7, ["OW", "update"])]),
    (["GEORADIUS", "k", "0", "0", "10", "km", "STOREDIST", "dst", "WITHDIST"],
     [(1, ["RO", "access"]), (7, ["OW", "update"])]),
    (["GEORADIUS", "k", "0", "0", "10", "km", "STORE", "d1", "STOREDIST", "d2"],
     [(1, ["RO", "access"]), (7, ["OW", "update"]), (9, ["OW", "update"])]),
    (["GEORADIUS", "k", "0", "0", "10", "km", "STORE"], [(1, ["RO", "access"])]),
    (["GEORADIUSBYMEMBER", "k", "m", "10", "km", "STORE", "dst"], [(1, ["RO", "access"]), (6, ["OW", "update"])]),
    (["GEORADIUSBYMEMBER", "k", "m", "10", "km", "COUNT", "1", "STOREDIST", "dst"],
     [(1, ["RO", "access"]), (8, ["OW", "update"])]),
    (["LMPOP", "2", "l1", "l2", "LEFT", "COUNT", "1"],
     [(2, ["RW", "access", "delete"]), (3, ["RW", "access", "delete"])]),
    (["LMPOP", "1x", "l1", "LEFT"], [(2, [])]),
    (["LMPOP", "4294967297", "l1", "LEFT"], [(2, ["RW", "access", "delete"])]),
    (["BLMPOP", "0", "2", "l1", "l2", "RIGHT"], [(3, ["RW", "access", "delete"]), (4, ["RW", "access", "delete"])]),
    (["ZMPOP", "1", "z", "MIN"], [(2, ["RW", "access", "delete"])]),
    (["BZMPOP", "0", "1", "z", "MAX"], [(3, ["RW", "access", "delete"])]),
    (["ZINTERCARD", "2", "a", "b", "LIMIT", "1"], [(2, ["RO", "access"]), (3, ["RO", "access"])]),
    (["ZINTERCARD", "3", "a", "b"], "ERR Invalid arguments specified for command"),
    (["SINTERCARD", "1", "a"], [(2, ["RO", "access"])]),
    (["OBJECT", "ENCODING", "k"], [(2, ["RO"])]),
    (["OBJECT", "FREQ", "k"], [(2, ["RO"])]),
    (["SET", "k", "v"], [(1, ["OW", "update"])]),
    (["SET", "k", "v", "GET"], [(1, ["RW", "access", "update"])]),
    (["SET", "k", "v", "EX", "10", "get"], [(1, ["RW", "access", "update"])]),
    (["BITFIELD", "k", "GET", "u8", "0"], [(1, ["RO", "access"])]),
    (["BITFIELD", "k", "SET", "u8", "0", "1"], [(1, ["RW", "access", "update"])]),
    (["BITFIELD", "k", "OVERFLOW", "WRAP", "GET", "u8", "0"], [(1, ["RO", "access"])]),
    (["BITFIELD_RO", "k", "GET", "u8", "0"], [(1, ["RO", "access"])]),
    (["MSET", "a", "1", "b", "2"], [(1, ["OW", "update"]), (3, ["OW", "update"])]),
    (["MSET", "a", "1", "b"], [(1, ["OW", "update"]), (3, ["OW", "update"])]),
    (["MSETNX", "a", "1", "b", "2"], [(1, ["OW", "insert"]), (3, ["OW", "insert"])]),
    (["DEL", "a", "b", "c"], [(1, ["RM", "delete"]), (2, ["RM", "delete"]), (3, ["RM", "delete"])]),
    (["RENAME", "a", "b"], [(1, ["RW", "access", "delete"]), (2, ["OW", "update"])]),
    (["SMOVE", "s", "d", "m"], [(1, ["RW", "access", "delete"]), (2, ["RW", "insert"])]),
    (["LMOVE", "a", "b", "LEFT", "RIGHT"], [(1, ["RW", "access", "delete"]), (2, ["RW", "insert"])]),
    (["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"], [(1, ["RW", "access", "delete"]), (2, ["RW", "insert"])]),
    (["XADD", "s", "*", "f", "v"], [(1, ["RW", "update"])]),
    (["GETEX", "k"], [(1, ["RW", "access", "update"])]),
    (["PFCOUNT", "a", "b"], [(1, ["RW", "access"]), (2, ["RW", "access"])]),
    (["BITOP", "AND", "dest", "a", "b"], [(2, ["OW", "update"]), (3, ["RO", "access"]), (4, ["RO", "access"])]),
    (["COPY", "a", "b", "DB", "1"], [(1, ["RO", "access"]), (2, ["OW", "update"])]),
    (["MEMORY", "USAGE", "k"], [(2, ["RO"])]),
    (["XINFO", "STREAM", "s"], [(2, ["RO", "access"])]),
    (["XGROUP", "CREATE", "s", "g", "$"], [(2, ["RW", "insert"])]),
    (["GET", "k"], [(1, ["RO", "access"])]),
    (["MGET", "a", "b", "c"], [(1, ["RO", "access"]), (2, ["RO", "access"]), (3, ["RO", "access"])]),
    (["BLPOP", "a", "b", "0"], [(1, ["RW", "access", "delete"]), (2, ["RW", "access", "delete"])]),
    (["BZPOPMIN", "a", "b", "0"], [(1, ["RW", "access", "delete"]), (2, ["RW", "access", "delete"])]),
    (["RPOPLPUSH", "a", "b"], [(1, ["RW", "access", "delete"]), (2, ["RW", "insert"])]),
    (["SINTERSTORE", "d", "a", "b"], [(1, ["RW", "update"]), (2, ["RO", "access"]), (3, ["RO", "access"])]),
    (["GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
     [(1, ["OW", "update"]), (2, ["RO", "access"])]),
    (["LCS", "a", "b"], [(1, ["RO", "access"]), (2, ["RO", "access"])]),
    (["WATCH", "a", "b"], [(1, ["RO"]), (2, ["RO"])]),
    (["TOUCH", "a"], [(1, ["RO"])]),
    (["EXISTS", "a", "b"], [(1, ["RO"]), (2, ["RO"])]),
    (["RESTORE", "k", "0", "payload"], [(1, ["OW", "update"])]),
    (["DUMP", "k"], [(1, ["RO", "access"])]),
    (["PFMERGE", "d", "a", "b"], [(1, ["RW", "access", "insert"]), (2, ["RO", "access"]), (3, ["RO", "access"])]),
    (["SUBSTR", "k", "0", "1"], [(1, ["RO", "access"])]),
    (["SPUBLISH", "ch", "m"], "ERR The command has no key arguments"),
    (["PUBLISH", "ch", "m"], "ERR The command has no key arguments"),
    (["PING", "x"], "ERR The command has no key arguments"),
    (["CONFIG", "GET", "x"], "ERR The command has no key arguments"),
]


def _catalog_name(argv: list[str]) -> str:
    name = argv[0].lower()
    if CATALOG[name].get("subcommands") and len(argv) > 1:
        name += "|" + argv[1].lower()
    return name


def _catalog_command(name: str) -> Command:
    meta = CATALOG[name]
    return Command(name=name, fn=_noop, arity=meta["arity"], flags=meta["flags"], key_specs=meta["key_specs"])


@pytest.mark.parametrize("argv,expect", GETKEYS_CASES, ids=[" ".join(a) for a, _ in GETKEYS_CASES])
def test_get_keys_agrees_with_redis(argv, expect):
    cmd = _catalog_command(_catalog_name(argv))
    raw = [a.encode() for a in argv]
    want = [] if isinstance(expect, str) else expect
    assert get_keys_and_flags(cmd, raw) == want
    assert get_keys(cmd, raw) == [pos for pos, _flags in want]


@pytest.mark.parametrize("argv,expect", GETKEYS_CASES, ids=[" ".join(a) for a, _ in GETKEYS_CASES])
def test_command_getkeysandflags_agrees_with_redis(argv, expect):
    name = _catalog_name(argv)
    table = make_table(name)
    reply = run(table, 3, "GETKEYSANDFLAGS", *argv)
    if isinstance(expect, str):
        assert reply == b"-" + expect.encode() + b"\r\n"
        return
    expected = b"*%d\r\n" % len(expect) + b"".join(
        b"*2\r\n$%d\r\n%s\r\n~%d\r\n" % (len(argv[pos]), argv[pos].encode(), len(flags))
        + b"".join(b"+%s\r\n" % f.encode() for f in flags) for pos, flags in expect)
    assert reply == expected
    keys_only = run(table, 2, "GETKEYS", *argv)
    assert keys_only == b"*%d\r\n" % len(expect) + b"".join(
        b"$%d\r\n%s\r\n" % (len(argv[pos]), argv[pos].encode()) for pos, _flags in expect)


@pytest.mark.parametrize("args,error", [
    (("nosuch", "a"), "ERR Invalid command specified"),
    (("object", "nosuch", "k"), "ERR Invalid command specified"),
    (("hset", "h", "f", "v"), "ERR Invalid command specified"),  # in Redis's catalog but not served here
    (("ping", "x"), "ERR The command has no key arguments"),
    (("echo", "a", "b"), "ERR The command has no key arguments"),  # the key check comes before the arity check
    (("config", "get"), "ERR The command has no key arguments"),
    (("get", "a", "b"), "ERR Invalid number of arguments specified for command"),
    (("set", "a"), "ERR Invalid number of arguments specified for command"),
    (("zunionstore", "d", "3", "a", "b"), "ERR Invalid arguments specified for command"),
])
def test_getkeys_errors(args, error):
    table = make_table("get", "set", "ping", "echo", "object|encoding", "config|get", "zunionstore")
    assert run(table, 2, "GETKEYS", *args) == b"-" + error.encode() + b"\r\n"


def test_command_without_mandatory_keys_gives_an_empty_list():
    table = make_table("eval")
    assert run(table, 2, "GETKEYS", "eval", "return 1", "0") == b"*0\r\n"


# ----------------------------------------------------------------------------- every command Redis has


def _all_catalog_names():
    return [n for n, m in CATALOG.items() if not n.startswith("__") and not m.get("subcommands")]


@pytest.mark.parametrize("proto", [2, 3])
def test_every_catalog_command_is_described(proto):
    table = make_table(*[n for n in _all_catalog_names() if not n.startswith("command")])
    counts = CATALOG["__counts__"]
    assert run(table, proto, "COUNT") == b":%d\r\n" % counts["commands"]
    listed = parse(run(table, proto, "LIST"))[1]
    assert len(listed) == counts["commands"] + counts["subcommands"]
    for sub in ("INFO", "DOCS"):
        reply = parse(run(table, proto, sub))
        assert len(reply[1]) == counts["commands"] * (2 if sub == "DOCS" and proto == 2 else 1)
