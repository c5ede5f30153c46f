"""RDB bytes to Shoal values, as Redis 7.0's rdbLoadObject reads them, for every type and encoding Redis 7.0
loads (including the ziplist, zipmap and quicklist-of-ziplists encodings older versions wrote).

`Reader` is a cursor over the bytes of a file or payload; every read checks its bounds and every failure is an
RdbError naming the offset. `read_value` builds the value with the encoding the loading node's config gives, at
the points where Redis converts (see each builder), and raises `Empty` for an empty collection, which Redis
skips.
"""
from __future__ import annotations

from itertools import chain

from sortedcontainers import SortedDict, SortedList

from ..types.hash import HashValue
from ..types.list import ListValue
from ..types.set import SetValue
from ..types.stream import FLAG_SAMEFIELDS, U64, Consumer, Group, Nack, Node, StreamValue, rax_key
from ..types.zset import ZSet
from .encodings import BlobError, as_int, read_intset, read_listpack, read_ziplist, read_zipmap
from .lzf import LzfError, decompress
from .rdb_format import (DOUBLE, QUICKLIST_PACKED, QUICKLIST_PLAIN, STREAM_ITEM_FLAG_DELETED, TYPE_HASH,
                         TYPE_HASH_LISTPACK, TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP, TYPE_LIST, TYPE_LIST_QUICKLIST,
                         TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE, TYPE_MODULE_2, TYPE_SET,
                         TYPE_SET_INTSET, TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2, TYPE_STRING, TYPE_ZSET,
                         TYPE_ZSET_2, TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST, RdbError)


class Limits:
    """The encoding thresholds of the loading node's config."""

    __slots__ = ("hash_entries", "hash_value", "set_intset", "zset_entries", "zset_value")

    def __init__(self, config):
        if config is None:
            self.hash_entries, self.hash_value, self.set_intset = 512, 64, 512
            self.zset_entries, self.zset_value = 128, 64
            return
        self.hash_entries = config["hash-max-listpack-entries"]
        self.hash_value = config["hash-max-listpack-value"]
        self.set_intset = config["set-max-intset-entries"]
        self.zset_entries = config["zset-max-listpack-entries"]
        self.zset_value = config["zset-max-listpack-value"]


class Empty(Exception):
    """An empty collection: Redis skips such keys on load."""


class Reader:
    """A cursor over the bytes of a file or payload."""

    __slots__ = ("buf", "pos", "n")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None):
        self.buf = buf
        self.pos = pos
        self.n = len(buf) if end is None else end

    def fail(self, message: str, at: int | None = None):
        raise RdbError(message, self.pos if at is None else at)

    def need(self, k: int) -> int:
        p = self.pos
        if p + k > self.n:
            raise RdbError("unexpected end of data (%d more bytes needed)" % (p + k - self.n), p)
        self.pos = p + k
        return p

    def byte(self) -> int:
        p = self.need(1)
        return self.buf[p]

    def raw(self, k: int) -> bytes:
        p = self.need(k)
        return self.buf[p:p + k]

    def u64le(self) -> int:
        p = self.need(8)
        return int.from_bytes(self.buf[p:p + 8], "little")

    def length(self) -> int:
        """A plain length (a special encoding here is corrupt)."""
        start = self.pos
        n, special = self.length_or_encoding()
        if special:
            self.fail("a length was expected, found a string encoding marker", start)
        return n

    def length_or_encoding(self) -> tuple[int, bool]:
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            p = self.need(4)
            return int.from_bytes(self.buf[p:p + 4], "big"), False
        if b == 0x81:
            p = self.need(8)
            return int.from_bytes(self.buf[p:p + 8], "big"), False
        self.fail("unknown length encoding 0x%02x" % b, self.pos - 1)

    def string(self) -> bytes:
        start = self.pos
        n, special = self.length_or_encoding()
        if not special:
            p = self.need(n)
            return self.buf[p:p + n]
        if n == 0:
            p = self.need(1)
            return b"%d" % int.from_bytes(self.buf[p:p + 1], "little", signed=True)
        if n == 1:
            p = self.need(2)
            return b"%d" % int.from_bytes(self.buf[p:p + 2], "little", signed=True)
        if n == 2:
            p = self.need(4)
            return b"%d" % int.from_bytes(self.buf[p:p + 4], "little", signed=True)
        if n == 3:
            clen = self.length()
            ulen = self.length()
            p = self.need(clen)
            try:
                return decompress(self.buf[p:p + clen], ulen)
            except LzfError as e:
                raise RdbError("corrupt LZF string: %s" % e, p + e.offset) from None
        self.fail("unknown string encoding %d" % n, start)

    def binary_double(self) -> float:
        p = self.need(8)
        return DOUBLE.unpack_from(self.buf, p)[0]

    def text_double(self) -> float:
        """rdbLoadDoubleValue: a length byte (253 nan, 254 +inf, 255 -inf) then that many ASCII bytes."""
        start = self.pos
        n = self.byte()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        text = self.raw(n)
        try:
            return float(text)
        except ValueError:
            self.fail("bad double value %r" % text, start)


def _blob_error(e: BlobError, blob_start: int, what: str) -> RdbError:
    return RdbError("%s integrity check failed: %s" % (what, e), blob_start + e.offset)


def _as_bytes(x) -> bytes:
    return b"%d" % x if x.__class__ is int else x


def _parse_score(x, r: Reader, at: int) -> float:
    if x.__class__ is int:
        return float(x)
    try:
        s = float(x)
    except ValueError:
        r.fail("bad zset score %r" % x, at)
    if s != s:
        r.fail("zset with a NaN score", at)
    return s


# ------------------------------------------------------------------------------------------------ value builders

def _build_hash(pairs: list, listpack: bool, r: Reader, at: int) -> HashValue:
    h = HashValue()
    t = h.table
    pos = t.pos
    nbytes = 0
    for k in range(0, len(pairs), 2):
        f = _as_bytes(pairs[k])
        v = _as_bytes(pairs[k + 1])
        if f in pos:
            r.fail("duplicate hash fields detected", at)
        t.add(f, v)
        nbytes += len(f) + len(v)
    h.nbytes = nbytes
    h.listpack = listpack
    return h


def _build_set_ints(ints: list[int], as_intset: bool, r: Reader, at: int) -> SetValue:
    if as_intset:
        s = SetValue(intset=True)
        s.ints = SortedList(ints)
        if len(s.ints) != len(ints):
            r.fail("duplicate set members detected", at)
        s.nbytes = sum(len(b"%d" % i) for i in ints)
        return s
    return _build_set_members([b"%d" % i for i in ints], False, r, at)


def _build_set_members(members: list[bytes], try_intset: bool, r: Reader, at: int) -> SetValue:
    if try_intset:
        ints = []
        for m in members:
            i = as_int(m)
            if i is None:
                break
            ints.append(i)
        else:
            return _build_set_ints(ints, True, r, at)
    s = SetValue(intset=False)
    t = s.table
    pos = t.pos
    nbytes = 0
    for m in members:
        if m in pos:
            r.fail("duplicate set members detected", at)
        t.add(m)
        nbytes += len(m)
    s.nbytes = nbytes
    return s


def _build_zset(pairs: list[tuple[bytes, float]], listpack: bool, r: Reader, at: int) -> ZSet:
    z = ZSet(listpack)
    scores = {}
    if listpack:
        pairs = [(m, 0.0 if s == 0.0 else s) for m, s in pairs]
    scores = dict(pairs)
    if len(scores) != len(pairs):
        r.fail("duplicate zset fields detected", at)
    z.scores = scores
    z.order = SortedList((s, m) for m, s in pairs)
    return z


# ------------------------------------------------------------------------------------------------ streams

def _read_stream(r: Reader, rdbtype: int) -> StreamValue:
    s = StreamValue()
    count = r.length()
    masters = []
    nodes = {}
    for _ in range(count):
        at = r.pos
        key = r.string()
        if len(key) != 16:
            r.fail("stream node key entry is not the size of a stream ID", at)
        master = int.from_bytes(key, "big")
        at = r.pos
        blob = r.string()
        try:
            elems = read_listpack(blob)
        except BlobError as e:
            raise RdbError("stream listpack integrity check failed: %s" % e, at) from None
        if not elems:
            r.fail("empty listpack inside stream", at)
        if master in nodes:
            r.fail("listpack re-added with existing key", at)
        nodes[master] = _stream_node(elems, master, len(blob), r, at)
        masters.append(master)
    if masters != sorted(masters):
        masters.sort()
    length = r.length()
    last_id = (r.length() << 64) | r.length()
    s.masters = SortedList(masters)
    s.nodes = nodes
    for m in masters:
        s.rax.insert(rax_key(m))
    if masters:
        s.tail_master = masters[-1]
        s.tail = nodes[s.tail_master]
    s.length = length
    s.last_id = last_id
    if rdbtype == TYPE_STREAM_LISTPACKS_2:
        s.first_id = (r.length() << 64) | r.length()
        s.max_deleted = (r.length() << 64) | r.length()
        s.entries_added = r.length()
    else:
        s.max_deleted = 0
        s.entries_added = length
        first = s.first_entry()
        s.first_id = first[0] if first else 0
    ngroups = r.length()
    if ngroups:
        s.groups = SortedDict()
    for _ in range(ngroups):
        at = group_at = r.pos
        name = r.string()
        gid = (r.length() << 64) | r.length()
        if rdbtype == TYPE_STREAM_LISTPACKS_2:
            read = r.length()
            if read >> 63:
                read -= 1 << 64
        else:
            read = s.estimate_distance(gid)
        if name in s.groups:
            r.fail("duplicated consumer group name %r" % name, at)
        g = s.groups[name] = Group(name, gid, read)
        for _ in range(r.length()):
            at = r.pos
            eid = int.from_bytes(r.raw(16), "big")
            nack = Nack(None, 0)
            nack.delivery_time = r.u64le()
            nack.delivery_count = r.length()
            if eid in g.pel:
                r.fail("duplicated global PEL entry loading stream consumer group", at)
            g.pel[eid] = nack
        for _ in range(r.length()):
            at = r.pos
            cname = r.string()
            if cname in g.consumers:
                r.fail("duplicate stream consumer detected", at)
            cons = g.consumers[cname] = Consumer(cname, r.u64le())
            for _ in range(r.length()):
                at = r.pos
                eid = int.from_bytes(r.raw(16), "big")
                nack = g.pel.get(eid)
                if nack is None:
                    r.fail("consumer entry not found in group global PEL", at)
                if eid in cons.pel:
                    r.fail("duplicated consumer PEL entry loading a stream consumer group", at)
                nack.consumer = cons
                cons.pel[eid] = nack
        # Redis checks this only under deep sanitization; Shoal's stream commands assume every pending entry
        # has an owner, so a file that breaks it is refused rather than loaded into a state that cannot occur
        for eid, nack in g.pel.items():
            if nack.consumer is None:
                r.fail("stream CG PEL entry without consumer", group_at)
    return s


def _stream_node(elems: list, master: int, nbytes: int, r: Reader, at: int) -> Node:
    """A Node from the elements of a stream listpack (see _stream_node_listpack for the layout)."""
    try:
        live, deleted, nf = elems[0], elems[1], elems[2]
        fields = tuple(_as_bytes(x) for x in elems[3:3 + nf])
        if len(fields) != nf or elems[3 + nf] != 0:
            raise IndexError
        node = Node(fields)
        ids, values = node.ids, node.values
        mms, mseq = master >> 64, master & U64
        i = 4 + nf
        n = len(elems)
        while i < n:
            flags = elems[i]
            eid = (((mms + elems[i + 1]) & U64) << 64) | ((mseq + elems[i + 2]) & U64)
            i += 3
            if flags & FLAG_SAMEFIELDS:
                vals = elems[i:i + nf]
                i += nf
                fv = tuple(chain.from_iterable(zip(fields, map(_as_bytes, vals)))) if nf else ()
                if len(vals) != nf:
                    raise IndexError
            else:
                k = elems[i]
                flat = elems[i + 1:i + 1 + 2 * k]
                if len(flat) != 2 * k:
                    raise IndexError
                fv = tuple(map(_as_bytes, flat))
                i += 1 + 2 * k
            i += 1  # the entry's element count, for backward walks
            if ids and eid <= ids[-1]:
                r.fail("stream entries out of order", at)
            ids.append(eid)
            values.append(None if flags & STREAM_ITEM_FLAG_DELETED else fv)
        if i != n:
            raise IndexError
    except (IndexError, TypeError):
        raise RdbError("stream listpack integrity check failed: malformed entries", at) from None
    node.live = sum(1 for v in values if v is not None)
    node.deleted = len(values) - node.live
    if node.live != live or node.deleted != deleted:
        r.fail("stream listpack integrity check failed: master entry counts do not match", at)
    node.nbytes = nbytes
    return node


# ------------------------------------------------------------------------------------------------ one value

def read_value(r: Reader, t: int, limits: Limits):
    """rdbLoadObject: the value of type `t` at the reader's position, built with the encoding Redis would give it
    under `limits`. Raises Empty for an empty collection."""
    start = r.pos
    if t == TYPE_STRING:
        return r.string()
    if t == TYPE_LIST:
        n = r.length()
        if not n:
            raise Empty
        return ListValue([r.string() for _ in range(n)])
    if t == TYPE_SET:
        n = r.length()
        if not n:
            raise Empty
        members = [r.string() for _ in range(n)]
        return _build_set_members(members, n <= limits.set_intset, r, start)
    if t == TYPE_ZSET_2 or t == TYPE_ZSET:
        n = r.length()
        if not n:
            raise Empty
        pairs = []
        maxlen = 0
        read_score = r.binary_double if t == TYPE_ZSET_2 else r.text_double
        for _ in range(n):
            m = r.string()
            at = r.pos
            s = read_score()
            if s != s:
                r.fail("zset with NAN score detected", at)
            pairs.append((m, s))
            if len(m) > maxlen:
                maxlen = len(m)
        return _build_zset(pairs, n <= limits.zset_entries and maxlen <= limits.zset_value, r, start)
    if t == TYPE_HASH:
        n = r.length()
        if not n:
            raise Empty
        flat = []
        maxlen = 0
        for _ in range(2 * n):
            x = r.string()
            flat.append(x)
            if len(x) > maxlen:
                maxlen = len(x)
        return _build_hash(flat, n <= limits.hash_entries and maxlen <= limits.hash_value, r, start)
    if t == TYPE_LIST_QUICKLIST_2 or t == TYPE_LIST_QUICKLIST:
        n = r.length()
        if not n:
            raise Empty
        items: list[bytes] = []
        for _ in range(n):
            container = QUICKLIST_PACKED
            if t == TYPE_LIST_QUICKLIST_2:
                at = r.pos
                container = r.length()
                if container != QUICKLIST_PACKED and container != QUICKLIST_PLAIN:
                    r.fail("quicklist integrity check failed", at)
            at = r.pos
            blob = r.string()
            if not blob:
                r.fail("empty quicklist node", at)
            if container == QUICKLIST_PLAIN:
                items.append(blob)
                continue
            try:
                elems = read_listpack(blob) if t == TYPE_LIST_QUICKLIST_2 else read_ziplist(blob)
            except BlobError as e:
                raise _blob_error(e, at, "listpack" if t == TYPE_LIST_QUICKLIST_2 else "ziplist") from None
            items += map(_as_bytes, elems)
        if not items:
            raise Empty
        return ListValue(items)
    if t in _BLOB_TYPES:
        at = r.pos
        blob = r.string()
        # the blob starts after its length prefix; offsets inside it are reported from the prefix's start
        try:
            return _read_blob_value(t, blob, limits, r, at)
        except BlobError as e:
            raise _blob_error(e, at, _BLOB_TYPES[t]) from None
    if t == TYPE_STREAM_LISTPACKS_2 or t == TYPE_STREAM_LISTPACKS:
        return _read_stream(r, t)
    if t == TYPE_MODULE or t == TYPE_MODULE_2:
        r.fail("the RDB file contains module data, which Shoal cannot load", start - 1)
    r.fail("unknown RDB encoding type %d" % t, start - 1)


_BLOB_TYPES = {
    TYPE_HASH_ZIPMAP: "zipmap", TYPE_LIST_ZIPLIST: "list ziplist", TYPE_SET_INTSET: "intset",
    TYPE_ZSET_ZIPLIST: "zset ziplist", TYPE_ZSET_LISTPACK: "zset listpack", TYPE_HASH_ZIPLIST: "hash ziplist",
    TYPE_HASH_LISTPACK: "hash listpack",
}


def _read_blob_value(t: int, blob: bytes, limits: Limits, r: Reader, at: int):
    if t == TYPE_SET_INTSET:
        ints = read_intset(blob)
        if not ints:
            raise Empty
        return _build_set_ints(ints, len(ints) <= limits.set_intset, r, at)
    if t == TYPE_LIST_ZIPLIST:
        elems = read_ziplist(blob)
        if not elems:
            raise Empty
        return ListValue(list(map(_as_bytes, elems)))
    if t == TYPE_HASH_ZIPMAP:
        flat = read_zipmap(blob)
        if not flat:
            raise Empty
        maxlen = max(map(len, flat))
        n = len(flat) // 2
        return _build_hash(flat, n <= limits.hash_entries and maxlen <= limits.hash_value, r, at)
    elems = read_listpack(blob) if t in (TYPE_ZSET_LISTPACK, TYPE_HASH_LISTPACK) else read_ziplist(blob)
    if len(elems) % 2:
        r.fail("%s with an odd number of elements" % _BLOB_TYPES[t], at)
    if not elems:
        raise Empty
    n = len(elems) // 2
    if t == TYPE_HASH_LISTPACK or t == TYPE_HASH_ZIPLIST:
        return _build_hash(elems, n <= limits.hash_entries, r, at)
    pairs = [(_as_bytes(elems[k]), _parse_score(elems[k + 1], r, at)) for k in range(0, len(elems), 2)]
    return _build_zset(pairs, n <= limits.zset_entries, r, at)
