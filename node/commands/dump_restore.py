"""DUMP and RESTORE, with Redis 7.0's payload (node/persistence/rdb.py: type byte, RDB value, RDB version u16 LE,
CRC64 u64 LE), so payloads move between Shoal and Redis in both directions.

RESTORE checks in Redis's order (cluster.c restoreCommand): options first (syntax, IDLETIME/FREQ numbers and
ranges), then BUSYKEY, then the TTL, then the payload's version and checksum, then its contents. A TTL already
in the past restores nothing (and, with REPLACE, the old key is deleted and that deletion is what propagates).
A relative TTL is propagated as an absolute one with ABSTTL, so replicas and the AOF expire the key at the same
moment.
"""
from __future__ import annotations

from ..errors import CommandError, SYNTAX
from ..eviction import lfu_policy_active, set_key_freq, set_key_idle
from ..keyspace import now_ms
from ..persistence.rdb import RdbError, dump_payload, restore_payload, verify_payload
from ..resp import OK
from .args import parse_ll
from .registry import command

BUSYKEY = "BUSYKEY Target key name already exists."
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_DATA = "ERR Bad data format"



@command("dump")
def dump(c, argv):
    value = c.db.lookup_read(argv[1])
    if value is None:
        return None
    return dump_payload(value, c.state.config)


@command("restore")
def restore(c, argv):
    key = argv[1]
    replace = absttl = False
    idle = freq = -1
    j, argc = 4, len(argv)
    while j < argc:
        opt = argv[j].lower()
        more = argc - j - 1
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more >= 1 and freq == -1:
            idle = parse_ll(argv[j + 1])
            if idle < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif opt == b"freq" and more >= 1 and idle == -1:
            freq = parse_ll(argv[j + 1])
            if freq < 0 or freq > 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1

    db = c.db
    state = c.state
    if not replace and db.get(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_ll(argv[2])
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    payload = bytes(argv[3])
    if not verify_payload(payload):
        raise CommandError(BAD_PAYLOAD)
    try:
        value = restore_payload(payload, state.config)
    except RdbError:
        raise CommandError(BAD_DATA) from None

    deleted = db.delete(key) if replace else False
    if ttl and not absttl:
        ttl += now_ms()
    if ttl and ttl <= now_ms() and not state.loading and not state.is_replica:
        # already expired: nothing is created; a replaced key is gone, and that is what replicas hear
        if deleted:
            argv[:] = [b"UNLINK" if state.config["lazyfree-lazy-server-del"] else b"DEL", key]
            db.touch(key)
            state.notify_keyspace_event("del", key, c.dbid, "g")
            state.dirty += 1
        return OK
    db.add(key, value)  # breaks WATCHes and wakes blocked clients, as Redis's signalModifiedKey
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:
            argv[2] = b"%d" % ttl
            argv.append(b"ABSTTL")
    if lfu_policy_active(state.config):
        if freq >= 0:
            set_key_freq(db, key, freq)
    elif idle >= 0:
        set_key_idle(db, key, idle)
    state.notify_keyspace_event("restore", key, c.dbid, "g")
    state.dirty += 1
    return OK
