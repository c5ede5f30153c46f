"""Per-connection state: protocol version, selected database, MULTI queue, watched keys, subscriptions, name,
flags, and output accounting. No I/O: `server.py` owns the socket and calls `send` through `writer`."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from .resp import RequestParser

if TYPE_CHECKING:
    from .keyspace import Database
    from .state import NodeState

REPLY_ON, REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT = 0, 1, 2, 3


class Client:
    __slots__ = (
        "id", "state", "addr", "laddr", "fd", "name", "lib_name", "lib_ver", "proto", "db", "dbid", "created",
        "last_interaction", "last_cmd", "in_multi", "multi_queue", "dirty_cas", "dirty_exec", "watched",
        "channels", "patterns", "shard_channels", "reply_mode", "authenticated", "user", "parser", "closing",
        "close_after_reply", "writer", "out_pending", "out_soft_since", "no_evict",
        "no_touch", "readonly", "asking", "blocked", "unblock", "is_replica_link", "is_master_link", "tracking",
        "query_peak", "no_block", "argv_mem", "multi_mem", "kind", "watched_expired",
    )

    def __init__(self, state: "NodeState", addr: str = "", laddr: str = "", fd: int = -1):
        self.id = state.new_client_id()
        self.state = state
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.proto = 2
        self.dbid = 0
        self.db: "Database" = state.keyspace[0]
        now = time.time()
        self.created = now
        self.last_interaction = now
        self.last_cmd = "NULL"
        self.in_multi = False
        self.multi_queue: list = []
        self.dirty_cas = False  # a watched key changed: EXEC must fail
        self.dirty_exec = False  # a command failed to queue: EXEC must abort
        self.watched: list = []  # (dbid, key)
        self.watched_expired: set = set()  # watched keys that were already expired when watched
        # subscriptions (node/pubsub.py): dicts used as insertion-ordered sets, so that unsubscribing from
        # everything confirms in subscription order
        self.channels: dict = {}
        self.patterns: dict = {}
        self.shard_channels: dict = {}
        self.reply_mode = REPLY_ON
        self.authenticated = True
        self.user = "default"
        self.parser = RequestParser(state.config["proto-max-bulk-len"])
        if state.config["requirepass"]:
            # a password is set: AUTH/HELLO first, under the parser's pre-auth size limits until then
            self.authenticated = False
            self.parser.unauthenticated = True
        self.closing = False  # drop the connection now
        self.close_after_reply = False  # QUIT, protocol errors: flush, then close
        self.writer: Callable[[bytes], None] | None = None  # set by the server shell
        self.out_pending = 0  # bytes queued but not yet accepted by the kernel
        self.out_soft_since = 0.0
        self.no_evict = False
        self.no_touch = False
        self.readonly = False
        self.asking = False
        self.blocked = None
        self.unblock = None
        self.is_replica_link = False
        self.is_master_link = False
        self.tracking = False
        self.query_peak = 0
        self.no_block = False  # set while running EXEC or a script: blocking commands answer at once
        self.argv_mem = 0
        self.multi_mem = 0
        self.kind = "normal"  # normal | pubsub | replica: which client-output-buffer-limit class applies

    def select(self, dbid: int) -> None:
        self.dbid = dbid
        self.db = self.state.keyspace[dbid]

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)

    def in_pubsub_context(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    def push(self, data: bytes) -> None:
        """Out-of-band output from another client's command (pub/sub messages, invalidations)."""
        if self.writer is not None and not self.closing:
            self.writer(data)

    def unwatch_all(self) -> None:
        for dbid, key in self.watched:
            db = self.state.keyspace[dbid]
            clients = db.watched.get(key)
            if clients is not None:
                clients.discard(self)
                if not clients:
                    del db.watched[key]
        self.watched = []
        self.watched_expired = set()
        self.dirty_cas = False

    def flags_string(self) -> str:
        f = ""
        if self.is_replica_link:
            f += "S"
        if self.is_master_link:
            f += "M"
        if self.subscriptions or self.shard_channels:
            f += "P"
        if self.in_multi:
            f += "x"
        if self.blocked is not None:
            f += "b"
        if self.tracking:
            f += "t"
        if self.dirty_cas:
            f += "d"
        if self.close_after_reply:
            f += "c"
        if self.readonly:
            f += "r"
        if self.no_evict:
            f += "e"
        if self.no_touch:
            f += "T"
        return f or "N"
