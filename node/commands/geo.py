"""Geo commands: GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER and the _RO
variants, as Redis 7.0's geo.c does them.

A geo set is an ordinary sorted set (node/types/zset.py) whose scores are 52-bit geohashes (node/geohash.py).
GEOADD turns each point into its score and runs ZADD, and is propagated as that ZADD, as in Redis.

A search scans up to 9 geohash cells (each a score range of the sorted set, in Redis's cell order), keeps the
points inside the circle or box, and then orders them as Redis does, ties included:

* no ASC/DESC: the scan order (cell by cell, by score then member within a cell);
* ASC/DESC returning every match: glibc's qsort, which is a stable merge sort, on the distance alone;
* ASC/DESC with COUNT below the number of matches: Redis's `pqsort`, a partial Bentley-McIlroy quicksort that
  is not stable; node/pqsort.py reproduces it step by step so equal distances come out in Redis's order.

Cost: O(log n) per cell to find its range, then O(m) for the m candidates (decode + one haversine each), plus the
sort, O(k log k) for the k matches.
"""
from __future__ import annotations

import math

from .. import geohash
from ..errors import CommandError, NOT_INTEGER, SYNTAX, WRONGTYPE
from ..numbers import string2ll
from ..pqsort import pqsort
from ..resp import NULL_ARRAY, Raw
from ..types.zset import ZSet, limits_of
from .registry import command
from .strings import option_word
from .zsets import parse_double, zadd

NOT_FLOAT = "ERR value is not a valid float"
BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
NO_MEMBER = "ERR could not decode requested zset member"

_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}

# georadiusGeneric's flags
_COORDS = 1  # GEORADIUS: the centre is given as coordinates
_MEMBER = 2  # GEORADIUSBYMEMBER: the centre is a member's position
_NOSTORE = 4  # the _RO variants: no STORE/STOREDIST
_SEARCH = 8  # GEOSEARCH syntax
_SEARCHSTORE = 16  # GEOSEARCHSTORE


# --------------------------------------------------------------------------------------------------- helpers


def _read(c, key) -> ZSet | None:
    """lookupKeyRead + type check."""
    v = c.db.lookup_read(key)
    if v is None or v.__class__ is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _cname(arg: bytes) -> str:
    """A command name as Redis prints it with %s (a C string)."""
    return arg.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _lonlat(lon_arg: bytes, lat_arg: bytes) -> tuple[float, float]:
    """extractLongLatOrReply."""
    lon = parse_double(lon_arg, NOT_FLOAT)
    lat = parse_double(lat_arg, NOT_FLOAT)
    if lon < geohash.LONG_MIN or lon > geohash.LONG_MAX or lat < geohash.LAT_MIN or lat > geohash.LAT_MAX:
        raise CommandError("ERR invalid longitude,latitude pair %f,%f" % (lon, lat))
    return lon, lat


def _unit(arg: bytes) -> float:
    """extractUnitOrReply: meters per unit."""
    factor = _UNITS.get(option_word(arg))
    if factor is None:
        raise CommandError(BAD_UNIT)
    return factor


def _member_position(zs: ZSet, member: bytes) -> tuple[float, float]:
    score = zs.get(member)
    if score is None:
        raise CommandError(NO_MEMBER)
    return geohash.decode_score(score)


def _distance_arg(value: bytes, unit: bytes) -> tuple[float, float]:
    """extractDistanceOrReply: (radius in the unit, meters per unit)."""
    radius = parse_double(value, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(unit)


def _box_arg(w: bytes, h: bytes, unit: bytes) -> tuple[float, float, float]:
    """extractBoxOrReply: (width, height, meters per unit)."""
    width = parse_double(w, "ERR need numeric width")
    height = parse_double(h, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, _unit(unit)


def _human(x: float, proto: int) -> Raw:
    """addReplyHumanLongDouble: "%.17Lf" of the value without trailing zeros, a bulk string in RESP2 and a
    double in RESP3. A double's exact value prints the same in long double, and Python's %f is exact."""
    s = b"%.17f" % x
    s = s.rstrip(b"0")
    if s.endswith(b"."):
        s = s[:-1]
    if s == b"-0":
        s = b"0"
    if proto == 3:
        return Raw(b",%s\r\n" % s)
    return Raw(b"$%d\r\n%s\r\n" % (len(s), s))


def _distance_reply(d: float) -> bytes:
    """addReplyDoubleDistance: 4 decimals, always a bulk string (glibc spells a negative NaN "-nan")."""
    if d != d:
        return b"-nan" if math.copysign(1.0, d) < 0 else b"nan"
    return b"%.4f" % d


# --------------------------------------------------------------------------------------------------- GEOADD


@command("geoadd")
def geoadd(c, argv):
    nx = xx = False
    longidx = 2
    n = len(argv)
    while longidx < n:
        opt = option_word(argv[longidx])
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        longidx += 1
    if (n - longidx) % 3 or (xx and nx):
        raise CommandError(SYNTAX)
    # the options as ZADD's parser must see them (Redis compares C strings: "nx\0junk" is NX)
    rewritten = [b"zadd", argv[1], *(option_word(a) for a in argv[2:longidx])]
    for i in range(longidx, n, 3):
        lon, lat = _lonlat(argv[i], argv[i + 1])
        bits = geohash.align52(geohash.encode(lon, lat), geohash.STEP_MAX)
        rewritten.append(b"%d" % bits)
        rewritten.append(argv[i + 2])
    # Redis replaces the command vector with this ZADD and runs it: the reply, events and propagation are ZADD's
    argv[:] = rewritten
    return zadd(c, argv)


# ---------------------------------------------------------------------------------- GEOPOS GEOHASH GEODIST


@command("geopos")
def geopos(c, argv):
    zs = _read(c, argv[1])
    out = []
    proto = c.proto
    for member in argv[2:]:
        score = zs.get(member) if zs is not None else None
        if score is None:
            out.append(NULL_ARRAY)
            continue
        lon, lat = geohash.decode_score(score)
        out.append([_human(lon, proto), _human(lat, proto)])
    return out


@command("geohash")
def geohash_(c, argv):
    zs = _read(c, argv[1])
    out = []
    for member in argv[2:]:
        score = zs.get(member) if zs is not None else None
        out.append(None if score is None else geohash.standard_geohash(score))
    return out


@command("geodist")
def geodist(c, argv):
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    zs = _read(c, argv[1])
    if zs is None:
        return None
    s1 = zs.get(argv[2])
    s2 = zs.get(argv[3])
    if s1 is None or s2 is None:
        return None
    lon1, lat1 = geohash.decode_score(s1)
    lon2, lat2 = geohash.decode_score(s2)
    return _distance_reply(geohash.distance(lon1, lat1, lon2, lat2) / to_meter)


# --------------------------------------------------------------------------------------------------- searches


class _Options:
    __slots__ = ("withdist", "withhash", "withcoord", "any", "sort", "count", "store", "storedist",
                 "frommember", "fromloc", "byradius", "bybox")

    def __init__(self):
        self.withdist = self.withhash = self.withcoord = self.any = False
        self.sort = None  # None, "asc" or "desc"
        self.count = 0  # 0: unlimited
        self.store = None
        self.storedist = False
        self.frommember = self.fromloc = self.byradius = self.bybox = False


def _georadius_generic(c, argv, src_index: int, flags: int):
    """georadiusGeneric: every search command, with Redis's argument checks in Redis's order."""
    zs = _read(c, argv[src_index])
    opts = _Options()
    centre = None  # (lon, lat)
    kind = None
    radius = width = height = 0.0
    conversion = 0.0

    if flags & _COORDS:
        base = 6
        kind = geohash.CIRCLE
        centre = _lonlat(argv[2], argv[3])
        radius, conversion = _distance_arg(argv[4], argv[5])
    elif flags & _MEMBER and zs is None:
        base = 5  # nothing to search: parse the options only, to know which empty reply to give
    elif flags & _MEMBER:
        base = 5
        kind = geohash.CIRCLE
        centre = _member_position(zs, argv[2])
        radius, conversion = _distance_arg(argv[3], argv[4])
    else:
        base = 2
        if flags & _SEARCHSTORE:
            base = 3
            opts.store = argv[1]

    n = len(argv)
    remaining = n - base
    i = 0
    while i < remaining:
        j = base + i
        arg = option_word(argv[j])
        if arg == b"withdist":
            opts.withdist = True
        elif arg == b"withhash":
            opts.withhash = True
        elif arg == b"withcoord":
            opts.withcoord = True
        elif arg == b"any":
            opts.any = True
        elif arg == b"asc":
            opts.sort = "asc"
        elif arg == b"desc":
            opts.sort = "desc"
        elif arg == b"count" and i + 1 < remaining:
            count = string2ll(argv[j + 1])
            if count is None:
                raise CommandError(NOT_INTEGER)
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            opts.count = count
            i += 1
        elif arg in (b"store", b"storedist") and i + 1 < remaining and not flags & (_NOSTORE | _SEARCH):
            opts.store = argv[j + 1]
            opts.storedist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & _SEARCH and flags & _SEARCHSTORE:
            opts.storedist = True
        elif arg == b"frommember" and i + 1 < remaining and flags & _SEARCH and not opts.fromloc:
            if zs is not None:
                centre = _member_position(zs, argv[j + 1])
            opts.frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and flags & _SEARCH and not opts.frommember:
            centre = _lonlat(argv[j + 1], argv[j + 2])
            opts.fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and flags & _SEARCH and not opts.bybox:
            radius, conversion = _distance_arg(argv[j + 1], argv[j + 2])
            kind = geohash.CIRCLE
            opts.byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and flags & _SEARCH and not opts.byradius:
            width, height, conversion = _box_arg(argv[j + 1], argv[j + 2], argv[j + 3])
            kind = geohash.BOX
            opts.bybox = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1

    if opts.store is not None and (opts.withdist or opts.withhash or opts.withcoord):
        what = "GEOSEARCHSTORE" if flags & _SEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if flags & _SEARCH and not (opts.frommember or opts.fromloc):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {_cname(argv[0])}")
    if flags & _SEARCH and not (opts.byradius or opts.bybox):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {_cname(argv[0])}")
    if opts.any and not opts.count:
        raise CommandError("ERR the ANY argument requires COUNT argument")

    if zs is None:
        if opts.store is not None:
            _delete_store(c, opts.store)
            return 0
        return []

    # COUNT needs an order to pick the closest ones: ASC unless ANY (then the first found are fine)
    if opts.count and opts.sort is None and not opts.any:
        opts.sort = "asc"

    shape = geohash.Shape(kind, centre[0], centre[1], conversion, radius=radius, width=width, height=height)
    points = _collect(zs, shape, opts.count if opts.any else 0)
    if not points and opts.store is None:
        return []

    total = len(points)
    returned = total if not opts.count or total < opts.count else opts.count
    if opts.sort is not None:
        points = _order(points, opts.sort == "desc", returned)

    if opts.store is None:
        return _reply(c, points[:returned], opts, conversion)
    return _store(c, points[:returned], opts, conversion, flags)


def _collect(zs: ZSet, shape: geohash.Shape, limit: int) -> list:
    """membersOfAllNeighbors: the matching points as [dist (meters), score, member, lon, lat], in scan order,
    stopping after `limit` matches when limit > 0 (ANY)."""
    out = []
    decode = geohash.decode_score
    within = shape.distance_if_within
    for bits, step in geohash.search_areas(shape):
        if out and limit and len(out) >= limit:
            break
        lo_score, hi_score = geohash.cell_score_range(bits, step)
        lo = zs.score_index(lo_score, False, False)
        hi = zs.score_index(hi_score, True, True)  # scores in [lo_score, hi_score)
        if lo >= hi:
            continue
        for score, member in zs.slice(lo, hi):
            lon, lat = decode(score)
            d = within(lon, lat)
            if d is not None:
                out.append([d, score, member, lon, lat])
            if out and limit and len(out) >= limit:
                break
    return out


def _by_key(x, y) -> int:
    return (x[0] > y[0]) - (x[0] < y[0])


def _order(points: list, desc: bool, returned: int) -> list:
    """Sort by distance as Redis does: qsort (glibc's is a stable merge sort) when every match is returned, else
    pqsort of the first `returned` places. The placement of equal distances is the only thing that tells the two
    apart, so without ties near the top a plain sort gives pqsort's answer; with ties pqsort is replayed."""
    if returned == len(points):
        return sorted(points, key=lambda p: p[0], reverse=desc)
    # DESC compares with the opposite sign: the same as ASC on negated distances (negation is exact)
    keyed = [[-p[0] if desc else p[0], p] for p in points]
    ranked = sorted(k for k, _ in keyed)
    top = ranked[:returned]
    if ranked[returned] != top[-1] and len(set(top)) == returned:
        keyed.sort(key=lambda kp: kp[0])
    else:
        pqsort(keyed, _by_key, 0, returned - 1)
    return [p for _, p in keyed]


def _reply(c, points: list, opts: _Options, conversion: float):
    proto = c.proto
    extra = opts.withdist + opts.withhash + opts.withcoord
    if not extra:
        return [p[2] for p in points]
    out = []
    for dist, score, member, lon, lat in points:
        item = [member]
        if opts.withdist:
            item.append(_distance_reply(dist / conversion))
        if opts.withhash:
            item.append(int(score))
        if opts.withcoord:
            item.append([_human(lon, proto), _human(lat, proto)])
        out.append(item)
    return out


def _delete_store(c, key: bytes) -> None:
    if c.db.delete(key):
        st = c.state
        if st.notify_flags:
            st.notify_keyspace_event("del", key, c.dbid, "g")
        st.dirty += 1


def _store(c, points: list, opts: _Options, conversion: float, flags: int) -> int:
    """The STORE/STOREDIST/GEOSEARCHSTORE end: a sorted set of the results (by geohash or by distance in the
    unit), a listpack when small enough, replacing the destination; an empty result deletes it."""
    n = len(points)
    if not n:
        _delete_store(c, opts.store)
        return 0
    limits = limits_of(c.state.config)
    zs = ZSet(listpack=False)
    for dist, score, member, _lon, _lat in points:
        if member in zs:  # Redis would assert here; it cannot happen with distinct cells
            continue
        zs.insert(member, dist / conversion if opts.storedist else score, limits)
    zs.to_listpack_if_small(limits)
    c.db.set(opts.store, zs)
    st = c.state
    if st.notify_flags:
        st.notify_keyspace_event("geosearchstore" if flags & _SEARCH else "georadiusstore", opts.store, c.dbid, "z")
    st.dirty += n
    return n


@command("georadius")
def georadius(c, argv):
    return _georadius_generic(c, argv, 1, _COORDS)


@command("georadius_ro")
def georadius_ro(c, argv):
    return _georadius_generic(c, argv, 1, _COORDS | _NOSTORE)


@command("georadiusbymember")
def georadiusbymember(c, argv):
    return _georadius_generic(c, argv, 1, _MEMBER)


@command("georadiusbymember_ro")
def georadiusbymember_ro(c, argv):
    return _georadius_generic(c, argv, 1, _MEMBER | _NOSTORE)


@command("geosearch")
def geosearch(c, argv):
    return _georadius_generic(c, argv, 1, _SEARCH)


@command("geosearchstore")
def geosearchstore(c, argv):
    return _georadius_generic(c, argv, 2, _SEARCH | _SEARCHSTORE)
