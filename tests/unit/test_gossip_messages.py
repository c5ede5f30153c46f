"""The bus wire format (gossip/messages.py): every type round-trips, every truncation and corruption of a valid
frame is rejected with DecodeError (never another exception), the MAC is enforced with a cluster secret."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from shoal.gossip import messages as m
from shoal.gossip.view import FAIL, PFAIL, PRIMARY, REPLICA

A = "a" * 40
B = "0123456789abcdef" * 2 + "01234567"


def header(**kw):
    base = dict(sender=A, current_epoch=7, config_epoch=3, repl_offset=12345, ip="127.0.0.1", port=7000, cport=17000,
                hostname="node-a", flags={PRIMARY}, primary_id="", shard_id=B,
                slots=m.slots_to_bitmap(range(0, 5461)), state_ok=True)
    base.update(kw)
    return m.Header(**base)


def samples():
    g = [m.GossipEntry(B, 10, 20, "127.0.0.2", 7001, 17001, {PRIMARY, PFAIL}),
         m.GossipEntry("f" * 40, 0, 99, "", 0, 0, {REPLICA, FAIL})]
    yield m.Message(m.MsgType.PING, header(), gossip=g)
    yield m.Message(m.MsgType.PONG, header(ip="", hostname="", flags={REPLICA}, primary_id=B), gossip=[])
    yield m.Message(m.MsgType.MEET, header(shard_id=""), gossip=g[:1])
    yield m.Message(m.MsgType.FAIL, header(), node_id=B)
    yield m.Message(m.MsgType.UPDATE, header(), node_id=B, config_epoch=2 ** 63,
                    slots=m.slots_to_bitmap([0, 16383]))
    yield m.Message(m.MsgType.PUBLISH, header(), channel=b"news", message=b"\x00hello\r\n")
    yield m.Message(m.MsgType.PUBLISHSHARD, header(), channel=b"", message=b"x" * 70000)


@pytest.mark.parametrize("secret", [b"", b"s3cret"])
def test_round_trip_every_type(secret):
    seen = set()
    for msg in samples():
        frame = m.encode(msg, secret)
        assert m.decode_frame(frame, secret) == msg
        seen.add(msg.type)
    assert seen == set(m.MsgType)


def test_bitmap():
    slots = [0, 1, 7, 8, 100, 16383]
    bm = m.slots_to_bitmap(slots)
    assert len(bm) == 2048 and bm[0] == 0b10000011
    assert m.bitmap_to_slots(bm) == slots
    assert m.bitmap_to_slots(m.slots_to_bitmap(range(16384))) == list(range(16384))


def test_reader_splits_and_joins_frames():
    frames = [m.encode(msg) for msg in samples()]
    stream = b"".join(frames)
    r = m.FrameReader()
    out = []
    rnd = random.Random(1)
    pos = 0
    while pos < len(stream):
        n = rnd.randint(1, 3000)
        r.feed(stream[pos:pos + n])
        pos += n
        out += list(r.messages())
    assert out == list(samples())
    assert r.pending() == 0


@pytest.mark.parametrize("secret", [b"", b"k"])
def test_every_truncation_is_rejected(secret):
    for msg in samples():
        frame = m.encode(msg, secret)
        if len(frame) > 5000:
            continue
        for cut in range(len(frame)):
            with pytest.raises(m.DecodeError):
                m.decode_frame(frame[:cut], secret)
            r = m.FrameReader(secret)
            r.feed(frame[:cut])
            assert list(r.messages()) == []  # incomplete: waits for more, never a message
            assert r.pending() == cut


def test_every_single_byte_corruption_is_rejected():
    frame = m.encode(next(iter(samples())))
    for i in range(len(frame)):
        bad = bytearray(frame)
        bad[i] ^= 0x41
        with pytest.raises(m.DecodeError):
            m.decode_frame(bytes(bad))


def test_oversized_length_rejected_before_buffering():
    import struct
    prefix = struct.pack("!4sBBBI", b"SHBS", 1, 0, 0, m.MAX_FRAME + 1)
    r = m.FrameReader()
    r.feed(prefix)
    with pytest.raises(m.DecodeError, match="too large"):
        list(r.messages())
    with pytest.raises(m.DecodeError):
        list(r.messages())  # a failed link stays failed


def test_garbage_rejected_early():
    r = m.FrameReader()
    r.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(m.DecodeError, match="magic"):
        list(r.messages())
    r = m.FrameReader()
    r.feed(b"SH")  # could still be ours
    assert list(r.messages()) == []


def test_secret_enforced():
    msg = next(iter(samples()))
    plain = m.encode(msg)
    signed = m.encode(msg, b"right")
    with pytest.raises(m.AuthError):
        m.decode_frame(plain, b"right")  # unauthenticated
    with pytest.raises(m.AuthError):
        m.decode_frame(signed, b"wrong")
    with pytest.raises(m.AuthError):
        m.decode_frame(signed, b"")  # we have no secret: cannot check it
    assert m.decode_frame(signed, b"right") == msg


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"k"]))
def test_garbage_raises_only_decode_error(data, secret):
    try:
        m.decode_frame(data, secret)
    except m.DecodeError:
        pass
    r = m.FrameReader(secret)
    r.feed(data)
    try:
        list(r.messages())
    except m.DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_frames_raise_only_decode_error(data):
    """Garbage with a valid checksum: recompute the CRC after mutating, so the parser itself is exercised."""
    import struct
    import zlib
    frame = bytearray(m.encode(data.draw(st.sampled_from(list(samples())[:6]))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 5))
        frame[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(11, len(frame) - 4))
        frame = frame[:cut] + frame[-4:]
        frame[7:11] = struct.pack("!I", len(frame))
    frame[-4:] = struct.pack("!I", zlib.crc32(bytes(frame[:-4])))
    try:
        m.decode_frame(bytes(frame))
    except m.DecodeError:
        pass
