"""Values to RDB bytes, as Redis 7.0's rdbSaveObject writes them (see rdb.py for the file layout).

`serialize_value` gives the type byte and body of one value; the helpers encode lengths, strings (integer-encoded
when they spell a 32-bit integer, as rdbTryIntegerEncoding), quicklist nodes (split where Redis's quicklist would
split them, so a list's payload is Redis's byte for byte), zset scores inside listpacks, and stream nodes.
"""
from __future__ import annotations

from ..types.hash import HashValue
from ..types.list import ListValue
from ..types.set import SetValue
from ..types.stream import FLAG_SAMEFIELDS, U64, Node, StreamValue, rax_key
from ..types.zset import ZSet
from .encodings import as_int, intset, listpack_from_entries, lp_int, lp_str
from .rdb_format import (DOUBLE, FILL_BYTES, LLONG_MAX_HALF, U64LE, PACKED_THRESHOLD, QUICKLIST_PACKED,
                         QUICKLIST_PLAIN, SIZE_ESTIMATE_OVERHEAD, SIZE_SAFETY_LIMIT, STREAM_ITEM_FLAG_DELETED,
                         TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_LIST_QUICKLIST_2, TYPE_SET, TYPE_SET_INTSET,
                         TYPE_STREAM_LISTPACKS_2, TYPE_STRING, TYPE_ZSET_2, TYPE_ZSET_LISTPACK)


def encode_length(n: int) -> bytes:
    if n < 64:
        return SMALL_LEN[n]
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


SMALL_LEN = [bytes((n,)) for n in range(64)]


def _int_encoded(s) -> bytes | None:
    """rdbTryIntegerEncoding: a string that spells a 32-bit integer canonically is stored as that integer."""
    if s.__class__ is not bytes:
        s = bytes(s)
    v = as_int(s)
    if v is None:
        return None
    if -128 <= v <= 127:
        return bytes((0xC0, v & 0xFF))
    if -32768 <= v <= 32767:
        return b"\xc1" + (v & 0xFFFF).to_bytes(2, "little")
    if -2147483648 <= v <= 2147483647:
        return b"\xc2" + (v & 0xFFFFFFFF).to_bytes(4, "little")
    return None


def encode_string(s) -> bytes:
    """An RDB string: integer-encoded when it can be (up to 11 bytes), else length-prefixed raw."""
    n = len(s)
    if n <= 11 and n:
        c = s[0]
        if 48 <= c <= 57 or c == 45:
            enc = _int_encoded(s)
            if enc is not None:
                return enc
    if n < 64:
        return SMALL_LEN[n] + s
    return encode_length(n) + s


def _raw_blob(b: bytes) -> bytes:
    """A blob (listpack, intset, stream node key, name) as a length-prefixed RDB string, without the integer
    check: binary blobs never spell an integer."""
    return encode_length(len(b)) + b


def _score_entry(score: float) -> bytes:
    """A zset score inside a listpack as Redis 7.0 stores it (d2string, then the listpack's own integer check):
    integral scores within ±2^62 as integers, others as their %.17g text ("inf", "-inf", "-0" included)."""
    if score == 0.0:
        return lp_str(b"-0") if str(score)[0] == "-" else lp_int(0)
    if -LLONG_MAX_HALF <= score <= LLONG_MAX_HALF:
        i = int(score)
        if i == score:
            return lp_int(i)
    if score == float("inf"):
        return lp_str(b"inf")
    if score == float("-inf"):
        return lp_str(b"-inf")
    return lp_str(b"%.17g" % score)


def _list_nodes(items, fill: int) -> list[tuple[int, bytes]]:
    """The quicklist nodes Redis would hold for `items` pushed at the tail: (container, blob) pairs. A node takes
    elements while `_quicklistNodeAllowInsert` would allow it: by bytes for a negative `list-max-listpack-size`,
    by count (within the 8 KB safety limit) for a positive one."""
    nodes: list[tuple[int, bytes]] = []
    entries: list[bytes] = []
    size = 7  # listpack header + terminator
    if fill < 0:
        limit = FILL_BYTES[min(-fill, 5) - 1]
        max_count = 0
    else:
        limit = SIZE_SAFETY_LIMIT
        max_count = fill if fill > 0 else 1
    for x in items:
        n = len(x)
        if n >= PACKED_THRESHOLD:
            if entries:
                nodes.append((QUICKLIST_PACKED, listpack_from_entries(entries)))
                entries, size = [], 7
            nodes.append((QUICKLIST_PLAIN, bytes(x)))
            continue
        if entries and (size + n + SIZE_ESTIMATE_OVERHEAD > limit if not max_count
                        else (len(entries) + 1 > max_count or size + n + SIZE_ESTIMATE_OVERHEAD > limit)):
            nodes.append((QUICKLIST_PACKED, listpack_from_entries(entries)))
            entries, size = [], 7
        e = lp_str(x)
        entries.append(e)
        size += len(e)
    if entries:
        nodes.append((QUICKLIST_PACKED, listpack_from_entries(entries)))
    return nodes


def _stream_node_listpack(node: Node, master: int) -> bytes:
    """One stream node as the listpack Redis keeps: the master entry (live count, deleted count, master fields,
    a 0 terminator), then each entry: flags, ms and seq deltas from the master ID, then either the values alone
    (SAMEFIELDS: the master entry's fields) or the field count and field/value pairs, then the entry's element
    count. Shoal forgets a deleted entry's data, so a deleted entry is written with the master fields and empty
    values: the same shape Redis walks over, flagged deleted, never read."""
    fields = node.fields
    nf = len(fields)
    out = [lp_int(node.live), lp_int(node.deleted), lp_int(nf)]
    out += map(lp_str, fields)
    out.append(lp_int(0))
    mms, mseq = master >> 64, master & U64
    empty_values = [lp_str(b"")] * nf
    same_count = lp_int(nf + 3)
    for eid, fv in zip(node.ids, node.values):
        dms = (eid >> 64) - mms
        dseq = (eid & U64) - mseq
        if dseq < 0 or dseq > 0x7FFFFFFFFFFFFFFF:
            dseq = _wrap64(dseq)
        if dms > 0x7FFFFFFFFFFFFFFF:
            dms = _wrap64(dms)
        if fv is None:
            out.append(lp_int(STREAM_ITEM_FLAG_DELETED | FLAG_SAMEFIELDS))
            out.append(lp_int(dms))
            out.append(lp_int(dseq))
            out += empty_values
            out.append(same_count)
        elif fv[0::2] == fields:
            out.append(lp_int(FLAG_SAMEFIELDS))
            out.append(lp_int(dms))
            out.append(lp_int(dseq))
            out += map(lp_str, fv[1::2])
            out.append(same_count)
        else:
            k = len(fv) >> 1
            out.append(lp_int(0))
            out.append(lp_int(dms))
            out.append(lp_int(dseq))
            out.append(lp_int(k))
            out += map(lp_str, fv)
            out.append(lp_int(2 * k + 4))
    return listpack_from_entries(out)


def _wrap64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


def _write_stream(s: StreamValue, out: list) -> None:
    a = out.append
    a(encode_length(len(s.masters)))
    nodes = s.nodes
    for m in s.masters:
        a(_raw_blob(rax_key(m)))
        a(_raw_blob(_stream_node_listpack(nodes[m], m)))
    a(encode_length(s.length))
    for i in (s.last_id, s.first_id, s.max_deleted):
        a(encode_length(i >> 64))
        a(encode_length(i & U64))
    a(encode_length(s.entries_added))
    groups = s.groups
    a(encode_length(len(groups) if groups else 0))
    if not groups:
        return
    for name, g in groups.items():
        a(encode_string(name))
        a(encode_length(g.last_id >> 64))
        a(encode_length(g.last_id & U64))
        a(encode_length(g.entries_read & U64))
        a(encode_length(len(g.pel)))
        for eid, nack in g.pel.items():
            a(eid.to_bytes(16, "big"))
            a(U64LE.pack(nack.delivery_time & U64))
            a(encode_length(nack.delivery_count))
        a(encode_length(len(g.consumers)))
        for cname, cons in g.consumers.items():
            a(encode_string(cname))
            a(U64LE.pack(cons.seen_time & U64))
            a(encode_length(len(cons.pel)))
            for eid in cons.pel:
                a(eid.to_bytes(16, "big"))


def serialize_value(v, config) -> tuple[int, bytes]:
    """(type byte, body) of one value, as rdbSaveObjectType + rdbSaveObject write it."""
    cls = v.__class__
    if cls is bytes or cls is bytearray:
        return TYPE_STRING, encode_string(v)
    out: list[bytes] = []
    a = out.append
    if cls is HashValue:
        if v.listpack:
            entries = []
            for f, val in v.items():
                entries.append(lp_str(f))
                entries.append(lp_str(val))
            return TYPE_HASH_LISTPACK, _raw_blob(listpack_from_entries(entries))
        items = v.items()
        a(encode_length(len(items)))
        for f, val in items:
            a(encode_string(f))
            a(encode_string(val))
        return TYPE_HASH, b"".join(out)
    if cls is ListValue:
        nodes = _list_nodes(v, config["list-max-listpack-size"] if config is not None else -2)
        a(encode_length(len(nodes)))
        for container, blob in nodes:
            a(SMALL_LEN[container])
            a(_raw_blob(blob) if container == QUICKLIST_PACKED else encode_string(blob))
        return TYPE_LIST_QUICKLIST_2, b"".join(out)
    if cls is SetValue:
        if v.ints is not None:
            return TYPE_SET_INTSET, _raw_blob(intset(v.ints))
        members = v.members()
        a(encode_length(len(members)))
        out += map(encode_string, members)
        return TYPE_SET, b"".join(out)
    if cls is ZSet:
        if v.listpack:
            entries = []
            for score, member in v.order:
                entries.append(lp_str(member))
                entries.append(_score_entry(score))
            return TYPE_ZSET_LISTPACK, _raw_blob(listpack_from_entries(entries))
        # from the highest score down, as Redis walks its skiplist backwards (cheap inserts on load)
        a(encode_length(len(v.order)))
        pack = DOUBLE.pack
        for score, member in reversed(v.order):
            a(encode_string(member))
            a(pack(score))
        return TYPE_ZSET_2, b"".join(out)
    if cls is StreamValue:
        _write_stream(v, out)
        return TYPE_STREAM_LISTPACKS_2, b"".join(out)
    raise TypeError("no RDB serialization for %r" % cls.__name__)
