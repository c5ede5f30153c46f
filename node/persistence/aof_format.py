"""The append-only file's byte format, sans-IO: commands as RESP arrays of bulk strings, and the reader that
replays them with the byte offsets loading needs.

A file is a sequence of `*<argc>\\r\\n` then argc times `$<len>\\r\\n<bytes>\\r\\n`. Lines starting with `#` are
annotations (Redis writes `#TS:<unix time>` with `aof-timestamp-enabled`) and are skipped. Loading must tell apart
two kinds of damage, because Redis treats them differently:

- the file *ends* inside a command (a torn write, the usual result of a crash or a full disk): `Truncated`, with
  the offset where the last complete command ended, so the loader can cut the tail when `aof-load-truncated`
  allows it;
- bytes that cannot be a command (`BadFormat`): refused wherever they are, with their offset.

The reader is stricter than Redis's (it checks that numbers are decimal and that each argument is followed by
CRLF): Redis writes exactly this form, and a strict reader turns a corrupted length into a refusal at the right
offset instead of a misparse further on.
"""
from __future__ import annotations

from typing import Iterator

import hiredis

_pack = hiredis.pack_command


def encode_command(argv) -> bytes:
    """One command as the RESP array Redis's catAppendOnlyGenericCommand writes."""
    try:
        return _pack(tuple(argv))
    except TypeError:  # bytearray / memoryview arguments: hiredis takes only bytes, str and numbers
        return b"*%d\r\n" % len(argv) + b"".join(
            [b"$%d\r\n%b\r\n" % (len(a), a) if not isinstance(a, (int, str)) else
             _bulk(str(a).encode()) for a in argv])


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def select_command(dbid: int) -> bytes:
    s = b"%d" % dbid
    return b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%b\r\n" % (len(s), s)


class Truncated(Exception):
    """The data ends inside a command; `valid_up_to` is the end of the last complete one."""

    def __init__(self, valid_up_to: int, at: int):
        super().__init__(f"unexpected end of file at offset {at}")
        self.valid_up_to = valid_up_to
        self.offset = at


class BadFormat(Exception):
    """Bytes at `offset` are not a command."""

    def __init__(self, offset: int, what: str):
        super().__init__(f"{what} at offset {offset}")
        self.offset = offset
        self.what = what


def _number(buf, start: int, end: int, at: int, what: str) -> int:
    digits = bytes(buf[start:end])
    if not digits or not (digits.isdigit() or (digits[:1] == b"-" and digits[1:].isdigit())) or len(digits) > 19:
        raise BadFormat(at, f"invalid {what} {digits[:32]!r}")
    return int(digits)


def parse_one(buf, pos: int, n: int):
    """The strict parser, one item at `pos`: (argv, stop) for a command, (None, stop) for an annotation line.
    Raises Truncated or BadFormat."""
    start = pos
    find = buf.find
    nl = find(b"\n", pos, n)
    if nl < 0:
        raise Truncated(start, n)
    first = buf[pos]
    if first == 35:  # '#': an annotation line
        return None, nl + 1
    if first != 42:  # '*'
        raise BadFormat(pos, "expected '*' (a command)")
    if nl == pos or buf[nl - 1] != 13:
        raise BadFormat(pos, "command header without CRLF")
    argc = _number(buf, pos + 1, nl - 1, pos, "argument count")
    if argc < 1:
        raise BadFormat(pos, f"invalid argument count {argc}")
    pos = nl + 1
    argv = []
    for _ in range(argc):
        if pos >= n:
            raise Truncated(start, n)
        if buf[pos] != 36:  # '$'
            raise BadFormat(pos, "expected '$' (an argument)")
        nl = find(b"\n", pos, n)
        if nl < 0:
            raise Truncated(start, n)
        if buf[nl - 1] != 13:
            raise BadFormat(pos, "argument header without CRLF")
        size = _number(buf, pos + 1, nl - 1, pos, "argument length")
        if size < 0:
            raise BadFormat(pos, f"invalid argument length {size}")
        pos = nl + 1
        stop = pos + size
        if stop + 2 > n:
            raise Truncated(start, n)
        if buf[stop] != 13 or buf[stop + 1] != 10:
            raise BadFormat(stop, "argument not followed by CRLF")
        argv.append(bytes(buf[pos:stop]))
        pos = stop + 2
    return argv, pos


_CHUNK = 1 << 20


def iter_commands(buf, pos: int = 0, end: int | None = None) -> Iterator[tuple[list[bytes], int, int]]:
    """Yield (argv, start, stop) for each command of `buf[pos:end]` (bytes, bytearray or mmap), skipping
    annotations. Raises Truncated or BadFormat (see the module docstring).

    Fast path: hiredis parses, and each command is accepted only if its bytes are exactly its canonical encoding
    (which is what Redis and Shoal write), so offsets stay exact and the format is checked as strictly as by
    `parse_one`. Anything else (an annotation, a torn tail, damage) is handed to `parse_one` at the exact offset
    where it starts, and the fast path resumes after it."""
    n = len(buf) if end is None else end
    while pos < n:
        reader = hiredis.Reader()
        fed = pos
        try:
            while True:
                reply = reader.gets()
                if reply is False:
                    if fed >= n:
                        break
                    nxt = min(n, fed + _CHUNK)
                    reader.feed(buf[fed:nxt])
                    fed = nxt
                    continue
                if reply.__class__ is not list or not reply:
                    break
                enc = _pack(tuple(reply))
                stop = pos + len(enc)
                if buf[pos:stop] != enc:
                    break
                yield reply, pos, stop
                pos = stop
        except (hiredis.ProtocolError, TypeError, ValueError):
            pass
        if pos >= n:
            return
        argv, stop = parse_one(buf, pos, n)  # the strict parser decides what is at `pos`
        if argv is not None:
            yield argv, pos, stop
        pos = stop
