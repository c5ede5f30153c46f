"""Stream commands: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID XREAD XGROUP XREADGROUP XACK XPENDING XCLAIM
XAUTOCLAIM XINFO, with XREAD BLOCK and XREADGROUP BLOCK.

Each follows Redis 7.0's t_stream.c: the order in which arguments and keys are checked (which error wins), the
exact error texts, RESP2/RESP3 reply shapes (XREAD/XREADGROUP answer a map in RESP3), `dirty` counts and keyspace
events. The value and its consumer groups live in node/types/stream.py.

Quirks kept on purpose because Redis has them:
* IDs are read with Redis's string2ull, which falls back to strtoull: " 5", "+5", "05" and "1- -1" are IDs, and an
  argument is read only up to its first NUL byte (`parse_id`).
* XRANGE with COUNT 0 answers a null array; XPENDING ignores one stray argument after the consumer.
* XAUTOCLAIM allocates room for COUNT deleted IDs up front: COUNT at most LONG_MAX/16 (CVE-2022-35951, else
  "COUNT must be > 0"), and a COUNT whose 16-byte-per-ID buffer exceeds what the reference machine could map
  (48 TiB) answers Redis's "Insufficient memory" error.

Propagation (AOF, replicas) is Redis's: XADD rewrites its ID and an approximate trim's threshold; XREADGROUP,
XCLAIM and XAUTOCLAIM propagate the XCLAIM ... FORCE JUSTID / XGROUP SETID commands Redis emits (wrapped in
MULTI/EXEC when there are several), so they are registered as self-propagating.

Blocking (node/blocking.py serves waiters after the writing command): Redis wakes stream readers only when it
signals the key ready (XADD, XGROUP DESTROY, a new key), not on every change. A stream carries a counter of those
signals (`ready_gen`), and a waiter looks at its key again only when it moved. A blocked XREADGROUP is answered
with an error when its key is deleted or overwritten ("UNBLOCKED the stream key no longer exists") or its group is
destroyed ("NOGROUP ..."), as Redis 7.0.15 does; a blocked XREAD keeps waiting.
"""
from __future__ import annotations

from ..blocking import Blocked
from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..keyspace import now_ms
from ..numbers import string2ll, wrap64
from ..resp import NULL_ARRAY, OK, MapReply, Simple
from ..types.stream import (INVALID_ENTRIES_READ, LISTPACK_MAX_SIZE, MAX_ID, U64, BadID, Nack, StreamValue,
                            fmt_id, parse_id)
from .. import dispatch
from .registry import arity_error, command

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
NO_SUCH_KEY = "ERR no such key"
XREAD_BLOCKED_DEFAULT_COUNT = 1000
XAUTOCLAIM_ATTEMPTS_FACTOR = 10
XAUTOCLAIM_MAX_COUNT = (2**63 - 1) // 16  # LONG_MAX / max(sizeof(streamID), attempts factor)
# the largest COUNT whose deleted-ID buffer (16 bytes each) Redis 7.0.15 could allocate on the reference machine
XAUTOCLAIM_ALLOC_LIMIT = 3298534883328
KEY_REQUIRED = ("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                "the MKSTREAM option to create an empty stream automatically.")

# these propagate what Redis propagates for them, not their own argv
dispatch.SELF_PROPAGATING.update({"xreadgroup", "xclaim", "xautoclaim"})


# --------------------------------------------------------------------------------------------------- helpers


def _cstr(b: bytes) -> bytes:
    """An argument as C code sees it: up to the first NUL byte (Redis compares options with strcasecmp)."""
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


def _opt(b: bytes) -> bytes:
    return _cstr(b).lower()


def _fmt(b: bytes) -> str:
    """A key or name inside an error text, as Redis's "%s" prints it."""
    return _cstr(b).decode("utf-8", "surrogateescape")


def _id(arg: bytes, missing_seq: int = 0, strict: bool = False) -> int:
    try:
        return parse_id(arg, missing_seq, strict)[0]
    except BadID:
        raise CommandError(INVALID_ID) from None


def _interval_id(arg: bytes, missing_seq: int) -> tuple[int, bool]:
    """streamParseIntervalIDOrReply: "(id" is exclusive (then strict: no "(-" or "(+")."""
    if len(arg) > 1 and arg[0] == 40:
        return _id(arg[1:], missing_seq, strict=True), True
    return _id(arg, missing_seq), False


def _range_bounds(start_arg: bytes, end_arg: bytes) -> tuple[int, int]:
    start, ex = _interval_id(start_arg, 0)
    if ex:
        if start == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    end, ex = _interval_id(end_arg, U64)
    if ex:
        if end == 0:
            raise CommandError("ERR invalid end ID for the interval")
        end -= 1
    return start, end


def _long(arg: bytes, error: str = NOT_INTEGER) -> int:
    v = string2ll(arg)
    if v is None:
        raise CommandError(error)
    return v


def _read_stream(c, key):
    """lookupKeyRead + type check."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is StreamValue:
        return v
    raise CommandError(WRONGTYPE)


def _write_stream(c, key):
    """lookupKeyWrite + type check."""
    v = c.db.get(key)
    if v is None or v.__class__ is StreamValue:
        return v
    raise CommandError(WRONGTYPE)


def _notify(c, event: str, key: bytes) -> None:
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event(event, key, c.dbid, "t")


def _entry(eid: int, fv) -> list:
    return [fmt_id(eid), fv]


def _entries(pairs) -> list:
    return [[fmt_id(eid), fv] for eid, fv in pairs]


def _must_obey(c) -> bool:
    """Redis's mustObeyClient: commands from the primary or the AOF are applied as recorded."""
    return c.is_master_link or c.state.loading


def _propagate(c, ops: list) -> None:
    """alsoPropagate + Redis 7.0's wrapping of several propagated commands in MULTI/EXEC (inside EXEC or a script
    the outer command wraps them)."""
    st = c.state
    if not ops or not st.propagate_hooks:
        return
    wrap = len(ops) > 1 and not c.no_block
    if wrap:
        st.propagate(c.dbid, [b"MULTI"])
    for argv in ops:
        st.propagate(c.dbid, argv)
    if wrap:
        st.propagate(c.dbid, [b"EXEC"])


def _xclaim_op(key, grp, eid, nack) -> list:
    """streamPropagateXCLAIM: how a delivery or claim reaches replicas."""
    return [b"XCLAIM", key, grp.name, nack.consumer.name if nack.consumer else b"", b"0", fmt_id(eid),
            b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count, b"FORCE", b"JUSTID",
            b"LASTID", fmt_id(grp.last_id)]


def _setid_op(key, grp) -> list:
    return [b"XGROUP", b"SETID", key, grp.name, fmt_id(grp.last_id), b"ENTRIESREAD", b"%d" % grp.entries_read]


def _consumer(c, grp, key, name, now, ops):
    """streamLookupConsumer (refreshing its seen time) or streamCreateConsumer."""
    cons = grp.consumers.get(name)
    if cons is None:
        cons = grp.create_consumer(name, now)
        c.state.dirty += 1
        _notify(c, "xgroup-createconsumer", key)
        ops.append([b"XGROUP", b"CREATECONSUMER", key, grp.name, name])
    else:
        cons.seen_time = now
    return cons


# --------------------------------------------------------------------------------------------------- XADD / XTRIM


class _TrimArgs:
    __slots__ = ("maxlen", "minid", "approx", "limit", "strategy_idx", "nomkstream", "id", "id_given",
                 "seq_given", "idpos")


def _parse_add_trim(c, argv, xadd: bool) -> _TrimArgs:
    """streamParseAddOrTrimArgsOrReply."""
    a = _TrimArgs()
    a.maxlen = a.minid = None
    a.approx = False
    a.limit = 0
    a.strategy_idx = -1
    a.nomkstream = False
    a.id = 0
    a.id_given = False
    a.seq_given = True
    limit_given = False
    n = len(argv)
    i = 2
    while i < n:
        more = n - 1 - i
        arg = argv[i]
        if xadd and arg == b"*":
            break
        opt = _opt(arg)
        if xadd and opt == b"*":
            break
        if opt == b"maxlen" and more:
            if a.maxlen is not None or a.minid is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            a.approx = False
            nxt = _cstr(argv[i + 1])
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            v = _long(argv[i + 1])
            if v < 0:
                raise CommandError("ERR The MAXLEN argument must be >= 0.")
            i += 1
            a.maxlen = v
            a.strategy_idx = i
        elif opt == b"minid" and more:
            if a.maxlen is not None or a.minid is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            a.approx = False
            nxt = _cstr(argv[i + 1])
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            a.minid = _id(argv[i + 1], strict=True)
            i += 1
            a.strategy_idx = i
        elif opt == b"limit" and more:
            v = _long(argv[i + 1])
            if v < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            a.limit = v
            limit_given = True
            i += 1
        elif xadd and opt == b"nomkstream":
            a.nomkstream = True
        elif xadd:
            try:
                a.id, a.seq_given = parse_id(arg, 0, strict=True, seq_star=True)
            except BadID:
                raise CommandError(INVALID_ID) from None
            a.id_given = True
            break
        else:
            raise CommandError(SYNTAX)
        i += 1
    has_strategy = a.maxlen is not None or a.minid is not None
    if a.limit and not has_strategy:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and not has_strategy:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if _must_obey(c):
        a.limit = 0
    elif limit_given:
        if not a.approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif a.approx:
        limit = 100 * c.state.config["stream-node-max-entries"]
        a.limit = limit if 0 < limit <= 10000 else 10000
    else:
        a.limit = 0
    a.idpos = i
    return a


def _rewrite_approx_trim(argv, s: StreamValue, a: _TrimArgs) -> None:
    """streamRewriteApproxSpecifier + streamRewriteTrimArgument: replicas trim exactly where we stopped."""
    if _cstr(argv[a.strategy_idx - 1]) == b"~":
        argv[a.strategy_idx - 1] = b"="
    if a.maxlen is not None:
        argv[a.strategy_idx] = b"%d" % s.length
    else:
        first = s.first_entry()
        argv[a.strategy_idx] = fmt_id(first[0] if first else MAX_ID)


@command("xadd")
def xadd(c, argv):
    arg = argv[2]
    if arg == b"*" or (arg and 48 <= arg[0] <= 57):
        # the common shapes, "XADD key * ..." and "XADD key <id> ...": no options to look for (none starts
        # with a digit)
        a = None
        idpos = 2
        if arg == b"*":
            given_id, id_given, seq_given = 0, False, True
        else:
            try:
                given_id, seq_given = parse_id(arg, 0, strict=True, seq_star=True)
            except BadID:
                raise CommandError(INVALID_ID) from None
            id_given = True
        nomkstream = False
    else:
        a = _parse_add_trim(c, argv, xadd=True)
        idpos = a.idpos
        given_id, id_given, seq_given, nomkstream = a.id, a.id_given, a.seq_given, a.nomkstream
    nargs = len(argv) - idpos - 1
    if nargs < 2 or nargs & 1:
        raise arity_error("xadd")
    if id_given and seq_given and given_id == 0:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    key = argv[1]
    db = c.db
    s = db.get(key)
    if s is None:
        if nomkstream:
            return None
        s = StreamValue()
        db.add(key, s)
    elif s.__class__ is not StreamValue:
        raise CommandError(WRONGTYPE)
    last = s.last_id
    if last == MAX_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    if not id_given:
        ms = now_ms()
        eid = ms << 64 if ms > last >> 64 else last + 1
    elif not seq_given:
        eid = given_id
        if last >> 64 == eid >> 64:
            if last & U64 == U64:
                # Redis 7.0 leaves errno unset here, so the reply is the ERANGE text
                raise CommandError("ERR Elements are too large to be stored")
            eid = last + 1
    else:
        eid = given_id
    if eid <= last:
        raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    fv = tuple(argv[idpos + 1:])
    if sum(map(len, fv)) > LISTPACK_MAX_SIZE:
        raise CommandError("ERR Elements are too large to be stored")
    st = c.state
    cfg = st.config
    s.append(eid, fv, cfg["stream-node-max-bytes"], cfg["stream-node-max-entries"])
    s.ready_gen += 1
    if db.watched or db.blocked or st.on_key_modified is not None:
        db.touch(key)
    if st.notify_flags:
        st.notify_keyspace_event("xadd", key, c.dbid, "t")
    st.dirty += 1
    if a is not None and a.strategy_idx >= 0:
        if s.trim(a.maxlen, a.minid, a.approx, a.limit):
            _notify(c, "xtrim", key)
        if a.approx:
            _rewrite_approx_trim(argv, s, a)
    reply = fmt_id(eid)
    if not id_given or not seq_given:
        argv[idpos] = reply
    return reply


@command("xtrim")
def xtrim(c, argv):
    a = _parse_add_trim(c, argv, xadd=False)
    key = argv[1]
    s = _write_stream(c, key)
    if s is None:
        return 0
    deleted = s.trim(a.maxlen, a.minid, a.approx, a.limit)
    if deleted:
        _notify(c, "xtrim", key)
        if a.approx:
            _rewrite_approx_trim(argv, s, a)
        c.db.touch(key)
        c.state.dirty += deleted
    return deleted


# --------------------------------------------------------------------------------------------------- reading


@command("xlen")
def xlen(c, argv):
    s = _read_stream(c, argv[1])
    return 0 if s is None else s.length


def _xrange(c, argv, rev: bool):
    if rev:
        start, end = _range_bounds(argv[3], argv[2])
    else:
        start, end = _range_bounds(argv[2], argv[3])
    count = -1
    j = 4
    n = len(argv)
    while j < n:
        if _opt(argv[j]) == b"count" and j + 1 < n:
            count = _long(argv[j + 1])
            if count < 0:
                count = 0
            j += 2
        else:
            raise CommandError(SYNTAX)
    s = _read_stream(c, argv[1])
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    if count == -1:
        count = 0
    return _entries(s.rev_range(start, end, count) if rev else s.range(start, end, count))


@command("xrange")
def xrange_(c, argv):
    return _xrange(c, argv, False)


@command("xrevrange")
def xrevrange(c, argv):
    return _xrange(c, argv, True)


# --------------------------------------------------------------------------------------------------- XDEL / XSETID


@command("xdel")
def xdel(c, argv):
    key = argv[1]
    s = _write_stream(c, key)
    if s is None:
        return 0
    ids = [_id(a, strict=True) for a in argv[2:]]
    deleted = 0
    first_entry = False
    for eid in ids:
        if s.delete(eid):
            if eid == s.first_id:
                first_entry = True
            if eid > s.max_deleted:
                s.max_deleted = eid
            deleted += 1
    if deleted:
        if not s.length:
            s.first_id = 0
        elif first_entry:
            s.refresh_first_id()
        c.db.touch(key)
        _notify(c, "xdel", key)
        c.state.dirty += deleted
    return deleted


@command("xsetid")
def xsetid(c, argv):
    eid = _id(argv[2], strict=True)
    entries_added = -1
    max_xdel = 0
    i = 3
    n = len(argv)
    while i < n:
        more = n - 1 - i
        opt = _opt(argv[i])
        if opt == b"entriesadded" and more:
            entries_added = _long(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
            i += 2
        elif opt == b"maxdeletedid" and more:
            max_xdel = _id(argv[i + 1], strict=True)
            if eid < max_xdel:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
            i += 2
        else:
            raise CommandError(SYNTAX)
    key = argv[1]
    s = _write_stream(c, key)
    if s is None:
        raise CommandError(NO_SUCH_KEY)
    if s.length:
        if eid < s.last_valid_id():
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and s.length > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    s.last_id = eid
    if entries_added != -1:
        s.entries_added = entries_added
    if max_xdel:
        s.max_deleted = max_xdel
    c.state.dirty += 1
    _notify(c, "xsetid", key)
    return OK


# --------------------------------------------------------------------------------------------------- XREAD / XREADGROUP


def _serve_group(s, key, grp, cons, start, count, noack, now, ops) -> list:
    """streamReplyWithRange for a group: new entries from `start`, moving the group on and adding them to the
    pending lists (unless NOACK); each delivery is propagated as an XCLAIM."""
    out = []
    moved = False
    pel = grp.pel
    for eid, fv in s.range(start, MAX_ID, count):
        if eid > grp.last_id:
            s.advance_group(grp, eid)
            moved = True
        out.append([fmt_id(eid), fv])
        if not noack:
            nack = pel.get(eid)
            if nack is None:
                nack = Nack(cons, now)
                pel[eid] = nack
                cons.pel[eid] = nack
            else:
                # already pending (the group's ID was moved back): it now belongs to this consumer
                del nack.consumer.pel[eid]
                nack.consumer = cons
                nack.delivery_time = now
                nack.delivery_count = 1
                cons.pel[eid] = nack
            ops.append(_xclaim_op(key, grp, eid, nack))
    if moved:
        ops.append(_setid_op(key, grp))
    return out


def _serve_history(s, cons, start, count, now) -> list:
    """streamReplyWithRangeFromConsumerPEL: the consumer's own pending entries from `start`; an entry deleted
    meanwhile shows as its ID with a null."""
    out = []
    pel = cons.pel
    for eid in pel.irange(minimum=start):
        if count and len(out) >= count:
            break
        fv = s.get(eid)
        if fv is None:
            out.append([fmt_id(eid), NULL_ARRAY])
        else:
            nack = pel[eid]
            nack.delivery_time = now
            nack.delivery_count += 1
            out.append([fmt_id(eid), fv])
    return out


def _xread_reply(c, results):
    if c.proto == 3:
        return MapReply(results)
    return [[k, v] for k, v in results]


def _block_deadline(ms: int) -> float:
    """A BLOCK argument (ms) as an absolute deadline in epoch seconds (0.0: forever). Like Redis, `now + ms` wraps
    as a long long; a wrapped deadline never fires."""
    if ms == 0:
        return 0.0
    deadline = wrap64(ms + now_ms())
    return deadline / 1000.0 if deadline > 0 else 0.0


def _signal_mark(s):
    return (s.serial, s.ready_gen) if s is not None and s.__class__ is StreamValue else None


def _xread(c, argv, xreadgroup: bool):
    n = len(argv)
    timeout = -1
    count = 0
    streams_arg = 0
    nkeys = 0
    group_name = consumer_name = None
    noack = False
    i = 1
    while i < n:
        more = n - i - 1
        opt = _opt(argv[i])
        if opt == b"block" and more:
            i += 1
            timeout = _long(argv[i], "ERR timeout is not an integer or out of range")
            if timeout < 0:
                raise CommandError("ERR timeout is negative")
        elif opt == b"count" and more:
            i += 1
            count = _long(argv[i])
            if count < 0:
                count = 0
        elif opt == b"streams" and more:
            streams_arg = i + 1
            nkeys = n - streams_arg
            if nkeys % 2:
                raise CommandError("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
                                   "specified.")
            nkeys //= 2
            break
        elif opt == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            group_name = argv[i + 1]
            consumer_name = argv[i + 2]
            i += 2
        elif opt == b"noack":
            if not xreadgroup:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            noack = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if not streams_arg:
        raise CommandError(SYNTAX)
    if xreadgroup and group_name is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")

    keys = argv[streams_arg:streams_arg + nkeys]
    id_args = argv[streams_arg + nkeys:]
    ids = []
    for key, arg in zip(keys, id_args):
        s = _read_stream(c, key)
        if group_name is not None and (s is None or s.group(group_name) is None):
            raise CommandError(f"NOGROUP No such key '{_fmt(key)}' or consumer group '{_fmt(group_name)}' in "
                               "XREADGROUP with GROUP option")
        a = _cstr(arg)
        if a == b"$":
            if xreadgroup:
                raise CommandError("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                                   "history of this consumer by specifying a proper ID, or use the > ID to get new "
                                   "messages. The $ ID would just return an empty result set.")
            ids.append(s.last_id if s is not None else 0)
        elif a == b">":
            if not xreadgroup:
                raise CommandError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
                                   "<group> <consumer> option.")
            ids.append(MAX_ID)  # Redis marks ">" with the largest ID
        else:
            ids.append(_id(arg, strict=True))

    now = now_ms()
    results = []
    ops: list = []
    for idx, key in enumerate(keys):
        s = c.db.lookup_read(key)
        if s is None:
            continue
        gt = ids[idx]
        serve = history = False
        grp = None
        if group_name is not None:
            grp = s.group(group_name)
            if gt != MAX_ID:
                serve = history = True
            elif s.length and s.last_valid_id() > grp.last_id:
                serve = True
                gt = grp.last_id
        elif s.length and s.last_valid_id() > gt:
            serve = True
        if not serve:
            continue
        start = (gt + 1) & MAX_ID
        if grp is not None:
            cons = _consumer(c, grp, key, consumer_name, now, ops)
            if history:
                entries = _serve_history(s, cons, start, count, now)
            else:
                entries = _serve_group(s, key, grp, cons, start, count, noack, now, ops)
            c.state.dirty += 1
        else:
            entries = _entries(s.range(start, MAX_ID, count))
        results.append((key, entries))
    if results:
        _propagate(c, ops)
        return _xread_reply(c, results)
    _propagate(c, ops)
    if timeout == -1 or c.no_block or c.in_multi:
        return NULL_ARRAY

    return _block(c, keys, ids, timeout, count, group_name, consumer_name, noack)


def _block(c, keys, ids, timeout, count, group_name, consumer_name, noack):
    """Park the reader (see the module docstring). A key listed twice waits with its first ID, as in Redis."""
    gts: dict = {}
    for key, gt in zip(keys, ids):
        gts.setdefault(key, gt)
    marks = {key: _signal_mark(c.db.get(key)) for key in gts}
    xcount = count or XREAD_BLOCKED_DEFAULT_COUNT
    blocked = None

    def retry():
        key = getattr(blocked, "ready_key", None)
        for k in ((key,) if key is not None else tuple(gts)):
            reply = _serve_blocked(k)
            if reply is not None:
                return reply
        raise blocked

    def _serve_blocked(key):
        s = c.db.data.get(key)
        if s is None or s.__class__ is not StreamValue:
            if group_name is not None:
                raise CommandError("UNBLOCKED the stream key no longer exists")
            return None
        mark = (s.serial, s.ready_gen)
        if marks.get(key) == mark:
            return None  # not signalled since we last looked
        marks[key] = mark
        gt = gts[key]
        grp = None
        if group_name is not None:
            grp = s.group(group_name)
            if grp is None:
                raise CommandError("NOGROUP the consumer group this client was blocked on no longer exists")
            gt = grp.last_id
        if s.last_id <= gt:
            return None
        start = gt + 1
        now = now_ms()
        if grp is not None:
            ops: list = []
            cons = _consumer(c, grp, key, consumer_name, now, ops)
            entries = _serve_group(s, key, grp, cons, start, xcount, noack, now, ops)
            c.state.dirty += 1
            _propagate(c, ops)
        else:
            entries = _entries(s.range(start, MAX_ID, xcount))
        return _xread_reply(c, [(key, entries)])

    blocked = Blocked(list(gts), _block_deadline(timeout), retry, lambda: NULL_ARRAY)
    # Redis 7.0.15 answers a blocked XREADGROUP with an error when its key goes away (blocking.py honours this)
    blocked.unblock_on_nokey = group_name is not None
    raise blocked


@command("xread")
def xread(c, argv):
    return _xread(c, argv, False)


@command("xreadgroup")
def xreadgroup(c, argv):
    return _xread(c, argv, True)


# --------------------------------------------------------------------------------------------------- XGROUP


_XGROUP_HELP = [
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
]

_XINFO_HELP = [
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
]


def _subcommand_error(argv, name: str) -> CommandError:
    sub = _cstr(argv[1])[:128].decode("utf-8", "surrogateescape")
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP.")


def _entries_read_arg(arg: bytes) -> int:
    v = _long(arg)
    if v < 0 and v != INVALID_ENTRIES_READ:
        raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
    return v


def _xgroup(c, argv):
    """xgroupCommand: one function for every subcommand, checking in Redis's order."""
    opt = _opt(argv[1])
    n = len(argv)
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    s = grp = None
    key = argv[2] if n >= 3 else None
    if n >= 4:
        if opt == b"create" and n >= 5:
            i = 5
            while i < n:
                o = _opt(argv[i])
                if o == b"mkstream":
                    mkstream = True
                    i += 1
                elif o == b"entriesread" and i + 1 < n:
                    entries_read = _entries_read_arg(argv[i + 1])
                    i += 2
                else:
                    raise _subcommand_error(argv, "XGROUP")
        elif opt == b"setid" and n >= 5:
            i = 5
            while i < n:
                if _opt(argv[i]) == b"entriesread" and i + 1 < n:
                    entries_read = _entries_read_arg(argv[i + 1])
                    i += 2
                else:
                    raise _subcommand_error(argv, "XGROUP")
        s = _write_stream(c, key)
        if not mkstream:
            if s is None:
                raise CommandError(KEY_REQUIRED)
            grp = s.group(argv[3])
            if grp is None and opt in (b"setid", b"createconsumer", b"delconsumer"):
                raise CommandError(f"NOGROUP No such consumer group '{_fmt(argv[3])}' for key name '{_fmt(key)}'")

    if n == 2 and opt == b"help":
        return [Simple(line) for line in _XGROUP_HELP]
    if opt == b"create" and 5 <= n <= 8:
        if _cstr(argv[4]) == b"$":
            eid = s.last_id if s is not None else 0
        else:
            eid = _id(argv[4], strict=True)
        if s is None:
            s = StreamValue()
            c.db.add(key, s)
        if s.create_group(argv[3], eid, entries_read) is None:
            raise CommandError("BUSYGROUP Consumer Group name already exists")
        c.state.dirty += 1
        _notify(c, "xgroup-create", key)
        return OK
    if opt == b"setid" and n in (5, 7):
        if _cstr(argv[4]) == b"$":
            eid = s.last_id
        else:
            eid = _id(argv[4])
        grp.last_id = eid
        grp.entries_read = entries_read
        c.state.dirty += 1
        _notify(c, "xgroup-setid", key)
        return OK
    if opt == b"destroy" and n == 4:
        if grp is None:
            return 0
        del s.groups[argv[3]]
        # Redis signals the key ready (not modified: WATCH does not see it) so blocked XREADGROUPs get NOGROUP
        s.ready_gen += 1
        if key in c.db.blocked:
            c.state.blocking.key_modified(c.dbid, key)
        c.state.dirty += 1
        _notify(c, "xgroup-destroy", key)
        return 1
    if opt == b"createconsumer" and n == 5:
        cons = grp.create_consumer(argv[4], now_ms())
        if cons is None:
            return 0
        c.state.dirty += 1
        _notify(c, "xgroup-createconsumer", key)
        return 1
    if opt == b"delconsumer" and n == 5:
        cons = grp.consumers.get(argv[4])
        if cons is None:
            return 0
        pending = len(cons.pel)
        grp.delete_consumer(cons)
        c.state.dirty += 1
        _notify(c, "xgroup-delconsumer", key)
        return pending
    raise _subcommand_error(argv, "XGROUP")


def _register(name: str, fn) -> None:
    # one function serves every subcommand, as in Redis; each registration gets its own wrapper
    def sub(c, argv):
        return fn(c, argv)
    sub.__name__ = name.replace("|", "_")
    command(name)(sub)


for _sub in ("create", "setid", "destroy", "createconsumer", "delconsumer", "help"):
    _register(f"xgroup|{_sub}", _xgroup)


# --------------------------------------------------------------------------------------------------- XACK / XPENDING


@command("xack")
def xack(c, argv):
    key = argv[1]
    s = _read_stream(c, key)
    grp = s.group(argv[2]) if s is not None else None
    if grp is None:
        return 0
    ids = [_id(a, strict=True) for a in argv[3:]]
    acked = 0
    pel = grp.pel
    for eid in ids:
        nack = pel.get(eid)
        if nack is not None:
            grp.remove_nack(eid, nack)
            acked += 1
    c.state.dirty += acked
    return acked


@command("xpending")
def xpending(c, argv):
    n = len(argv)
    key, group_name = argv[1], argv[2]
    if n != 3 and (n < 6 or n > 9):
        raise CommandError(SYNTAX)
    consumer_name = None
    minidle = 0
    count = 0
    start = end = 0
    if n >= 6:
        startidx = 3
        if _opt(argv[3]) == b"idle":
            minidle = _long(argv[4])
            if n < 8:
                raise CommandError(SYNTAX)
            startidx += 2
        count = _long(argv[startidx + 2])
        if count < 0:
            count = 0
        start, end = _range_bounds(argv[startidx], argv[startidx + 1])
        if startidx + 3 < n:
            consumer_name = argv[startidx + 3]
    s = _read_stream(c, key)
    grp = s.group(group_name) if s is not None else None
    if grp is None:
        raise CommandError(f"NOGROUP No such key '{_fmt(key)}' or consumer group '{_fmt(group_name)}'")
    if n == 3:
        pel = grp.pel
        if not pel:
            return [0, None, None, NULL_ARRAY]
        owners = [[name, b"%d" % len(cons.pel)] for name, cons in grp.consumers.items() if cons.pel]
        return [len(pel), fmt_id(pel.peekitem(0)[0]), fmt_id(pel.peekitem(-1)[0]), owners]
    if consumer_name is not None:
        cons = grp.consumers.get(consumer_name)
        if cons is None:
            return []
        pel = cons.pel
    else:
        pel = grp.pel
    out = []
    if not count:
        return out
    now = now_ms()
    for eid in pel.irange(start, end):
        nack = pel[eid]
        idle = now - nack.delivery_time
        if minidle and idle < minidle:
            continue
        out.append([fmt_id(eid), nack.consumer.name, max(idle, 0), nack.delivery_count])
        if len(out) == count:
            break
    return out


# ------------------------------------------------------------------------------------------------- XCLAIM / XAUTOCLAIM


def _claim(c, s, grp, key, eid, nack, cons_name, cons, now, deliverytime, retrycount, justid, ops, out):
    """Give pending entry `eid` to the claiming consumer (created on first use) and add it to the reply."""
    if cons is None:
        cons = _consumer(c, grp, key, cons_name, now, ops)
    if nack.consumer is not cons:
        if nack.consumer is not None:
            del nack.consumer.pel[eid]
    nack.delivery_time = deliverytime
    if retrycount >= 0:
        nack.delivery_count = retrycount
    elif not justid:
        nack.delivery_count += 1
    if nack.consumer is not cons:
        cons.pel[eid] = nack
        nack.consumer = cons
    out.append(fmt_id(eid) if justid else _entry(eid, s.get(eid)))
    ops.append(_xclaim_op(key, grp, eid, nack))
    c.state.dirty += 1
    return cons


def _forget_deleted(c, grp, key, eid, nack, ops) -> None:
    """A pending entry whose stream entry is gone leaves the PEL (and that is propagated)."""
    ops.append(_xclaim_op(key, grp, eid, nack))
    c.state.dirty += 1
    grp.remove_nack(eid, nack)


@command("xclaim")
def xclaim(c, argv):
    key, group_name = argv[1], argv[2]
    s = _read_stream(c, key)
    grp = s.group(group_name) if s is not None else None
    if grp is None:
        raise CommandError(f"NOGROUP No such key '{_fmt(key)}' or consumer group '{_fmt(group_name)}'")
    minidle = _long(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")
    if minidle < 0:
        minidle = 0
    n = len(argv)
    ids = []
    j = 5
    while j < n:
        try:
            ids.append(parse_id(argv[j], 0, strict=True)[0])
        except BadID:
            break
        j += 1
    now = now_ms()
    force = justid = False
    retrycount = -1
    deliverytime = -1
    last_id = 0
    while j < n:
        more = n - 1 - j
        opt = _opt(argv[j])
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            deliverytime = now - _long(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            deliverytime = _long(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retrycount = _long(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"lastid" and more:
            j += 1
            last_id = _id(argv[j], strict=True)
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_fmt(argv[j])}'")
        j += 1
    ops: list = []
    propagate_last_id = False
    if last_id > grp.last_id:
        grp.last_id = last_id
        propagate_last_id = True
    if deliverytime != -1:
        # a bogus time (negative, or in the future) becomes "now" rather than an error, as in Redis
        if deliverytime < 0 or deliverytime > now:
            deliverytime = now
    else:
        deliverytime = now
    out: list = []
    cons = None
    pel = grp.pel
    for eid in ids:
        nack = pel.get(eid)
        if s.get(eid) is None:
            if nack is not None:
                _forget_deleted(c, grp, key, eid, nack, ops)
                propagate_last_id = False
            continue
        if force and nack is None:
            nack = Nack(None, now)
            pel[eid] = nack
        if nack is None:
            continue
        if nack.consumer is not None and minidle and now - nack.delivery_time < minidle:
            continue
        cons = _claim(c, s, grp, key, eid, nack, argv[3], cons, now, deliverytime, retrycount, justid, ops, out)
        propagate_last_id = False
    if propagate_last_id:
        ops.append(_setid_op(key, grp))
        c.state.dirty += 1
    _propagate(c, ops)
    return out


@command("xautoclaim")
def xautoclaim(c, argv):
    key, group_name = argv[1], argv[2]
    minidle = _long(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")
    if minidle < 0:
        minidle = 0
    start, ex = _interval_id(argv[5], 0)
    if ex:
        if start == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    count = 100
    justid = False
    n = len(argv)
    j = 6
    while j < n:
        more = n - 1 - j
        opt = _opt(argv[j])
        if opt == b"count" and more:
            v = string2ll(argv[j + 1])
            if v is None or not 1 <= v <= XAUTOCLAIM_MAX_COUNT:
                raise CommandError("ERR COUNT must be > 0")
            count = v
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    s = _read_stream(c, key)
    grp = s.group(group_name) if s is not None else None
    if grp is None:
        raise CommandError(f"NOGROUP No such key '{_fmt(key)}' or consumer group '{_fmt(group_name)}'")
    if count > XAUTOCLAIM_ALLOC_LIMIT:
        # Redis allocates COUNT slots for deleted IDs before scanning; past what the machine can map it refuses
        raise CommandError("ERR Insufficient memory, failed allocating transient memory, COUNT too high.")
    attempts = count * XAUTOCLAIM_ATTEMPTS_FACTOR
    now = now_ms()
    pel = grp.pel
    pos = pel.bisect_left(start)
    out: list = []
    deleted: list = []
    ops: list = []
    cons = None
    while attempts and count and pos < len(pel):
        attempts -= 1
        eid, nack = pel.peekitem(pos)
        if s.get(eid) is None:
            _forget_deleted(c, grp, key, eid, nack, ops)
            deleted.append(fmt_id(eid))
            count -= 1
            continue
        pos += 1
        if minidle and now - nack.delivery_time < minidle:
            continue
        cons = _claim(c, s, grp, key, eid, nack, argv[3], cons, now, now, -1, justid, ops, out)
        count -= 1
    cursor = fmt_id(pel.peekitem(pos)[0]) if pos < len(pel) else b"0-0"
    _propagate(c, ops)
    return [cursor, out, deleted]


# --------------------------------------------------------------------------------------------------- XINFO


def _group_info(s, grp) -> MapReply:
    return MapReply([
        (b"name", grp.name),
        (b"consumers", len(grp.consumers)),
        (b"pending", len(grp.pel)),
        (b"last-delivered-id", fmt_id(grp.last_id)),
        (b"entries-read", grp.entries_read if grp.entries_read != INVALID_ENTRIES_READ else None),
        (b"lag", s.group_lag(grp)),
    ])


def _stream_head(s) -> list:
    return [
        (b"length", s.length),
        (b"radix-tree-keys", len(s.masters)),
        (b"radix-tree-nodes", s.rax.numnodes),
        (b"last-generated-id", fmt_id(s.last_id)),
        (b"max-deleted-entry-id", fmt_id(s.max_deleted)),
        (b"entries-added", s.entries_added),
        (b"recorded-first-entry-id", fmt_id(s.first_id)),
    ]


def _stream_full(s, count: int) -> MapReply:
    items = _stream_head(s)
    items.append((b"entries", _entries(s.range(0, MAX_ID, count))))
    groups = []
    for grp in (s.groups.values() if s.groups else ()):
        pending = []
        for eid, nack in grp.pel.items():
            if count and len(pending) >= count:
                break
            pending.append([fmt_id(eid), nack.consumer.name, nack.delivery_time, nack.delivery_count])
        consumers = []
        for cons in grp.consumers.values():
            cpending = []
            for eid, nack in cons.pel.items():
                if count and len(cpending) >= count:
                    break
                cpending.append([fmt_id(eid), nack.delivery_time, nack.delivery_count])
            consumers.append(MapReply([
                (b"name", cons.name),
                (b"seen-time", cons.seen_time),
                (b"pel-count", len(cons.pel)),
                (b"pending", cpending),
            ]))
        groups.append(MapReply([
            (b"name", grp.name),
            (b"last-delivered-id", fmt_id(grp.last_id)),
            (b"entries-read", grp.entries_read if grp.entries_read != INVALID_ENTRIES_READ else None),
            (b"lag", s.group_lag(grp)),
            (b"pel-count", len(grp.pel)),
            (b"pending", pending),
            (b"consumers", consumers),
        ]))
    items.append((b"groups", groups))
    return MapReply(items)


def _xinfo(c, argv):
    opt = _opt(argv[1])
    n = len(argv)
    if opt == b"help":
        if n != 2:
            raise _subcommand_error(argv, "XINFO")
        return [Simple(line) for line in _XINFO_HELP]
    key = argv[2]
    s = _read_stream(c, key)
    if s is None:
        raise CommandError(NO_SUCH_KEY)
    if opt == b"consumers" and n == 4:
        grp = s.group(argv[3])
        if grp is None:
            raise CommandError(f"NOGROUP No such consumer group '{_fmt(argv[3])}' for key name '{_fmt(key)}'")
        now = now_ms()
        return [MapReply([(b"name", cons.name), (b"pending", len(cons.pel)), (b"idle", now - cons.seen_time)])
                for cons in grp.consumers.values()]
    if opt == b"groups" and n == 3:
        return [_group_info(s, grp) for grp in (s.groups.values() if s.groups else ())]
    if opt == b"stream":
        if n == 3:
            first = s.first_entry()
            last = s.last_entry()
            items = _stream_head(s)
            items.append((b"groups", len(s.groups) if s.groups else 0))
            items.append((b"first-entry", _entry(*first) if first else None))
            items.append((b"last-entry", _entry(*last) if last else None))
            return MapReply(items)
        if n in (4, 6) and _opt(argv[3]) == b"full":
            count = 10
            if n == 6:
                if _opt(argv[4]) != b"count":
                    raise _subcommand_error(argv, "XINFO")
                count = max(_long(argv[5]), 0)
            return _stream_full(s, count)
    raise _subcommand_error(argv, "XINFO")


for _sub in ("stream", "groups", "consumers", "help"):
    _register(f"xinfo|{_sub}", _xinfo)
