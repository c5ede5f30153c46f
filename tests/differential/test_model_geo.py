"""Random sequences of geo commands (hypothesis), run step by step on a shoal-node and on redis-server, raw replies
compared after every step, in RESP2 and RESP3 (drawn per example).

Coordinates come from a small grid near the origin (so searches find several points, ties included), the edges of
the valid range (longitude +-180, latitude +-85.05112878) and just past them (an error). Every geo reply is
deterministic in Redis, so every reply must match byte for byte: GEOPOS/GEODIST/GEOHASH, searches with or without
ASC/DESC/COUNT (the unsorted order is Redis's cell scan order; COUNT ANY stops at the first found in that order),
and the sets the STORE variants write, read back with ZRANGE WITHSCORES.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .model import close_pairs, cmd, open_pairs, opt, reset, run_steps

pytestmark = pytest.mark.differential



def mostly(good: list[bytes], bad: list[bytes]) -> st.SearchStrategy:
    """Valid arguments about four times in five, so sequences get past the argument checks and build real sets."""
    return st.one_of(*[st.sampled_from(good)] * 4, st.sampled_from(bad))


key = mostly([b"g1", b"g2"], [b"str", b"none"])
member = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"", b"\x00x", b"10"])
lon = st.one_of(
    st.sampled_from([b"0", b"0.001", b"-0.001", b"0.5", b"1", b"-1", b"13.361389", b"2e-3", b"0.0005"]),
    st.sampled_from([b"0", b"0.001", b"-0.001", b"0.5", b"1", b"-1", b"13.361389", b"2e-3", b"0.0005"]),
    st.sampled_from([b"180", b"-180", b"179.9999999", b"-179.99999"]),
    st.sampled_from([b"180.0000001", b"-181", b"x", b"nan", b""]),
)
lat = st.one_of(
    st.sampled_from([b"0", b"0.001", b"-0.001", b"0.5", b"1", b"-1", b"38.115556", b"-2e-3", b"0.0005"]),
    st.sampled_from([b"0", b"0.001", b"-0.001", b"0.5", b"1", b"-1", b"38.115556", b"-2e-3", b"0.0005"]),
    st.sampled_from([b"85.05112878", b"-85.05112878", b"85", b"-85"]),
    st.sampled_from([b"85.05112879", b"-85.1", b"90", b"x"]),
)
unit = mostly([b"m", b"km", b"KM", b"ft", b"mi"], [b"yd"])
radius = mostly([b"0", b"1", b"100", b"150", b"200000", b"20000000"], [b"-1", b"x", b"1e400"])
count = mostly([b"1", b"2", b"3", b"100"], [b"0", b"-1", b"x"])

triples = st.lists(st.tuples(lon, lat, member), min_size=1, max_size=4).map(lambda ts: [a for t in ts for a in t])
geoadd_flags = st.lists(st.sampled_from([b"NX", b"XX", b"CH"]), max_size=2, unique=True)
members = st.lists(member, min_size=0, max_size=3)
with_flags = st.lists(st.sampled_from([b"WITHCOORD", b"WITHDIST", b"WITHHASH"]), max_size=3, unique=True)
order = opt([b"ASC"], [b"DESC"])
count_opt = opt([b"COUNT", count], [b"COUNT", count, b"ANY"])
origin = st.one_of(cmd(b"FROMMEMBER", member), cmd(b"FROMLONLAT", lon, lat))
area = st.one_of(cmd(b"BYRADIUS", radius, unit), cmd(b"BYBOX", radius, radius, unit))

GENERATORS = [
    cmd(b"GEOADD", key, geoadd_flags, triples),
    cmd(b"GEOPOS", key, members),
    cmd(b"GEODIST", key, member, member, opt([unit])),
    cmd(b"GEOHASH", key, members),
    cmd(b"GEOSEARCH", key, origin, area, order, count_opt, with_flags),
    cmd(b"GEOSEARCHSTORE", key, key, origin, area, order, count_opt, opt([b"STOREDIST"])),
    cmd(b"GEORADIUS", key, lon, lat, radius, unit, with_flags, order, count_opt),
    cmd(b"GEORADIUS_RO", key, lon, lat, radius, unit, with_flags, count_opt),
    cmd(b"GEORADIUS", key, lon, lat, radius, unit, order, count_opt,
        st.sampled_from([b"STORE", b"STOREDIST"]), key),
    cmd(b"GEORADIUSBYMEMBER", key, member, radius, unit, with_flags, order, count_opt),
    cmd(b"GEORADIUSBYMEMBER_RO", key, member, radius, unit, order),
    cmd(b"GEORADIUSBYMEMBER", key, member, radius, unit, st.sampled_from([b"STORE", b"STOREDIST"]), key),
    cmd(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"),
    cmd(b"ZREM", key, member),
    cmd(b"ZADD", key, st.sampled_from([b"0", b"1", b"-1", b"4503599627370496", b"3471579339700058"]), member),
    cmd(b"SET", st.just(b"str"), b"v"),
    cmd(b"DEL", key),
    cmd(b"TYPE", key),
]
command = st.one_of(*GENERATORS)


@pytest.fixture(scope="module")
def pairs(shoal, redis_ref):
    made = open_pairs(shoal, redis_ref)
    yield made
    close_pairs(made.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(proto=st.sampled_from([2, 3]), steps=st.lists(command, min_size=1, max_size=25))
def test_geo_sequences_match_redis(pairs, proto, steps):
    pair = pairs[proto]
    log = reset(pair)
    run_steps(pair, steps, log=log, label=f"RESP{proto}: ")
