"""Property tests: a rewrite changes nothing but the alt attributes it writes.

Random pages mix text, comments, scripts holding ``<img`` strings, ordinary tags and
``<img>`` tags with random attributes, quoting, case and line endings, in UTF-8, UTF-8 with
a BOM or declared latin-1. The scanner finds the images; the rewriter edits them; the
output is then taken apart again independently of the rewriter's code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alttext.rewrite import Edit, apply_edits, normalise_alt
from alttext.scan.encoding import decode_html
from alttext.scan.model import AltState, ImageElement
from alttext.scan.scanner import scan_text

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SPECIAL = "\"'&<>=/ \t\r\n\u20ac\xe9\u4e2d"
_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_chars = st.one_of(_any_text, st.text(alphabet=_SPECIAL + "ab", max_size=12))

_NEWLINE = st.sampled_from(["\n", "\r\n"])
_SEP = st.sampled_from([" ", "  ", "\n", "\r\n", "\t", "\n    ", " / ", "\x0c"])
# Python's \s matches these but HTML does not separate on them: after a quoted value one
# starts the next attribute's name, elsewhere it is part of a name or an unquoted value.
_NOT_A_SEP = st.sampled_from(["\xa0", "\x0b", "\u3000", "\u2028", "\x85", "\x1c", "\x1f"])
_attr_name = st.one_of(
    st.sampled_from(["src", "title", "data-alt", "class", "width", "aria-label", "alt-text"]),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,6}", fullmatch=True).filter(
        lambda n: n.lower() != "alt"
    ),
)


@st.composite
def _attribute(draw: st.DrawFn, name: st.SearchStrategy[str] = _attr_name) -> str:
    attr = draw(name)
    style = draw(st.sampled_from(["double", "single", "unquoted", "bare"]))
    eq = draw(st.sampled_from(["=", "=", " = "]))
    if style == "double":
        return f'{attr}{eq}"{draw(_chars).replace(chr(34), "")}"'
    if style == "single":
        return f"{attr}{eq}'{draw(_chars).replace(chr(39), '')}'"
    if style == "unquoted":
        value = re.sub(r"[\s>\"'`]", "", draw(_chars)) or "v"
        return f"{attr}={value}"
    return attr


@st.composite
def _start_tag(draw: st.DrawFn, names: list[str], with_alt: bool) -> str:
    name = draw(st.sampled_from(names))
    attrs = draw(st.lists(_attribute(), max_size=4))
    if with_alt:
        alt = draw(_attribute(st.sampled_from(["alt", "ALT", "Alt"])))
        attrs.insert(draw(st.integers(0, len(attrs))), alt)
    parts = [f"<{name}"]
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(_NOT_A_SEP))  # <img\xa0src=...>: not an img at all
    for attr in attrs:
        parts.append(draw(st.one_of(_SEP, _SEP, _SEP, _NOT_A_SEP)) + attr)
    parts.append(draw(st.sampled_from(["", " ", "/", " /", "\n"])) + ">")
    return "".join(parts)


_piece = st.one_of(
    _chars.map(lambda t: t.replace("<", "")),
    _chars,  # may hold a stray '<': whatever the scanner makes of it, the rewrite must agree
    _NEWLINE,
    _chars.map(lambda t: "<!--" + t.replace("-->", "") + " <img src=c.png> -->"),
    st.just('<script>var s = "<img src=s.png>"; if (a<b) {}</script>'),
    st.just("<svg><style>/* <img src=v.png> */</style><text>&lt;img&gt;</text></svg>"),
    st.sampled_from(["</p>", "</a>", "</div>"]),
    _start_tag(["p", "div", "a", "span", "P"], with_alt=False),
    _start_tag(["img", "IMG", "Img"], with_alt=False),
    _start_tag(["img", "IMG", "Img"], with_alt=False),
    _start_tag(["img", "IMG"], with_alt=True),
)

_alt = st.one_of(
    _any_text,
    st.text(alphabet=_SPECIAL + "ab\x00\x07\u2028\ufffe", max_size=16),
    st.sampled_from(["", '"', "'", "&", "&amp;", "<img src=x>", "-->", "</script>", "a\nb"]),
)


@st.composite
def _page(draw: st.DrawFn) -> bytes:
    flavour = draw(st.sampled_from(["utf-8", "utf-8-bom", "latin-1"]))
    body = "".join(draw(st.lists(_piece, min_size=1, max_size=14)))
    if flavour == "latin-1":
        head = '<meta charset="iso-8859-1">' + draw(_NEWLINE)
        # What latin-1 cannot hold is written as the author would have: a reference.
        return (head + body).encode("latin-1", "xmlcharrefreplace")
    head = "<meta charset=utf-8>" if draw(st.booleans()) else ""
    data = (head + body).encode("utf-8")
    return b"\xef\xbb\xbf" + data if flavour == "utf-8-bom" else data


def _scan(data: bytes) -> tuple[str, tuple[ImageElement, ...]]:
    decoded = decode_html(data)
    return decoded.text, scan_text(decoded.text, Path("p.html"), "p.html")


# An inserted attribute as it must look: after the tag name, quoted, nothing raw inside
# that could end the value or start markup.
_INSERTED = re.compile(r""" (?:alt|ALT)=(?:"[^"<>]*"|'[^'<>]*')""")


@SETTINGS
@given(page=_page(), data=st.data())
def test_inserting_alt_changes_nothing_else(page: bytes, data: st.DataObject) -> None:
    decoded = decode_html(page)
    text, images = _scan(page)
    targets = [
        i
        for i, image in enumerate(images)
        if image.element == "img" and image.alt_state is AltState.MISSING
    ]
    alts = {i: data.draw(_alt, label=f"alt {i}") for i in targets}
    edits = [Edit(images[i].start, images[i].end, images[i].snippet, alts[i]) for i in targets]
    out = apply_edits(page, decoded, edits)

    assert out.startswith(decoded.bom)
    out_decoded = decode_html(out)
    assert out_decoded.encoding == decoded.encoding
    out_text = out_decoded.text

    # Taking each inserted attribute back out gives the input, character for character.
    rebuilt: list[str] = []
    cursor = 0
    shift = 0
    for i in targets:
        image = images[i]
        at = image.start + len("<" + image.element)
        rebuilt.append(out_text[cursor : at + shift])
        inserted = _INSERTED.match(out_text, at + shift)
        assert inserted is not None, out_text[image.start + shift : image.end + shift + 80]
        cursor = inserted.end()
        shift += len(inserted.group(0))
    rebuilt.append(out_text[cursor:])
    assert "".join(rebuilt) == text
    assert decoded.bom + "".join(rebuilt).encode(decoded.encoding) == page

    # Scanning the output finds the same elements: the edited ones with exactly the alt
    # written, every other one with its start tag untouched.
    _, rescanned = _scan(out)
    assert len(rescanned) == len(images)
    for i, (old, new) in enumerate(zip(images, rescanned, strict=True)):
        if i in alts:
            assert new.alt == normalise_alt(alts[i])
            assert {k: v for k, v in new.attrs.items() if k != "alt"} == old.attrs
        else:
            assert new.snippet == old.snippet
            assert new.attrs == old.attrs

    # A second run has nothing left to insert, and re-applying the same alts is a no-op.
    assert not [
        image
        for i, image in enumerate(rescanned)
        if i in alts and image.alt_state is AltState.MISSING
    ]
    again = [
        Edit(rescanned[i].start, rescanned[i].end, rescanned[i].snippet, alts[i]) for i in targets
    ]
    assert apply_edits(out, out_decoded, again) == out


@SETTINGS
@given(page=_page(), data=st.data())
def test_replacing_alt_changes_only_its_value(page: bytes, data: st.DataObject) -> None:
    decoded = decode_html(page)
    text, images = _scan(page)
    targets = [
        i
        for i, image in enumerate(images)
        if image.element == "img" and image.alt_state is not AltState.MISSING
    ]
    alts = {i: data.draw(_alt, label=f"alt {i}") for i in targets}
    edits = [Edit(images[i].start, images[i].end, images[i].snippet, alts[i]) for i in targets]
    out = apply_edits(page, decoded, edits)
    out_text, rescanned = _scan(out)
    assert len(rescanned) == len(images)

    # Between the edited tags the text is untouched...
    previous_old = previous_new = 0
    for i in targets:
        old, new = images[i], rescanned[i]
        assert out_text[previous_new : new.start] == text[previous_old : old.start]
        previous_old, previous_new = old.end, new.end
    assert out_text[previous_new:] == text[previous_old:]

    # ...and within them only the alt value changed.
    for i, (old, new) in enumerate(zip(images, rescanned, strict=True)):
        if i in alts:
            assert new.alt == normalise_alt(alts[i])
            assert {k: v for k, v in new.attrs.items() if k != "alt"} == {
                k: v for k, v in old.attrs.items() if k != "alt"
            }
            assert new.snippet[: len(old.element) + 1] == old.snippet[: len(old.element) + 1]
        else:
            assert new.snippet == old.snippet


_flat_piece = st.one_of(
    _chars.map(lambda t: t.replace("<", "").replace("&", "")),
    _start_tag(["p", "a", "span"], with_alt=False),
    _start_tag(["img", "IMG"], with_alt=False),
    _start_tag(["img", "IMG"], with_alt=False),
)


@SETTINGS
@given(body=st.lists(_flat_piece, min_size=1, max_size=8), data=st.data())
def test_browsers_see_the_alt_written_and_nothing_else(
    body: list[str], data: st.DataObject
) -> None:
    """html5lib (the spec's tree builder, when installed) reads the output as intended."""
    html5lib = pytest.importorskip("html5lib")
    page = ("<!doctype html><body>" + "".join(body)).encode("utf-8")
    decoded = decode_html(page)
    _, images = _scan(page)
    alts = [data.draw(_alt, label=f"alt {i}") for i in range(len(images))]
    edits = [
        Edit(image.start, image.end, image.snippet, alt)
        for image, alt in zip(images, alts, strict=True)
        if image.alt_state is AltState.MISSING
    ]
    out = apply_edits(page, decoded, edits)

    def imgs(data: bytes) -> list[dict[str, str]]:
        tree = html5lib.parse(data.decode("utf-8"), namespaceHTMLElements=False)
        return [dict(el.attrib) for el in tree.iter() if el.tag == "img"]

    def newlines(attrs: dict[str, str]) -> dict[str, str]:
        # The input stream turns CR and CRLF into LF before tokenizing; the scanner keeps
        # source offsets, so it does not.
        return {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in attrs.items()}

    before, after = imgs(page), imgs(out)
    # the scanner saw what browsers see
    assert before == [newlines(image.attrs) for image in images]
    assert len(after) == len(before)
    for old, new, image, alt in zip(before, after, images, alts, strict=True):
        if image.alt_state is AltState.MISSING:
            assert new == {"alt": normalise_alt(alt), **old}
        else:
            assert new == old
