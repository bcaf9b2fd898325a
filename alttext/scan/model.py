"""What the scanner records about each image-like element."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from alttext.captioners.base import CaptionContext
from alttext.scan.names import role_of


class AltState(StrEnum):
    """The state of an element's ``alt`` attribute."""

    MISSING = "missing"
    EMPTY = "empty"
    WHITESPACE = "whitespace"
    PRESENT = "present"

    @classmethod
    def of(cls, alt: str | None) -> AltState:
        """Classify an ``alt`` value (``None`` when the attribute is absent)."""
        if alt is None:
            return cls.MISSING
        if alt == "":
            return cls.EMPTY
        if not alt.strip():
            return cls.WHITESPACE
        return cls.PRESENT


@dataclass(frozen=True, slots=True)
class Control:
    """The link or button an image sits in.

    Attributes:
        kind: ``link`` or ``button``.
        text: the control's visible text, whitespace-collapsed (images contribute nothing);
            ``None`` when the scan had no need to compute it (no caption context asked).
        href: the link target, when a link.
        has_name: the control names itself (aria-label, aria-labelledby, title).
        native: an ``a[href]`` or ``button`` (axe's link-name/button-name only check those).
        named_by_content: its content gives it a name (visible text, or an image's alt).
        key: identifies the control within its page, to group the images inside it.
        start: character offset of the control's start tag, when it has no name (so a
            link-name / button-name finding can point at it); else -1.
        snippet: that start tag's text, or ``""``.
        line: 1-based line of that start tag (0 when unknown).
        column: 1-based column of that start tag (0 when unknown).
    """

    kind: str
    text: str | None
    href: str | None
    has_name: bool
    key: str
    native: bool = True
    named_by_content: bool = False
    start: int = -1
    snippet: str = ""
    line: int = 0
    column: int = 0


@dataclass(slots=True, eq=False)
class ImageElement:
    """One image-like element in one page, with what rules, resolvers and captioners need.

    Treat it as read-only: it is a plain (not frozen) dataclass only because a frozen
    one costs several times more to build, and a large site builds millions.

    Offsets are character offsets into the decoded page text; ``snippet`` is
    ``text[start:end]``, the exact original start tag.

    ``control`` is the link or button around the image, or ``None`` when there is none,
    when the image is hidden (no rule and no caption reads a hidden image's control), and
    when the page was scanned with ``names=False``.
    """

    page: Path
    rel_page: str
    element: str
    line: int
    column: int
    start: int
    end: int
    snippet: str
    attrs: dict[str, str]
    alt_state: AltState
    labelledby_text: str | None
    svg_title: str | None
    lang: str | None
    hidden: bool
    ignored: bool
    in_noscript: bool
    in_template: bool
    in_map: bool
    in_svg: bool
    control: Control | None
    parent_text: str | None
    picture_srcsets: tuple[str, ...] = ()
    base_href: str | None = None
    context: CaptionContext = field(default_factory=CaptionContext)

    @property
    def alt(self) -> str | None:
        """The ``alt`` attribute's value, ``None`` when absent."""
        return self.attrs.get("alt")

    @property
    def src(self) -> str | None:
        """The reference shown in reports: ``src``, else ``data``/``href``/lazy-load source."""
        for key in ("src", "data", "data-src", "data-lazy-src", "data-original", "srcset"):
            value = self.attrs.get(key)
            if value:
                return value
        return None

    @property
    def role(self) -> str | None:
        """The role as axe reads it: a single token, lower-cased (a list means none)."""
        return role_of(self.attrs.get("role"))

    def accessible_name(self) -> str:
        """aria-labelledby text, aria-label, alt, then title (axe's order for images)."""
        for value in (self.labelledby_text, self.attrs.get("aria-label"), self.alt):
            if value is not None and value.strip():
                return " ".join(value.split())
        if self.alt is None:
            return " ".join(self.attrs.get("title", "").split())
        return ""

    def named_by_aria(self) -> bool:
        """Whether aria-label, aria-labelledby text or title gives a name."""
        return bool(
            self.attrs.get("aria-label", "").strip()
            or (self.labelledby_text or "").strip()
            or self.attrs.get("title", "").strip()
        )
