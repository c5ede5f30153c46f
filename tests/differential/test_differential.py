"""The differential corpus: every case of every `cases/*.txt`, once over RESP2 and once over RESP3, against a
shoal-node and Debian's redis-server, raw reply bytes compared. See README.md for the case format.

Test ids are `<file>::<case name>::resp<2|3>`, e.g. `strings.txt::SET options::resp3`, so
`pytest tests/differential -k 'strings.txt'` runs one command group.
"""
from __future__ import annotations

import pytest

from .harness import CLOSED, BadReply, load_cases, parse_case_text, reply_end, render, run_case, split_command

pytestmark = pytest.mark.differential

CASES, BROKEN_FILES = load_cases()


def _case_params():
    for case in CASES:
        for proto in (2, 3):
            yield pytest.param(case, proto, id=f"{case.file}::{case.name}::resp{proto}")


@pytest.mark.parametrize("case,proto", list(_case_params()))
def test_case(case, proto, shoal, redis_ref):
    if not case.steps_for(proto):
        pytest.skip(f"no steps for RESP{proto}")
    compared = run_case(case, proto, (shoal.host, shoal.port), (redis_ref.host, redis_ref.port))
    assert compared > 0 or all(s.kind == "sleep" for s in case.steps_for(proto))


@pytest.mark.parametrize("filename,error", BROKEN_FILES or [pytest.param(None, None, marks=pytest.mark.skip(
    reason="every case file parses"))], ids=lambda v: v if isinstance(v, str) and v.endswith(".txt") else "")
def test_case_file_parses(filename, error):
    pytest.fail(f"{filename} cannot be parsed: {error}")


# ------------------------------------------------------------------ the harness itself (no servers needed)


@pytest.mark.parametrize("raw", [
    b"+OK\r\n", b"-ERR x\r\n", b":-12\r\n", b"$-1\r\n", b"$0\r\n\r\n", b"$4\r\na\r\nb\r\n", b"*-1\r\n", b"*0\r\n",
    b"_\r\n", b",1.5\r\n", b"#t\r\n", b"(123456789012345678901234567890\r\n", b"!3\r\nERR\r\n",
    b"=8\r\ntxt:abcd\r\n", b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n", b"%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n",
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", b"|1\r\n+key-popularity\r\n%0\r\n*1\r\n:1\r\n",
    b"*3\r\n|1\r\n+a\r\n:1\r\n+x\r\n*-1\r\n$-1\r\n",
])
def test_reply_end_frames_exactly_one_reply(raw):
    assert reply_end(raw) == len(raw)
    assert reply_end(raw + b"+NEXT\r\n") == len(raw)
    for cut in range(len(raw)):
        assert reply_end(raw[:cut]) is None, cut
    assert render(raw)


def test_reply_end_rejects_garbage():
    with pytest.raises(BadReply):
        reply_end(b"?x\r\n")
    with pytest.raises(BadReply):
        reply_end(b"$3\r\nabcde\r\n")


def test_reply_end_deep_nesting_is_iterative():
    deep = b"*1\r\n" * 100000 + b":1\r\n"
    assert reply_end(deep) == len(deep)


def test_case_format():
    text = """# comment
### first case
SET k "a b\\x00"
!type TIME
!sleep 0.01
!resp3 !type HELLO 3
!resp2 GET 'it\\'s'
### second
!read
"""
    first, second = parse_case_text(text, "x.txt")
    assert first.name == "first case" and second.name == "second"
    assert first.steps[0].argv == [b"SET", b"k", b"a b\x00"]
    assert first.steps[1].type_only and first.steps[1].argv == [b"TIME"]
    assert first.steps[2].kind == "sleep" and first.steps[2].seconds == 0.01
    assert first.steps[3].proto == 3 and first.steps[3].type_only
    assert first.steps[4].argv == [b"GET", b"it's"]
    assert [s.text for s in first.steps_for(2)] == ["SET k \"a b\\x00\"", "!type TIME", "!sleep 0.01",
                                                    "!resp2 GET 'it\\'s'"]
    assert second.steps[0].kind == "read"
    assert split_command('"unbalanced') is None
    assert CLOSED != b"+OK\r\n"
