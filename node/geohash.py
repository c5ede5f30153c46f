"""Geohashes as Redis 7.0 computes them (geohash.c, geohash_helper.c), so that scores, positions, distances and
search areas come out bit for bit the same.

A geo set is a sorted set whose scores are 52-bit geohashes: 26 bits of latitude and 26 of longitude, interleaved
(latitude on the even bits, longitude on the odd ones), over Redis's ranges: longitude -180..180 and latitude
-85.05112878..85.05112878 (the Web Mercator limits, not the -90..90 of standard geohashes; GEOHASH re-encodes).

Every step is the same IEEE-double arithmetic, in the same order, as the C code: x86-64 has no extended precision
or fused multiply-add in Redis's build, and Python's math functions call the same libm, so the results are
identical. Where the C code relies on an integer conversion (double to uint32/uint64, uint32 wrap-around) the
conversion is spelled out.

A search (GEOSEARCH, GEORADIUS) covers the centre's geohash cell and its 8 neighbours at a precision ("step")
estimated from the radius, then filters the candidates by their exact distance (or box); see `search_areas`.
"""
from __future__ import annotations

import math

STEP_MAX = 26  # 52 bits
LONG_MIN = -180.0
LONG_MAX = 180.0
LAT_MIN = -85.05112878
LAT_MAX = 85.05112878

EARTH_RADIUS_IN_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0

_U64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF
_TWO63 = float(2**63)

# How a point's distance to the search centre is bounded: a circle or an axis-aligned box.
CIRCLE = "circle"
BOX = "box"


# What glibc returns for an invalid operation (asin(2), cos(inf), sqrt(-1)): the x86 default NaN, sign bit set.
NAN = -math.nan


def _c_math(fn, x: float) -> float:
    """fn(x) as C's libm answers it: Python raises ValueError where C returns NaN."""
    try:
        return fn(x)
    except ValueError:
        return NAN


def deg_rad(ang: float) -> float:
    return ang * _D_R


def rad_deg(ang: float) -> float:
    return ang / _D_R


# --------------------------------------------------------------------------------------------------- bits


def _spread_byte(b: int) -> int:
    v = 0
    for i in range(8):
        v |= ((b >> i) & 1) << (2 * i)
    return v


_SPREAD = [_spread_byte(b) for b in range(256)]


def _spread32(v: int) -> int:
    """The 32 bits of v moved to the even bit positions of a 64-bit word."""
    s = _SPREAD
    return s[v & 255] | s[(v >> 8) & 255] << 16 | s[(v >> 16) & 255] << 32 | s[(v >> 24) & 255] << 48


def _squash64(v: int) -> int:
    """The even bits of a 64-bit word gathered into 32 bits (the inverse of _spread32)."""
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v


def interleave(lat_bits: int, lon_bits: int) -> int:
    """interleave64: latitude on the even bits, longitude on the odd bits."""
    return _spread32(lat_bits & _U32) | _spread32(lon_bits & _U32) << 1


def deinterleave(bits: int) -> tuple[int, int]:
    """(latitude bits, longitude bits) of an interleaved 64-bit hash."""
    return _squash64(bits), _squash64(bits >> 1)


def score_to_bits(score: float) -> int:
    """`(uint64_t)score` as gcc compiles it on x86-64: below 2^63 a signed truncation (out of range, which includes
    -inf, gives 0x8000000000000000); from 2^63 the truncation of score - 2^63 with bit 63 flipped (so 2^64 and
    beyond, and +inf, give 0). Geo sets may hold any score (ZADD), and GEOPOS & co. decode whatever is there."""
    if score < _TWO63:
        if score > -_TWO63 or score == -_TWO63:
            return int(score) & _U64
        return 1 << 63
    rest = score - _TWO63
    if rest < _TWO63:
        return int(rest) | (1 << 63)
    return 0


# --------------------------------------------------------------------------------------------------- encode / decode


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lon_range=(LONG_MIN, LONG_MAX), lat_range=(LAT_MIN, LAT_MAX)) -> int | None:
    """geohashEncode: the `2*step`-bit hash of a point, or None outside the ranges."""
    if lon > LONG_MAX or lon < LONG_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_range[0] or lat > lat_range[1] or lon < lon_range[0] or lon > lon_range[1]:
        return None
    lat_offset = (lat - lat_range[0]) / (lat_range[1] - lat_range[0])
    lon_offset = (lon - lon_range[0]) / (lon_range[1] - lon_range[0])
    scale = float(1 << step)
    lat_offset *= scale
    lon_offset *= scale
    # C converts the doubles to uint32_t when passing them: truncation (both are in [0, 2^step])
    return interleave(int(lat_offset), int(lon_offset))


def decode_area(bits: int, step: int = STEP_MAX,
                lon_range=(LONG_MIN, LONG_MAX), lat_range=(LAT_MIN, LAT_MAX)) -> tuple[float, float, float, float]:
    """geohashDecode: the cell of a hash as (lon_min, lon_max, lat_min, lat_max)."""
    ilat, ilon = deinterleave(bits)
    lat_scale = lat_range[1] - lat_range[0]
    lon_scale = lon_range[1] - lon_range[0]
    div = float(1 << step)
    # `ilato + 1` is uint32_t arithmetic in C: it wraps to 0
    lat_min = lat_range[0] + (float(ilat) / div) * lat_scale
    lat_max = lat_range[0] + (float((ilat + 1) & _U32) / div) * lat_scale
    lon_min = lon_range[0] + (float(ilon) / div) * lon_scale
    lon_max = lon_range[0] + (float((ilon + 1) & _U32) / div) * lon_scale
    return lon_min, lon_max, lat_min, lat_max


def decode(bits: int, step: int = STEP_MAX) -> tuple[float, float]:
    """geohashDecodeToLongLatWGS84: the centre of the cell, clamped to the valid ranges: (lon, lat)."""
    lon_min, lon_max, lat_min, lat_max = decode_area(bits, step)
    lon = (lon_min + lon_max) / 2
    if lon > LONG_MAX:
        lon = LONG_MAX
    if lon < LONG_MIN:
        lon = LONG_MIN
    lat = (lat_min + lat_max) / 2
    if lat > LAT_MAX:
        lat = LAT_MAX
    if lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


def decode_score(score: float) -> tuple[float, float]:
    """A geo set score back to (lon, lat), as decodeGeohash does (it never fails for a 26-step hash)."""
    return decode(score_to_bits(score), STEP_MAX)


def align52(bits: int, step: int) -> int:
    """geohashAlign52Bits: a `2*step`-bit hash as the 52-bit score prefix it stands for."""
    return (bits << (52 - step * 2)) & _U64


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def standard_geohash(score: float) -> bytes:
    """GEOHASH's 11-character string: the decoded point re-encoded over the standard -90..90 latitude range; the
    11th character stands for bits Redis does not have and is always '0'."""
    lon, lat = decode_score(score)
    bits = encode(lon, lat, STEP_MAX, (-180.0, 180.0), (-90.0, 90.0))
    if bits is None:  # cannot happen: decoded points are clamped into range
        bits = 0
    out = bytearray(11)
    for i in range(10):
        out[i] = _ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    out[10] = _ALPHABET[0]
    return bytes(out)


# --------------------------------------------------------------------------------------------------- neighbours


def _move_x(bits: int, step: int, d: int) -> int:
    """One cell east (d > 0) or west (d < 0), wrapping around: the longitude bits are the odd ones."""
    x = bits & 0xAAAAAAAAAAAAAAAA
    y = bits & 0x5555555555555555
    zz = 0x5555555555555555 >> (64 - step * 2)
    if d > 0:
        x = x + (zz + 1)
    else:
        x = x | zz
        x = x - (zz + 1)
    x &= 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
    return (x | y) & _U64


def _move_y(bits: int, step: int, d: int) -> int:
    """One cell north (d > 0) or south (d < 0), wrapping around: the latitude bits are the even ones."""
    x = bits & 0xAAAAAAAAAAAAAAAA
    y = bits & 0x5555555555555555
    zz = 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
    if d > 0:
        y = y + (zz + 1)
    else:
        y = y | zz
        y = y - (zz + 1)
    y &= 0x5555555555555555 >> (64 - step * 2)
    return (x | y) & _U64


def neighbors(bits: int, step: int) -> dict[str, int]:
    """geohashNeighbors: the 8 cells around a cell at the same step."""
    def move(dx: int, dy: int) -> int:
        b = _move_x(bits, step, dx) if dx else bits
        return _move_y(b, step, dy) if dy else b

    return {
        "north": move(0, 1), "south": move(0, -1), "east": move(1, 0), "west": move(-1, 0),
        "north_east": move(1, 1), "north_west": move(-1, 1),
        "south_east": move(1, -1), "south_west": move(-1, -1),
    }


# --------------------------------------------------------------------------------------------------- distances


def lat_distance(lat1: float, lat2: float) -> float:
    """geohashGetLatDistance: the distance along a meridian (haversine simplified for equal longitudes)."""
    return EARTH_RADIUS_IN_METERS * abs(deg_rad(lat2) - deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance (Redis 7.0.15): the haversine great-circle distance in meters, with its shortcut for
    points on one meridian (which changes the last bits: STOREDIST shows them)."""
    lon1r = deg_rad(lon1)
    lon2r = deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = deg_rad(lat1)
    lat2r = deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    # rounding can push `a` a hair above 1 for antipodes: C's asin gives NaN there, which counts as "in range"
    return 2.0 * EARTH_RADIUS_IN_METERS * _c_math(math.asin, math.sqrt(a))


def distance_if_in_radius(lon1: float, lat1: float, lon2: float, lat2: float, radius: float) -> float | None:
    d = distance(lon1, lat1, lon2, lat2)
    return None if d > radius else d


def distance_if_in_rectangle(width_m: float, height_m: float, lon1: float, lat1: float,
                             lon2: float, lat2: float) -> float | None:
    """geohashGetDistanceIfInRectangle (Redis 7.0.15): (lon1, lat1) is the centre of the box, (lon2, lat2) the
    point; the point is inside when its north-south distance and its east-west distance (along its own parallel)
    are within half the height and half the width. Returns the distance to the centre, or None."""
    if lat_distance(lat2, lat1) > height_m / 2:
        return None
    if distance(lon2, lat2, lon1, lat2) > width_m / 2:
        return None
    return distance(lon1, lat1, lon2, lat2)


# --------------------------------------------------------------------------------------------------- search areas


class Shape:
    """GeoShape: the search centre and a circle (radius) or a box (width, height), in the request's unit;
    `conversion` is the unit's size in meters."""

    __slots__ = ("kind", "lon", "lat", "radius", "width", "height", "conversion")

    def __init__(self, kind: str, lon: float, lat: float, conversion: float,
                 radius: float = 0.0, width: float = 0.0, height: float = 0.0):
        self.kind = kind
        self.lon = lon
        self.lat = lat
        self.conversion = conversion
        self.radius = radius
        self.width = width
        self.height = height

    def distance_if_within(self, lon: float, lat: float) -> float | None:
        """geoWithinShape for a decoded point: its distance to the centre in meters, or None when outside."""
        if self.kind == CIRCLE:
            return distance_if_in_radius(self.lon, self.lat, lon, lat, self.radius * self.conversion)
        return distance_if_in_rectangle(self.width * self.conversion, self.height * self.conversion,
                                        self.lon, self.lat, lon, lat)


def estimate_steps_by_radius(range_meters: float, lat: float) -> int:
    """geohashEstimateStepsByRadius: the precision of the 9 cells covering a search of this radius."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2  # make sure the range is included in most of the base cases
    # wider cells towards the poles
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return max(1, min(26, step))


def _div(a: float, b: float) -> float:
    """a / b with IEEE semantics (C's): x/0 is ±inf, 0/0 NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """geohashBoundingBox: (min_lon, min_lat, max_lon, max_lat) of the search area."""
    if shape.kind == CIRCLE:
        height = shape.conversion * shape.radius
        width = shape.conversion * shape.radius
    else:
        height = shape.conversion * (shape.height / 2)
        width = shape.conversion * (shape.width / 2)
    lon, lat = shape.lon, shape.lat
    lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS)
    # an infinite radius makes these cos(inf): NaN in C, and every comparison with the bounds is then false
    long_delta_top = _div(width / EARTH_RADIUS_IN_METERS, _c_math(math.cos, deg_rad(lat + lat_delta)))
    long_delta_bottom = _div(width / EARTH_RADIUS_IN_METERS, _c_math(math.cos, deg_rad(lat - lat_delta)))
    long_delta_top = rad_deg(long_delta_top)
    long_delta_bottom = rad_deg(long_delta_bottom)
    # the parallels shrink towards the poles: the widest edge is the one nearer the equator
    southern = lat < 0
    delta = long_delta_bottom if southern else long_delta_top
    return lon - delta, lat - lat_delta, lon + delta, lat + lat_delta


def search_areas(shape: Shape) -> list[tuple[int, int]]:
    """geohashCalculateAreasByShapeWGS84 then membersOfAllNeighbors' order: the (bits, step) cells to scan, in
    Redis's order (centre, N, S, E, W, NE, NW, SE, SW), without the cells Redis drops as useless and without a
    cell equal to the one scanned just before it (huge radii make neighbours coincide)."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(shape)
    lon, lat = shape.lon, shape.lat
    if shape.kind == CIRCLE:
        radius_meters = shape.radius
    else:
        radius_meters = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    radius_meters *= shape.conversion

    steps = estimate_steps_by_radius(radius_meters, lat)
    bits = encode(lon, lat, steps)
    nb = neighbors(bits, steps)

    # Near the edge of its cell the estimated step may leave part of the area outside the 9 cells: one step less.
    north = decode_area(nb["north"], steps)
    south = decode_area(nb["south"], steps)
    east = decode_area(nb["east"], steps)
    west = decode_area(nb["west"], steps)
    decrease = north[3] < max_lat or south[2] > min_lat or east[1] < max_lon or west[0] > min_lon
    if steps > 1 and decrease:
        steps -= 1
        bits = encode(lon, lat, steps)
        nb = neighbors(bits, steps)
    area = decode_area(bits, steps)

    keep = dict.fromkeys(nb, True)
    if steps >= 2:
        if area[2] < min_lat:
            keep["south"] = keep["south_west"] = keep["south_east"] = False
        if area[3] > max_lat:
            keep["north"] = keep["north_east"] = keep["north_west"] = False
        if area[0] < min_lon:
            keep["west"] = keep["south_west"] = keep["north_west"] = False
        if area[1] > max_lon:
            keep["east"] = keep["south_east"] = keep["north_east"] = False

    cells = [(bits, steps)]
    for name in ("north", "south", "east", "west", "north_east", "north_west", "south_east", "south_west"):
        cells.append((nb[name], steps) if keep[name] else None)

    out = []
    last = None
    for i, cell in enumerate(cells):
        # a dropped neighbour is GZERO'd: bits 0 and step 0, which Redis skips (HASHISZERO)
        if cell is None:
            continue
        if last is not None and last != 0 and cell == cells[last]:
            continue
        out.append(cell)
        last = i
    return out


def cell_score_range(bits: int, step: int) -> tuple[float, float]:
    """scoresOfGeoHashBox: the scores [min, max) of every point inside a cell."""
    return float(align52(bits, step)), float(align52(bits + 1, step))
