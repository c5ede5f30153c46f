"""LZF (liblzf's format), which Redis uses for strings and listpacks in RDB files and DUMP payloads when
`rdbcompression` is on (its default), so every file a stock Redis writes needs `decompress`.

The format is a sequence of instructions, each starting with a control byte `c`:
* c < 32: a literal run, the next c + 1 bytes are copied as they are;
* else a back reference: length `c >> 5` (7 means "7 plus the next byte"), plus 2; distance
  `((c & 31) << 8) + next byte + 1` back from the end of the output. A reference may overlap the bytes it
  produces (distance < length), which repeats the last `distance` bytes.

`compress` is a straightforward greedy compressor (a 3-byte hash table of last positions, as liblzf does). It is
correct but runs at Python speed (a few MB/s), which is why the RDB writer does not use it by default: an
uncompressed string is always valid RDB.
"""
from __future__ import annotations


class LzfError(ValueError):
    """Corrupt compressed data; `offset` is the position in the compressed input."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def decompress(data, out_len: int) -> bytes:
    """The `out_len` bytes that `data` (bytes-like) expands to; LzfError if it is corrupt or does not expand to
    exactly that many bytes."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > n:
                raise LzfError("LZF literal run past the end of the input", i - 1)
            out += data[i:i + run]
            i += run
        else:
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise LzfError("LZF back reference truncated", i - 1)
                length += data[i]
                i += 1
            if i >= n:
                raise LzfError("LZF back reference truncated", i - 1)
            dist = ((ctrl & 31) << 8) + data[i] + 1
            i += 1
            length += 2
            ref = len(out) - dist
            if ref < 0:
                raise LzfError("LZF back reference before the start of the output", i - 2)
            if dist >= length:
                out += out[ref:ref + length]
            else:
                pattern = out[ref:]
                out += (pattern * (length // dist + 1))[:length]
        if len(out) > out_len:
            raise LzfError("LZF data expands past its declared length", i)
    if len(out) != out_len:
        raise LzfError("LZF data expands to %d bytes, not the declared %d" % (len(out), out_len), n)
    return bytes(out)


_MAX_LIT = 32
_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)  # 264: 7 + 255 + 2


def compress(data: bytes) -> bytes:
    """LZF-compress `data` (greedy matching on 3-byte prefixes). The result always decompresses to `data`; it may
    be longer than `data` for incompressible input (callers compare lengths)."""
    n = len(data)
    out = bytearray()
    last: dict[bytes, int] = {}
    lit_start = 0
    i = 0

    def flush_literals(end: int) -> None:
        s = lit_start
        while s < end:
            run = min(_MAX_LIT, end - s)
            out.append(run - 1)
            out.extend(data[s:s + run])
            s += run

    while i + 2 < n:
        key = data[i:i + 3]
        ref = last.get(key)
        last[key] = i
        if ref is not None and i - ref <= _MAX_OFF:
            # extend the match as far as it goes (it may overlap the current position)
            maxlen = min(_MAX_REF, n - i)
            length = 3
            while length < maxlen and data[ref + length] == data[i + length]:
                length += 1
            flush_literals(i)
            dist = i - ref - 1
            code = length - 2
            if code < 7:
                out.append((code << 5) | (dist >> 8))
            else:
                out.append((7 << 5) | (dist >> 8))
                out.append(code - 7)
            out.append(dist & 0xFF)
            # remember the positions inside the match too, so later data can refer to them
            end = i + length
            for j in range(i + 1, min(end, n - 2)):
                last[data[j:j + 3]] = j
            i = end
            lit_start = i
        else:
            i += 1
    flush_literals(n)
    return bytes(out)
