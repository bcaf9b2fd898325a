"""Accessible-name helpers over the lxml tree, following what axe-core computes.

Only what the image rules need: the visible text of an element (hidden descendants do
not count), whether a link or button gets a name from its content, and an element's
presentational role after axe's conflict resolution.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

from alttext.scan.tokens import ascii_lower

_INVISIBLE_TAGS = frozenset({"script", "style", "template", "noscript"})

#: ARIA attributes that apply to every role: any of them on an element overrides a
#: presentational role (WAI-ARIA "presentational role conflict resolution").
GLOBAL_ARIA = frozenset(
    [
        "aria-atomic",
        "aria-busy",
        "aria-controls",
        "aria-current",
        "aria-describedby",
        "aria-details",
        "aria-dropeffect",
        "aria-errormessage",
        "aria-flowto",
        "aria-grabbed",
        "aria-haspopup",
        "aria-invalid",
        "aria-keyshortcuts",
        "aria-label",
        "aria-labelledby",
        "aria-live",
        "aria-owns",
        "aria-relevant",
        "aria-roledescription",
    ]
)


# axe trims and splits names and roles with JavaScript's ``\s`` (checked against axe 4.14 in
# Chromium): Python's ``str.split()`` agrees except on these, which only one of them counts
# as whitespace (JS: U+FEFF; Python: the information separators U+001C-U+001F and NEL).
_SPLIT_DISAGREES = re.compile("[\x1c-\x1f\x85\ufeff]")
_JS_WHITESPACE = re.compile(
    "[\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
)


def js_split(text: str) -> list[str]:
    """``text`` split on runs of whitespace as JavaScript's ``\\s`` (and axe) sees it."""
    # str.split() splits on (nearly) the characters ``\s`` matches, at 4x the speed.
    if _SPLIT_DISAGREES.search(text) is None:
        return text.split()
    return [part for part in _JS_WHITESPACE.split(text) if part]


def collapse(text: str | None) -> str:
    """Whitespace (JavaScript's, as axe reads names) collapsed to single spaces and trimmed."""
    return " ".join(js_split(text)) if text else ""


# Compiled once: ``el.xpath(...)`` compiles its expression on every call (4x slower).
_STRING = etree.XPath("string()")
_BY_ID = etree.XPath("//*[@id=$ident]")


def text_of(el: etree._Element) -> str:
    """All text inside ``el`` (hidden parts included), whitespace-collapsed."""
    return collapse(str(_STRING(el)))


def tag_of(el: etree._Element) -> str:
    """Lower-case tag name; ``""`` for comments and processing instructions."""
    return el.tag.lower() if isinstance(el.tag, str) else ""


def is_hidden_element(el: etree._Element) -> bool:
    """``hidden`` or ``aria-hidden="true"`` on the element itself."""
    value = el.get("aria-hidden")
    return "hidden" in el.attrib or (value is not None and value.strip().lower() == "true")


def visible_text(el: etree._Element) -> str:
    """Text content without hidden descendants, scripts, styles or comments."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            tag = tag_of(child)
            if tag and tag not in _INVISIBLE_TAGS and not is_hidden_element(child):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    if tag_of(el) and not is_hidden_element(el):
        walk(el)
    return collapse("".join(parts))


def role_of(value: str | None) -> str | None:
    """A ``role`` value as axe reads it: one token, lower-cased; a list means no role."""
    tokens = js_split(value) if value else []
    # toLowerCase() as axe does; for the roles the rules compare with, ASCII folding agrees.
    return tokens[0].lower() if len(tokens) == 1 else None


def is_presentational(attrs: Mapping[str, str]) -> bool:
    """``role=none``/``presentation``, unless focus or a global ARIA attribute overrides it."""
    if role_of(attrs.get("role")) not in ("none", "presentation"):
        return False
    return not ("tabindex" in attrs or any(name in GLOBAL_ARIA for name in attrs))


def _svg_title(el: etree._Element) -> str:
    for child in el:
        if tag_of(child) == "title":
            return text_of(child)
    return ""


def image_name(el: etree._Element, labelledby: str | None = None) -> str:
    """The accessible name an image-like element gives (what a link built from it says).

    For ``<img>``: aria-labelledby, aria-label, then alt; title only when there is no alt
    attribute at all (``alt=""`` wins: the image is decorative).
    """
    if labelledby:
        return labelledby
    label = collapse(el.get("aria-label"))
    if label:
        return label
    tag = tag_of(el)
    if tag == "img" or (tag == "input" and ascii_lower(el.get("type") or "") == "image"):
        alt = el.get("alt")
        if alt is not None:
            return collapse(alt)
        return collapse(el.get("title"))
    if tag == "svg" or role_of(el.get("role")) == "img":
        return _svg_title(el) or collapse(el.get("title"))
    return ""


_MAY_HIDE = etree.XPath(
    ".//*[@hidden or @aria-hidden or self::script or self::style or self::template"
    " or self::noscript]"
)


def control_text(el: etree._Element) -> str:
    """:func:`visible_text`, the cheap way (one C-level XPath) when nothing inside can hide.

    For links, buttons and the text around images: most have plain content.
    """
    if is_hidden_element(el):
        return ""
    text = text_of(el)
    if not text or not _MAY_HIDE(el):  # no text at all (an image link): nothing hides
        return text
    return visible_text(el)


def content_has_name(
    control: etree._Element, doc: etree._Element | None, text: str | None = None
) -> bool:
    """Whether a link/button gets a name from its content (visible text or images).

    ``text`` is the control's visible text when the caller has it already.
    """
    if text if text is not None else control_text(control):
        return True
    for node in control.iterdescendants():
        tag = tag_of(node)
        if not tag or _hidden_between(node, control):
            continue
        ids = node.get("aria-labelledby")
        labelledby = labelledby_text(doc, ids) if doc is not None and ids else None
        if image_name(node, labelledby):
            return True
    return False


def _hidden_between(node: etree._Element, top: etree._Element) -> bool:
    current: etree._Element | None = node
    while current is not None and current is not top:
        if is_hidden_element(current) or tag_of(current) in _INVISIBLE_TAGS:
            return True
        current = current.getparent()
    return False


def labelledby_text(doc: etree._Element, ids: str | None) -> str | None:
    """The text of the elements ``aria-labelledby`` names (missing ids are ignored)."""
    if not ids:
        return None
    parts = []
    for ident in js_split(ids):
        found = _BY_ID(doc, ident=ident)
        if isinstance(found, list) and found and isinstance(found[0], etree._Element):
            parts.append(text_of(found[0]))
    return " ".join(p for p in parts if p) or None
