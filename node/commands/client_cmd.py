"""CLIENT: ID SETNAME GETNAME LIST INFO KILL PAUSE UNPAUSE REPLY NO-EVICT SETINFO UNBLOCK HELP.

TRACKING, CACHING, GETREDIR and TRACKINGINFO belong to client-side caching, which is not built yet; they answer
as unknown subcommands until it is.
"""
from __future__ import annotations

import time

from ..client import REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT
from ..errors import NOT_INTEGER, SYNTAX, CommandError
from ..resp import OK, Simple, Verbatim, string2ll
from .connection import set_client_name
from .registry import command

CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica", b"pubsub": "pubsub",
                b"master": "master"}


def client_type(cl) -> str:
    """Redis's getClientType: the class CLIENT LIST TYPE and CLIENT KILL TYPE filter on."""
    if cl.is_master_link:
        return "master"
    if cl.is_replica_link:
        return "replica"
    if cl.channels or cl.patterns or cl.shard_channels:
        return "pubsub"
    return "normal"


def subcommand_syntax_error(argv) -> CommandError:
    """Redis's addReplySubcommandSyntaxError, naming the subcommand as the client spelled it."""
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{argv[1][:128].decode('utf-8', 'replace')}'. Try CLIENT HELP.")


def _args_mem(argv) -> int:
    return sum(len(a) for a in argv)


def client_info_line(cl, now: float, argv=None) -> str:
    """One CLIENT LIST line, with Redis 7.0's fields in Redis 7.0's order. `argv` is the command the client is
    running right now (only the caller is ever mid-command when this runs).

    What Shoal has no equivalent for is reported as 0: there is no per-client reply buffer (rbs, rbp, obl) nor
    a preallocated query buffer (qbuf-free); unsent output is one backlog (oll 1, omem its bytes)."""
    qbuf = cl.parser.pending()
    argv_mem = _args_mem(argv) if argv is not None else 0
    # as Redis's mstate.argv_len_sums: argument bytes plus one pointer per argument
    multi_mem = sum(_args_mem(a) + 8 * len(a) for _, a in cl.multi_queue) if cl.in_multi else 0
    omem = cl.out_pending
    line = (
        f"id={cl.id} addr={cl.addr} laddr={cl.laddr} fd={cl.fd} name={cl.name.decode('latin-1')} "
        f"age={int(now - cl.created)} idle={int(now - cl.last_interaction)} flags={cl.flags_string()} "
        f"db={cl.dbid} sub={len(cl.channels)} psub={len(cl.patterns)} ssub={len(cl.shard_channels)} "
        f"multi={len(cl.multi_queue) if cl.in_multi else -1} qbuf={qbuf} qbuf-free=0 argv-mem={argv_mem} "
        f"multi-mem={multi_mem} rbs=0 rbp=0 obl=0 oll={1 if omem else 0} omem={omem} "
        f"tot-mem={qbuf + argv_mem + multi_mem + omem} events={'rw' if omem else 'r'} cmd={cl.last_cmd} "
        f"user={cl.user} redir=-1 resp={cl.proto}"
    )
    # Redis 7.2 fields, shown only once a client has used CLIENT SETINFO so the 7.0 format stays exact
    if cl.lib_name or cl.lib_ver:
        line += f" lib-name={cl.lib_name.decode('latin-1')} lib-ver={cl.lib_ver.decode('latin-1')}"
    return line


@command("client|id")
def client_id(c, argv):
    return c.id


@command("client|setname")
def client_setname(c, argv):
    set_client_name(c, argv[2])
    return OK


@command("client|getname")
def client_getname(c, argv):
    return c.name or None


@command("client|info")
def client_info(c, argv):
    return Verbatim((client_info_line(c, time.time(), argv) + "\n").encode())


@command("client|list")
def client_list(c, argv):
    clients = c.state.clients
    n = len(argv)
    if n == 4 and argv[2].lower() == b"type":
        ctype = CLIENT_TYPES.get(argv[3].lower())
        if ctype is None:
            raise CommandError(f"ERR Unknown client type '{argv[3].decode('utf-8', 'replace')}'")
        selected = [cl for cl in clients.values() if client_type(cl) == ctype]
    elif n > 3 and argv[2].lower() == b"id":
        selected = []
        for raw in argv[3:]:
            cid = string2ll(raw)
            if cid is None:
                raise CommandError("ERR Invalid client ID")
            cl = clients.get(cid)
            if cl is not None:
                selected.append(cl)  # in the order asked, repeats included, as Redis
    elif n != 2:
        raise CommandError(SYNTAX)
    else:
        selected = list(clients.values())
    now = time.time()
    out = "".join(client_info_line(cl, now, argv if cl is c else None) + "\n" for cl in selected)
    return Verbatim(out.encode())


# --------------------------------------------------------------------------------------------------- KILL


class _KillFilter:
    __slots__ = ("addr", "laddr", "ctype", "cid", "user", "skipme", "maxage")

    def __init__(self):
        self.addr = self.laddr = self.ctype = self.user = None
        self.cid = 0
        self.skipme = True
        self.maxage = 0

    def matches(self, cl, caller, now: float) -> bool:
        if self.addr is not None and cl.addr != self.addr:
            return False
        if self.laddr is not None and cl.laddr != self.laddr:
            return False
        if self.ctype is not None and client_type(cl) != self.ctype:
            return False
        if self.cid and cl.id != self.cid:
            return False
        if self.user is not None and cl.user != self.user:
            return False
        if self.maxage and now - cl.created <= self.maxage:
            return False
        if cl is caller and self.skipme:
            return False
        return True


def _parse_kill_filters(argv) -> _KillFilter:
    f = _KillFilter()
    i = 2
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if i + 1 >= n:
            raise CommandError(SYNTAX)
        val = argv[i + 1]
        if opt == b"id":
            cid = string2ll(val)
            if cid is None or cid < 1:
                raise CommandError("ERR client-id should be greater than 0")
            f.cid = cid
        elif opt == b"type":
            ctype = CLIENT_TYPES.get(val.lower())
            if ctype is None:
                raise CommandError(f"ERR Unknown client type '{val.decode('utf-8', 'replace')}'")
            f.ctype = ctype
        elif opt == b"addr":
            f.addr = val.decode("utf-8", "replace")
        elif opt == b"laddr":
            f.laddr = val.decode("utf-8", "replace")
        elif opt == b"user":
            if val != b"default":  # the only user until ACLs arrive
                raise CommandError(f"ERR No such user '{val.decode('utf-8', 'replace')}'")
            f.user = "default"
        elif opt == b"skipme":
            low = val.lower()
            if low == b"yes":
                f.skipme = True
            elif low == b"no":
                f.skipme = False
            else:
                raise CommandError(SYNTAX)
        elif opt == b"maxage":
            # Redis 7.4's filter (not in 7.0): clients connected for longer than this many seconds
            age = string2ll(val)
            if age is None or age < 0:
                raise CommandError(NOT_INTEGER)
            f.maxage = age
        else:
            raise CommandError(SYNTAX)
        i += 2
    return f


def kill(c, cl) -> None:
    """Close `cl`; when it is the caller, only after this reply went out (CLIENT_CLOSE_AFTER_REPLY)."""
    if cl is c:
        c.close_after_reply = True
    elif c.state.kill_client is not None:
        c.state.kill_client(cl)
    else:
        cl.closing = True


@command("client|kill")
def client_kill(c, argv):
    state = c.state
    if len(argv) == 3:
        # the old form: CLIENT KILL ip:port, which may name the caller itself
        f = _KillFilter()
        f.addr = argv[2].decode("utf-8", "replace")
        f.skipme = False
    else:
        f = _parse_kill_filters(argv)
    now = time.time()
    victims = [cl for cl in list(state.clients.values()) if f.matches(cl, c, now)]
    for cl in victims:
        kill(c, cl)
    if len(argv) == 3:
        if not victims:
            raise CommandError("ERR No such client")
        return OK
    return len(victims)


# --------------------------------------------------------------------------------------------------- PAUSE


@command("client|pause")
def client_pause(c, argv):
    writes_only = False
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            writes_only = True
        elif mode != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    elif len(argv) > 4:
        raise subcommand_syntax_error(argv)
    ms = string2ll(argv[2])
    if ms is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if ms < 0:
        raise CommandError("ERR timeout is negative")
    pause_clients(c.state, time.time() + ms / 1000, writes_only)
    return OK


def pause_clients(state, until: float, writes_only: bool) -> None:
    """A pause over a running one keeps the later end and the stricter kind (ALL beats WRITE), as Redis does.
    The server shell holds the clients (server.Server._wait_pause)."""
    now = time.time()
    if state.paused_until and state.paused_until > now:
        state.paused_until = max(state.paused_until, until)
        state.pause_writes_only = state.pause_writes_only and writes_only
    else:
        state.paused_until = until
        state.pause_writes_only = writes_only


@command("client|unpause")
def client_unpause(c, argv):
    c.state.paused_until = 0.0
    c.state.pause_writes_only = False
    return OK


# --------------------------------------------------------------------------------------------------- the rest


@command("client|reply")
def client_reply(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = REPLY_ON
        return OK
    if mode == b"off":
        c.reply_mode = REPLY_OFF
        return OK  # dropped by dispatch.filter_reply: OFF is silent
    if mode == b"skip":
        if c.reply_mode != REPLY_OFF:
            c.reply_mode = REPLY_SKIP_NEXT  # this call is silent, the next reply is dropped
        return OK
    raise CommandError(SYNTAX)


@command("client|no-evict")
def client_no_evict(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.no_evict = True
    elif mode == b"off":
        c.no_evict = False
    else:
        raise CommandError(SYNTAX)
    return OK


# Redis 7.2's CLIENT SETINFO, which is not in the 7.0 catalog: redis-py sends it on every connect (and ignores
# an error), so answering it lets CLIENT LIST say which library a connection uses.
@command("client|setinfo", arity=4, flags="noscript loading stale", acl="@slow @connection", group="connection")
def client_setinfo(c, argv):
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    val = argv[3]
    if not all(33 <= ch <= 126 for ch in val):
        raise CommandError(f"ERR {argv[2].decode('utf-8', 'replace')} cannot contain spaces, newlines or "
                           "special characters.")
    if attr == b"lib-name":
        c.lib_name = bytes(val)
    else:
        c.lib_ver = bytes(val)
    return OK


@command("client|unblock")
def client_unblock(c, argv):
    if len(argv) > 4:
        raise subcommand_syntax_error(argv)
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason == b"error":
            error = True
        elif reason != b"timeout":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    cid = string2ll(argv[2])
    if cid is None:
        raise CommandError(NOT_INTEGER)
    target = c.state.clients.get(cid)
    # The blocking manager (node/blocking.py) sets `client.unblock` to fn(error: bool) while it holds the client
    # parked: it answers the client (timeout reply, or "-UNBLOCKED client unblocked via CLIENT UNBLOCK") and
    # wakes it, returning False if the wait had already ended.
    if target is None or target.blocked is None or target.unblock is None:
        return 0
    return 0 if target.unblock(error) is False else 1


_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ID",
    "    The unique id of this connection.",
    "GETNAME",
    "    The name given to this connection, if any.",
    "SETNAME <name>",
    "    Name this connection (no spaces or special characters; empty clears it).",
    "INFO",
    "    One line describing this connection, as CLIENT LIST prints it.",
    "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
    "    One line per connection, optionally only those of a type or with the given ids.",
    "KILL <ip:port>",
    "    Close the connection coming from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Close every connection matching all the filters given:",
    "    * ID <id>",
    "    * ADDR (<ip:port>|<unixsocket>:0)  the client's address",
    "    * LADDR (<ip:port>|<unixsocket>:0)  the local address it connected to",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "    * USER <username>",
    "    * MAXAGE <seconds>  connected for longer than this",
    "    * SKIPME (YES|NO)  spare the calling connection (yes unless told otherwise)",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Hold the commands of all clients (or only their writes) for <timeout> milliseconds.",
    "UNPAUSE",
    "    End a pause now.",
    "REPLY (ON|OFF|SKIP)",
    "    Turn replies to this connection on or off, or drop only the next one.",
    "NO-EVICT (ON|OFF)",
    "    Exempt this connection from client eviction.",
    "SETINFO (LIB-NAME|LIB-VER) <value>",
    "    Record the client library's name or version for CLIENT LIST.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Wake a client blocked in a blocking command, as on timeout or with an error.",
    "HELP",
    "    This text.",
]


@command("client|help")
def client_help(c, argv):
    return [Simple(line) for line in _HELP]

