"""node/geohash.py and the geo search ordering, without sockets.

Expected values were read from Debian's redis-server 7.0.15 (GEOADD then ZSCORE / GEOPOS / GEOHASH / GEODIST).
"""
import math
import random

import pytest

from shoal.node import geohash
from shoal.node.commands.geo import _by_key, _human, _order
from shoal.node.pqsort import pqsort

PALERMO = (13.361389, 38.115556)
CATANIA = (15.087269, 37.502669)


def score_of(lon, lat):
    return geohash.align52(geohash.encode(lon, lat), geohash.STEP_MAX)


def human(x):
    return bytes(_human(x, 2)).split(b"\r\n")[1]


def test_encode_gives_redis_scores():
    assert score_of(*PALERMO) == 3479099956230698
    assert score_of(*CATANIA) == 3479447370796909


def test_decode_gives_redis_positions():
    lon, lat = geohash.decode_score(3479099956230698.0)
    assert human(lon) == b"13.36138933897018433"
    assert human(lat) == b"38.11555639549629859"
    lon, lat = geohash.decode_score(float(score_of(180, 0)))
    assert human(lon) == b"180"
    assert human(lat) == b"0.00000126736058093"


def test_encode_refuses_points_out_of_range():
    assert geohash.encode(0, 85.05112879) is None
    assert geohash.encode(180.0000001, 0) is None
    assert geohash.encode(-180, -85.05112878) == 0


def test_interleave_round_trip():
    rng = random.Random(1)
    for _ in range(2000):
        lat, lon = rng.getrandbits(32), rng.getrandbits(32)
        bits = geohash.interleave(lat, lon)
        assert geohash.deinterleave(bits) == (lat, lon)
    assert geohash.interleave(1, 0) == 1  # latitude on the even bits
    assert geohash.interleave(0, 1) == 2  # longitude on the odd bits


@pytest.mark.parametrize("score,bits", [
    (math.inf, 0),  # beyond 2^63: truncation of score - 2^63 overflows, bit 63 flipped back to 0
    (-math.inf, 1 << 63),  # the "integer indefinite" of cvttsd2si
    (-1.0, 2**64 - 1),
    (float(2**64), 0),
    (1e300, 0),
    (3e15, 3 * 10**15),
    (1.5, 1),
    (-0.5, 0),
    (float(2**63), 1 << 63),
    (float(-2**63), 1 << 63),
])
def test_score_to_bits_is_gcc_uint64_cast(score, bits):
    assert geohash.score_to_bits(score) == bits


def test_weird_scores_decode_like_redis():
    # GEOPOS of ZADD-ed scores, read from Redis 7.0.15
    assert [human(x) for x in geohash.decode_score(math.inf)] == [b"-179.99999731779098511", b"-85.05112751263942528"]
    assert [human(x) for x in geohash.decode_score(-math.inf)] == [b"180", b"-85.05112751263942528"]
    assert [human(x) for x in geohash.decode_score(-1.0)] == [b"180", b"85.0511287799999991"]
    assert [human(x) for x in geohash.decode_score(3e15)] == [b"171.54258996248245239", b"-82.77936846525491887"]


def test_standard_geohash_strings():
    assert geohash.standard_geohash(3479099956230698.0) == b"sqc8b49rny0"
    assert geohash.standard_geohash(math.inf) == b"00bh0hbj200"
    assert geohash.standard_geohash(3e15) == b"pc3cpd3x0p0"


def test_distances():
    d = geohash.distance(*geohash.decode_score(3479099956230698.0), *geohash.decode_score(3479447370796909.0))
    assert b"%.4f" % d == b"166274.1516"
    assert b"%.4f" % (d / 1000) == b"166.2742"
    # one meridian: Redis 7.0.15's shortcut, exactly R * |dlat| in radians
    assert geohash.distance(10, 0, 10, 1) == geohash.EARTH_RADIUS_IN_METERS * abs(geohash.deg_rad(1) - 0.0)
    assert geohash.distance(5, 5, 5, 5) == 0.0


def test_distance_is_nan_not_an_exception_where_c_gives_nan():
    # asin of a value a hair above 1 is a domain error in Python, NaN in C
    assert geohash._c_math(math.asin, 1.0000000000000002) != geohash._c_math(math.asin, 1.0000000000000002)
    shape = geohash.Shape(geohash.CIRCLE, 0.0, 0.0, 1000.0, radius=math.inf)
    box = geohash.bounding_box(shape)  # cos(inf) inside: must not raise
    assert all(isinstance(x, float) for x in box)
    assert geohash.search_areas(shape)  # at least the centre cell


def test_estimate_steps():
    assert geohash.estimate_steps_by_radius(0, 0) == 26
    assert geohash.estimate_steps_by_radius(1e9, 0) == 1
    assert geohash.estimate_steps_by_radius(math.inf, 0) == 1
    near = geohash.estimate_steps_by_radius(1000, 10)
    assert geohash.estimate_steps_by_radius(1000, 70) == near - 1
    assert geohash.estimate_steps_by_radius(1000, -85) == near - 2


def test_neighbours_wrap_and_invert():
    rng = random.Random(2)
    for _ in range(500):
        step = rng.randint(1, 26)
        bits = rng.getrandbits(2 * step)
        nb = geohash.neighbors(bits, step)
        assert geohash.neighbors(nb["east"], step)["west"] == bits
        assert geohash.neighbors(nb["north"], step)["south"] == bits
        assert geohash.neighbors(nb["north_east"], step)["south_west"] == bits
        assert all(v < (1 << 2 * step) for v in nb.values())


def test_search_areas_cover_the_centre():
    rng = random.Random(3)
    for _ in range(300):
        lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
        shape = geohash.Shape(geohash.CIRCLE, lon, lat, 1.0, radius=rng.choice([1, 100, 1e4, 1e6]))
        cells = geohash.search_areas(shape)
        assert 1 <= len(cells) <= 9
        bits, step = cells[0]
        lo, hi = geohash.cell_score_range(bits, step)
        assert lo <= score_of(lon, lat) < hi
        assert len({s for _, s in cells}) == 1


def test_box_membership():
    shape = geohash.Shape(geohash.BOX, 0.0, 0.0, 1000.0, width=200, height=100)
    assert shape.distance_if_within(0.5, 0.2) is not None
    assert shape.distance_if_within(0.5, 0.5) is None  # 55 km north: outside a 100 km high box
    assert shape.distance_if_within(1.0, 0.0) is None  # 111 km east: outside a 200 km wide box


# --------------------------------------------------------------------------------------------------- ordering


def names(points):
    return "".join(p[2] for p in points)


def test_pqsort_tie_order_matches_redis():
    # 16 points at one spot, then two farther east; orders read from Redis 7.0.15 (GEOSEARCH ... COUNT n)
    base = [[0.0003, 0, c] for c in "abcdefghijklmnop"] + [[108.0, 0, "Y"], [217.0, 0, "Z"]]
    expected = {
        (1, False): "a", (3, False): "abc", (17, False): "abcdefghijklmnopY",
        (1, True): "Z", (3, True): "ZYc", (10, True): "ZYcdefghia", (17, True): "ZYcdefghiaklmnopj",
    }
    for (n, desc), want in expected.items():
        got = _order([list(p) for p in base], desc, n)[:n]
        assert names(got) == want


def test_pqsort_without_the_insertion_sort_switch():
    # y1 first, a..p, then three more: a partition pass with no swap must not switch to insertion sort
    pts = [[0.1097, 0, "y"]] + [[0.0003, 0, c] for c in "abcdefghijklmnop"] + \
          [[0.1095, 0, "z"], [0.2188, 0, "Z"], [0.1112, 0, "x"]]
    assert names(_order(pts, False, 1)[:1]) == "p"


def test_pqsort_sorts_the_requested_range():
    rng = random.Random(4)
    for _ in range(300):
        n = rng.randint(1, 120)
        pts = [[float(rng.randint(0, 20)), 0, str(i)] for i in range(n)]
        k = rng.randint(1, n)
        desc = rng.random() < 0.5
        got = _order([list(p) for p in pts], desc, k)
        assert sorted(p[2] for p in got) == sorted(p[2] for p in pts)  # a permutation
        keys = [p[0] for p in got[:k]]
        assert keys == sorted((p[0] for p in pts), reverse=desc)[:k]


def test_full_sort_is_stable():
    pts = [[1.0, 0, "a"], [0.5, 0, "b"], [1.0, 0, "c"], [0.5, 0, "d"]]
    assert names(_order([list(p) for p in pts], False, 4)) == "bdac"
    assert names(_order([list(p) for p in pts], True, 4)) == "acbd"


def test_pqsort_small_arrays_use_insertion_sort():
    a = [[3.0, "a"], [1.0, "b"], [2.0, "c"]]
    pqsort(a, _by_key, 0, 0)
    assert "".join(x[1] for x in a) == "bca"


def test_order_fast_path_agrees_with_replay():
    # without ties near the top a plain sort is used; replaying pqsort must give the same top
    rng = random.Random(8)
    for _ in range(300):
        n = rng.randint(2, 200)
        pts = [[rng.random(), 0, str(i)] for i in range(n)]
        k = rng.randint(1, n - 1)
        for desc in (False, True):
            fast = _order([list(p) for p in pts], desc, k)[:k]
            keyed = [[-p[0] if desc else p[0], p] for p in pts]
            pqsort(keyed, _by_key, 0, k - 1)
            assert names(fast) == names([p for _, p in keyed[:k]])
