"""Geo commands on a real shoal-node: replies through redis-py in RESP2 and RESP3, side effects (events, WATCH,
propagation-visible effects), random searches compared raw with Debian's redis-server, and scale."""
import random
import time

import pytest
import redis

from tests.node.helpers import assert_ops_scale
from tests.differential.harness import RawConnection

SICILY = [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]


def test_geoadd_and_positions(shoal, r):
    assert r.geoadd("Sicily", SICILY) == 2
    assert r.zscore("Sicily", "Palermo") == 3479099956230698
    raw = RawConnection(shoal.host, shoal.port)
    try:
        assert raw.call("GEOPOS", "Sicily", "Palermo", "nope") == \
            b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
        raw.call("HELLO", "3")
        assert raw.call("GEOPOS", "Sicily", "Palermo", "nope") == \
            b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n"
    finally:
        raw.close()
    assert r.execute_command("GEOHASH", "Sicily", "Palermo", "nope") == ["sqc8b49rny0", None]
    assert r.execute_command("GEODIST", "Sicily", "Palermo", "Catania", "km") == 166.2742
    assert r.type("Sicily") == b"zset"


def test_resp3_coordinates_are_doubles(r3):
    r3.geoadd("Sicily", SICILY)
    pos = r3.execute_command("GEOPOS", "Sicily", "Palermo", "nope")
    assert pos == [[13.361389338970184, 38.1155563954963], None]
    found = r3.execute_command("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km",
                               "ASC", "WITHDIST", "WITHCOORD", "WITHHASH")
    assert found[0][0] == b"Catania"
    assert found[0][1] == b"56.4413"  # distances stay bulk strings in RESP3
    assert found[0][2] == 3479447370796909
    assert found[0][3] == [15.087267458438873, 37.50266842333162]


def test_geoadd_options(r):
    r.geoadd("g", [10, 20, "a"])
    assert r.execute_command("GEOADD", "g", "NX", 11, 21, "a", 12, 22, "b") == 1
    assert r.execute_command("GEOADD", "g", "XX", "CH", 13, 23, "a", 14, 24, "c") == 1
    assert r.zcard("g") == 2
    with pytest.raises(redis.ResponseError, match="^syntax error"):
        r.execute_command("GEOADD", "g", "NX", "XX", 1, 1, "a")
    with pytest.raises(redis.ResponseError, match=r"^invalid longitude,latitude pair 1\.000000,100\.000000$"):
        r.execute_command("GEOADD", "g", 1, 100, "x")


def test_search_errors(r):
    r.geoadd("g", SICILY)
    cases = [
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "ASC", "WITHDIST"),
         "exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"),
        (("GEOSEARCH", "g", "BYRADIUS", 1, "km", "ASC", "WITHDIST"),
         "exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
        (("GEOSEARCH", "g", "FROMMEMBER", "x", "BYRADIUS", 1, "km"), "could not decode requested zset member"),
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "yd"),
         "unsupported unit provided. please use M, KM, FT, MI"),
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYRADIUS", -1, "km"), "radius cannot be negative"),
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYBOX", 1, -1, "km"), "height or width cannot be negative"),
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "ANY"),
         "the ANY argument requires COUNT argument"),
        (("GEOSEARCH", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "COUNT", 0), "COUNT must be > 0"),
        (("GEORADIUS", "g", 1, 1, 1, "km", "STORE", "d", "WITHDIST"),
         "STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "WITHHASH"),
         "GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (("GEORADIUS_RO", "g", 1, 1, 1, "km", "STORE", "d"), "syntax error"),
    ]
    for argv, text in cases:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*argv)
        assert str(e.value) == text, argv
    r.set("s", "v")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.execute_command("GEOPOS", "s", "a")


def test_store_variants(r):
    r.geoadd("Sicily", SICILY)
    assert r.execute_command("GEORADIUS", "Sicily", 15, 37, 200, "km", "STOREDIST", "d") == 2
    assert r.zrange("d", 0, -1, withscores=True) == [(b"Catania", 56.4412578701582), (b"Palermo", 190.44242984775784)]
    assert r.object("encoding", "d") == b"listpack"
    r.expire("d", 100)
    assert r.execute_command("GEOSEARCHSTORE", "d", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", 1, "m") == 1
    assert r.ttl("d") == -1  # replaced, as SET
    assert r.execute_command("GEOSEARCHSTORE", "d", "nokey", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "m") == 0
    assert not r.exists("d")


def test_events_and_watch(shoal):
    c = shoal.client()
    c.flushall()
    c.config_set("notify-keyspace-events", "KEA")
    sub = shoal.client().pubsub()
    try:
        sub.psubscribe("__keyevent@0__:*")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (sub.get_message(timeout=0.2) or {}).get("type") != "psubscribe":
            pass
        c.geoadd("g", SICILY)
        c.execute_command("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km")
        c.execute_command("GEORADIUS", "g", 15, 37, 200, "km", "STORE", "d2")
        c.execute_command("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "m")
        events = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(events) < 4:
            m = sub.get_message(timeout=0.2)
            if m and m["type"] == "pmessage":
                events.append((m["channel"].split(b":")[-1], m["data"]))
        # GEOADD is a ZADD; "KEA" has no 'n': no "new" events
        assert events == [(b"zadd", b"g"), (b"geosearchstore", b"d"), (b"georadiusstore", b"d2"), (b"del", b"d")]
    finally:
        c.config_set("notify-keyspace-events", "")
        sub.close()

    # GEOADD breaks a WATCH like any write; a search does not
    w = shoal.client()
    with w.pipeline() as p:
        p.watch("g")
        c.execute_command("GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km")
        p.multi()
        p.get("x")
        assert p.execute() == [None]
    with w.pipeline() as p:
        p.watch("g")
        c.geoadd("g", [1, 1, "new"])
        p.multi()
        p.get("x")
        with pytest.raises(redis.WatchError):
            p.execute()
    w.close()
    c.close()


# --------------------------------------------------------------------------------------------------- against Redis


def _search_argv(rng, cx, cy, spread, n):
    argv = ["GEOSEARCH", "k"]
    if rng.random() < 0.3:
        argv += ["FROMMEMBER", "m%d" % rng.randrange(n)]
    else:
        argv += ["FROMLONLAT", "%.5f" % max(-180, min(180, cx + rng.gauss(0, spread))),
                 "%.5f" % max(-85, min(85, cy + rng.gauss(0, spread)))]
    unit = rng.choice(["m", "km", "mi", "ft"])
    meters = spread * 111000 * rng.choice([0.01, 0.1, 0.5, 1, 3])
    scale = {"m": 1, "km": 1000, "mi": 1609.34, "ft": 0.3048}[unit]
    if rng.random() < 0.5:
        argv += ["BYRADIUS", "%.3f" % (meters / scale), unit]
    else:
        argv += ["BYBOX", "%.3f" % (meters / scale * rng.uniform(0.2, 3)),
                 "%.3f" % (meters / scale * rng.uniform(0.2, 3)), unit]
    argv.append(rng.choice(["ASC", "DESC", "NONE"]))
    if argv[-1] == "NONE":
        argv.pop()
    if rng.random() < 0.5:
        argv += ["COUNT", str(rng.choice([1, 2, 3, 5, 10, 50]))]
        if rng.random() < 0.3:
            argv.append("ANY")
    for opt in ("WITHDIST", "WITHHASH", "WITHCOORD"):
        if rng.random() < 0.4:
            argv.append(opt)
    return argv


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_searches_match_redis(shoal, redis_ref, seed):
    """Random point clouds (with duplicate points, so ties) and random searches: raw replies identical, ties and
    partial sorts included; STOREDIST shows distances to the last bit."""
    rng = random.Random(seed)
    ours = RawConnection(shoal.host, shoal.port)
    theirs = RawConnection(redis_ref.host, redis_ref.port)

    def both(*argv):
        a, b = ours.call(*argv), theirs.call(*argv)
        assert a == b, (argv, a[:300], b[:300])

    try:
        for _ in range(4):
            both("FLUSHALL")
            cx, cy = rng.uniform(-180, 180), rng.uniform(-85, 85)
            if rng.random() < 0.4:
                cx, cy = rng.choice([-180, 180, 0]), rng.choice([-85.05, 85.05, 80, -70, 0])
            spread = rng.choice([0.001, 0.1, 1, 10])
            n = rng.choice([20, 150, 400])
            args, lon, lat = [], cx, cy
            for i in range(n):
                if rng.random() > 0.2:
                    lon = max(-180, min(180, cx + rng.gauss(0, spread)))
                    lat = max(-85.05, min(85.05, cy + rng.gauss(0, spread)))
                args += ["%.6f" % lon, "%.6f" % lat, "m%d" % i]
            both("GEOADD", "k", *args)
            for _ in range(25):
                argv = _search_argv(rng, cx, cy, spread, n)
                both(*argv)
                if rng.random() < 0.2:
                    store = ["GEOSEARCHSTORE", "dst"] + [a for a in argv[1:] if not a.startswith("WITH")]
                    both(*store, "STOREDIST")
                    both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
            for _ in range(5):
                i, j = rng.randrange(n), rng.randrange(n)
                both("GEODIST", "k", "m%d" % i, "m%d" % j, rng.choice(["m", "km", "mi", "ft"]))
                both("GEOPOS", "k", "m%d" % i, "m%d" % j)
                both("GEOHASH", "k", "m%d" % i, "m%d" % j)
    finally:
        ours.close()
        theirs.close()


# --------------------------------------------------------------------------------------------------- scale

BIG = 1_000_000
SMALL = 1_000
# GEOADD/GEOPOS/GEODIST are O(log n) (a sorted-set insert or a dict lookup), and a search of a small area is
# O(log n) per cell plus its few candidates. From 1k to 1M points log n doubles, and a 1M-point set no longer fits
# in cache: 20x leaves room for a noisy shared box, while anything O(n) would be ~1000x slower.
FACTOR = 20


def _build(c, key, n, batch=50_000):
    """Random points, fast: every 52-bit integer is a valid geohash score, so ZADD them directly."""
    rng = random.Random(11)
    p = c.pipeline(transaction=False)
    for start in range(0, n, batch):
        args = []
        for i in range(start, min(n, start + batch)):
            args += [rng.getrandbits(52), b"m%d" % i]
        p.execute_command("ZADD", key, *args)
    p.execute()
    assert c.zcard(key) == n


def _per_op(c, key, n, ops=500):
    rng = random.Random(7)
    picks = [rng.randrange(n) for _ in range(ops)]
    kinds = {
        "GEOADD": lambda p, i: p.execute_command("GEOADD", key, "%.6f" % (i % 360 - 180), 10, b"new%d" % i),
        "GEOPOS": lambda p, i: p.execute_command("GEOPOS", key, b"m%d" % i),
        "GEODIST": lambda p, i: p.execute_command("GEODIST", key, b"m%d" % i, b"m%d" % (i // 2), "km"),
        # the 9 cells of a 5 km search hold ~7 of 1M points (~0 of 1k): the per-cell lookups dominate
        "GEOSEARCH": lambda p, i: p.execute_command("GEOSEARCH", key, "FROMMEMBER", b"m%d" % i,
                                                    "BYRADIUS", 5, "km", "ASC", "COUNT", 5),
    }
    timings = {}
    for name, fn in kinds.items():
        best = float("inf")
        for _ in range(3):
            p = c.pipeline(transaction=False)
            for i in picks:
                fn(p, i)
            t0 = time.perf_counter()
            p.execute()
            best = min(best, time.perf_counter() - t0)
        timings[name] = best / ops
    return timings


@pytest.mark.slow
def test_million_point_operations_stay_logarithmic():
    assert_ops_scale(_build, _per_op, BIG, SMALL, FACTOR)
