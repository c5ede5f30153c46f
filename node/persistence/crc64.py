"""CRC64 as Redis computes it (Jones polynomial, reflected, init 0, no final xor): the RDB trailer and the DUMP
payload footer. `anycrc` does the table work in C (about 15 GB/s here); `crc64(data, crc)` continues a running
checksum, so a file written in chunks is checksummed chunk by chunk without holding it whole."""
from __future__ import annotations

import anycrc

_MODEL = anycrc.Model("CRC64-REDIS")
_calc = _MODEL.calc


def crc64(data, crc: int = 0) -> int:
    """The checksum of `data` (bytes-like), continuing from `crc` (the checksum of everything before it)."""
    return _calc(data, crc)
