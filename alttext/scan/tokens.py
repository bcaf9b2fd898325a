"""Find start tags with their exact source offsets.

lxml gives us a tree but not where a tag starts or its original text, and a rewrite must
touch only the bytes it inserts. So one compiled regular expression walks the document as
an HTML tokenizer does at the level that matters here: comments, CDATA, doctypes and
processing instructions, end tags, start tags (attribute values may contain ``>``), and the
raw-text elements (``script``, ``style``, ``textarea``, ``title``...) whose content is not
markup. Only the start tags of image-like elements (including an image ``role``) are
returned; everything else is stepped over at C speed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

# HTML separates tags and attributes on ASCII whitespace only (TAB, LF, FF, CR, SPACE): a
# no-break space, U+3000 or a vertical tab is part of a name or value, so ``\s`` (which
# matches all of those) must not appear in the grammar.
HTML_WHITESPACE = "\t\n\f\r "
# As escapes, not the characters: the tokenizer pattern is compiled with re.VERBOSE.
_NOT_WS = r"\t\n\f\r\x20"  # the inside of a character class
_WS = rf"[{_NOT_WS}]"

# An attribute as the HTML tokenizer reads it. A value that opens a quote must close it (an
# unquoted value never starts with one), and a name followed by ``=`` must have a value: so
# the tag grammar fails exactly where the tokenizer hits end-of-file inside the tag.
# Possessive quantifiers: no backtracking into names or values.
_ATTR = (
    rf"""[^{_NOT_WS}/>][^{_NOT_WS}/>=]*+"""
    rf"""(?:{_WS}*+={_WS}*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^{_NOT_WS}>]*+)|(?!{_WS}*+=))"""
)
_TAG_NAME = rf"[a-zA-Z][^{_NOT_WS}/>]*+"
_START_TAG_BODY = rf"""({_TAG_NAME})((?:[{_NOT_WS}/]*+{_ATTR})*+)[{_NOT_WS}/]*+>"""

_TOKEN = re.compile(
    r"""<(?:
        !--(?:-?>|.*?--!?>|.*\Z)                  # comment; unterminated runs to the end
      | !\[CDATA\[.*?(?:\]\]>|\Z)                  # CDATA section (foreign content)
      | [!?][^>]*+(?:>|\Z)                         # doctype, bogus comment, processing instr.
      | /("""
    + _TAG_NAME
    + r""")[^>]*+(?:>|\Z)                           # end tag (group 1: name)
      | """
    + _START_TAG_BODY
    + r"""                                          # start tag (2: name, 3: attributes)
      | (?P<open>[a-zA-Z])                           # a start tag cut off by the end of input
    )""",
    re.DOTALL | re.VERBOSE,
)

_ATTR_PARSE = re.compile(
    rf"""([^{_NOT_WS}/>][^{_NOT_WS}/>=]*)"""
    rf"""(?:{_WS}*={_WS}*(?:"([^"]*)"|'([^']*)'|(?!["'])([^{_NOT_WS}>]*)))?"""
)

_UPPER_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """``text`` with A-Z lower-cased and nothing else changed (HTML's "ASCII lowercase").

    ``str.lower`` also folds non-ASCII letters (the Kelvin sign becomes ``k``), which HTML
    never does to tag names, attribute names or enumerated values.
    """
    return text.lower() if text.isascii() else text.translate(_UPPER_TO_LOWER)


#: Elements whose content is text, not markup (the HTML spec's raw text and RCDATA elements).
RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"}
)

#: Elements that are image-like whatever their attributes.
IMAGE_TAGS = frozenset({"img", "input", "area", "svg", "object"})

#: ``role`` values that make any element image-like for the rules (axe's selectors match the
#: attribute's whole value, case-sensitively). Other roles (``navigation``, ``button``...)
#: matter only on an image's ancestors, which the tree answers.
IMAGE_ROLES = frozenset({"img", "graphics-symbol", "graphics-document"})


def is_image_like(name: str, attrs: Mapping[str, str]) -> bool:
    """Whether a start tag named ``name`` with ``attrs`` is one the scanner records.

    An ``input`` counts only as an image button (``type=image``, any case).
    """
    if name == "input":
        # Stripped as the scanner's lxml pass does, so the two passes keep pairing up; the
        # rules decide on the exact value.
        return ascii_lower(attrs.get("type", "").strip()) == "image"
    return name in IMAGE_TAGS or attrs.get("role") in IMAGE_ROLES


# Containers whose content assistive technology never sees (axe runs with scripting on,
# so <noscript> content is not rendered).
_CONTAINERS = ("template", "noscript")


class StartTag(NamedTuple):
    """One start tag as it stands in the source.

    A named tuple: one is built for every image-like element of a site, at a third of a
    frozen dataclass's cost.

    Attributes:
        name: lower-case tag name.
        start: character offset of its ``<``.
        end: character offset just past its ``>``.
        attrs: attributes with lower-case names; the first of duplicates wins (as in HTML);
            values have character references decoded; a bare attribute has value ``""``.
        in_template: inside a ``<template>`` element.
        in_noscript: inside a ``<noscript>`` element.
    """

    name: str
    start: int
    end: int
    attrs: dict[str, str]
    in_template: bool
    in_noscript: bool


def parse_attrs(text: str) -> dict[str, str]:
    """Parse the attribute part of a start tag into a dict (first occurrence wins)."""
    if "\x00" in text:  # the tokenizer reads U+0000 in names and values as U+FFFD
        text = text.replace("\x00", "\ufffd")
    attrs: dict[str, str] = {}
    # findall (tuples) rather than finditer (match objects): this runs for every image.
    for raw_name, double, single, bare in _ATTR_PARSE.findall(text):
        name = ascii_lower(raw_name)
        if name in attrs:
            continue
        value = double or single or bare  # a group that did not match is ""
        attrs[name] = html.unescape(value) if "&" in value else value
    return attrs


def interesting_start_tags(text: str) -> Iterator[StartTag]:
    """Yield the start tags of image-like elements (:func:`is_image_like`), in order.

    Linear in the length of ``text``: a start tag with no ``>`` runs to the end of the input
    (HTML's eof-in-tag), so the first one ends the scan instead of each later ``<`` being
    tried against the rest of the page again.
    """
    depth = {"template": 0, "noscript": 0}
    pos = 0
    finditer = _TOKEN.finditer
    while True:
        resumed = False
        for match in finditer(text, pos):
            end_name = match.group(1)
            if end_name is not None:
                end_name = ascii_lower(end_name)
                if depth.get(end_name):
                    depth[end_name] -= 1
                continue
            name = match.group(2)
            if name is None:
                if match.group("open") is not None:
                    return  # the rest of the page is inside an unterminated tag
                continue
            name = ascii_lower(name)
            if name in RAW_TEXT:
                close = _raw_text_end(name).search(text, match.end())
                pos = len(text) if close is None else close.start()
                resumed = True
                break
            if name in _CONTAINERS:
                depth[name] += 1
                continue
            attr_text = match.group(3)
            if name in IMAGE_TAGS or "role" in attr_text.lower():
                attrs = parse_attrs(attr_text)
                if is_image_like(name, attrs):
                    yield StartTag(
                        name=name,
                        start=match.start(),
                        end=match.end(),
                        attrs=attrs,
                        in_template=depth["template"] > 0,
                        in_noscript=depth["noscript"] > 0,
                    )
            if name == "plaintext":
                return
        if not resumed:
            return


def last_start_tag(
    text: str, names: frozenset[str], end: int, window: int = 65536
) -> tuple[int, int] | None:
    """Offsets of the last start tag named in ``names`` before ``end`` (within ``window``).

    Used rarely (to locate an empty link around an image), so a bounded re-scan is fine.
    """
    begin = max(0, end - window)
    found = None
    for match in _TOKEN.finditer(text, begin, end):
        if match.group("open") is not None:
            break  # an unterminated tag: nothing after it is a tag (and no re-scans)
        name = match.group(2)
        if name is not None and ascii_lower(name) in names:
            found = (match.start(), match.end())
    return found


_START_TAG = re.compile("<" + _START_TAG_BODY, re.DOTALL)
_RAW_TEXT_ENDS: dict[str, re.Pattern[str]] = {}


def _raw_text_end(name: str) -> re.Pattern[str]:
    """``</name`` ending a raw-text element, compared ASCII case-insensitively.

    Python's IGNORECASE alone would let a long s (U+017F) end a ``script``; HTML does not.
    """
    pattern = _RAW_TEXT_ENDS.get(name)
    if pattern is None:
        pattern = _RAW_TEXT_ENDS[name] = re.compile(
            rf"</{re.escape(name)}(?=[{_NOT_WS}/>])", re.IGNORECASE | re.ASCII
        )
    return pattern


_NAME_STARTS: dict[tuple[str, bool], re.Pattern[str]] = {}


def _name_start(name: str, *, lower_case_text: bool = False) -> re.Pattern[str]:
    """``<name`` followed by a tag-name end; case-sensitive for already lower-cased text.

    A case-sensitive pattern is searched for as a whole literal (fast); an IGNORECASE one
    stops at every ``<``. re.ASCII: tag names fold in ASCII only (a dotless i is no "i").
    """
    key = (name, lower_case_text)
    pattern = _NAME_STARTS.get(key)
    if pattern is None:
        flags = re.ASCII if lower_case_text else re.IGNORECASE | re.ASCII
        pattern = _NAME_STARTS[key] = re.compile(rf"<{re.escape(name)}(?=[{_NOT_WS}/>])", flags)
    return pattern


class LineIndex:
    """Character offsets of line starts (lines end at ``\n``), built on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_ends: list[int] | None = None
        self._lowered: str | None = None
        #: start tags by name, then by end line (filled by start_tags_by_end_line)
        self.tags_by_name: dict[str, dict[int, list[tuple[int, int, str]]]] = {}

    @property
    def line_ends(self) -> list[int]:
        """The offset of the newline ending each line (the text's length for the last one)."""
        if self._line_ends is None:
            from itertools import accumulate

            lengths = accumulate(map(len, self.text.split("\n")))
            self._line_ends = [end + number for number, end in enumerate(lengths)]
        return self._line_ends

    @property
    def ascii_lowered(self) -> str | None:
        """The text lower-cased, when it is ASCII (so every offset stays the same); else None.

        HTML tag names are case-insensitive in ASCII only, so outside ASCII the caller keeps
        to a case-insensitive search of the original text.
        """
        if self._lowered is None and self.text.isascii():
            self._lowered = self.text.lower()
        return self._lowered

    @property
    def count(self) -> int:
        """The number of lines."""
        return len(self.line_ends)


def start_tags_by_end_line(
    text: str, index: LineIndex, name: str
) -> dict[int, list[tuple[int, int, str]]]:
    """Every start tag named ``name``, grouped by the line of its ``>``: ``(start, end, attrs)``.

    A tag-like string inside a comment, script or attribute value is included too; the
    caller compares counts with the elements its parser found on each line, so such a
    string shows up as a disagreement rather than a wrong location. So does a string
    with no ``>`` (in a comment, say): the search stops there, and the caller's counts
    then differ.
    """
    cached = index.tags_by_name.get(name)
    if cached is not None:
        return cached
    found: dict[int, list[tuple[int, int, str]]] = {}
    # Lines are counted between consecutive hits (at C speed), so a page with a few
    # images never builds an index of all its lines.
    line, counted_to = 1, 0
    match_at = _START_TAG.match
    count = text.count
    lowered = index.ascii_lowered
    hits = (
        _name_start(name, lower_case_text=True).finditer(lowered)
        if lowered is not None
        else _name_start(name).finditer(text)
    )
    for hit in hits:
        match = match_at(text, hit.start())
        if match is None:
            # No '>' closes this tag (eof-in-tag): whatever follows is inside it, and trying
            # every later hit against the rest of the page again would be quadratic.
            break
        end = match.end() - 1
        line += count("\n", counted_to, end)
        counted_to = end
        found.setdefault(line, []).append((match.start(), match.end(), match.group(2)))
    index.tags_by_name[name] = found
    return found


def start_tags_near_line(
    text: str, index: LineIndex, name: str, line: int, span: int = 40
) -> list[tuple[int, int, str]]:
    """Like :func:`start_tags_by_end_line` for one line, scanning only the lines before it.

    For common tag names (``div``, ``span``, ``a``) where a scan of the whole page would
    parse hundreds of tags to locate a few.
    """
    if line < 1 or line > index.count:
        return []
    ends = index.line_ends
    lo = 0 if line - span <= 1 else ends[line - span - 2] + 1
    line_start = 0 if line <= 1 else ends[line - 2] + 1
    line_end = ends[line - 1]
    found = []
    for hit in _name_start(name).finditer(text, lo, line_end + 1):
        match = _START_TAG.match(text, hit.start())
        if match is None:
            break  # unterminated to the end of the page (see start_tags_by_end_line)
        if line_start <= match.end() - 1 <= line_end:
            found.append((match.start(), match.end(), match.group(2)))
    return found
