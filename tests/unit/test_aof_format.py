"""The AOF byte format (node/persistence/aof_format.py) and the manifest (aof_manifest.py), without sockets."""
from __future__ import annotations

import os

import pytest

from shoal.node.persistence import aof_manifest as mf
from shoal.node.persistence.aof_format import (BadFormat, Truncated, encode_command, iter_commands, parse_one,
                                               select_command)


def test_encode_is_a_resp_array_of_bulk_strings():
    assert encode_command([b"SET", b"k", b"v"]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert encode_command([b"SET", b"", bytearray(b"a\r\nb")]) == b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
    assert select_command(12) == b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n"


def test_iter_commands_gives_each_command_with_its_offsets():
    a = encode_command([b"SET", b"a", b"1"])
    b = encode_command([b"RPUSH", b"l", b"x\r\ny", b""])
    data = a + b"#TS:1700000000\r\n" + b
    got = list(iter_commands(data))
    assert got == [([b"SET", b"a", b"1"], 0, len(a)),
                   ([b"RPUSH", b"l", b"x\r\ny", b""], len(a) + 16, len(data))]


def _strict(data: bytes) -> list:
    out, pos = [], 0
    while pos < len(data):
        argv, stop = parse_one(data, pos, len(data))
        if argv is not None:
            out.append((argv, pos, stop))
        pos = stop
    return out


def test_fast_path_agrees_with_the_strict_parser_on_unusual_but_valid_input():
    cmds = [encode_command([b"SET", b"k%d" % i, b"v" * i]) for i in range(200)]
    data = (b"".join(cmds[:50]) + b"#TS:1\r\n" + b"".join(cmds[50:120])
            + b"*03\r\n$3\r\nSET\r\n$001\r\na\r\n$1\r\nb\r\n"  # leading zeros: accepted, not canonical
            + b"".join(cmds[120:]))
    got = list(iter_commands(data))
    assert got == _strict(data)
    assert len(got) == 201 and got[-1][2] == len(data)


@pytest.mark.parametrize("cut", [1, 3, 5, 9, 14, 20, 26])
def test_a_torn_command_reports_where_the_last_complete_one_ended(cut):
    a = encode_command([b"SET", b"a", b"1"])
    b = encode_command([b"SET", b"bb", b"22"])
    data = a + b[:cut]
    with pytest.raises(Truncated) as e:
        list(iter_commands(data))
    assert e.value.valid_up_to == len(a)


@pytest.mark.parametrize("bad, offset", [
    (b"+OK\r\n", 0),                                       # not an array
    (b"*x\r\n", 0),                                        # count not a number
    (b"*0\r\n", 0),                                        # no arguments
    (b"*1\r\n:3\r\n", 4),                                  # argument not a bulk string
    (b"*1\r\n$3\r\nabcd\r\n", 11),                         # length says 3, four bytes follow
    (b"*1\r\n$-1\r\n", 4),                                 # negative length
    (b"*1\n$1\r\na\r\n", 0),                               # header without CR
])
def test_bad_bytes_are_refused_at_their_offset(bad, offset):
    head = encode_command([b"SET", b"a", b"1"])
    with pytest.raises(BadFormat) as e:
        list(iter_commands(head + bad))
    assert e.value.offset == len(head) + offset


# --------------------------------------------------------------------------------------------------- manifest


def test_manifest_round_trip_in_redis_order():
    m = mf.Manifest()
    assert m.new_base("appendonly.aof", True) == "appendonly.aof.1.base.rdb"
    assert m.new_incr("appendonly.aof") == "appendonly.aof.1.incr.aof"
    assert m.new_incr("appendonly.aof") == "appendonly.aof.2.incr.aof"
    # a rewrite: new base, the incr files it covered become history, the last one stays
    assert m.new_base("appendonly.aof", False) == "appendonly.aof.2.base.aof"
    m.retire_incrs(keep_last=True)
    text = m.format()
    assert text == ("file appendonly.aof.2.base.aof seq 2 type b\n"
                    "file appendonly.aof.1.incr.aof seq 1 type h\n"
                    "file appendonly.aof.1.base.rdb seq 1 type h\n"
                    "file appendonly.aof.2.incr.aof seq 2 type i\n")
    back = mf.parse(text.encode())
    assert back.format() == text
    assert (back.base_seq, back.incr_seq) == (2, 2)
    assert back.new_incr("appendonly.aof") == "appendonly.aof.3.incr.aof"


def test_retiring_without_an_open_file_retires_every_incr():
    m = mf.parse(b"file a.1.base.rdb seq 1 type b\nfile a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\n")
    m.retire_incrs(keep_last=False)
    assert m.incrs == [] and [h.name for h in m.history] == ["a.1.incr.aof", "a.2.incr.aof"]


def test_names_that_need_quoting_are_written_and_read_back():
    m = mf.Manifest(base=mf.AofInfo('my file "x".1.base.rdb', 1, mf.BASE), base_seq=1)
    text = m.format()
    assert text == 'file "my file \\"x\\".1.base.rdb" seq 1 type b\n'
    assert mf.parse(text.encode()).base.name == 'my file "x".1.base.rdb'


def test_comments_and_extra_pairs_are_accepted():
    m = mf.parse(b"# a comment\nfile a.1.base.rdb seq 1 type b future yes\n")
    assert m.base.name == "a.1.base.rdb"


@pytest.mark.parametrize("text, message", [
    (b"", "Found an empty AOF manifest"),
    (b"file a seq 1 type b\nfile b seq 2 type b\n", "Found duplicate base file information"),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", "Found a non-monotonic sequence number"),
    (b"file a seq 1 type x\n", "Unknown AOF file type"),
    (b"file a seq 1\n", "Invalid AOF manifest file format"),
    (b"file a seq 0 type b\n", "Invalid AOF manifest file format"),
    (b"\n", "Invalid AOF manifest file format"),
    (b"file dir/a seq 1 type b\n", "File can't be a path, just a filename"),
    (b"file a seq 1 type b", "The AOF manifest file contains too long line"),
    (b"file " + b"a" * 1100 + b" seq 1 type b\n", "The AOF manifest file contains too long line"),
    (b'file "a seq 1 type b\n', "Invalid AOF manifest file format"),
])
def test_bad_manifests_are_refused_with_redis_messages(text, message):
    with pytest.raises(mf.ManifestError) as e:
        mf.parse(text)
    assert e.value.msg == message


def test_persist_replaces_the_manifest_atomically(tmp_path):
    d = str(tmp_path)
    m = mf.Manifest()
    m.new_base("appendonly.aof", True)
    mf.persist(m, d, "appendonly.aof")
    assert sorted(os.listdir(d)) == ["appendonly.aof.manifest"]
    assert mf.load(d, "appendonly.aof").format() == m.format()
    assert mf.load(os.path.join(d, "missing"), "appendonly.aof") is None
