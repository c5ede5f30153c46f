"""Replication, primary side (and the state both sides share): the replication ids and offset, the backlog, the
replicas attached to this node, full and partial resynchronisation, WAIT and min-replicas-to-write.

The propagated stream is what `dispatch.call` hands to `state.propagate_hooks`, encoded as the AOF encodes it (a
SELECT whenever the database changes). Offsets count stream bytes, as Redis counts them: `master_repl_offset` is
the number of bytes ever fed; the backlog keeps the last `repl-backlog-size` of them (bytes numbered
`first_byte_offset .. master_repl_offset`, 1-based like Redis's), so `PSYNC <replid> <first byte wanted>` can
continue from it.

A full resynchronisation forks a child (the persistence room's BackgroundJobs, kind "rdb") that writes the dataset
to a temporary file; the parent then sends `$<len>\\r\\n<rdb>` and whatever was propagated since the fork.

On a replica (node/replica.py owns the link to its primary) the stream received is applied as commands of the
master client, and its raw bytes — not a re-encoding — feed this node's own backlog, so a replica's offsets equal
its primary's and a promoted replica can continue its former siblings (PSYNC2: the old id stays as replid2).

`install(state, server)` builds it; the composition root runs `run()` in its nursery (the replica link's tasks
live there).
"""
from __future__ import annotations

import logging
import os
import time

import trio

from .commands.registry import STALE, command
from .dispatch import Blocked
from .errors import CommandError
from .persistence.aof_format import encode_command, select_command
from .resp import OK, Raw, Simple

log = logging.getLogger("shoal.node")

NULL_ID = "0" * 40
PING_CMD = b"*1\r\n$4\r\nPING\r\n"
GETACK_CMD = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n"
READONLY_ERR = "READONLY You can't write against a read only replica."
NOREPLICAS_ERR = "NOREPLICAS Not enough good replicas to write."
MASTERDOWN_ERR = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."


def new_replid() -> str:
    return os.urandom(20).hex()


class ReplicaRecord:
    """One replica attached to this node (a client that sent REPLCONF or PSYNC)."""

    __slots__ = ("client", "ip", "port", "state", "ack_offset", "ack_time", "capa", "pending")

    def __init__(self, client) -> None:
        self.client = client
        self.ip = client.addr.rsplit(":", 1)[0]
        self.port = 0
        self.state = "handshake"  # handshake | wait_bgsave | bgsave | online
        self.ack_offset = 0
        self.ack_time = time.time()
        self.capa: set[str] = set()
        self.pending: list[bytes] = []  # the stream propagated while its RDB is being written


class Replication:
    def __init__(self, state, server) -> None:
        self.state = state
        self.server = server
        state.replication = self
        if not getattr(state, "replid", None):
            state.replid = new_replid()
        state.replid2 = NULL_ID
        state.second_repl_offset = -1
        state.master_repl_offset = 0
        self.backlog = bytearray()
        self.backlog_active = False
        self.selected_db = -1  # the database the stream last selected; -1: the next command starts with SELECT
        self.replicas: dict[int, ReplicaRecord] = {}
        self.sync_file: str | None = None  # the RDB the running replication child writes
        self.waiters: list = []  # WAIT: [client, target offset, numreplicas]
        self.applying = False  # a replica applying its primary's stream: its raw bytes feed the backlog instead
        self.last_ping = time.time()
        self.no_replicas_since = time.time()
        self.nursery: trio.Nursery | None = None
        self.link = None  # node/replica.py ReplicaLink while this node is a replica
        self.master: tuple[str, int] | None = None
        state.propagate_hooks.append(self.feed_command)
        state.cron_hooks.append(self.cron)
        state.info_sections["replication"] = self.info_lines
        previous = state.on_client_disconnect

        def on_disconnect(c, previous=previous) -> None:
            if c.id in self.replicas:
                self.drop_replica(c)
            if previous is not None:
                previous(c)

        state.on_client_disconnect = on_disconnect
        for name in ("min-replicas-to-write", "min-replicas-max-lag", "replica-read-only", "replica-serve-stale-data"):
            state.config.on_change(name, lambda v, old: self.refresh_gate())
        self.refresh_gate()

    # ------------------------------------------------------------------ the stream

    def feed_command(self, dbid: int, argv) -> None:
        """The propagate hook: a write of this node's clients (not of the primary's stream, see `applying`)."""
        if self.applying or not self.backlog_active:
            return
        if dbid != self.selected_db:
            self.selected_db = dbid
            self.feed_raw(select_command(dbid) + encode_command(argv))
        else:
            self.feed_raw(encode_command(argv))

    def feed_raw(self, data: bytes) -> None:
        st = self.state
        st.master_repl_offset += len(data)
        backlog = self.backlog
        backlog += data
        size = st.config["repl-backlog-size"]
        if len(backlog) > 2 * size:  # trimmed in steps: cutting the head on every write would copy it each time
            del backlog[:len(backlog) - size]
        for rec in self.replicas.values():
            if rec.state == "online":
                rec.client.push(data)
            elif rec.state == "bgsave":
                rec.pending.append(data)

    def create_backlog(self) -> None:
        if not self.backlog_active:
            self.backlog_active = True
            self.backlog = bytearray()

    @property
    def histlen(self) -> int:
        return min(len(self.backlog), self.state.config["repl-backlog-size"]) if self.backlog_active else 0

    @property
    def first_byte_offset(self) -> int:
        return self.state.master_repl_offset - self.histlen + 1 if self.backlog_active else 0

    # ------------------------------------------------------------------ primary: replicas

    def record(self, c) -> ReplicaRecord:
        rec = self.replicas.get(c.id)
        if rec is None:
            rec = self.replicas[c.id] = ReplicaRecord(c)
        return rec

    def drop_replica(self, c) -> None:
        rec = self.replicas.pop(c.id, None)
        if rec is not None and rec.state != "handshake":
            log.info("Connection with replica %s:%d lost.", rec.ip, rec.port)
        self.refresh_gate()

    def psync(self, c, replid: str, want: int) -> bytes:
        """PSYNC: +CONTINUE with the backlog's tail when it can, else schedule a full resynchronisation."""
        st = self.state
        rec = self.record(c)
        c.is_replica_link = True
        c.kind = "replica"
        if self.partial_possible(replid, want):
            tail = bytes(self.backlog[len(self.backlog) - (st.master_repl_offset - want + 1):]) \
                if want <= st.master_repl_offset else b""
            rec.state = "online"
            rec.ack_time = time.time()
            st.stats.sync_partial_ok += 1
            log.info("Partial resynchronization request from %s accepted. Sending %d bytes of backlog starting "
                     "from offset %d.", c.addr, len(tail), want)
            head = b"+CONTINUE %s\r\n" % st.replid.encode() if "psync2" in rec.capa else b"+CONTINUE\r\n"
            self.refresh_gate()
            return head + tail
        if replid != "?":
            st.stats.sync_partial_err += 1
        if not self.backlog_active:
            # a new history starts: nobody can continue the one before it (Redis: changeReplicationId)
            st.replid = new_replid()
            st.replid2 = NULL_ID
            st.second_repl_offset = -1
            self.create_backlog()
        log.info("Replica %s asks for synchronization", c.addr)
        rec.state = "wait_bgsave"
        self.start_sync_if_possible()
        return b""

    def partial_possible(self, replid: str, want: int) -> bool:
        st = self.state
        if not self.backlog_active or self.state.is_replica and (self.link is None or not self.link.up):
            return False
        if replid != st.replid and not (replid == st.replid2 and want <= st.second_repl_offset):
            return False
        return self.first_byte_offset <= want <= st.master_repl_offset + 1

    def start_sync_if_possible(self) -> None:
        """Fork the child writing the RDB for every replica waiting for one, unless a child already runs."""
        st = self.state
        waiting = [r for r in self.replicas.values() if r.state == "wait_bgsave"]
        bg = st.background
        if not waiting or bg is None or bg.busy():
            return
        if st.is_replica and (self.link is None or not self.link.up):
            return
        offset, replid = st.master_repl_offset, st.replid
        # in the working directory, which is `dir`, beside the snapshots
        path = os.path.abspath(f"temp-repl-{os.getpid()}-{int(time.time() * 1000)}.rdb")
        # a replica relays its primary's stream as is, from the database its master client is in
        link = self.link
        mc = link.master_client if st.is_replica and link is not None else None
        aux = {"repl-stream-db": mc.dbid if mc is not None else 0, "repl-id": replid, "repl-offset": offset}

        def child() -> dict:
            from .persistence import rdb
            with open(path, "wb", buffering=1 << 20) as f:
                rdb.write_rdb(f, st, aux=aux)
            return {}

        try:
            bg.start("rdb", child, self._sync_done)
        except OSError as e:
            log.warning("Can't fork for the replicas' full resynchronisation: %s", e)
            return
        self.sync_file = path
        if not st.is_replica:
            self.selected_db = -1  # the replicas start from the RDB's state: the stream must select a database first
        line = b"+FULLRESYNC %s %d\r\n" % (replid.encode(), offset)
        for rec in waiting:
            rec.state = "bgsave"
            rec.pending = []
            rec.client.push(line)
            st.stats.sync_full += 1
            log.info("Full resync requested by replica %s; starting BGSAVE for replication", rec.client.addr)

    def _sync_done(self, ok: bool, kind: str) -> None:
        path, self.sync_file = self.sync_file, None
        data = None
        if ok and path:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                log.warning("Reading the replication RDB: %s", e)
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
        for rec in list(self.replicas.values()):
            if rec.state != "bgsave":
                continue
            if data is None:
                log.warning("Replication BGSAVE failed: dropping replica %s", rec.client.addr)
                kill = self.state.kill_client
                if kill is not None:
                    kill(rec.client)
                continue
            rec.client.push(b"$%d\r\n" % len(data) + data + b"".join(rec.pending))
            rec.pending = []
            rec.state = "online"
            rec.ack_time = time.time()
            log.info("Synchronization with replica %s succeeded", rec.client.addr)
        self.refresh_gate()
        self.start_sync_if_possible()

    def on_ack(self, c, offset: int) -> None:
        rec = self.replicas.get(c.id)
        if rec is None:
            return
        rec.ack_time = time.time()
        if offset > rec.ack_offset:
            rec.ack_offset = offset
        self.serve_waiters()

    # ------------------------------------------------------------------ WAIT, min-replicas-to-write

    def acked(self, offset: int) -> int:
        return sum(1 for r in self.replicas.values() if r.state == "online" and r.ack_offset >= offset)

    def serve_waiters(self) -> None:
        if not self.waiters:
            return
        keep = []
        for w in self.waiters:
            c, target, num = w
            if c.closing:
                continue
            n = self.acked(target)
            if n >= num and self.state.blocking.unblock(c, b":%d\r\n" % n):
                continue
            keep.append(w)
        self.waiters = keep

    def good_replicas(self) -> int:
        lag = self.state.config["min-replicas-max-lag"]
        now = time.time()
        return sum(1 for r in self.replicas.values() if r.state == "online" and now - r.ack_time <= lag)

    def refresh_gate(self) -> None:
        """The dispatcher's write check is only plugged in while it can refuse something (it costs each command)."""
        st = self.state
        cfg = st.config
        needed = (st.is_replica and (cfg["replica-read-only"] or not cfg["replica-serve-stale-data"])) or \
            (not st.is_replica and cfg["min-replicas-to-write"] > 0 and cfg["min-replicas-max-lag"] > 0)
        st.write_gate = self.write_gate if needed else None

    def write_gate(self, client, cmd=None, writes: bool = True) -> str | None:
        if client.is_master_link:
            return None
        st = self.state
        if st.is_replica:
            if writes and st.config["replica-read-only"]:
                return READONLY_ERR
            if not st.config["replica-serve-stale-data"] and (self.link is None or not self.link.up) \
                    and cmd is not None and not cmd.bits & STALE:
                return MASTERDOWN_ERR
            return None
        if writes and self.good_replicas() < st.config["min-replicas-to-write"]:
            return NOREPLICAS_ERR
        return None

    # ------------------------------------------------------------------ cron

    def cron(self, now: float) -> None:
        st = self.state
        if self.replicas and not st.is_replica and now - self.last_ping >= st.config["repl-ping-replica-period"]:
            self.last_ping = now
            if any(r.state == "online" for r in self.replicas.values()):
                self.feed_raw(PING_CMD)
        elif not self.replicas:
            self.last_ping = now
        self.start_sync_if_possible()
        if self.waiters:
            self.serve_waiters()
        timeout = st.config["repl-timeout"]
        kill = st.kill_client
        for rec in list(self.replicas.values()):
            if rec.state == "online" and now - rec.ack_time > timeout and kill is not None:
                log.warning("Disconnecting timedout replica (streaming sync): %s", rec.client.addr)
                kill(rec.client)
        if self.replicas or st.is_replica:
            self.no_replicas_since = now
        elif self.backlog_active and st.config["repl-backlog-ttl"] and \
                now - self.no_replicas_since > st.config["repl-backlog-ttl"]:
            # nobody can continue from it any more: free it (a new history starts with the next replica)
            self.backlog_active = False
            self.backlog = bytearray()
            log.info("Replication backlog freed after %d seconds without connected replicas.",
                     st.config["repl-backlog-ttl"])

    # ------------------------------------------------------------------ role changes

    def disconnect_replicas(self) -> None:
        kill = self.state.kill_client
        for rec in list(self.replicas.values()):
            if rec.state != "handshake" and kill is not None:
                kill(rec.client)

    def become_replica(self, host: str, port: int) -> None:
        from .replica import ReplicaLink
        st = self.state
        if self.link is not None:
            self.link.stop()
        was_primary = not st.is_replica
        st.is_replica = True
        self.master = (host, port)
        self.disconnect_replicas()
        self.create_backlog()
        # PSYNC with our own history: a primary that was our sibling or our replica may continue it
        self.link = ReplicaLink(self, host, port, cached=(st.replid, st.master_repl_offset) if was_primary or
                                self.link is None else self.link.cached_position())
        self.refresh_gate()
        if self.nursery is not None:
            self.nursery.start_soon(self.link.run)
        log.info("Connecting to MASTER %s:%d", host, port)

    def promote(self) -> None:
        """REPLICAOF NO ONE: keep the data and the history; a new id, the old one kept for PSYNC2."""
        st = self.state
        if self.link is not None:
            self.link.stop()
            self.link = None
        st.is_replica = False
        self.master = None
        st.replid2 = st.replid
        st.second_repl_offset = st.master_repl_offset + 1
        st.replid = new_replid()
        self.selected_db = -1
        self.disconnect_replicas()
        self.refresh_gate()
        log.info("MASTER MODE enabled (user request from REPLICAOF NO ONE)")

    async def run(self) -> None:
        """Holds the nursery the replica link runs in; starts the link given by `replicaof` at start-up."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            spec = self.state.config["replicaof"]
            if spec:
                while self.state.loading:  # the persistence room loads the files first
                    await trio.sleep(0.05)
                host, port = spec.split()
                self.become_replica(host, int(port))
            await trio.sleep_forever()

    # ------------------------------------------------------------------ INFO, ROLE

    def info_lines(self, state=None) -> list[str]:
        st = self.state
        now = time.time()
        out = [f"role:{'slave' if st.is_replica else 'master'}"]
        if st.is_replica and self.master is not None:
            link = self.link
            up = link is not None and link.up
            out += [f"master_host:{self.master[0]}", f"master_port:{self.master[1]}",
                    f"master_link_status:{'up' if up else 'down'}",
                    f"master_last_io_seconds_ago:{int(now - link.last_io) if up else -1}",
                    f"master_sync_in_progress:{int(link is not None and link.syncing)}",
                    f"slave_read_repl_offset:{st.master_repl_offset}",
                    f"slave_repl_offset:{st.master_repl_offset}"]
            if not up:
                since = link.down_since if link is not None else now
                out.append(f"master_link_down_since_seconds:{int(now - since) if since else -1}")
            out += [f"slave_priority:{st.config['replica-priority']}",
                    f"slave_read_only:{int(st.config['replica-read-only'])}",
                    f"replica_announced:{int(st.config['replica-announced'])}"]
        listed = [r for r in self.replicas.values() if r.state != "handshake"]
        out.append(f"connected_slaves:{len(listed)}")
        if not st.is_replica and st.config["min-replicas-to-write"] and st.config["min-replicas-max-lag"]:
            out.append(f"min_slaves_good_slaves:{self.good_replicas()}")
        for i, r in enumerate(listed):
            out.append(f"slave{i}:ip={r.ip},port={r.port},state={'send_bulk' if r.state == 'bgsave' else r.state},"
                       f"offset={r.ack_offset},lag={int(now - r.ack_time)}")
        out += ["master_failover_state:no-failover", f"master_replid:{st.replid}", f"master_replid2:{st.replid2}",
                f"master_repl_offset:{st.master_repl_offset}", f"second_repl_offset:{st.second_repl_offset}",
                f"repl_backlog_active:{int(self.backlog_active)}",
                f"repl_backlog_size:{st.config['repl-backlog-size']}",
                f"repl_backlog_first_byte_offset:{self.first_byte_offset}",
                f"repl_backlog_histlen:{self.histlen}"]
        return out

    def role_reply(self) -> list:
        st = self.state
        if st.is_replica and self.master is not None:
            link = self.link
            status = link.role_status() if link is not None else "connect"
            return [b"slave", self.master[0].encode(), self.master[1], status.encode(),
                    st.master_repl_offset if link is not None and link.up else -1]
        replicas = [[r.ip.encode(), str(r.port).encode(), str(r.ack_offset).encode()]
                    for r in self.replicas.values() if r.state == "online"]
        return [b"master", st.master_repl_offset, replicas]


def install(state, server) -> Replication:
    """Build the node's replication; the composition root then runs `run()` in its nursery."""
    return Replication(state, server)


# --------------------------------------------------------------------------------------------------- commands


def _repl(c) -> Replication:
    rep = getattr(c.state, "replication", None)
    if rep is None:
        raise CommandError("ERR replication is not available on this node")
    return rep


@command("psync")
def psync_command(c, argv):
    rep = _repl(c)
    if c.is_replica_link and c.id in rep.replicas and rep.replicas[c.id].state != "handshake":
        return Raw(b"")  # Redis ignores a second SYNC/PSYNC on a replica link
    if c.state.is_replica and (rep.link is None or not rep.link.up):
        raise CommandError("NOMASTERLINK Can't SYNC while not connected with my master")
    try:
        want = int(argv[2])
    except ValueError:
        want = -1
    return Raw(rep.psync(c, argv[1].decode("utf-8", "replace"), want))


@command("sync")
def sync_command(c, argv):
    raise CommandError("ERR SYNC is not supported by Shoal: use PSYNC")


@command("replconf")
def replconf_command(c, argv):
    rep = _repl(c)
    if len(argv) % 2 == 0:
        raise CommandError("ERR syntax error")
    for i in range(1, len(argv), 2):
        opt = argv[i].lower()
        val = argv[i + 1]
        if opt == b"listening-port":
            try:
                rep.record(c).port = int(val)
            except ValueError:
                raise CommandError("ERR value is not an integer or out of range") from None
        elif opt == b"ip-address":
            rep.record(c).ip = val.decode("utf-8", "replace")
        elif opt == b"capa":
            rep.record(c).capa.add(val.decode("utf-8", "replace").lower())
        elif opt == b"ack":
            try:
                rep.on_ack(c, int(val))
            except ValueError:
                pass
            return Raw(b"")  # ACKs are never answered
        elif opt == b"getack":
            if c.is_master_link and rep.link is not None:
                rep.link.ack_requested = True
            return Raw(b"")
        elif opt in (b"rdb-only", b"rdb-filter-only"):
            pass
        else:
            raise CommandError(f"ERR Unrecognized REPLCONF option: {argv[i].decode('utf-8', 'replace')}")
    return OK


@command("role")
def role_command(c, argv):
    return _repl(c).role_reply()


@command("wait")
def wait_command(c, argv):
    rep = _repl(c)
    st = c.state
    if st.is_replica:
        raise CommandError("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 "
                           "if a replica is configured to be writable (which is not the default) writes to "
                           "replicas are just local and are not propagated.")
    try:
        num = int(argv[1])
        timeout = int(argv[2])
    except ValueError:
        raise CommandError("ERR value is not an integer or out of range") from None
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    target = st.master_repl_offset
    n = rep.acked(target)
    if n >= num or c.no_block:
        return n
    waiter = [c, target, num]
    rep.waiters.append(waiter)
    if any(r.state == "online" for r in rep.replicas.values()):
        rep.feed_raw(GETACK_CMD)  # ask for the offsets now rather than at the next once-a-second ACK

    def on_timeout():
        if waiter in rep.waiters:
            rep.waiters.remove(waiter)
        return rep.acked(target)

    def retry():
        raise Blocked([], deadline, retry, on_timeout)

    deadline = time.time() + timeout / 1000 if timeout else 0
    raise Blocked([], deadline, retry, on_timeout)


def _replicaof(c, argv):
    rep = _repl(c)
    st = c.state
    if st.config["cluster-enabled"]:
        raise CommandError("ERR REPLICAOF not allowed in cluster mode.")
    host = argv[1].decode("utf-8", "replace")
    if host.lower() == "no" and argv[2].lower() == b"one":
        if st.is_replica:
            rep.promote()
        return OK
    try:
        port = int(argv[2])
    except ValueError:
        raise CommandError("ERR value is not an integer or out of range") from None
    if c.is_master_link:
        raise CommandError("ERR Command is not valid when client is a replica.")
    if st.is_replica and rep.master == (host, port):
        log.info("REPLICAOF would result into synchronization with the master we are already connected with. "
                 "No operation performed.")
        return Simple("OK Already connected to specified master")
    rep.become_replica(host, port)
    return OK


command("replicaof")(_replicaof)
command("slaveof")(_replicaof)
