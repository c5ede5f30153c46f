"""Cluster bus messages and their binary form. Sans-IO: `encode()` turns a `Message` into one frame, a
`FrameReader` is fed the bytes a link delivers and yields the messages it completes.

The wire format is ours (Redis's `clusterMsg` is a C struct with padding and host-order quirks), but it carries what
Redis's carries, so the bus can follow the Redis Cluster spec message for message:

    frame   = magic "SHBS" | version u8 | type u8 | mflags u8 | total length u32 | header | body | trailer
    header  = sender id (40 ascii hex) | current epoch u64 | config epoch u64 | replication offset u64
              | ip (u8 length + ascii, may be empty: the receiver then uses the socket's peer address, as Redis)
              | port u16 | cport u16 | hostname (u8 length) | flags u16 | primary id (u8 length: 0 or 40)
              | shard id (u8 length: 0 or 40) | slot bitmap (2048 bytes: the slots the sender claims) | state u8
    body    = PING/PONG/MEET: count u16, then per entry: node id (40) | ping_sent u64 ms | pong_received u64 ms
                              | ip (u8 length) | port u16 | cport u16 | flags u16
              FAIL: node id (40)      UPDATE: node id (40) | config epoch u64 | slot bitmap (2048)
              PUBLISH/PUBLISHSHARD: channel (u32 length) | message (u32 length)
    trailer = CRC32 of everything before it (4 bytes), or, when mflags has AUTH, HMAC-SHA256 keyed by
              `cluster-secret` (32 bytes)

All integers are big-endian. The total length is checked against `MAX_FRAME` before anything is buffered beyond
the fixed prefix, so a peer cannot make us hold more than one frame's worth of garbage; the checksum (or MAC) is
verified before any field is parsed; every field read is bounds-checked and a frame must be consumed exactly. Any
violation raises `DecodeError` (or its subclass `AuthError`): the bus drops the link and counts the frame.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

from .view import FAIL, HANDSHAKE, MYSELF, NOADDR, NOFAILOVER, PFAIL, PRIMARY, REPLICA, SLOTS

MAGIC = b"SHBS"
VERSION = 1
MAX_FRAME = 1 << 20  # 1 MB: far above any real message (a PING about 1000 nodes is ~100 KB)
BITMAP_LEN = SLOTS // 8
ID_LEN = 40

_PREFIX = struct.Struct("!4sBBBI")  # magic, version, type, mflags, total length
AUTH = 0x01  # mflags: the trailer is an HMAC-SHA256, not a CRC32
_MAC_LEN = 32
_CRC_LEN = 4


class MsgType(IntEnum):
    PING = 0
    PONG = 1
    MEET = 2
    FAIL = 3
    PUBLISH = 4
    UPDATE = 5
    PUBLISHSHARD = 6

    @property
    def stat_name(self) -> str:
        """The word Redis uses in CLUSTER INFO's cluster_stats_messages_<word>_sent/received."""
        return self.name.lower()


GOSSIP_TYPES = (MsgType.PING, MsgType.PONG, MsgType.MEET)

# the view's flags as bits (the order is part of the wire format: append only)
_FLAG_BITS = {MYSELF: 1 << 0, PRIMARY: 1 << 1, REPLICA: 1 << 2, PFAIL: 1 << 3, FAIL: 1 << 4, HANDSHAKE: 1 << 5,
              NOADDR: 1 << 6, NOFAILOVER: 1 << 7}


class DecodeError(Exception):
    """A frame that is not one of ours, is truncated, oversized, corrupt or malformed."""


class AuthError(DecodeError):
    """A frame whose MAC is missing or wrong for our `cluster-secret`."""


def flags_to_bits(flags) -> int:
    bits = 0
    for f in flags:
        bits |= _FLAG_BITS.get(f, 0)
    return bits


def bits_to_flags(bits: int) -> set:
    return {f for f, b in _FLAG_BITS.items() if bits & b}


def slots_to_bitmap(slots) -> bytes:
    """Slot numbers → 2048-byte bitmap (slot s is bit s % 8 of byte s // 8, least significant first, as Redis)."""
    bm = bytearray(BITMAP_LEN)
    for s in slots:
        bm[s >> 3] |= 1 << (s & 7)
    return bytes(bm)


_BITS_OF = [tuple(b for b in range(8) if v >> b & 1) for v in range(256)]


_NONZERO_RUN = re.compile(rb"[^\x00]+")
_FULL_RUN = re.compile(rb"\xff+")


def bitmap_to_slots(bm: bytes) -> list[int]:
    """Bitmap → sorted slot numbers. Runs of zero bytes are skipped in C (regex), full bytes taken as ranges: a
    bitmap is mostly long runs (a primary owns a few ranges), so this is fast for what PINGs carry."""
    out = []
    bits_of = _BITS_OF
    for run in _NONZERO_RUN.finditer(bm):
        start, end = run.span()
        i = start
        while i < end:
            full = _FULL_RUN.match(bm, i, end)
            if full:
                out.extend(range(i << 3, full.end() << 3))
                i = full.end()
            else:
                base = i << 3
                out.extend(base + b for b in bits_of[bm[i]])
                i += 1
    return out


EMPTY_BITMAP = bytes(BITMAP_LEN)


@dataclass
class Header:
    sender: str
    current_epoch: int = 0
    config_epoch: int = 0
    repl_offset: int = 0
    ip: str = ""
    port: int = 0
    cport: int = 0
    hostname: str = ""
    flags: set = field(default_factory=set)
    primary_id: str = ""
    shard_id: str = ""
    slots: bytes = EMPTY_BITMAP  # bitmap of the slots the sender claims
    state_ok: bool = False


@dataclass
class GossipEntry:
    """What the sender knows about one other node."""
    node_id: str
    ping_sent: int = 0  # ms
    pong_received: int = 0  # ms
    ip: str = ""
    port: int = 0
    cport: int = 0
    flags: set = field(default_factory=set)


@dataclass
class Message:
    type: MsgType
    header: Header
    gossip: list = field(default_factory=list)  # PING/PONG/MEET: [GossipEntry]
    node_id: str = ""  # FAIL, UPDATE: the node the message is about
    config_epoch: int = 0  # UPDATE
    slots: bytes = EMPTY_BITMAP  # UPDATE
    channel: bytes = b""  # PUBLISH, PUBLISHSHARD
    message: bytes = b""


# -------------------------------------------------------------------------------------------------- encoding

def _str8(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 255:
        raise ValueError("field too long")
    return bytes((len(b),)) + b


def _node_id(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) != ID_LEN:
        raise ValueError(f"bad node id {s!r}")
    return b


def encode(msg: Message, secret: bytes | str = b"") -> bytes:
    """One frame. With `secret` the trailer is an HMAC-SHA256 keyed by it, else a CRC32."""
    h = msg.header
    if len(h.slots) != BITMAP_LEN:
        raise ValueError("slot bitmap must be 2048 bytes")
    parts = [_node_id(h.sender), struct.pack("!QQQ", h.current_epoch, h.config_epoch, h.repl_offset), _str8(h.ip),
             struct.pack("!HH", h.port, h.cport), _str8(h.hostname), struct.pack("!H", flags_to_bits(h.flags)),
             _str8(h.primary_id or ""), _str8(h.shard_id or ""), h.slots, bytes((1 if h.state_ok else 0,))]
    t = msg.type
    if t in GOSSIP_TYPES:
        parts.append(struct.pack("!H", len(msg.gossip)))
        for g in msg.gossip:
            parts += [_node_id(g.node_id), struct.pack("!QQ", g.ping_sent, g.pong_received), _str8(g.ip),
                      struct.pack("!HHH", g.port, g.cport, flags_to_bits(g.flags))]
    elif t == MsgType.FAIL:
        parts.append(_node_id(msg.node_id))
    elif t == MsgType.UPDATE:
        if len(msg.slots) != BITMAP_LEN:
            raise ValueError("slot bitmap must be 2048 bytes")
        parts += [_node_id(msg.node_id), struct.pack("!Q", msg.config_epoch), msg.slots]
    elif t in (MsgType.PUBLISH, MsgType.PUBLISHSHARD):
        parts += [struct.pack("!I", len(msg.channel)), msg.channel, struct.pack("!I", len(msg.message)), msg.message]
    body = b"".join(parts)
    key = secret.encode() if isinstance(secret, str) else secret
    trailer_len = _MAC_LEN if key else _CRC_LEN
    total = _PREFIX.size + len(body) + trailer_len
    if total > MAX_FRAME:
        raise ValueError("message too large for one frame")
    head = _PREFIX.pack(MAGIC, VERSION, int(t), AUTH if key else 0, total) + body
    if key:
        return head + hmac.new(key, head, hashlib.sha256).digest()
    return head + struct.pack("!I", zlib.crc32(head))


# -------------------------------------------------------------------------------------------------- decoding

class _Cursor:
    """Bounds-checked reads over one frame's body."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise DecodeError("truncated message body")
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))

    def u8(self) -> int:
        return self.take(1)[0]

    def str8(self, max_len: int = 255) -> str:
        n = self.u8()
        if n > max_len:
            raise DecodeError("field too long")
        return _ascii(self.take(n))

    def node_id(self) -> str:
        s = _ascii(self.take(ID_LEN))
        if s.strip("0123456789abcdef"):  # something other than lowercase hex is left
            raise DecodeError("bad node id")
        return s

    def opt_node_id(self) -> str:
        n = self.u8()
        if n not in (0, ID_LEN):
            raise DecodeError("bad node id length")
        return self.node_id() if n else ""


def _ascii(b: bytes) -> str:
    try:
        return b.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("non-ascii text field") from None


_QQQ = struct.Struct("!QQQ")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
_QQ = struct.Struct("!QQ")
_HHH = struct.Struct("!HHH")
_Q = struct.Struct("!Q")
_I = struct.Struct("!I")


def check_prefix(buf, secret: bytes = b"") -> tuple[MsgType, int]:
    """Validate the fixed prefix (at least `_PREFIX.size` bytes): returns (type, total length)."""
    magic, version, t, mflags, total = _PREFIX.unpack_from(buf, 0)
    if magic != MAGIC:
        raise DecodeError("bad magic")
    if version != VERSION:
        raise DecodeError(f"unsupported version {version}")
    try:
        mtype = MsgType(t)
    except ValueError:
        raise DecodeError(f"unknown message type {t}") from None
    if mflags & ~AUTH:
        raise DecodeError("unknown frame flags")
    if secret and not mflags & AUTH:
        raise AuthError("unauthenticated message")
    if not secret and mflags & AUTH:
        raise AuthError("authenticated message but no cluster-secret set")
    trailer = _MAC_LEN if mflags & AUTH else _CRC_LEN
    if total > MAX_FRAME:
        raise DecodeError("frame too large")
    if total < _PREFIX.size + trailer:
        raise DecodeError("frame too short")
    return mtype, total


def decode_frame(frame, secret: bytes = b"") -> Message:
    """One complete frame (exactly its bytes) → Message."""
    if len(frame) < _PREFIX.size:
        raise DecodeError("truncated frame")
    mtype, total = check_prefix(frame, secret)
    if total != len(frame):
        raise DecodeError("frame length mismatch")
    if secret:
        end = total - _MAC_LEN
        mac = hmac.new(secret, bytes(frame[:end]), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, bytes(frame[end:total])):
            raise AuthError("bad message MAC")
    else:
        end = total - _CRC_LEN
        if zlib.crc32(frame[:end]) != _I.unpack_from(frame, end)[0]:
            raise DecodeError("bad checksum")
    c = _Cursor(frame, _PREFIX.size, end)
    sender = c.node_id()
    cur, cfg, off = c.unpack(_QQQ)
    ip = c.str8(64)
    port, cport = c.unpack(_HH)
    hostname = c.str8()
    (fbits,) = c.unpack(_H)
    primary_id = c.opt_node_id()
    shard_id = c.opt_node_id()
    slots = c.take(BITMAP_LEN)
    st = c.u8()
    if st > 1:
        raise DecodeError("bad cluster state")
    header = Header(sender=sender, current_epoch=cur, config_epoch=cfg, repl_offset=off, ip=ip, port=port,
                    cport=cport, hostname=hostname, flags=bits_to_flags(fbits), primary_id=primary_id,
                    shard_id=shard_id, slots=slots, state_ok=bool(st))
    msg = Message(type=mtype, header=header)
    if mtype in GOSSIP_TYPES:
        (count,) = c.unpack(_H)
        for _ in range(count):
            nid = c.node_id()
            ps, pr = c.unpack(_QQ)
            gip = c.str8(64)
            gport, gcport, gbits = c.unpack(_HHH)
            msg.gossip.append(GossipEntry(nid, ps, pr, gip, gport, gcport, bits_to_flags(gbits)))
    elif mtype == MsgType.FAIL:
        msg.node_id = c.node_id()
    elif mtype == MsgType.UPDATE:
        msg.node_id = c.node_id()
        (msg.config_epoch,) = c.unpack(_Q)
        msg.slots = c.take(BITMAP_LEN)
    else:  # PUBLISH, PUBLISHSHARD
        (n,) = c.unpack(_I)
        msg.channel = c.take(n)
        (n,) = c.unpack(_I)
        msg.message = c.take(n)
    if c.pos != end:
        raise DecodeError("trailing bytes in message")
    return msg


class FrameReader:
    """Fed the bytes of one link; `messages()` yields every message completed so far. After a DecodeError the
    link is beyond repair (we cannot find the next frame boundary reliably): the caller drops it."""

    def __init__(self, secret: bytes | str = b"") -> None:
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.buf = bytearray()
        self.failed = False

    def feed(self, data: bytes) -> None:
        self.buf += data

    def messages(self):
        if self.failed:
            raise DecodeError("link already failed")
        try:
            while len(self.buf) >= _PREFIX.size:
                _, total = check_prefix(self.buf, self.secret)  # rejects an oversized length before we buffer it
                if len(self.buf) < total:
                    return
                frame = bytes(self.buf[:total])
                del self.buf[:total]
                yield decode_frame(frame, self.secret)
            if self.buf and not MAGIC.startswith(bytes(self.buf[:len(MAGIC)])):
                raise DecodeError("bad magic")  # reject garbage early, not after it fills a prefix
        except DecodeError:
            self.failed = True
            raise

    def pending(self) -> int:
        """Bytes of an incomplete frame held (a link closed with some is a truncated frame)."""
        return len(self.buf)
