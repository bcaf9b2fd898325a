"""Which written language a page's ``lang`` asks for: the region aside, the script kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alttext.languages import written_language


@pytest.mark.parametrize(
    ("tag", "written"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("EN-us", "en"),
        ("es-419", "es"),  # a UN M.49 area is a region too
        ("pt_BR", "pt"),  # as locales write it
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-hans-sg", "zh"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh_tw", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("zh-Hant-CN", "zh-Hant"),  # the script subtag says it, whatever the region
        ("zh-yue", "yue"),  # an extended language subtag is the language
        ("yue", "yue"),
        ("yue-CN", "yue-Hans"),
        ("sr", "sr"),
        ("sr-RS", "sr"),
        ("sr-Cyrl", "sr"),
        ("sr-Latn", "sr-Latn"),
        ("sr-ME", "sr-Latn"),
        ("pa-PK", "pa-Arab"),
        ("hi-Latn", "hi-Latn"),  # romanised Hindi: a script the table need not know
        ("de-DE-1996", "de"),  # a variant subtag changes spelling, not who can read it
        ("  fr-CA ", "fr"),
        ("", ""),
        ("-", ""),
    ],
)
def test_written_language(tag: str, written: str) -> None:
    assert written_language(tag) == written


_SUBTAG = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=8,
)


@given(st.lists(_SUBTAG, min_size=1, max_size=4), st.sampled_from(["-", "_"]))
def test_the_answer_is_its_own_answer_and_case_and_separator_do_not_matter(
    subtags: list[str], separator: str
) -> None:
    tag = separator.join(subtags)
    written = written_language(tag)
    assert written_language(written) == written
    assert written_language(tag.upper()) == written == written_language(tag.lower())
    assert written_language("-".join(subtags)) == written
