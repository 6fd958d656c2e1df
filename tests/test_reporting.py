from __future__ import annotations

from pipeline.reporting import MASK, LineSplitter, Masker
from tests.support import Lines


def test_secrets_are_masked_including_multiline_ones() -> None:
    mask = Masker(["hunter22", "-----BEGIN KEY-----\nabcdef123\n-----END KEY-----", "ab"])
    assert mask("password=hunter22!") == f"password={MASK}!"
    assert mask("abcdef123") == MASK
    assert mask("ab stays: too short to mask safely") == "ab stays: too short to mask safely"


def test_chunks_become_lines() -> None:
    out = Lines()
    splitter = LineSplitter(out)
    for chunk in ["one\ntw", "o\r\nthree", " 10%\r three 100%\nfour"]:
        splitter.feed(chunk)
    splitter.flush()
    assert out.lines == ["one", "two", " three 100%", "four"]
