"""The multi-part AOF's manifest: which files make up the dataset, in Redis 7.0's format.

The directory `appenddirname` holds one BASE file (a snapshot from the last rewrite: `<name>.<seq>.base.rdb`,
or `.base.aof` without the RDB preamble), INCR files (`<name>.<seq>.incr.aof`, the writes since) and the
manifest `<name>.manifest`, one line per file:

    file appendonly.aof.2.base.rdb seq 2 type b
    file appendonly.aof.1.incr.aof seq 1 type h
    file appendonly.aof.2.incr.aof seq 2 type i

`b` base, `i` incr, `h` history (files a rewrite made obsolete; deleted soon after). The base comes first, then
history, then incr files in sequence order. Names that need quoting are written in Redis's `sdscatrepr` form and
read back with `sdssplitargs` rules. The manifest is replaced atomically (temp file, fsync, rename, fsync of the
directory), so a crash leaves either the old or the new list.

Base and incr sequence numbers are separate counters, each continuing from the highest number the manifest
names.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .files import fsync_dir

BASE, INCR, HISTORY = "b", "i", "h"
MANIFEST_MAX_LINE = 1024


class ManifestError(Exception):
    """The manifest cannot be used: Redis refuses to start on it (the message is Redis's)."""

    def __init__(self, msg: str, linenum: int = 0, line: str = ""):
        super().__init__(msg)
        self.msg = msg
        self.linenum = linenum
        self.line = line


@dataclass
class AofInfo:
    name: str
    seq: int
    type: str

    def format(self) -> str:
        return f"file {quote_if_needed(self.name)} seq {self.seq} type {self.type}\n"


@dataclass
class Manifest:
    base: AofInfo | None = None
    incrs: list[AofInfo] = field(default_factory=list)
    history: list[AofInfo] = field(default_factory=list)
    base_seq: int = 0
    incr_seq: int = 0

    def copy(self) -> "Manifest":
        dup = lambda a: AofInfo(a.name, a.seq, a.type)  # noqa: E731
        return Manifest(dup(self.base) if self.base else None, [dup(a) for a in self.incrs],
                        [dup(a) for a in self.history], self.base_seq, self.incr_seq)

    @property
    def empty(self) -> bool:
        return self.base is None and not self.incrs

    def files(self) -> list[AofInfo]:
        """The files that hold data, in load order."""
        return ([self.base] if self.base else []) + self.incrs

    def format(self) -> str:
        return "".join(a.format() for a in ([self.base] if self.base else []) + self.history + self.incrs)

    # ------------------------------------------------------------------ changes a rewrite makes

    def new_base(self, filename: str, rdb: bool) -> str:
        """The next base name; the current base becomes history (getNewBaseFileNameAndMarkPreAsHistory)."""
        if self.base is not None:
            self.base.type = HISTORY
            self.history.insert(0, self.base)
        self.base_seq += 1
        name = f"{filename}.{self.base_seq}.base.{'rdb' if rdb else 'aof'}"
        self.base = AofInfo(name, self.base_seq, BASE)
        return name

    def new_incr(self, filename: str) -> str:
        self.incr_seq += 1
        name = f"{filename}.{self.incr_seq}.incr.aof"
        self.incrs.append(AofInfo(name, self.incr_seq, INCR))
        return name

    def last_incr(self, filename: str) -> str:
        """The incr file to append to: the last one, or a new one when there is none."""
        return self.incrs[-1].name if self.incrs else self.new_incr(filename)

    def retire_incrs(self, keep_last: bool) -> None:
        """After a rewrite: the incr files it covered become history (all of them when no AOF is open)."""
        keep = self.incrs[-1:] if keep_last else []
        for a in (self.incrs[:-1] if keep_last else self.incrs)[::-1]:
            a.type = HISTORY
            self.history.insert(0, a)
        self.incrs = keep


def manifest_name(filename: str) -> str:
    return filename + ".manifest"


def temp_incr_name(filename: str) -> str:
    """The incr file that collects writes while AOF is being switched on (renamed when the rewrite succeeds)."""
    return "temp-" + filename + ".incr"


# --------------------------------------------------------------------------------------------------- parsing


def parse(text: bytes) -> Manifest:
    """A manifest's contents → Manifest, or ManifestError with Redis's message."""
    m = Manifest()
    maxseq = 0
    lines = text.split(b"\n")
    complete = text.endswith(b"\n")
    if not text:
        raise ManifestError("Found an empty AOF manifest")
    for linenum, raw in enumerate(lines if not complete else lines[:-1], 1):
        if raw.startswith(b"#"):
            continue
        # Redis reads lines with fgets into a 1024-byte buffer: a line without its newline (too long, or the
        # last one cut short) is refused the same way
        is_last = linenum == len(lines) and not complete
        if len(raw) + 1 > MANIFEST_MAX_LINE or is_last:
            raise ManifestError("The AOF manifest file contains too long line", linenum,
                                raw[:64].decode("utf-8", "replace"))
        line = raw.decode("utf-8", "surrogateescape").strip(" \t\r\n")
        if not line:
            raise ManifestError("Invalid AOF manifest file format", linenum, line)
        args = split_args(line)
        if args is None or len(args) < 6 or len(args) % 2:
            raise ManifestError("Invalid AOF manifest file format", linenum, line)
        name, seq, ftype = None, 0, ""
        for k, v in zip(args[0::2], args[1::2]):
            k = k.lower()
            if k == "file":
                name = v
                if "/" in v:
                    raise ManifestError("File can't be a path, just a filename", linenum, line)
            elif k == "seq":
                seq = _atoll(v)
            elif k == "type":
                ftype = v[:1]
        if not name or not seq or not ftype:
            raise ManifestError("Invalid AOF manifest file format", linenum, line)
        info = AofInfo(name, seq, ftype)
        if ftype == BASE:
            if m.base is not None:
                raise ManifestError("Found duplicate base file information", linenum, line)
            m.base = info
            m.base_seq = seq
        elif ftype == HISTORY:
            m.history.append(info)
        elif ftype == INCR:
            if seq <= maxseq:
                raise ManifestError("Found a non-monotonic sequence number", linenum, line)
            m.incrs.append(info)
            m.incr_seq = maxseq = seq
        else:
            raise ManifestError("Unknown AOF file type", linenum, line)
    return m


def _atoll(s: str) -> int:
    """C's atoll: leading digits (with an optional sign), 0 when there are none."""
    s = s.lstrip()
    i = 1 if s[:1] in ("-", "+") else 0
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return int(s[:j]) if j > i else 0


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}


def split_args(line: str) -> list[str] | None:
    """Redis's sdssplitargs: words separated by blanks, "double quotes" with \\xHH and \\n-style escapes,
    'single quotes' with only \\'; None when quotes are unbalanced or a closing quote is not followed by a blank."""
    out: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return out
        cur = []
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and _ishex(line[i + 2]) and _ishex(line[i + 3]):
                    cur.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    cur.append("'")
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in " \n\r\t\0":
                    break
                if c == '"':
                    inq = True
                elif c == "'":
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append("".join(cur))


def _ishex(c: str) -> bool:
    return c in "0123456789abcdefABCDEF"


def quote_if_needed(name: str) -> str:
    """sdscatrepr for names with characters that the manifest's word splitting would break on."""
    if not any(c.isspace() or c in "\"'\\" or not c.isprintable() for c in name):
        return name
    out = ['"']
    for ch in name.encode("utf-8", "surrogateescape"):
        c = chr(ch)
        if c in '\\"':
            out.append("\\" + c)
        elif c in "\n\r\t\a\b":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b"}[c])
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % ch)
    out.append('"')
    return "".join(out)


# --------------------------------------------------------------------------------------------------- files


def load(dirname: str, filename: str) -> Manifest | None:
    """The manifest on disk, or None when the directory or the manifest does not exist."""
    path = os.path.join(dirname, manifest_name(filename))
    if not os.path.isdir(dirname) or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return parse(f.read())


def persist(m: Manifest, dirname: str, filename: str) -> None:
    """Write the manifest atomically (OSError on failure; the old manifest is then untouched)."""
    name = manifest_name(filename)
    tmp = os.path.join(dirname, "temp-" + name)
    data = m.format().encode("utf-8", "surrogateescape")
    fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(dirname, name))
    fsync_dir(dirname)
