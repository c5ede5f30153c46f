"""MIGRATE (the client side of moving keys to another node) and RESTORE-ASKING (its server side in cluster mode),
as Redis 7.0's cluster.c migrateCommand.

MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS key ...]

1. Each key that exists is serialized with DUMP's payload (node/persistence/rdb.py dump_payload: Redis's format, so
   the target may be a real redis-server as well as a Shoal node).
2. One pipelined write: [AUTH], [SELECT db] (skipped when the cached connection already has that db selected), and
   per key `RESTORE-ASKING key ttl payload [REPLACE]` (plain RESTORE outside cluster mode, as Redis).
3. The replies are read in order; a key is deleted here (unless COPY) only once the target answered +OK for it, so a
   migration interrupted at any point loses no key: at worst a key exists on both sides, and re-running MIGRATE
   with REPLACE (what redis-cli --cluster fix does) settles it. The command is propagated as `DEL` of exactly the
   keys that were acknowledged.

Why blocking I/O on the event loop: a command must run to completion without awaiting (that is what makes every
command atomic, see ARCHITECTURE.md), and a key must not change between being serialized and being deleted. Redis
makes the same choice (synchronous socket I/O bounded by the timeout argument); the node stalls for at most about
`timeout` ms per step.

Connections are cached per host:port and reused (Redis's migrateGetSocket); one idle for 10 s is closed by a cron
hook, and a cached connection that turns out to be dead is replaced once (the retry Redis makes when nothing was
processed yet and the error was not a timeout).
"""
from __future__ import annotations

import socket
import time
import weakref

from shoal.node.commands.dump_restore import restore
from shoal.node.commands.registry import command
from shoal.node.errors import CommandError, NOT_INTEGER, SYNTAX
from shoal.node.keyspace import now_ms
from shoal.node.persistence.rdb import dump_payload
from shoal.node.resp import OK, Simple, string2ll

SOCKET_IDLE_SECONDS = 10  # MIGRATE_SOCKET_CACHE_TTL
MAX_CACHED_SOCKETS = 64  # MIGRATE_SOCKET_CACHE_ITEMS
CHUNK = 64 * 1024  # written in 64 KB pieces, as Redis
MAX_REPLY_LINE = 1024 * 1024  # a reply line longer than this is not a RESTORE reply

IOERR_CONNECT = "IOERR error or timeout connecting to the client"
IOERR_WRITE = "IOERR error or timeout writing to target instance"
IOERR_READ = "IOERR error or timeout reading to target instance"


# --------------------------------------------------------------------------------------------------- connections


class MigrateSocket:
    """A blocking connection to a target, with the db it has selected (-1: unknown)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last_dbid = -1
        self.last_use = time.monotonic()
        self.buf = b""

    def send(self, data: bytes, timeout_s: float) -> None:
        self.sock.settimeout(timeout_s)
        view = memoryview(data)
        for pos in range(0, len(data), CHUNK):
            self.sock.sendall(view[pos:pos + CHUNK])

    def read_line(self, timeout_s: float) -> bytes:
        """One reply line without its CRLF. Raises OSError (socket.timeout included) or EOFError."""
        self.sock.settimeout(timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                return line
            if len(self.buf) > MAX_REPLY_LINE:
                raise EOFError("reply line too long")
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# state → {"host:port": MigrateSocket}; weak so that a discarded NodeState (tests) takes its sockets with it
_caches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _cache(state) -> dict:
    cache = _caches.get(state)
    if cache is None:
        cache = _caches[state] = {}
        state.cron_hooks.append(lambda now=None, _cache=cache: close_idle_sockets(_cache))
    return cache


def close_idle_sockets(cache: dict, now: float | None = None) -> None:
    """migrateCloseTimedoutSockets: runs from the node's cron."""
    now = time.monotonic() if now is None else now
    for name in [n for n, cs in cache.items() if now - cs.last_use > SOCKET_IDLE_SECONDS]:
        cache.pop(name).close()


def _get_socket(state, host: str, port_text: str, timeout_s: float) -> MigrateSocket:
    cache = _cache(state)
    name = f"{host}:{port_text}"
    cs = cache.get(name)
    if cs is not None:
        cs.last_use = time.monotonic()
        return cs
    if len(cache) >= MAX_CACHED_SOCKETS:  # too many targets: drop one (Redis drops a random one)
        cache.pop(next(iter(cache))).close()
    port = string2ll(port_text.encode()) or 0
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror:
        raise CommandError(IOERR_CONNECT) from None
    except (OSError, OverflowError):
        # Redis connects without blocking and meets a refused or unreachable target at its first write
        raise CommandError(IOERR_WRITE) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cs = cache[name] = MigrateSocket(sock)
    return cs


def _close_socket(state, host: str, port_text: str) -> None:
    cs = _cache(state).pop(f"{host}:{port_text}", None)
    if cs is not None:
        cs.close()


# --------------------------------------------------------------------------------------------------- encoding


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(arg), arg)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


# --------------------------------------------------------------------------------------------------- MIGRATE


class _Options:
    __slots__ = ("copy", "replace", "username", "password", "keys")

    def __init__(self) -> None:
        self.copy = self.replace = False
        self.username = self.password = None
        self.keys: list[bytes] = []


def parse(argv: list[bytes]) -> tuple[_Options, int, int]:
    """Options, db, timeout (ms), checked in Redis's order: options, then timeout, then db."""
    opts = _Options()
    opts.keys = [argv[3]]
    j, argc = 6, len(argv)
    while j < argc:
        word = argv[j].lower()
        more = argc - 1 - j
        if word == b"copy":
            opts.copy = True
        elif word == b"replace":
            opts.replace = True
        elif word == b"auth":
            if not more:
                raise CommandError(SYNTAX)
            j += 1
            opts.password = argv[j]
        elif word == b"auth2":
            if more < 2:
                raise CommandError(SYNTAX)
            opts.username, opts.password = argv[j + 1], argv[j + 2]
            j += 2
        elif word == b"keys":
            if argv[3]:
                raise CommandError("ERR When using MIGRATE KEYS option, the key argument must be set to the "
                                   "empty string")
            opts.keys = argv[j + 1:]
            break
        else:
            raise CommandError(SYNTAX)
        j += 1
    timeout = string2ll(argv[5])
    dbid = string2ll(argv[4])
    if timeout is None or dbid is None:
        raise CommandError(NOT_INTEGER)
    if timeout <= 0:
        timeout = 1000
    return opts, dbid, timeout


class _SocketError(Exception):
    def __init__(self, writing: bool, timed_out: bool) -> None:
        self.writing = writing
        self.timed_out = timed_out


@command("migrate")
def migrate(c, argv):
    opts, dbid, timeout = parse(argv)
    db = c.db
    found = [(k, v) for k in opts.keys if (v := db.lookup_read(k)) is not None]
    if not found:
        return Simple("NOKEY")
    host = argv[1].decode("utf-8", "surrogateescape")
    port_text = argv[2].decode("utf-8", "surrogateescape")
    timeout_s = timeout / 1000
    may_retry = True
    while True:
        cs = _get_socket(c.state, host, port_text, timeout_s)
        try:
            return _transfer(c, argv, cs, opts, dbid, found, timeout_s, may_retry)
        except _SocketError as e:
            _close_socket(c.state, host, port_text)
            if may_retry and not e.timed_out:
                may_retry = False  # the cached connection may simply have gone stale: one fresh try
                continue
            raise CommandError(IOERR_WRITE if e.writing else IOERR_READ) from None


def _transfer(c, argv: list, cs: MigrateSocket, opts: _Options, dbid: int, found, timeout_s: float, may_retry: bool):
    state = c.state
    restore_name = b"RESTORE-ASKING" if state.config["cluster-enabled"] else b"RESTORE"
    parts = []
    if opts.password is not None:
        parts.append(_command(b"AUTH", opts.username, opts.password) if opts.username is not None
                     else _command(b"AUTH", opts.password))
    select = cs.last_dbid != dbid
    if select:
        parts.append(_command(b"SELECT", b"%d" % dbid))
    sent = []  # keys whose RESTORE is in the pipeline, in order
    now = now_ms()
    for key, value in found:
        ttl = 0
        expire_at = c.db.get_expire(key)
        if expire_at != -1:
            ttl = expire_at - now
            if ttl < 0:
                continue  # expired since the lookup: nothing to move
            ttl = max(ttl, 1)
        args = [restore_name, key, b"%d" % ttl, dump_payload(value, state.config)]
        if opts.replace:
            args.append(b"REPLACE")
        parts.append(_command(*args))
        sent.append(key)

    try:
        cs.send(b"".join(parts), timeout_s)
    except OSError as e:
        raise _SocketError(True, isinstance(e, socket.timeout)) from None

    auth_reply = select_reply = b""
    try:
        if opts.password is not None:
            auth_reply = cs.read_line(timeout_s)
        if select:
            select_reply = cs.read_line(timeout_s)
    except (OSError, EOFError) as e:
        raise _SocketError(False, isinstance(e, socket.timeout)) from None

    error = None
    acked = []
    socket_error = None
    for n, key in enumerate(sent):
        try:
            line = cs.read_line(timeout_s)
        except (OSError, EOFError) as e:
            socket_error = _SocketError(False, isinstance(e, socket.timeout))
            if n == 0 and may_retry and not socket_error.timed_out:
                raise socket_error  # nothing processed yet: the caller retries on a fresh connection
            break
        if auth_reply.startswith(b"-") or select_reply.startswith(b"-") or line.startswith(b"-"):
            if error is None:
                cs.last_dbid = -1  # the target's selected db is no longer known
                bad = auth_reply if auth_reply.startswith(b"-") else \
                    select_reply if select_reply.startswith(b"-") else line
                error = "ERR Target instance replied with error: " + bad[1:].decode("utf-8", "replace")
        elif not opts.copy:
            _delete_migrated(c, key)
            acked.append(key)

    if acked:
        # replicas and the AOF see the keys that left as a DEL of exactly those keys (dispatch propagates the
        # command's argv list as it is after the call)
        argv[:] = [b"DEL", *acked]
    if socket_error is not None and error is None:
        raise CommandError(IOERR_READ)
    if error is not None:
        raise CommandError(error)
    cs.last_dbid = dbid
    return OK


def _delete_migrated(c, key: bytes) -> None:
    db = c.db
    if db.delete(key):  # breaks WATCHes, as signalModifiedKey
        c.state.notify_keyspace_event("del", key, c.dbid, "g")
        c.state.dirty += 1


# --------------------------------------------------------------------------------------------------- RESTORE-ASKING


@command("restore-asking")
def restore_asking(c, argv):
    """RESTORE that the router lets through for an IMPORTING slot without a prior ASKING (the catalog's `asking`
    flag says so); otherwise the same command, replies and propagation."""
    return restore(c, argv)
