"""Hash slots: which of the 16384 slots a key belongs to, as Redis Cluster computes it.

The implementation is node/slots.py (the keyspace's per-slot index needs it, and node/ never imports cluster/);
this module is cluster/'s name for it.
"""
from __future__ import annotations

from shoal.node.slots import SLOTS, hash_tag, key_slot

__all__ = ["SLOTS", "hash_tag", "key_slot"]
