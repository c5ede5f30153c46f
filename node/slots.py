"""Hash slots: which of the 16384 slots a key belongs to, as Redis Cluster computes it.

It lives in node/ because the keyspace keeps a per-slot key index in cluster mode (keyspace.enable_slot_index) and
node/ never imports cluster/; cluster/slots.py re-exports these names, so there is one implementation.

CRC16 is the XMODEM variant (polynomial 0x1021, initial value 0), which is what `binascii.crc_hqx(data, 0)`
computes in C. A `{hash tag}` narrows the hashed part to what is between the first `{` and the first `}` after it,
unless that is empty, so `{user1000}.following` and `{user1000}.followers` share a slot.
"""
from __future__ import annotations

from binascii import crc_hqx

SLOTS = 16384


def hash_tag(key: bytes) -> bytes:
    """The part of `key` that is hashed."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key: bytes) -> int:
    # hash_tag inlined: this runs for every keyed command in cluster mode and for every new or deleted key
    if 123 in key:  # b"{": testing for the int is 4x cheaper than key.find, and most keys have no tag
        start = key.find(b"{")
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc_hqx(key, 0) & 0x3FFF
