"""The start-tag tokenizer: HTML's own separators, ASCII-only case folding, linear time.

HTML (the WHATWG tokenizer) ends tag and attribute names at TAB, LF, FF, CR and SPACE only;
every other "whitespace" character (no-break space, U+3000, VT, NEL...) is part of the name
or value it sits in. libxml2 2.14 (lxml's parser) and html5lib follow the spec, so the
scanner is compared with them where they are installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from alttext.rules.checks import audit_page
from alttext.scan.model import AltState
from alttext.scan.scanner import scan_text
from alttext.scan.tokens import (
    LineIndex,
    ascii_lower,
    interesting_start_tags,
    last_start_tag,
    parse_attrs,
    start_tags_by_end_line,
    start_tags_near_line,
)

#: Characters Python's ``\s`` matches that HTML does not treat as whitespace.
NOT_HTML_WHITESPACE = ["\xa0", "\x0b", "\u3000", "\u2028", "\x85", "\x1c", "\x1d", "\x1e", "\x1f"]
HTML_WHITESPACE = ["\t", "\n", "\x0c", "\r", " "]

QA_PAGE = '<meta charset=utf-8>\n<img src="a.png"\xa0alt="Human words">\n<img\xa0src="q.png">\n'


def _scan(text: str) -> list[tuple[str, dict[str, str]]]:
    return [(i.element, i.attrs) for i in scan_text(text, Path("p.html"), "p.html")]


def _tokens(text: str) -> list[tuple[str, dict[str, str]]]:
    return [(t.name, t.attrs) for t in interesting_start_tags(text)]


# --- separators ---------------------------------------------------------------------


def test_qa_page_no_break_space_is_part_of_names() -> None:
    expected = [("img", {"src": "a.png", "\xa0alt": "Human words"})]
    assert _tokens(QA_PAGE) == expected
    assert _scan(QA_PAGE) == expected
    (image,) = scan_text(QA_PAGE, Path("p.html"), "p.html")
    assert image.alt_state is AltState.MISSING
    assert [f.rule for f in audit_page([image])] == ["image-alt"]


@pytest.mark.parametrize("char", NOT_HTML_WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_non_html_whitespace_does_not_separate(char: str) -> None:
    page = (
        f'<p>x</p><img src="a.png"{char}alt="Words">'
        f"<img src=b.png{char}alt=c>"
        f'<img{char}src="q.png"><IMG{char}alt=x>'
        f'<div role=img{char}title="t"></div>'
    )
    found = _tokens(page)
    assert found == [
        ("img", {"src": "a.png", f"{char}alt": "Words"}),
        ("img", {"src": f"b.png{char}alt=c"}),
    ]
    assert _scan(page) == found


@pytest.mark.parametrize("char", HTML_WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_html_whitespace_separates(char: str) -> None:
    page = f'<img{char}src="a.png"{char}alt="W"><img src=b.png{char}alt=c{char}>'
    expected = [("img", {"src": "a.png", "alt": "W"}), ("img", {"src": "b.png", "alt": "c"})]
    assert _tokens(page) == expected
    assert _scan(page) == expected


def test_raw_text_end_tag_needs_html_whitespace_after_its_name() -> None:
    # </script\xa0> does not end the script: the <img> is script text.
    page = "<script>a</script\xa0><img src=a.png></script><img src=b.png>"
    assert _tokens(page) == [("img", {"src": "b.png"})]


# --- case folding -------------------------------------------------------------------


def test_ascii_lower_folds_only_ascii() -> None:
    assert ascii_lower("IMG") == "img"
    assert ascii_lower("\u212aX") == "\u212ax"  # Kelvin sign stays; str.lower() makes it "k"
    assert ascii_lower("\u0130MG") == "\u0130mg"


def test_names_fold_in_ascii_only() -> None:
    # Python's IGNORECASE matches long s (U+017F) to "s": HTML never does, so </\u017fcript>
    # is text and the script runs on to the real end tag.
    page = "<script>x</\u017fcript><img src=a.png></script><img src=b.png>"
    assert _tokens(page) == [("img", {"src": "b.png"})]
    assert _scan(page) == [("img", {"src": "b.png"})]
    # an attribute named with a dotted capital I is not "img"-anything and keeps its case
    assert parse_attrs("\u0130D=1 SRC=a") == {"\u0130d": "1", "src": "a"}


@pytest.mark.parametrize("value", ["IMAGE", "Image", "image"])
def test_input_type_is_ascii_case_insensitive_to_the_scan_and_axes_to_the_audit(
    value: str,
) -> None:
    page = f'<form><input type="{value}" src="go.png" alt=""></form>'
    images = scan_text(page, Path("p.html"), "p.html")
    assert [i.element for i in images] == ["input"]  # fix fills it whatever the case
    # check keeps axe's verdict: its selector input[type="image"] is case-sensitive.
    expected = ["input-image-alt"] if value == "image" else []
    assert [f.rule for f in audit_page(images)] == expected


@pytest.mark.parametrize("value", [" image", "image\xa0", "\u0131mage", "imag\u212a"])
def test_input_type_is_not_trimmed_or_unicode_folded(value: str) -> None:
    # A type that is not exactly "image" (ASCII case aside) is a text field to browsers.
    page = f'<form><input type="{value}" src="go.png" alt=""></form>'
    assert audit_page(scan_text(page, Path("p.html"), "p.html")) == []


# --- linear time on unterminated tags -----------------------------------------------


def test_unterminated_tag_swallows_the_rest_of_the_page() -> None:
    # eof-in-tag: the tokenizer never leaves the first tag, so nothing after it is a tag.
    assert _tokens('<img src=a.png><img b <p title="x>" <img src=c.png') == [
        ("img", {"src": "a.png"})
    ]
    assert _tokens('<img src=a.png><p title="<img src=b.png>') == [("img", {"src": "a.png"})]
    assert _tokens('<img src=a.png><p title="x>"') == [("img", {"src": "a.png"})]
    # an unclosed quote runs to the end too: the '>' and the <img> are inside the value
    assert _tokens('<img src=a.png><p title="x><img src=b.png>') == [("img", {"src": "a.png"})]
    assert _tokens("<img src=a.png><p title= 'x><img src=b.png>") == [("img", {"src": "a.png"})]


def _best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def _hostile(size: int) -> str:
    return "<img b " * (size // 7)


_PATHS: dict[str, Callable[[str], object]] = {
    "tokenizer": lambda text: list(interesting_start_tags(text)),
    "by-end-line": lambda text: start_tags_by_end_line(text, LineIndex(text), "img"),
    "near-line": lambda text: start_tags_near_line(text, LineIndex(text), "img", 1),
    "last-start-tag": lambda text: last_start_tag(
        text, frozenset({"a"}), len(text), window=len(text)
    ),
    "scan": lambda text: scan_text(text, Path("p.html"), "p.html"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", sorted(_PATHS))
def test_unclosed_tags_scan_in_linear_time(path: str) -> None:
    # Doubling the input may at most about double the time (quadratic would be 4x); the
    # constant absorbs timer noise on tiny figures. 200 KB took minutes when each '<'
    # re-scanned the rest of the page for a '>'.
    work = _PATHS[path]
    small, large = _hostile(100_000), _hostile(200_000)
    work(small)  # warm caches (compiled patterns)
    t_small = _best_of(3, lambda: work(small))
    t_large = _best_of(3, lambda: work(large))
    assert t_large < 3 * t_small + 0.05, (t_small, t_large)


# --- agreement with spec-following parsers --------------------------------------------

_ASCII_SEPARATORS = [" ", "\t", "\n", "\r\n", "\x0c", "/", " / "]
_SEPARATORS = st.sampled_from(_ASCII_SEPARATORS + NOT_HTML_WHITESPACE)
# lxml refuses to hand out names holding the C0 controls (not XML characters).
_XML_SEPARATORS = st.sampled_from(
    _ASCII_SEPARATORS + [c for c in NOT_HTML_WHITESPACE if c not in "\x0b\x1c\x1d\x1e\x1f"]
)
_NAME = st.sampled_from(["src", "alt", "title", "ALT", "Src", "data-x", "a-b"])
_VALUE = st.text(alphabet="ab.\xa0\u3000 =/'\"<>", max_size=6)


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(_NAME)
    value = draw(_VALUE)
    style = draw(st.sampled_from(["double", "single", "unquoted", "bare"]))
    if style == "double":
        return f'{name}="{value.replace(chr(34), "")}"'
    if style == "single":
        return f"{name}='{value.replace(chr(39), '')}'"
    if style == "unquoted":
        cleaned = "".join(c for c in value if c not in " \"'>=<`")
        return f"{name}={cleaned or 'v'}"
    return name


@st.composite
def _flat_page(draw: st.DrawFn, separators: st.SearchStrategy[str] = _SEPARATORS) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "img", "img", "p"]))
        if kind == "text":
            parts.append(draw(st.text(alphabet="ab \n\xa0", max_size=5)))
            continue
        name = "img" if kind == "img" else "p"
        tag = "<" + draw(st.sampled_from([name, name.upper()]))
        for attr in draw(st.lists(_attribute(), max_size=3)):
            tag += draw(separators) + attr
        parts.append(tag + draw(st.sampled_from(["", " ", "/", "\xa0"])) + ">")
    return "<!doctype html><body>" + "".join(parts)


@pytest.mark.skipif(etree.LIBXML_VERSION < (2, 14), reason="libxml2 < 2.14 predates HTML5")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_flat_page(_XML_SEPARATORS))
def test_tokenizer_agrees_with_libxml2(page: str) -> None:
    tree = etree.fromstring(page, etree.HTMLParser())
    expected = [dict(el.attrib) for el in tree.iter() if el.tag == "img"]
    assert [attrs for _, attrs in _tokens(page)] == expected
    assert _scan(page) == [("img", attrs) for attrs in expected]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_flat_page())
def test_tokenizer_agrees_with_html5lib(page: str) -> None:
    html5lib = pytest.importorskip("html5lib")
    tree = html5lib.parse(page, namespaceHTMLElements=False)  # xml.etree: any attribute name
    expected = [dict(el.attrib) for el in tree.iter() if el.tag == "img"]
    assert [attrs for _, attrs in _tokens(page)] == expected


def test_a_nul_in_an_attribute_reads_as_the_replacement_character_as_in_browsers() -> None:
    # Found by the html5lib property test: the tokenizer turns U+0000 into U+FFFD.
    assert parse_attrs(' src="a\x00b" d\x00ta=1') == {"src": "a\ufffdb", "d\ufffdta": "1"}
