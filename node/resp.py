"""RESP codec, sans I/O.

Requests: `RequestParser` turns the bytes a client sends into argument lists, with Redis 7.0's exact rules and
error texts (networking.c: processInlineBuffer / processMultibulkBuffer). Two engines sit behind it:

* `ExactParser`, pure Python, the reference: it walks every header, never allocates more than it has received,
  handles inline requests, and is what the property tests compare against.
* hiredis, the fast path. It parses a pipeline of small requests ~7x faster than any Python loop, but it is a
  *reply* parser: it would pre-allocate a list for `*4000000000`, accept `+foo` where Redis demands `$`, and cannot
  parse inline commands. So it only ever sees bytes that a cheap regex screen found harmless, starting at a
  request boundary we know of; everything else goes through `ExactParser`.

Replies: `encode(value, proto)` from typed Python values (see the reply types below).
"""
from __future__ import annotations

import re
from itertools import chain

import hiredis

PROTO_INLINE_MAX_SIZE = 64 * 1024
INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1


class ProtocolError(Exception):
    """The client broke the protocol. `str(self)` is the text after `-ERR ` (e.g. `Protocol error: ...`)."""


# --------------------------------------------------------------------------------------------------- numbers

_LL_RE = re.compile(rb"-?[1-9][0-9]*|0")


def string2ll(s: bytes) -> int | None:
    """Redis's strict integer parse: no sign '+', no spaces, no leading zeros; None if invalid or out of range."""
    if not s or len(s) > 20 or _LL_RE.fullmatch(s) is None:
        return None
    v = int(s)
    if v > LLONG_MAX or v < -LLONG_MAX - 1:
        return None
    return v


# --------------------------------------------------------------------------------------------------- inline

_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \n\r\t\v\f"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_args(line: bytes) -> list[bytes] | None:
    """sdssplitargs: split an inline request like a shell would; None on unbalanced quotes."""
    out: list[bytes] = []
    n = len(line)
    p = 0
    while True:
        while p < n and line[p] in _SPACE:
            p += 1
        if p >= n or line[p] == 0:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            ch = line[p] if p < n else 0
            if inq:
                if (ch == 92 and p + 3 < n + 0 and p + 1 < n and line[p + 1] == ord("x")
                        and p + 3 < n and line[p + 2] in _HEX and line[p + 3] in _HEX):
                    cur.append(int(line[p + 2:p + 4], 16))
                    p += 3
                elif ch == 92 and p + 1 < n and line[p + 1] != 0:
                    p += 1
                    cur.append(_ESCAPES.get(line[p], line[p]))
                elif ch == ord('"'):
                    # a closing quote must be followed by a space or nothing at all
                    if p + 1 < n and line[p + 1] != 0 and line[p + 1] not in _SPACE:
                        return None
                    p += 1
                    break
                elif ch == 0:
                    return None
                else:
                    cur.append(ch)
            elif insq:
                if ch == 92 and p + 1 < n and line[p + 1] == ord("'"):
                    p += 1
                    cur.append(39)
                elif ch == 39:
                    if p + 1 < n and line[p + 1] != 0 and line[p + 1] not in _SPACE:
                        return None
                    p += 1
                    break
                elif ch == 0:
                    return None
                else:
                    cur.append(ch)
            else:
                if ch in b" \n\r\t\0":
                    if p < n:
                        p += 1
                    break
                if ch == ord('"'):
                    inq = True
                elif ch == 39:
                    insq = True
                else:
                    cur.append(ch)
            p += 1
        out.append(bytes(cur))


# --------------------------------------------------------------------------------------------------- exact parser


def _strchr(buf, ch: bytes, pos: int) -> int:
    """Redis finds line ends with C's strchr, which stops at a NUL byte: a NUL before the terminator means "not
    found yet" (until the 64 KB limit turns it into an error)."""
    i = buf.find(ch, pos)
    if i < 0:
        return -1
    if buf.find(b"\0", pos, i) >= 0:
        return -1
    return i


class ExactParser:
    """Incremental request parser with Redis's semantics, in pure Python.

    `feed()` appends bytes; `parse()` returns the complete requests and, if the stream is broken, raises
    ProtocolError *after* the requests before the fault were handed out (they are kept in `ready`).
    Memory grows only with bytes received: a declared bulk length reserves nothing.
    """

    __slots__ = ("buf", "pos", "multibulk", "bulklen", "args", "max_bulk", "unauthenticated")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024):
        self.buf = bytearray()
        self.pos = 0
        self.multibulk = 0  # arguments still expected for the current request; 0 between requests
        self.bulklen = -1  # length of the bulk being read, -1 while its header is pending
        self.args: list[bytes] = []
        self.max_bulk = max_bulk
        self.unauthenticated = False

    def feed(self, data: bytes) -> None:
        self.buf += data

    def pending(self) -> int:
        """Unparsed bytes, as Redis's query buffer counts them: arguments already complete in an unfinished
        request do not count."""
        return len(self.buf) - self.pos

    def at_boundary(self) -> bool:
        return self.multibulk == 0 and self.pos >= len(self.buf)

    def parse(self, out: list) -> None:
        """Append complete requests to `out`; raise ProtocolError on a broken stream."""
        buf = self.buf
        try:
            while self.pos < len(buf):
                if self.multibulk == 0 and buf[self.pos] != 42:  # '*'
                    args = self._inline()
                else:
                    args = self._multibulk()
                if args is None:
                    break
                if args:
                    out.append(args)
        finally:
            # drop consumed bytes now and then, not on every call: slicing a bytearray head is O(n)
            if self.pos and (self.pos >= len(buf) or self.pos > 65536):
                del buf[:self.pos]
                self.pos = 0

    def _inline(self):
        buf = self.buf
        nl = _strchr(buf, b"\n", self.pos)
        if nl < 0:
            if len(buf) - self.pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        end = nl - 1 if nl > self.pos and buf[nl - 1] == 13 else nl
        line = bytes(buf[self.pos:end])
        args = split_args(line)
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        self.pos = nl + 1
        return args

    def _line(self, kind: str):
        """The header line at pos (up to '\\r'), or None if it has not fully arrived."""
        buf = self.buf
        cr = _strchr(buf, b"\r", self.pos)
        if cr < 0:
            if len(buf) - self.pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError(f"Protocol error: too big {kind} count string")
            return None
        if cr + 1 >= len(buf):  # the '\n' is not here yet
            return None
        return cr

    def _multibulk(self):
        buf = self.buf
        if self.multibulk == 0:
            cr = self._line("mbulk")
            if cr is None:
                return None
            ll = string2ll(bytes(buf[self.pos + 1:cr]))
            if ll is None or ll > INT_MAX:
                raise ProtocolError("Protocol error: invalid multibulk length")
            if ll > 10 and self.unauthenticated:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            self.pos = cr + 2
            if ll <= 0:
                return []
            self.multibulk = ll
            self.args = []
        while self.multibulk:
            if self.bulklen == -1:
                cr = self._line("bulk")
                if cr is None:
                    return None
                if buf[self.pos] != 36:  # '$'
                    raise ProtocolError("Protocol error: expected '$', got '%s'" % chr(buf[self.pos]))
                ll = string2ll(bytes(buf[self.pos + 1:cr]))
                if ll is None or ll < 0 or ll > self.max_bulk:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if ll > 16384 and self.unauthenticated:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                self.pos = cr + 2
                self.bulklen = ll
            if len(buf) - self.pos < self.bulklen + 2:
                return None
            # Redis skips the two bytes after a bulk without looking at them; so do we
            self.args.append(bytes(buf[self.pos:self.pos + self.bulklen]))
            self.pos += self.bulklen + 2
            self.bulklen = -1
            self.multibulk -= 1
        args, self.args = self.args, []
        return args


# --------------------------------------------------------------------------------------------------- fast parser

# hiredis is a reply parser; three things keep it honest on requests:
# * a screen before it sees a read: no '*' followed by 7+ digits (hiredis pre-allocates the list an array header
#   declares), no '$' followed by 7+ digits (Redis refuses a bulk over proto-max-bulk-len at once, hiredis would
#   wait for it; 1 MB is the smallest allowed limit), no line starting with '+', '=', '(' or '|' (hiredis hands
#   back plain bytes for the first three and swallows attributes, Redis demands '$'), and no '\r' without its '\n' (Redis skips the byte after a '\r'
#   whatever it is, hiredis insists on "\r\n"). Payloads can trip it too; that read then takes the exact path.
#   Each pattern starts with a literal byte, which the regex engine skips to quickly.
# * byte accounting after it (see RequestParser): any other reply type ':1', '_', '%2', a nested array... comes
#   back as something that is not bytes and fails the size computation.
# * an exact check of an unfinished request's bytes, so that a malformed header is refused at once, as Redis does,
#   instead of waiting for bytes that will not come.
_SCREEN_STAR = re.compile(rb"\*\d{7}").search
_SCREEN_DOLLAR = re.compile(rb"\$\d{7}").search
_SCREEN_LINE = re.compile(rb"\n[+=(|]").search
# how much of an unfinished request is re-checked exactly: enough for a header line that Redis refuses for being
# over 64 KB without a '\r' even when it starts after a first 64 KB bulk
_PARTIAL_CHECK_MAX = 2 * PROTO_INLINE_MAX_SIZE + 64
_SCREEN_TAIL = 12  # bytes of the previous read kept so a header split across reads is still seen
_SAVED_MAX = 4 * 1024 * 1024

# Encoded size of one bulk argument by its length ("$<n>\r\n" + n + "\r\n") and of an array header by its
# count, precomputed so the size of a parsed request is two C-level lookups per argument.
_SIZE_TABLE = 1 << 16
_ARG_SIZE = [len(b"$%d\r\n" % n) + n + 2 for n in range(_SIZE_TABLE)]
_HDR_SIZE = [len(b"*%d\r\n" % n) for n in range(_SIZE_TABLE)]
_arg_size = _ARG_SIZE.__getitem__
_hdr_size = _HDR_SIZE.__getitem__
_bytes_len = bytes.__len__


_ONLY_BYTES = {bytes}


def _ends_with_request(data: bytes, req: list) -> bool:
    """Does `data` end with the RESP encoding of `req`? Compared piece by piece from the end, without building
    the encoding (a request may carry a large value)."""
    p = len(data)
    for a in reversed(req):
        n = len(a)
        if p < n + 2 or data[p - 2:p] != b"\r\n" or not data.startswith(a, p - 2 - n):
            return False
        p -= n + 2
        hdr = b"$%d\r\n" % n
        if not data.startswith(hdr, p - len(hdr)) or p < len(hdr):
            return False
        p -= len(hdr)
    hdr = b"*%d\r\n" % len(req)
    return p >= len(hdr) and data.startswith(hdr, p - len(hdr))


# The same screen as one pattern: slower per byte, but one call instead of four for a small read (an unpipelined
# request), where the cost of the calls dominates. A '\r' must be followed by '\n' (Redis skips the byte after a
# '\r' whatever it is, hiredis insists on "\r\n").
_SCREEN_SMALL = re.compile(rb"\*\d{7}|\$\d{7}|\n[+=(|]|\r(?!\n)").search


def _suspicious(data: bytes) -> bool:
    if len(data) < 256:
        return _SCREEN_SMALL(data) is not None
    return (_SCREEN_STAR(data) is not None or _SCREEN_DOLLAR(data) is not None
            or _SCREEN_LINE(data) is not None or data.count(b"\r") != data.count(b"\r\n"))


def encoded_size(reqs) -> int:
    """Bytes the requests take as canonical RESP multibulk. Raises TypeError if any argument is not `bytes`
    (hiredis made a list, int or None of it: Redis would have refused that), IndexError past the size tables."""
    return (sum(map(_arg_size, map(_bytes_len, chain.from_iterable(reqs))))
            + sum(map(_hdr_size, map(len, reqs))))


def _encoded_size_big(reqs) -> int:
    size = 0
    for req in reqs:
        size += len(b"*%d\r\n" % len(req))
        for a in req:
            if a.__class__ is not bytes:
                raise TypeError
            size += len(b"$%d\r\n" % len(a)) + len(a) + 2
    return size


class RequestParser:
    """Per-connection request parser: hiredis on harmless traffic, `ExactParser` for the rest.

    hiredis is a reply parser, so it accepts things Redis refuses in a request ('+x' or ':1' as an argument, a
    nested array) and cannot say whether it holds a partial request. Both are settled by byte accounting: the
    canonical encoded size of the requests hiredis returned since the last request boundary must equal the
    bytes fed since then (at a boundary), be smaller (a request is still partial), or else something
    non-canonical was accepted. Non-bytes arguments fail the size computation outright. On any doubt the raw
    bytes since the boundary (kept up to 4 MB) are re-parsed exactly, skipping the requests already handed out.
    Engines switch only at boundaries; inline requests always take the exact engine.
    """

    __slots__ = ("exact", "reader", "fast", "saved", "saved_len", "fed", "expected", "done", "tail",
                 "_max_bulk", "_unauth", "_pre", "_pre_error")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024):
        self._max_bulk = max_bulk
        self._unauth = False
        self.exact: ExactParser | None = None
        self.reader = hiredis.Reader()
        self.fast = True
        self.saved: list[bytes] | None = []  # raw reads since the last boundary; None once given up
        self.saved_len = 0
        self.fed = 0  # bytes fed to hiredis since the last boundary
        self.expected = 0  # canonical size of the requests it returned since then
        self.done = 0  # requests handed out since the last boundary
        self.tail = b""
        self._pre: list = []
        self._pre_error: ProtocolError | None = None

    @property
    def boundary(self) -> bool:
        """Is hiredis between requests? Exactly when the requests it returned account for every byte fed."""
        return self.fed == self.expected

    @property
    def max_bulk(self) -> int:
        return self._max_bulk

    @max_bulk.setter
    def max_bulk(self, v: int) -> None:
        self._max_bulk = v
        if self.exact is not None:
            self.exact.max_bulk = v

    @property
    def unauthenticated(self) -> bool:
        return self._unauth

    @unauthenticated.setter
    def unauthenticated(self, v: bool) -> None:
        # the pre-auth limits are checked header by header: only the exact engine does that
        self._unauth = v
        if self.exact is not None:
            self.exact.unauthenticated = v

    def pending(self) -> int:
        """Bytes held for incomplete requests, an upper bound (cheap: used after every read)."""
        if self.fast:
            return self.fed - self.expected
        return self.exact.pending()

    def precise_pending(self) -> int:
        """Unparsed bytes as Redis's query buffer counts them (complete arguments of an unfinished request do not
        count). On the fast engine this re-parses the unfinished request exactly, when its bytes were kept."""
        if self.fast and not self.boundary and self.saved is not None:
            self._to_exact(b"".join(self.saved), self.done)
        return self.pending()

    def feed(self, data: bytes, out: list) -> None:
        """Parse `data`, appending complete requests to `out`. Raises ProtocolError after filling `out` with the
        requests that preceded the fault."""
        if not data:
            return
        if not self.fast:
            self._feed_exact(data, out)
        elif self.boundary:
            if data[0] != 42 or self._unauth or _suspicious(data):
                self._to_exact(b"", 0)
                self._feed_exact(data, out)
            else:
                self._feed_fast(data, out)
        elif self.saved is not None and _suspicious(self.tail + data):
            self._to_exact(b"".join(self.saved), self.done)
            self._feed_exact(data, out)
        else:
            self._feed_fast(data, out)

    def _feed_fast(self, data: bytes, out: list) -> None:
        start = len(out)
        self.reader.feed(data)
        gets = self.reader.gets
        try:
            while True:
                req = gets()
                if req.__class__ is list and req:
                    out.append(req)
                elif req is False:
                    break
                else:
                    raise _Anomaly
            got = len(out) - start
            try:
                if got == 1:
                    # one request (no pipelining): a plain loop beats setting up the C-level maps
                    req = out[start]
                    size = _HDR_SIZE[len(req)]
                    for a in req:
                        if a.__class__ is not bytes:
                            raise TypeError
                        size += _ARG_SIZE[len(a)]
                elif got and self.boundary:
                    # a pipeline that started at a boundary: when the read ends with the last request's
                    # encoding it ends at a boundary too, and one C-level pass over the argument types replaces
                    # the byte accounting (the screen has kept out every type hiredis would turn into bytes)
                    reqs = out[start:]
                    if set(map(type, chain.from_iterable(reqs))) != _ONLY_BYTES:
                        raise TypeError
                    if _ends_with_request(data, reqs[-1]):
                        self.tail = b""
                        return
                    size = encoded_size(reqs)
                else:
                    size = encoded_size(out[start:]) if got else 0
            except IndexError:
                size = _encoded_size_big(out[start:])  # an argument of 64 KB or more
            expected = self.expected + size
        except (_Anomaly, hiredis.ProtocolError, TypeError):
            self._replay(data, out, start)
            return
        fed = self.fed + len(data)
        if expected == fed:
            self.saved = []
            self.saved_len = self.fed = self.expected = self.done = 0
            self.tail = b""
            return
        if expected > fed:
            # hiredis took something shorter than a bulk string ('+x') for an argument
            self._replay(data, out, start)
            return
        p = expected - self.fed  # where the unfinished request starts in this read, if it starts here
        if 0 <= p < len(data) and data[p] != 42:
            # not an array: Redis reads it as an inline command, hiredis would wait for a reply type's end
            self._replay(data, out, start)
            return
        if not self._partial_ok(data, p, fed - expected):
            self._replay(data, out, start)
            return
        self.fed = fed
        self.expected = expected
        self.done += got
        if self.saved is not None:
            if self.saved_len + len(data) <= _SAVED_MAX:
                self.saved.append(data)
                self.saved_len += len(data)
            else:
                self.saved = None
                self.saved_len = 0
        self.tail = (self.tail + data)[-_SCREEN_TAIL:] if len(data) < _SCREEN_TAIL else data[-_SCREEN_TAIL:]

    def _partial_ok(self, data: bytes, p: int, pending: int) -> bool:
        """Would Redis still be waiting for the rest of the unfinished request, rather than refusing it? Its first
        128 KB are checked exactly, until a read has brought all of them."""
        if self.fed - self.expected > _PARTIAL_CHECK_MAX and p < 0:
            return True  # its head was checked by an earlier read
        if p >= 0:
            part = data[p:p + _PARTIAL_CHECK_MAX]
        elif self.saved is not None and not self.boundary:
            joined = b"".join(self.saved) + data
            start = len(joined) - pending
            part = joined[start:start + _PARTIAL_CHECK_MAX]
        else:
            return True
        probe = ExactParser(self._max_bulk)
        probe.feed(part)
        got: list = []
        try:
            probe.parse(got)
        except ProtocolError:
            return False
        return not got

    def _replay(self, data: bytes, out: list, start: int) -> None:
        """hiredis met something it cannot represent faithfully: parse exactly from the last boundary."""
        del out[start:]  # the exact parse finds this read's good requests again
        if self.saved is None:
            raise ProtocolError("Protocol error: invalid bulk length")
        replay = b"".join(self.saved) if not self.boundary else b""
        self._to_exact(replay, self.done if not self.boundary else 0)
        self._feed_exact(data, out)

    def _to_exact(self, replay: bytes, skip: int) -> None:
        ex = ExactParser(self._max_bulk)
        ex.unauthenticated = self._unauth
        self._pre = []
        if replay:
            ex.feed(replay)
            got: list = []
            try:
                ex.parse(got)
            except ProtocolError as e:
                # the requests before the fault still run; the error is raised once they are handed out
                self._pre = got[skip:]
                self._pre_error = e
            else:
                # the first `skip` requests were already handed out by hiredis
                self._pre = got[skip:]
        self.exact = ex
        self.fast = False
        self.reader = hiredis.Reader()
        self.saved = []
        self.saved_len = self.fed = self.expected = self.done = 0

    def _feed_exact(self, data: bytes, out: list) -> None:
        ex = self.exact
        if self._pre:
            out.extend(self._pre)
            self._pre = []
        if self._pre_error is not None:
            err, self._pre_error = self._pre_error, None
            raise err
        ex.feed(data)
        ex.parse(out)
        if ex.at_boundary() and not self._unauth:
            self.fast = True
            self.exact = None
            self.tail = b""


class _Anomaly(Exception):
    pass


# --------------------------------------------------------------------------------------------------- replies


class Simple(str):
    """A status reply: `+text`."""


class ErrorReply(str):
    """An error as a value (inside EXEC results, or returned): `-text`."""


class Raw(bytes):
    """Already-encoded bytes, identical in RESP2 and RESP3."""


class Double(float):
    """A double: RESP3 `,`, RESP2 bulk string, printed like Redis 7.0 (`%.17g`, inf, -inf)."""


class MapReply(list):
    """Key/value pairs as a list of 2-tuples: RESP3 `%`, RESP2 flat array."""


class SetReply(list):
    """RESP3 `~`, RESP2 array."""


class Push(list):
    """An out-of-band message: RESP3 `>`, RESP2 array."""


class Verbatim(bytes):
    """RESP3 `=` with format `txt`, RESP2 bulk string."""


class BigNumber(int):
    """RESP3 `(`, RESP2 bulk string."""


class _NullArray:
    """RESP2 `*-1`, RESP3 `_`."""


NULL_ARRAY = _NullArray()
OK = Raw(b"+OK\r\n")
QUEUED = Raw(b"+QUEUED\r\n")
PONG = Raw(b"+PONG\r\n")


def format_double(d: float) -> bytes:
    if d != d:
        return b"nan"
    if d == float("inf"):
        return b"inf"
    if d == float("-inf"):
        return b"-inf"
    return b"%.17g" % d


_BULK_TYPES = frozenset({bytes, bytearray})
_CRLF = b"\r\n"
_bulk_hdr = [b"$%d" % n for n in range(_SIZE_TABLE)].__getitem__


def encode(v, proto: int = 2) -> bytes:
    """The wire bytes of reply value `v` for protocol version `proto` (2 or 3)."""
    out: list[bytes] = []
    _encode_into(v, proto, out)
    return b"".join(out)


def _encode_into(v, proto: int, out: list) -> None:
    t = v.__class__
    if t is bytes or t is bytearray or t is memoryview:
        out.append(b"$%d\r\n" % len(v))
        out.append(v)
        out.append(b"\r\n")
    elif t is Raw:
        out.append(v)
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None:
        out.append(b"_\r\n" if proto == 3 else b"$-1\r\n")
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        if len(v) > 2 and set(map(type, v)) <= _BULK_TYPES:
            # an array of plain strings (LRANGE, ZRANGE, SMEMBERS...): "$<n>" headers from a table, interleaved
            # with the strings and joined by CRLF, all in C; a string of 64 KB or more takes the general way
            try:
                out.append(_CRLF.join(chain.from_iterable(zip(map(_bulk_hdr, map(len, v)), v))))
                out.append(b"\r\n")
                return
            except IndexError:
                pass
        for x in v:
            _encode_into(x, proto, out)
    elif t is Simple:
        out.append(b"+%s\r\n" % v.encode())
    elif t is ErrorReply:
        out.append(b"-%s\r\n" % v.encode())
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    elif t is Double or t is float:
        s = format_double(v)
        out.append(b",%s\r\n" % s if proto == 3 else b"$%d\r\n%s\r\n" % (len(s), s))
    elif t is MapReply or t is dict:
        items = v.items() if t is dict else v
        out.append(b"%%%d\r\n" % len(v) if proto == 3 else b"*%d\r\n" % (2 * len(v)))
        for k, x in items:
            _encode_into(k, proto, out)
            _encode_into(x, proto, out)
    elif t is SetReply:
        out.append(b"~%d\r\n" % len(v) if proto == 3 else b"*%d\r\n" % len(v))
        for x in v:
            _encode_into(x, proto, out)
    elif t is Push:
        out.append(b">%d\r\n" % len(v) if proto == 3 else b"*%d\r\n" % len(v))
        for x in v:
            _encode_into(x, proto, out)
    elif t is bool:
        out.append((b"#t\r\n" if v else b"#f\r\n") if proto == 3 else (b":1\r\n" if v else b":0\r\n"))
    elif t is _NullArray:
        out.append(b"_\r\n" if proto == 3 else b"*-1\r\n")
    elif t is Verbatim:
        if proto == 3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(v) + 4, v))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(v), v))
    elif t is BigNumber:
        s = b"%d" % v
        out.append(b"(%s\r\n" % s if proto == 3 else b"$%d\r\n%s\r\n" % (len(s), s))
    elif isinstance(v, bytes):
        out.append(b"$%d\r\n" % len(v))
        out.append(v)
        out.append(b"\r\n")
    elif isinstance(v, int):
        out.append(b":%d\r\n" % v)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


def encode_error(msg: str) -> bytes:
    """`-msg\\r\\n`, with newlines flattened as Redis does so an error never breaks the stream."""
    if "\r" in msg or "\n" in msg:
        msg = msg.replace("\r", " ").replace("\n", " ")
    return b"-%s\r\n" % msg.encode("utf-8", "surrogateescape")
