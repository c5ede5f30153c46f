"""The trio shell: listening sockets, one task per client, the cron. The only module doing client socket I/O.

The client loop drives the non-blocking socket directly (`wait_readable` then `recv`, `send` then
`wait_writable` only on EAGAIN): trio's SocketStream costs about half the CPU of a GET/SET server in checkpoint
and cancel-scope machinery. Per read: parse every complete request, execute them all, join the replies, one send.

Output that cannot be sent at once waits in the client's backlog; while it is non-empty the client is not read
(natural backpressure), and a flusher task drains it. Output pushed by *other* clients (pub/sub) goes through
the same path, so a slow subscriber only grows its own backlog, which `client-output-buffer-limit` caps.
"""
from __future__ import annotations

import errno
import functools
import logging
import select
import signal
import socket
import time

import trio

from .client import Client
from .dispatch import Blocked, execute, filter_reply
from .resp import ProtocolError, encode_error
from .state import NodeState

log = logging.getLogger("shoal.node")

READ_SIZE = 64 * 1024


class ClientIO:
    """The socket side of one client: backlog of unsent bytes and the flusher that drains it."""

    __slots__ = ("sock", "backlog", "backlog_bytes", "flushing", "drained", "scope", "client", "batch", "pushq")

    def __init__(self, sock: socket.socket, client: Client):
        self.sock = sock
        self.client = client
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.flushing = False
        self.drained = trio.Event()
        self.drained.set()
        self.scope: trio.CancelScope | None = None
        # the replies of the batch the client is running, while it runs: output pushed to the client meanwhile
        # (pub/sub messages its own commands caused) joins them in order, as Redis appends to one reply buffer
        self.batch: list[bytes] | None = None
        self.pushq: list[bytes] = []  # pushed output waiting for the push flusher (see Server._push)


class Server:
    def __init__(self, state: NodeState):
        self.state = state
        self.listeners: list[socket.socket] = []
        self.ios: dict[int, ClientIO] = {}
        self.nursery: trio.Nursery | None = None
        self.port = 0
        self.shutdown_event = trio.Event()
        state.shutdown_requested = self.request_shutdown
        state.kill_client = self.kill_client
        self.shutdown_hooks: list = []
        self.push_pending: list[ClientIO] = []  # clients with a non-empty pushq
        self.push_wakeup = trio.Event()

    # ------------------------------------------------------------------ listening

    def bind(self) -> None:
        cfg = self.state.config
        port = cfg["port"]
        addrs = [a for a in cfg["bind"].split() if a]
        for addr in addrs:
            optional = addr.startswith("-")
            addr = addr.lstrip("-")
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            host = {"*": "0.0.0.0", "::*": "::"}.get(addr, addr)
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
                s.listen(cfg["tcp-backlog"])
                s.setblocking(False)
            except OSError as e:
                s.close()
                if optional or e.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL) and optional:
                    continue
                raise OSError(e.errno, f"Could not create server TCP listening socket {addr}:{port}: {e.strerror}")
            self.listeners.append(s)
            port = port or s.getsockname()[1]
        self.port = port

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if not self.listeners:
            self.bind()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            for ls in self.listeners:
                nursery.start_soon(self._accept_loop, ls)
            nursery.start_soon(self._cron)
            nursery.start_soon(self._push_flusher)
            log.info("Ready to accept connections tcp")
            task_status.started(self.port)
            await self.shutdown_event.wait()
            for fn in self.shutdown_hooks:
                await fn()
            nursery.cancel_scope.cancel()
        for ls in self.listeners:
            ls.close()

    def request_shutdown(self) -> None:
        self.shutdown_event.set()

    async def _accept_loop(self, ls: socket.socket) -> None:
        state = self.state
        while True:
            await trio.lowlevel.wait_readable(ls)
            try:
                sock, addr = ls.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                log.warning("Accepting client connection: %s", e)
                await trio.sleep(0.01)
                continue
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                ka = state.config["tcp-keepalive"]
                if ka > 0:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            state.stats.total_connections_received += 1
            if len(state.clients) >= state.config["maxclients"]:
                state.stats.rejected_connections += 1
                try:
                    sock.send(b"-ERR max number of clients reached\r\n")
                except OSError:
                    pass
                sock.close()
                continue
            self.nursery.start_soon(self._client_task, sock, addr)

    # ------------------------------------------------------------------ one client

    async def _client_task(self, sock: socket.socket, addr) -> None:
        state = self.state
        try:
            laddr = sock.getsockname()
        except OSError:
            sock.close()
            return
        client = Client(state, _fmt_addr(addr), _fmt_addr(laddr), sock.fileno())
        io = ClientIO(sock, client)
        client.writer = functools.partial(self._push, io)
        state.clients[client.id] = client
        self.ios[client.id] = io
        if state.on_client_connect is not None:
            state.on_client_connect(client)
        try:
            with trio.CancelScope() as scope:
                io.scope = scope
                await self._client_loop(client, io)
                if io.backlog and not client.closing:
                    with trio.move_on_after(5):
                        await self._drain(io)
        except Exception:
            log.exception("client %d: internal error; closing the connection", client.id)
        finally:
            self._cleanup(client, io)

    async def _client_loop(self, c: Client, io: ClientIO) -> None:
        state = self.state
        stats = state.stats
        sock = io.sock
        parser = c.parser
        blocking = state.blocking
        wait_readable = trio.lowlevel.wait_readable
        recv = sock.recv
        while not c.closing:
            if io.backlog:
                await self._drain(io)
                if c.closing:
                    return
            await wait_readable(sock)
            try:
                data = recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if not data:
                return
            stats.total_net_input_bytes += len(data)
            stats.total_reads_processed += 1
            c.last_interaction = time.time()
            reqs: list = []
            perr = None
            try:
                parser.feed(data, reqs)
            except ProtocolError as e:
                perr = e
            out: list[bytes] = []
            io.batch = out
            for argv in reqs:
                if state.paused_until:
                    io.batch = None
                    await self._wait_pause(c, argv, out, io)
                    io.batch = out
                try:
                    r = execute(c, argv)
                except Blocked as b:
                    io.batch = None
                    if out:
                        self._write(io, b"".join(out))
                        out.clear()
                    r = await self._block(c, io, b)
                    io.batch = out
                if c.reply_mode:  # REPLY_ON is 0
                    r = filter_reply(c, r)
                out.append(r)  # b"" (no reply) joins harmlessly
                if blocking.ready:  # after the reply: what serving them pushes to this client comes after it
                    blocking.serve_ready()
                if c.closing or c.close_after_reply:
                    break
            io.batch = None
            if perr is not None and not (c.closing or c.close_after_reply):
                log.info("Protocol error (%s) from client: id=%d addr=%s", perr, c.id, c.addr)
                out.append(encode_error("ERR " + str(perr)))
                c.close_after_reply = True
            if out:
                data_out = out[0] if len(out) == 1 else b"".join(out)
                if data_out:
                    self._write(io, data_out)
            if c.close_after_reply:
                return
            if parser.fast and parser.boundary:
                continue  # nothing held for an unfinished request
            pending = parser.pending()
            if pending > c.query_peak:
                c.query_peak = pending
                limit = state.config["client-query-buffer-limit"]
                if pending > limit and parser.precise_pending() > limit:
                    log.warning("Closing client that reached max query buffer length: id=%d addr=%s "
                                "(qbuf initial bytes: %r)", c.id, c.addr, data[:64])
                    stats.client_query_buffer_limit_disconnections += 1
                    return

    async def _wait_pause(self, c: Client, argv, out, io) -> None:
        state = self.state
        while state.paused_until and time.time() < state.paused_until:
            if state.pause_writes_only and not state.command_may_write(c, argv):
                return
            if out:
                self._write(io, b"".join(out))
                out.clear()
            await trio.sleep(min(0.01, max(0.0, state.paused_until - time.time())))
        if state.paused_until and time.time() >= state.paused_until:
            state.paused_until = 0.0

    async def _block(self, c: Client, io: ClientIO, b: Blocked) -> bytes:
        """Park the client until a key it waits on changes or the timeout passes (see node/blocking.py). Meanwhile
        its socket is watched so that a client hanging up while blocked leaves no trace."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_hangup, c, io, nursery.cancel_scope)
            reply = await self.state.blocking.wait(c, b)
            nursery.cancel_scope.cancel()
        return reply

    async def _watch_hangup(self, c: Client, io: ClientIO, scope: trio.CancelScope) -> None:
        await trio.lowlevel.wait_readable(io.sock)
        try:
            data = io.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            data = b"?"
        except OSError:
            data = b""
        # The client pipelined more requests: they wait in the socket until it is served, and a hang-up behind
        # them cannot be seen by reading; poll for the peer's FIN (POLLRDHUP) now and then instead.
        while data:
            await trio.sleep(0.1)
            data = b"" if _peer_hung_up(io.sock) else b"?"
        self.state.blocking.cancel(c)  # out of every queue before anything is served to it
        c.closing = True
        if io.scope is not None:
            io.scope.cancel()
        await trio.sleep_forever()

    # ------------------------------------------------------------------ output

    def _push(self, io: ClientIO, data: bytes) -> None:
        """Output not caused by the client's own request (pub/sub messages, invalidations). It waits in the
        client's pushq until the running task yields, then goes out in one send with whatever else was pushed
        meanwhile: a pipelined publisher costs each subscriber one send per batch, not one per message (Redis
        likewise writes each client's buffer once per event-loop turn)."""
        if io.batch is not None:
            io.batch.append(data)
            return
        q = io.pushq
        if not q:
            self.push_pending.append(io)
            if len(self.push_pending) == 1:
                self.push_wakeup.set()
        q.append(data)

    async def _push_flusher(self) -> None:
        while True:
            await self.push_wakeup.wait()
            self.push_wakeup = trio.Event()
            pending = self.push_pending
            self.push_pending = []
            for io in pending:
                q = io.pushq
                if q:
                    io.pushq = []
                    try:
                        self._write(io, q[0] if len(q) == 1 else b"".join(q))
                    except Exception:
                        log.exception("client %d: error while sending pushed output", io.client.id)

    def _write(self, io: ClientIO, data: bytes) -> None:
        c = io.client
        if c.closing:
            return
        before_reply = self.state.before_reply
        if before_reply is not None and before_reply(io, data):
            return  # the AOF holds it until its fsync covers the writes before it, then sends it through here
        if io.pushq:  # pushed output still waiting goes first
            q = io.pushq
            io.pushq = []
            q.append(data)
            data = b"".join(q)
        self.state.stats.total_net_output_bytes += len(data)
        if not io.backlog:
            try:
                n = io.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                c.closing = True
                if io.scope is not None:
                    io.scope.cancel()
                return
            if n == len(data):
                return
            data = data[n:]
        io.backlog.append(data)
        io.backlog_bytes += len(data)
        c.out_pending = io.backlog_bytes
        if self._over_output_limit(c, io):
            return
        if not io.flushing:
            io.flushing = True
            io.drained = trio.Event()
            self.nursery.start_soon(self._flusher, io)

    def _over_output_limit(self, c: Client, io: ClientIO) -> bool:
        hard, soft, secs = self.state.config["client-output-buffer-limit"][c.kind]
        n = io.backlog_bytes
        now = time.time()
        over = False
        if hard and n >= hard:
            over = True
        elif soft and n >= soft:
            if not c.out_soft_since:
                c.out_soft_since = now
            elif now - c.out_soft_since >= secs:
                over = True
        else:
            c.out_soft_since = 0.0
        if over:
            log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming of output buffer "
                        "limits.", c.id, c.addr)
            self.state.stats.client_output_buffer_limit_disconnections += 1
            io.backlog = []
            io.backlog_bytes = 0
            c.out_pending = 0
            self.kill_client(c)
        return over

    async def _flusher(self, io: ClientIO) -> None:
        try:
            await self._send_backlog(io)
        except (OSError, trio.ClosedResourceError):
            io.client.closing = True
            if io.scope is not None:
                io.scope.cancel()
        finally:
            io.flushing = False
            io.drained.set()

    async def _drain(self, io: ClientIO) -> None:
        """Return once the backlog is sent: wait for the flusher if one runs, else send it here."""
        if io.flushing:
            await io.drained.wait()
        else:
            await self._send_backlog(io)

    async def _send_backlog(self, io: ClientIO) -> None:
        sock = io.sock
        while io.backlog:
            data = io.backlog[0]
            try:
                n = sock.send(data)
            except (BlockingIOError, InterruptedError):
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError:
                io.backlog = []
                io.backlog_bytes = 0
                io.client.closing = True
                return
            io.backlog_bytes -= n
            if n == len(data):
                io.backlog.pop(0)
            else:
                # a memoryview slice: a big reply sent in pieces is not copied once per piece
                io.backlog[0] = memoryview(data)[n:]
            io.client.out_pending = io.backlog_bytes

    def kill_client(self, c: Client) -> None:
        c.closing = True
        io = self.ios.get(c.id)
        if io is not None and io.scope is not None:
            io.scope.cancel()

    def _cleanup(self, c: Client, io: ClientIO) -> None:
        state = self.state
        c.closing = True
        state.clients.pop(c.id, None)
        self.ios.pop(c.id, None)
        try:
            c.unwatch_all()
            if state.on_client_disconnect is not None:
                state.on_client_disconnect(c)
        except Exception:
            log.exception("client %d: error while cleaning up", c.id)
        try:
            io.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ cron

    async def _cron(self) -> None:
        state = self.state
        while True:
            hz = max(1, min(500, state.config["hz"]))
            await trio.sleep(1.0 / hz)
            try:
                self._cron_tick(hz)
            except Exception:
                log.exception("error in the server cron")

    def _cron_tick(self, hz: int) -> None:
        state = self.state
        now = time.time()
        state.lru_clock = int(now)
        # active expiry: at most a quarter of the tick's time (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC)
        if state.active_expire_enabled and not state.is_replica:
            deadline = time.perf_counter() + 0.25 / hz
            for db in state.keyspace.dbs:
                if db.vol_keys:
                    db.active_expire_cycle(deadline)
                if time.perf_counter() > deadline:
                    state.stats.expired_time_cap_reached_count += 1
                    break
        timeout = state.config["timeout"]
        if timeout:
            for c in list(state.clients.values()):
                if (now - c.last_interaction > timeout and c.blocked is None and not c.is_replica_link
                        and not c.is_master_link and not c.in_pubsub_context()):
                    log.info("Closing idle client id=%d", c.id)
                    self.kill_client(c)
        for fn in state.cron_hooks:
            fn(now)


def _peer_hung_up(sock) -> bool:
    """Has the peer closed its end (or the connection failed), even with unread data still queued?"""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | getattr(select, "POLLRDHUP", 0))
    for _, ev in poller.poll(0):
        if ev & (getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
    return False


def _fmt_addr(addr) -> str:
    if isinstance(addr, tuple):
        host, port = addr[0], addr[1]
        return f"{host}:{port}"
    return str(addr or "")


def install_signal_handlers(server: Server) -> None:
    """SIGTERM/SIGINT: shut down cleanly (save if configured, close listeners), as Redis does."""

    def handler(signum, frame):
        log.warning("Received %s scheduling shutdown...", "SIGINT" if signum == signal.SIGINT else "SIGTERM")
        trio.lowlevel.current_trio_token().run_sync_soon(server.request_shutdown)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
