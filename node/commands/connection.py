"""Connection commands: PING ECHO QUIT RESET AUTH HELLO SELECT SWAPDB.

Authentication knows one user, `default`, whose password is `requirepass` (none: any password is accepted, as
Redis's `nopass` default user does). Full ACL users are a later piece of work; `check_password` is the one place
that will have to learn about them.
"""
from __future__ import annotations

import hmac
from typing import Callable

from ..client import REPLY_ON
from ..errors import DB_INDEX, NOT_INTEGER, SYNTAX, CommandError
from ..resp import INT_MAX, OK, PONG, MapReply, Simple, string2ll
from .registry import command
from .transactions import discard_transaction

REDIS_VERSION = b"7.0.15"

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
INVALID_NAME = "ERR Client names cannot contain spaces, newlines or special characters."

# Other groups clean up their own per-client state on RESET by adding `fn(client)` here: pub/sub unsubscribes
# (silently), client tracking switches off, MONITOR stops. RESET itself handles what `Client` holds directly.
RESET_HOOKS: list[Callable] = []


@command("ping")
def ping(c, argv):
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if c.proto == 2 and c.in_pubsub_context():
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


@command("echo")
def echo(c, argv):
    return argv[1]


@command("quit")
def quit_(c, argv):
    c.close_after_reply = True
    return OK


# --------------------------------------------------------------------------------------------------- auth


def password_required(state) -> bool:
    return bool(state.config["requirepass"])


def check_password(state, user: bytes, password: bytes) -> bool:
    """Would `user`/`password` log in? Only `default` exists for now."""
    if user != b"default":
        return False
    required = state.config["requirepass"]
    if not required:
        return True  # the nopass default user takes any password
    # constant time, as Redis's time_independent_strcmp: no timing oracle on the password
    return hmac.compare_digest(required.encode(), password)


def set_authenticated(c, ok: bool, user: str = "default") -> None:
    c.authenticated = ok
    c.user = user
    # the pre-auth request size limits (CVE-2021-32675) apply exactly while the client is not authenticated
    c.parser.unauthenticated = not ok


@command("auth")
def auth(c, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2:
        if not password_required(c.state):
            raise CommandError("ERR AUTH <password> called without any password configured for the default "
                               "user. Are you sure your configuration is correct?")
        user, password = b"default", argv[1]
    else:
        user, password = argv[1], argv[2]
    if not check_password(c.state, user, password):
        raise CommandError(WRONGPASS)  # a failed AUTH leaves an authenticated client authenticated
    set_authenticated(c, True, user.decode())
    return OK


# --------------------------------------------------------------------------------------------------- HELLO


def valid_client_name(name: bytes) -> bool:
    """CLIENT LIST must stay splittable on spaces: printable ASCII only ('!'..'~')."""
    return all(33 <= ch <= 126 for ch in name)


def set_client_name(c, name: bytes) -> None:
    if not valid_client_name(name):
        raise CommandError(INVALID_NAME)
    c.name = bytes(name)


def hello_reply(c) -> MapReply:
    state = c.state
    return MapReply([
        (b"server", b"redis"),
        (b"version", REDIS_VERSION),
        (b"proto", c.proto),
        (b"id", c.id),
        (b"mode", b"cluster" if state.config["cluster-enabled"] else b"standalone"),
        (b"role", b"replica" if state.is_replica else b"master"),
        (b"modules", []),  # the module system will list its modules here
    ])


@command("hello")
def hello(c, argv):
    proto = 0
    if len(argv) >= 2:
        proto = string2ll(argv[1])
        if proto is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if proto < 2 or proto > 3:
            raise CommandError("NOPROTO unsupported protocol version")
    # options take effect one by one as Redis applies them: a SETNAME before a bad option still sticks, an
    # AUTH before a bad SETNAME still authenticates
    i = 2
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        more = n - 1 - i
        if opt == b"auth" and more >= 2:
            if not check_password(c.state, argv[i + 1], argv[i + 2]):
                raise CommandError(WRONGPASS)
            set_authenticated(c, True, argv[i + 1].decode())
            i += 3
        elif opt == b"setname" and more >= 1:
            set_client_name(c, argv[i + 1])
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not c.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                           "HELLO AUTH <user> <pass> option can be used to authenticate the client and select the "
                           "RESP protocol version at the same time")
    if proto:
        c.proto = proto  # the reply itself already goes out in the new protocol
    return hello_reply(c)


# --------------------------------------------------------------------------------------------------- RESET


@command("reset")
def reset(c, argv):
    if c.is_replica_link or c.is_master_link:
        raise CommandError("ERR can only reset normal client connections")
    for hook in RESET_HOOKS:
        hook(c)
    if c.channels or c.patterns or c.shard_channels:
        # nobody owns the subscriptions (no pub/sub hook installed): forget them here
        c.channels.clear()
        c.patterns.clear()
        c.shard_channels.clear()
    if c.kind == "pubsub":
        c.kind = "normal"
    c.tracking = False
    c.select(0)
    c.proto = 2
    c.name = b""
    if c.in_multi:
        discard_transaction(c)
    else:
        c.unwatch_all()
    c.asking = False
    c.readonly = False
    c.reply_mode = REPLY_ON
    # Redis 7.0.15 keeps CLIENT NO-EVICT across RESET but logs the connection back in as `default`
    set_authenticated(c, not password_required(c.state))
    return Simple("RESET")


# --------------------------------------------------------------------------------------------------- databases


def parse_int(b: bytes, error: str | None = None) -> int:
    """getIntFromObjectOrReply: a strict integer that fits a C int; `error` replaces both of its messages."""
    v = string2ll(b)
    if v is None:
        raise CommandError(error or NOT_INTEGER)
    if v > INT_MAX or v < -INT_MAX - 1:
        raise CommandError(error or f"ERR value is out of range, value must between {-INT_MAX - 1} and {INT_MAX}")
    return v


@command("select")
def select(c, argv):
    dbid = parse_int(argv[1])
    if c.state.config["cluster-enabled"] and dbid != 0:
        raise CommandError("ERR SELECT is not allowed in cluster mode")
    if dbid < 0 or dbid >= len(c.state.keyspace):
        raise CommandError(DB_INDEX)
    c.select(dbid)
    return OK


@command("swapdb")
def swapdb(c, argv):
    state = c.state
    if state.config["cluster-enabled"]:
        raise CommandError("ERR SWAPDB is not allowed in cluster mode")
    a = parse_int(argv[1], "ERR invalid first DB index")
    b = parse_int(argv[2], "ERR invalid second DB index")
    n = len(state.keyspace)
    if a < 0 or a >= n or b < 0 or b >= n:
        raise CommandError(DB_INDEX)
    if a != b:
        # Keyspace.swap breaks the WATCHes a swap changes (keys that exist on either side)
        state.keyspace.swap(a, b)
        # clients blocked on keys of either database may now be served (Redis's scanDatabaseForReadyKeys)
        on_swapdb = getattr(state.blocking, "on_swapdb", None)
        if on_swapdb is not None:
            on_swapdb(a, b)
    state.dirty += 1
    return OK
