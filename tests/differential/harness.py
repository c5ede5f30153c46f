"""Differential testing machinery: case files, raw RESP connections, reply framing, readable diffs.

Everything here speaks raw bytes on purpose. A client library would normalise away exactly the differences we
want to see (a `+OK` versus `$2\\r\\nOK`, a RESP3 double versus a bulk string, the order of a map), so requests
are encoded by hand and each reply is cut out of the stream by `reply_end`, a scanner that understands only
where a RESP2/RESP3 value ends, and compared byte for byte.

Case file format (see README.md):

    # comment
    ### case name          starts a new case
    SET k "a b"            one command, quoted as redis-cli does
    !type TIME             compare only the first byte of the reply
    !sleep 0.05            wait
    !resp2 HELLO 3         only in the RESP2 pass (`!resp3` likewise); combines with !type: `!resp3 !type TIME`
    !read                  read one more reply without sending anything (SUBSCRIBE a b sends two)
    !sorted SMEMBERS s     compare with every array/set/map's elements sorted (replies in hash-table order)
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from shoal.node.resp import split_args

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")

REPLY_TIMEOUT = 5.0  # seconds to wait for one complete reply
CLOSED = b"<connection closed>"  # what a read returns once the server has hung up; compared like a reply


# --------------------------------------------------------------------------------------------------- case files


class CaseFileError(Exception):
    """A case file that cannot be parsed: names the file and line."""


@dataclass
class Step:
    lineno: int
    text: str  # the line as written, for messages
    kind: str  # "cmd" | "sleep" | "read"
    argv: list[bytes] = field(default_factory=list)
    type_only: bool = False
    sort_reply: bool = False  # `!sorted`: compare with the elements of every aggregate sorted
    proto: int | None = None  # run only in this protocol pass
    seconds: float = 0.0


@dataclass
class Case:
    file: str  # base name, e.g. "strings.txt"
    name: str
    lineno: int
    steps: list[Step] = field(default_factory=list)

    def steps_for(self, proto: int) -> list[Step]:
        return [s for s in self.steps if s.proto is None or s.proto == proto]


def split_command(line: str) -> list[bytes] | None:
    """redis-cli quoting, by the node's own sdssplitargs (so "\\x00", "\\n", 'it\\'s' work as in redis-cli)."""
    return split_args(line.encode("utf-8"))


def parse_step(text: str, lineno: int, where: str) -> Step:
    step = Step(lineno=lineno, text=text, kind="cmd")
    rest = text.strip()
    # prefixes may be combined in any order: `!resp3 !type TIME`
    while rest.startswith("!"):
        word, _, tail = rest.partition(" ")
        tail = tail.strip()
        if word == "!type":
            step.type_only = True
        elif word == "!sorted":
            step.sort_reply = True
        elif word in ("!resp2", "!resp3"):
            step.proto = int(word[-1])
        elif word == "!sleep":
            try:
                step.seconds = float(tail)
            except ValueError:
                raise CaseFileError(f"{where}:{lineno}: !sleep needs a number of seconds, got {tail!r}") from None
            if not 0 <= step.seconds <= 5:
                raise CaseFileError(f"{where}:{lineno}: !sleep {tail}: keep sleeps between 0 and 5 seconds")
            step.kind = "sleep"
            return step
        elif word == "!read":
            if tail:
                raise CaseFileError(f"{where}:{lineno}: !read takes no command")
            step.kind = "read"
            return step
        else:
            raise CaseFileError(f"{where}:{lineno}: unknown directive {word!r}")
        rest = tail
    argv = split_command(rest)
    if argv is None:
        raise CaseFileError(f"{where}:{lineno}: unbalanced quotes in {text!r}")
    if not argv:
        raise CaseFileError(f"{where}:{lineno}: directive without a command: {text!r}")
    step.argv = argv
    return step


def parse_case_text(text: str, filename: str) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    current: Case | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("###"):
            name = stripped[3:].strip()
            if not name:
                raise CaseFileError(f"{filename}:{lineno}: a case needs a name after ###")
            if name in seen:
                raise CaseFileError(f"{filename}:{lineno}: duplicate case name {name!r}")
            seen.add(name)
            current = Case(file=filename, name=name, lineno=lineno)
            cases.append(current)
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if current is None:
            raise CaseFileError(f"{filename}:{lineno}: command before the first '### case name' line")
        current.steps.append(parse_step(stripped, lineno, filename))
    return cases


def load_cases(directory: str = CASES_DIR) -> tuple[list[Case], list[tuple[str, str]]]:
    """Every case of every `*.txt` in `directory`, and the files that failed to parse as (file, error)."""
    cases: list[Case] = []
    broken: list[tuple[str, str]] = []
    if not os.path.isdir(directory):
        return cases, broken
    for fn in sorted(os.listdir(directory)):
        if not fn.endswith(".txt"):
            continue
        try:
            with open(os.path.join(directory, fn), encoding="utf-8") as f:
                cases.extend(parse_case_text(f.read(), fn))
        except (CaseFileError, UnicodeDecodeError) as e:
            broken.append((fn, str(e)))
    return cases, broken


# --------------------------------------------------------------------------------------------------- RESP framing


def encode_request(argv: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    for a in argv:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class BadReply(Exception):
    """The bytes are not valid RESP (a server bug worth seeing, not a harness failure)."""


_LINE_TYPES = b"+-:_,#("  # a single line: simple string, error, integer, null, double, boolean, big number
_BLOB_TYPES = b"$!="  # a length line then that many bytes: bulk string, blob error, verbatim string
_AGGREGATE_TYPES = b"*~>"  # a count line then that many values: array, set, push
_PAIR_TYPES = b"%|"  # a count line then twice that many values: map, attribute


def reply_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Index just past the complete reply starting at `pos`, or None if `buf` does not hold all of it yet.

    An attribute (`|`) is not a reply of its own: it belongs to the value that follows it, so the scan goes on.
    A push (`>`) is framed like an array; whoever reads decides what it means. Iterative (an explicit count of
    values still owed) so a deeply nested reply cannot exhaust Python's recursion limit.
    """
    owed = 1
    n = len(buf)
    while owed:
        if pos >= n:
            return None
        t = buf[pos]
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        head = bytes(buf[pos + 1:eol])
        owed -= 1
        if t in _LINE_TYPES:
            pos = eol + 2
        elif t in _BLOB_TYPES:
            size = _count(head, buf, pos)
            if size < 0:  # RESP2 null bulk
                pos = eol + 2
                continue
            end = eol + 2 + size + 2
            if end > n:
                return None
            if buf[end - 2:end] != b"\r\n":
                raise BadReply(f"blob of {size} bytes at offset {pos} is not followed by CRLF")
            pos = end
        elif t in _AGGREGATE_TYPES or t in _PAIR_TYPES:
            count = _count(head, buf, pos)
            pos = eol + 2
            if count < 0:  # RESP2 null array
                continue
            if t in _PAIR_TYPES:
                count *= 2
            if t == ord("|"):
                owed += 1  # the value the attribute decorates
            owed += count
        else:
            raise BadReply(f"unknown type byte {chr(t)!r} at offset {pos}: {bytes(buf[pos:pos + 40])!r}")
    return pos


def _count(head: bytes, buf, pos: int) -> int:
    try:
        return int(head)
    except ValueError:
        raise BadReply(f"bad length {head!r} at offset {pos}") from None


def sort_aggregates(raw: bytes) -> bytes:
    """`raw` with the elements of every array, set and map (a map's field+value pairs) sorted by their bytes, at
    every depth: for replies in hash-table order, which no other server can reproduce. (A RESP2 flat array of
    field, value, ... is sorted element by element, so only the multiset is compared there.)"""
    if raw == CLOSED:
        return raw
    try:
        return _sorted_at(raw, 0)[0]
    except (ValueError, IndexError, BadReply):
        return raw


def _sorted_at(buf: bytes, pos: int) -> tuple[bytes, int]:
    t = buf[pos:pos + 1]
    end = reply_end(buf, pos)
    eol = buf.index(b"\r\n", pos)
    if t not in (b"*", b"~", b"%") or int(buf[pos + 1:eol]) < 0:
        return buf[pos:end], end
    n = int(buf[pos + 1:eol]) * (2 if t == b"%" else 1)
    p = eol + 2
    items = []
    for _ in range(n):
        item, p = _sorted_at(buf, p)
        items.append(item)
    if t == b"%":
        items = [items[i] + items[i + 1] for i in range(0, n, 2)]
    items.sort()
    return buf[pos:eol + 2] + b"".join(items), p


# --------------------------------------------------------------------------------------------------- readable form


def decode(raw: bytes):
    """A Python tree for one complete reply, for humans: ('+', 'OK'), ('$', b'x'), ('*', [...]), ..."""
    value, _ = _decode_at(raw, 0)
    return value


def _decode_at(buf: bytes, pos: int):
    t = chr(buf[pos])
    eol = buf.index(b"\r\n", pos)
    head = buf[pos + 1:eol]
    pos = eol + 2
    if t in "+-":
        return (t, head.decode("utf-8", "backslashreplace")), pos
    if t in ":(":
        return (t, int(head)), pos
    if t == "_":
        return ("_", None), pos
    if t == ",":
        return (",", head.decode()), pos
    if t == "#":
        return ("#", head == b"t"), pos
    if t in "$!=":
        size = int(head)
        if size < 0:
            return (t, None), pos
        return (t, buf[pos:pos + size]), pos + size + 2
    count = int(head)
    if count < 0:
        return (t, None), pos
    items = []
    for _ in range(count * 2 if t in "%|" else count):
        item, pos = _decode_at(buf, pos)
        items.append(item)
    if t in "%|":
        items = list(zip(items[::2], items[1::2]))
    if t == "|":
        decorated, pos = _decode_at(buf, pos)
        return ("|", items, decorated), pos
    return (t, items), pos


def render(raw: bytes, indent: str = "    ") -> str:
    """Multi-line readable form of one reply (falls back to repr for bytes that are not valid RESP)."""
    if raw == CLOSED:
        return indent + "(connection closed by the server)"
    try:
        tree = decode(raw)
    except Exception:  # a broken reply is shown as it is
        return indent + repr(raw)
    lines: list[str] = []
    _render_into(tree, indent, lines)
    return "\n".join(lines)


_NAMES = {"+": "simple", "-": "error", ":": "integer", "_": "null", ",": "double", "#": "boolean",
          "(": "bignum", "$": "bulk", "!": "blob-error", "=": "verbatim", "*": "array", "~": "set", ">": "push",
          "%": "map", "|": "attribute"}


def _render_into(node, indent: str, lines: list[str]) -> None:
    t = node[0]
    name = _NAMES.get(t, t)
    if t in "*~>%" and node[1] is not None:
        lines.append(f"{indent}{name}({len(node[1])})")
        for item in node[1]:
            if t == "%":
                _render_into(item[0], indent + "  key ", lines)
                _render_into(item[1], indent + "  val ", lines)
            else:
                _render_into(item, indent + "  ", lines)
    elif t == "|":
        lines.append(f"{indent}attribute({len(node[1])})")
        for k, v in node[1]:
            _render_into(k, indent + "  key ", lines)
            _render_into(v, indent + "  val ", lines)
        _render_into(node[2], indent, lines)
    else:
        lines.append(f"{indent}{name} {node[1]!r}")


def show_argv(argv: list[bytes]) -> str:
    """A command as you would type it into redis-cli."""
    out = []
    for a in argv:
        s = a.decode("utf-8", "backslashreplace")
        if not a or any(ch in s for ch in " \"'\\") or any(b < 32 or b == 127 for b in a) or "\\x" in s:
            s = '"' + "".join(_cli_char(b) for b in a) + '"'
        out.append(s)
    return " ".join(out)


def _cli_char(b: int) -> str:
    if b == 34:
        return '\\"'
    if b == 92:
        return "\\\\"
    if 32 <= b < 127:
        return chr(b)
    return {10: "\\n", 13: "\\r", 9: "\\t"}.get(b, f"\\x{b:02x}")


# --------------------------------------------------------------------------------------------------- connections


class RawConnection:
    """A plain socket to a server: send one request, read exactly one reply as raw bytes.

    Bytes that arrive past the end of a reply stay buffered for the next read, so a command that sends two
    replies (SUBSCRIBE a b) shifts the stream the same way on both servers.
    """

    def __init__(self, host: str, port: int, timeout: float = REPLY_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.closed = False

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send(self, argv: list[bytes]) -> None:
        self.send_raw(encode_request(argv))

    def read_reply(self) -> bytes:
        """One complete reply; CLOSED once the server hung up; TimeoutError if it says nothing for too long."""
        deadline = time.monotonic() + self.timeout
        while True:
            end = reply_end(self.buf) if self.buf else None
            if end is not None:
                reply = bytes(self.buf[:end])
                del self.buf[:end]
                return reply
            if self.closed:
                if self.buf:
                    raise BadReply(f"connection closed in the middle of a reply: {bytes(self.buf[:200])!r}")
                return CLOSED
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete reply within {self.timeout}s; got so far {bytes(self.buf[:200])!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
            else:
                self.buf += data

    def call(self, *argv) -> bytes:
        self.send([a if isinstance(a, bytes) else str(a).encode() for a in argv])
        return self.read_reply()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------------- running a case


class Mismatch(AssertionError):
    pass


def prepare(conn: RawConnection, proto: int, who: str) -> None:
    """FLUSHALL, and for the RESP3 pass HELLO 3. Their replies are not compared, only checked for errors."""
    reply = conn.call("FLUSHALL")
    if not reply.startswith(b"+"):
        raise AssertionError(f"{who}: FLUSHALL before the case failed: {reply!r}")
    if proto == 3:
        reply = conn.call("HELLO", "3")
        if not reply.startswith(b"%"):
            raise AssertionError(f"{who}: HELLO 3 before the case failed: {reply!r}")


def mismatch_report(case: Case, proto: int, step: Step, ours: bytes, theirs: bytes, history: list[str]) -> str:
    what = "type byte" if step.type_only else "reply"
    lines = [
        f"{case.file}:{step.lineno} [{case.name}] RESP{proto}: {what} differs",
        f"  command: {step.text}",
        "  shoal-node:",
        render(ours),
        f"    raw {ours!r}"[:2000],
        "  redis-server:",
        render(theirs),
        f"    raw {theirs!r}"[:2000],
    ]
    if history:
        lines.append("  earlier steps of this case (all matched):")
        lines.extend("    " + h for h in history[-15:])
    return "\n".join(lines)


def run_case(case: Case, proto: int, shoal_addr: tuple[str, int], redis_addr: tuple[str, int]) -> int:
    """Run one case in one protocol against both servers; raise Mismatch at the first difference.

    Returns the number of replies compared (a case must compare at least one)."""
    ours = RawConnection(*shoal_addr)
    theirs = RawConnection(*redis_addr)
    compared = 0
    history: list[str] = []
    try:
        prepare(theirs, proto, "redis-server")
        prepare(ours, proto, "shoal-node")
        for step in case.steps_for(proto):
            if step.kind == "sleep":
                time.sleep(step.seconds)
                continue
            if step.kind == "cmd":
                ours.send(step.argv)
                theirs.send(step.argv)
            a = _read(ours, "shoal-node", case, step, proto)
            b = _read(theirs, "redis-server", case, step, proto)
            if step.sort_reply:
                a, b = sort_aggregates(a), sort_aggregates(b)
            same = a[:1] == b[:1] if step.type_only else a == b
            if not same:
                raise Mismatch(mismatch_report(case, proto, step, a, b, history))
            compared += 1
            history.append(f"{step.text}  ->  {b[:80]!r}")
    finally:
        ours.close()
        theirs.close()
    return compared


def _read(conn: RawConnection, who: str, case: Case, step: Step, proto: int) -> bytes:
    try:
        return conn.read_reply()
    except (TimeoutError, BadReply) as e:
        raise Mismatch(f"{case.file}:{step.lineno} [{case.name}] RESP{proto}: {who} gave no valid reply to "
                       f"{step.text!r}: {e}") from None
