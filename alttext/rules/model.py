"""Severities, the rule catalog, and the finding record every output format renders."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from alttext.records import compact_pickle


class Severity(IntEnum):
    """How bad a finding is; ordered so ``>=`` compares with a ``--fail-on`` threshold."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The lower-case name used in output and configuration (``error``...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Parse ``error``/``warning``/``info``; raise ``ValueError`` otherwise."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r} (use error, warning or info)") from None


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's identity and documentation (rendered into SARIF and ``--help``)."""

    id: str
    severity: Severity
    summary: str
    help: str
    axe: bool = False

    @property
    def help_uri(self) -> str:
        """Where a user reads more; axe rules link to Deque's rule pages."""
        if self.axe:
            return f"https://dequeuniversity.com/rules/axe/4.10/{self.id}"
        return f"https://www.w3.org/WAI/tutorials/images/decision-tree/#{self.id}"


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "image-alt",
            _E,
            "Images must have alternative text",
            "Give every <img> an alt attribute: a short description when the image carries "
            'information, alt="" when it is decorative. aria-label, aria-labelledby, title '
            'or role="presentation" also pass; whitespace-only alt fails.',
            axe=True,
        ),
        Rule(
            "input-image-alt",
            _E,
            "Image buttons must have alternative text",
            'An <input type="image"> is a button: its alt (or aria-label/title) must say '
            'what the button does. alt="" fails here.',
            axe=True,
        ),
        Rule(
            "area-alt",
            _E,
            "Active <area> elements must have alternative text",
            "Each <area href> of an image map needs alt, aria-label, aria-labelledby or "
            "title naming where it leads.",
            axe=True,
        ),
        Rule(
            "role-img-alt",
            _E,
            'Elements with role="img" must have an accessible name',
            'Give elements with role="img" an aria-label, aria-labelledby or title.',
            axe=True,
        ),
        Rule(
            "svg-img-alt",
            _E,
            "SVG images must have an accessible name",
            'An <svg role="img"> needs a non-empty <title> child, aria-label, '
            "aria-labelledby or title.",
            axe=True,
        ),
        Rule(
            "object-alt",
            _W,
            "<object> elements must have alternative text",
            "Give <object data> an aria-label, aria-labelledby or title, or a presentational role.",
            axe=True,
        ),
        Rule(
            "image-redundant-alt",
            _W,
            "Alt text should not repeat the surrounding text",
            "The alt repeats the visible text of its link, button, paragraph, list item or "
            'table cell, so a screen reader says it twice. Use alt="" or different words.',
            axe=True,
        ),
        Rule(
            "link-name",
            _E,
            "Links must have discernible text",
            'This link contains only images with alt="", so it has no name. Give one image '
            "an alt saying where the link goes, or the link an aria-label.",
            axe=True,
        ),
        Rule(
            "button-name",
            _E,
            "Buttons must have discernible text",
            'This button contains only images with alt="", so it has no name. Give one '
            "image an alt saying what the button does, or the button an aria-label.",
            axe=True,
        ),
        Rule(
            "alt-filename",
            _E,
            "Alt text is a file name",
            "The alt is the image's file name or a camera/screenshot default; describe the "
            "image instead.",
        ),
        Rule(
            "alt-placeholder",
            _E,
            "Alt text is a placeholder",
            'The alt is a placeholder word such as "image" or "logo"; describe what the '
            "image shows or does.",
        ),
        Rule(
            "alt-redundant-prefix",
            _W,
            'Alt text starts with "image of"',
            'Screen readers already announce an image; drop the "image of"/"photo of" prefix.',
        ),
        Rule(
            "alt-too-long",
            _W,
            "Alt text is too long",
            "Screen readers read alt in chunks of about 125 characters; keep alt short and "
            "move long descriptions into the page or a figcaption.",
        ),
        Rule(
            "alt-decorative-review",
            _I,
            "Confirm this image is decorative",
            'alt="" hides the image from screen readers. Nothing suggests it is decorative; '
            "a person should confirm. Never auto-filled.",
        ),
        Rule(
            # Only reported when asked for (--require-reviewed): asking is asking the gate
            # to fail on it, so an error by default (lower it in [tool.alttext.rules]).
            "alt-unreviewed",
            _E,
            "Alt text comes from an unreviewed catalog entry",
            "The alt was generated and not yet accepted by a person; review it in the "
            "catalog and set reviewed: true.",
        ),
    )
}


@compact_pickle
@dataclass(frozen=True, slots=True)
class Finding:
    """One rule violation at one element of one file.

    ``file`` is relative to the scanned root, with ``/`` separators. ``line``/``column`` are
    1-based and point at the ``<`` of the start tag; the column counts characters.
    ``snippet`` is the exact original start-tag text.
    """

    file: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    element: str
    src: str | None
    snippet: str


@compact_pickle
@dataclass(frozen=True, slots=True)
class FileError:
    """A file that could not be scanned (unreadable, undecodable)."""

    file: str
    message: str
