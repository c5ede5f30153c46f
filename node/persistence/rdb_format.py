"""What the RDB writer and reader share: Redis 7.0's type bytes, opcodes and limits, and RdbError."""
from __future__ import annotations

import struct

RDB_VERSION = 10
REDIS_VERSION = b"7.0.15"
MAGIC = b"REDIS"

# value types
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19

# opcodes
OP_FUNCTION2 = 0xF5
OP_FUNCTION = 0xF6
OP_MODULE_AUX = 0xF7
OP_IDLE = 0xF8
OP_FREQ = 0xF9
OP_AUX = 0xFA
OP_RESIZEDB = 0xFB
OP_EXPIRETIME_MS = 0xFC
OP_EXPIRETIME = 0xFD
OP_SELECTDB = 0xFE
OP_EOF = 0xFF

QUICKLIST_PLAIN = 1
QUICKLIST_PACKED = 2
PACKED_THRESHOLD = 1 << 30  # elements this big get a plain quicklist node of their own (Redis's default)
SIZE_SAFETY_LIMIT = 8192
SIZE_ESTIMATE_OVERHEAD = 8
FILL_BYTES = (4096, 8192, 16384, 32768, 65536)
STREAM_ITEM_FLAG_DELETED = 1

DOUBLE = struct.Struct("<d")
U64LE = struct.Struct("<Q")
LLONG_MAX_HALF = float((1 << 63) // 2)


class RdbError(Exception):
    """A file or payload that cannot be loaded. `offset` is the byte offset where it went wrong (None when the
    problem is not at one place, like a checksum); the message names it."""

    def __init__(self, message: str, offset: int | None = None):
        self.reason = message
        self.offset = offset
        super().__init__(message if offset is None else "%s (at byte offset %d)" % (message, offset))
