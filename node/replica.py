"""Replication, replica side: the link to the primary (trio), as Redis's replica does it.

Handshake: PING, REPLCONF listening-port, REPLCONF capa eof capa psync2, then PSYNC with the cached history
(`PSYNC <replid> <offset+1>`, or `PSYNC ? -1`). `+FULLRESYNC <replid> <offset>` is followed by the RDB, either
`$<len>\\r\\n<bytes>` or the diskless `$EOF:<40-byte mark>\\r\\n<bytes><mark>`; the dataset is emptied and the RDB
loaded. `+CONTINUE [<new replid>]` keeps the data and goes on from the cached offset. Then the stream is applied
as commands of the master client (whose replies are dropped); its raw bytes feed this node's backlog. The offset
is acknowledged every second (REPLCONF ACK) and when the primary asks (REPLCONF GETACK).

A broken link is retried every second with the position reached, so it usually continues partially.
"""
from __future__ import annotations

import logging
import time

import trio

from .client import Client
from .dispatch import execute
from .persistence import rdb
from .persistence.aof_format import BadFormat, Truncated, iter_commands

log = logging.getLogger("shoal.node")

READ_SIZE = 64 * 1024


class LinkError(Exception):
    pass


class ReplicaLink:
    def __init__(self, rep, host: str, port: int, cached: tuple[str, int] | None) -> None:
        self.rep = rep
        self.state = rep.state
        self.host = host
        self.port = port
        self.cached = cached  # (replid, offset) to PSYNC from; None: PSYNC ? -1
        self.cached_dbid = 0  # the master client's database, kept across a partial resynchronisation
        self.up = False
        self.syncing = False
        self.phase = "connect"  # ROLE: connect | connecting | sync | connected
        self.last_io = time.time()
        self.down_since = time.time()
        self.ack_requested = False
        self.scope = trio.CancelScope()
        self.stream: trio.SocketStream | None = None
        self.send_lock = trio.Lock()
        self.master_client: Client | None = None

    def stop(self) -> None:
        self.scope.cancel()
        self._drop_master_client()
        self.up = False

    def cached_position(self) -> tuple[str, int]:
        st = self.state
        return st.replid, st.master_repl_offset

    def role_status(self) -> str:
        return self.phase

    # ------------------------------------------------------------------ the link's life

    async def run(self) -> None:
        with self.scope:
            while True:
                try:
                    await self._session()
                except Exception as e:  # OSError, LinkError, BadFormat, TooSlowError..., maybe in a group
                    if isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
                        e = e.exceptions[0]
                    if isinstance(e, trio.TooSlowError):
                        log.warning("Timeout with MASTER %s:%d", self.host, self.port)
                    elif isinstance(e, (OSError, LinkError, BadFormat, trio.BrokenResourceError,
                                        trio.ClosedResourceError, rdb.RdbError)):
                        log.warning("Replication link with MASTER %s:%d: %s", self.host, self.port, e)
                    else:
                        log.exception("Replication link with MASTER %s:%d: internal error", self.host, self.port)
                finally:
                    if self.up:
                        self.down_since = time.time()
                        log.info("Connection with master lost.")
                    self.up = False
                    self.syncing = False
                    self.phase = "connect"
                    self._drop_master_client()
                    if self.stream is not None:
                        try:
                            await trio.aclose_forcefully(self.stream)
                        except Exception:
                            pass
                        self.stream = None
                await trio.sleep(1)

    def _drop_master_client(self) -> None:
        mc = self.master_client
        if mc is not None:
            self.cached_dbid = mc.dbid
            mc.closing = True
            self.state.clients.pop(mc.id, None)
            self.master_client = None

    async def _session(self) -> None:
        st = self.state
        timeout = st.config["repl-timeout"]
        if self.rep.backlog_active:  # after a first session: go on from where we are
            self.cached = self.cached_position()
        self.phase = "connecting"
        with trio.fail_after(timeout):
            self.stream = await trio.open_tcp_stream(self.host, self.port)
        reader = _Reader(self.stream)
        self.rep_reader = reader
        with trio.fail_after(timeout):
            await self._send(b"*1\r\n$4\r\nPING\r\n")
            line = await reader.line()
            if line.startswith(b"-") and not line.startswith((b"-NOAUTH", b"-NOPERM", b"-ERR operation not")):
                raise LinkError(f"error reply to PING from master: {line.decode('utf-8', 'replace')}")
            port = st.config["replica-announce-port"] or (self.rep.server.port if self.rep.server else 0)
            await self._send(_cmd(b"REPLCONF", b"listening-port", str(port).encode()))
            await reader.line()
            await self._send(_cmd(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"))
            await reader.line()
            replid, offset = self.cached if self.cached is not None else ("?", -2)
            await self._send(_cmd(b"PSYNC", replid.encode(), str(offset + 1).encode()))
            line = b""
            while not line:  # a primary waiting to start its child sends newlines to keep the link alive
                line = await reader.line()
        if line.startswith(b"+FULLRESYNC"):
            parts = line.split()
            new_id, new_offset = parts[1].decode(), int(parts[2])
            self.phase = "sync"
            self.syncing = True
            log.info("Full resync from master: %s:%d", new_id, new_offset)
            payload = await self._receive_rdb(reader, timeout)
            self._load(payload, new_id, new_offset)
            self.cached_dbid = self.stream_db if 0 <= self.stream_db < len(st.keyspace.dbs) else 0
            self.syncing = False
        elif line.startswith(b"+CONTINUE"):
            parts = line.split()
            if len(parts) > 1 and parts[1].decode() != st.replid:
                # the primary's history went on under a new id (it was promoted): ours is a prefix of it
                st.replid2 = st.replid
                st.second_repl_offset = st.master_repl_offset + 1
                st.replid = parts[1].decode()
                self.rep.disconnect_replicas()
            log.info("Successful partial resynchronization with master.")
        else:
            raise LinkError(f"unexpected reply to PSYNC: {line[:200].decode('utf-8', 'replace')}")
        self._start_master_client()
        self.up = True
        self.phase = "connected"
        self.last_io = time.time()
        log.info("MASTER <-> REPLICA sync: Finished with success")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ack_every_second)
            await self._send_ack()
            await self._apply_stream(reader)
            nursery.cancel_scope.cancel()

    async def _receive_rdb(self, reader: "_Reader", timeout: int) -> bytes:
        with trio.fail_after(timeout):
            header = b""
            while not header:  # a primary preparing the RDB sends newlines to keep the link alive
                header = await reader.line()
        if not header.startswith(b"$"):
            raise LinkError(f"bad protocol from master, expected the RDB payload: {header[:64]!r}")
        if header.startswith(b"$EOF:"):
            mark = header[5:]
            if len(mark) != 40:
                raise LinkError("bad EOF mark from master")
            while True:
                at = reader.buf.find(mark)
                if at >= 0:
                    payload = bytes(reader.buf[:at])
                    del reader.buf[:at + 40]
                    return payload
                with trio.fail_after(timeout):
                    await reader.fill()
        size = int(header[1:])
        while len(reader.buf) < size:
            with trio.fail_after(timeout):
                await reader.fill()
        payload = bytes(reader.buf[:size])
        del reader.buf[:size]
        return payload

    def _load(self, payload: bytes, replid: str, offset: int) -> None:
        """Replace the dataset with the primary's; the history restarts at the primary's id and offset."""
        st = self.state
        for db in st.keyspace.dbs:
            db.flush()
        st.loading = True
        try:
            info = rdb.parse_into(payload, st, strict=False)
        finally:
            st.loading = False
        # the database the stream is in at the RDB's point (Redis's rsi.repl_stream_db): a primary starts its
        # stream with a SELECT, a replica relaying its own primary's stream does not
        try:
            self.stream_db = int(info.aux.get("repl-stream-db", b"0"))
        except ValueError:
            self.stream_db = 0
        st.dirty += 1
        st.replid = replid
        st.replid2 = "0" * 40
        st.second_repl_offset = -1
        st.master_repl_offset = offset
        rep = self.rep
        rep.backlog_active = True
        rep.backlog = bytearray()
        rep.disconnect_replicas()  # our own replicas must resync from this new history
        log.info("MASTER <-> REPLICA sync: Loading DB in memory (%d bytes) done", len(payload))

    def _start_master_client(self) -> None:
        st = self.state
        mc = Client(st, f"{self.host}:{self.port}", "", -1)
        mc.is_master_link = True
        mc.no_block = True
        mc.authenticated = True
        mc.parser.unauthenticated = False
        mc.select(self.cached_dbid)
        st.clients[mc.id] = mc
        self.master_client = mc

    async def _apply_stream(self, reader: "_Reader") -> None:
        st = self.state
        rep = self.rep
        timeout = st.config["repl-timeout"]
        while True:
            buf = reader.buf
            if buf:
                done = self._apply(buf)
                if done:
                    del buf[:done]
            mc = self.master_client
            if mc is None or mc.closing:
                raise LinkError("master client killed")
            if self.ack_requested:
                self.ack_requested = False
                await self._send_ack()
            with trio.fail_after(timeout):
                await reader.fill()
            self.last_io = time.time()
            rep.serve_waiters()

    def _apply(self, buf: bytearray) -> int:
        """Run every complete command of `buf`; returns how many bytes they took."""
        rep = self.rep
        mc = self.master_client
        stop = 0
        try:
            for argv, start, stop in iter_commands(buf):
                rep.applying = True
                try:
                    execute(mc, argv)
                except Exception:
                    log.exception("error applying a command from the master")
                finally:
                    rep.applying = False
                rep.feed_raw(bytes(buf[start:stop]))
        except Truncated:
            pass
        return stop

    async def _ack_every_second(self) -> None:
        while True:
            await trio.sleep(1)
            await self._send_ack()

    async def _send_ack(self) -> None:
        await self._send(_cmd(b"REPLCONF", b"ACK", str(self.state.master_repl_offset).encode()))

    async def _send(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)


class _Reader:
    """Buffered reads of the link: lines during the handshake, then raw bytes."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def fill(self) -> None:
        data = await self.stream.receive_some(READ_SIZE)
        if not data:
            raise LinkError("connection closed by master")
        self.buf += data

    async def line(self) -> bytes:
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl]).rstrip(b"\r")
                del self.buf[:nl + 1]
                return line
            await self.fill()


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
