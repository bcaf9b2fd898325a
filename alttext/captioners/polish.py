"""Turn any backend's caption into good alt text (``shared/alt-text-rules.md``, fixer rule 8).

One line, no markup, no "image of…" lead-in, sentence case, within the length limit and
cut at a word boundary (preferring a whole first sentence). A caption that polishes down
to nothing, or to a placeholder or a file name, is an error: an empty alt would mark an
informative image as decorative.
"""

from __future__ import annotations

import html
import re

from alttext.errors import NoCaption
from alttext.rules.checks import is_filename_alt, is_placeholder_alt

# The formatting markup a model may wrap a caption in (``<p>``, ``<b>``...), matched after
# entities are decoded so "&lt;b&gt;" goes too. Other tag-like text stays: a caption of
# a code screenshot says "List<String>" or "a tag <img>", and "< 5 °C" is plain text;
# a tag with attributes is markup whatever its name.
_TAG = re.compile(
    r"</?(?:a|abbr|b|blockquote|br|center|cite|code|div|em|embed|font|form|h[1-6]|hr|i|"
    r"iframe|kbd|li|link|mark|meta|object|ol|p|pre|q|s|samp|script|small|span|strong|"
    r"style|sub|sup|svg|u|ul)(?:\s[^<>]*)?/?>"
    # ... and any tag with an attribute set: markup, whatever its name (<img src=x>).
    r"|</?[A-Za-z][\w:-]*\s[^<>]*=[^<>]*>",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
# Markdown a model may answer in: a heading mark at the start, backticks, and emphasis
# with asterisks as a pair around words (**bold**, *em*). Underscores stay (__init__.py,
# my_var_name), and so do lone asterisks (*args, **kwargs, 2*x*y, a ***** rating).
_HEADING = re.compile(r"^#+\s+")
_EMPHASIS = re.compile(r"(?<![\w*])(\*\*?)(?=[^\s*])(.+?)(?<=[^\s*])\1(?![\w*])")
_LEAD_IN = re.compile(
    r"""^(?:
        (?:this|the)\s+(?:image|picture|photo(?:graph)?|graphic|screenshot|illustration)
            \s+(?:shows|depicts|displays|features|contains|is\s+of|presents)\s+
      | (?:an?\s+|the\s+)?(?:close-up\s+)?(?:image|picture|photo(?:graph)?|graphic|screenshot|
            illustration)\s+(?:of|showing|depicting)\s+
      | (?:alt(?:\s+text)?|caption|description)\s*:\s*
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb"  # straight, curly, guillemets
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # A whole first sentence reads better than a clipped one, if it says enough.
    match = _SENTENCE_END.search(text)
    if match and 20 <= match.end() <= limit:
        return text[: match.end()]
    head = text[: limit + 1]
    space = head.rfind(" ")
    cut = head[:space] if space >= limit // 2 else text[:limit]
    return cut.rstrip(" ,;:-\u2013\u2014(")  # dangling punctuation and dashes


def _has_alnum(text: str, count: int) -> bool:
    """Whether ``text`` has at least ``count`` letters or digits (stops once it has)."""
    for ch in text:
        if ch.isalnum():
            count -= 1
            if count <= 0:
                return True
    return count <= 0


def polish(caption: str, max_length: int = 125) -> str:
    """Return alt text made from ``caption``; raise :class:`NoCaption` if nothing usable.

    >>> polish("<p>This image shows a red  bicycle\\nleaning on a wall.</p>")
    'A red bicycle leaning on a wall.'
    """
    text = _TAG.sub(" ", html.unescape(caption)).strip()
    text = _EMPHASIS.sub(r"\2", _HEADING.sub("", text).replace("`", ""))
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = _SPACE.sub(" ", text).strip()
    # A caption wrapped in quotes loses them; "A dog called "Rex"" keeps its own.
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    for _ in range(2):  # "Caption: An image of ..." has two lead-ins
        text = _LEAD_IN.sub("", text).strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    text = _cut(text, max_length)
    if not _has_alnum(text, 2):
        raise NoCaption(f"the caption {caption[:40]!r} has no usable text")
    if is_placeholder_alt(text) or is_filename_alt(text, None):
        raise NoCaption(f"the caption {text!r} is a placeholder or file name, not a description")
    return text
