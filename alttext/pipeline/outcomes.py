"""What ``fix`` decided for each image, and how a decision is remembered.

:class:`ImageOutcome` is one image's result (in the report, the catalog's examples and
the rewrite); :func:`outcome_to_json` / :func:`outcome_from_json` keep it in the page memo
(:mod:`alttext.store.pages`) as plain JSON, and :func:`finding_to_json` /
:func:`finding_from_json` a page's findings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from alttext.pipeline.describe import Described
from alttext.records import compact_pickle
from alttext.rules.model import Finding, Severity
from alttext.scan.model import ImageElement

#: What a description is keyed by in a run: the image's sha256 and the page language.
Key = tuple[str, str | None]


@compact_pickle
@dataclass(frozen=True, slots=True)
class ImageAt:
    """Where an image is: what a report and a rewrite need, without the scan's context."""

    rel_page: str
    line: int
    column: int
    element: str
    src: str | None
    snippet: str
    start: int
    end: int

    @classmethod
    def of(cls, image: ImageElement) -> ImageAt:
        """The location part of a scanned element."""
        return cls(
            image.rel_page,
            image.line,
            image.column,
            image.element,
            image.src,
            image.snippet,
            image.start,
            image.end,
        )


@compact_pickle
@dataclass(slots=True)
class ImageOutcome:
    """What happened to one image that needed alt text."""

    image: ImageAt
    action: Literal["filled", "decorative", "failed", "pending"]
    alt: str | None = None
    content_hash: str | None = None
    described: Described | None = None
    error: str | None = None


_DESCRIBED_FIELDS = tuple(f.name for f in fields(Described))


def outcome_to_json(outcome: ImageOutcome) -> dict[str, Any]:
    """A final outcome (filled or decorative) as JSON."""
    at, described = outcome.image, outcome.described
    return {
        "at": [at.rel_page, at.line, at.column, at.element, at.src, at.snippet, at.start, at.end],
        "action": outcome.action,
        "alt": outcome.alt,
        "hash": outcome.content_hash,
        "described": (
            None
            if described is None
            else {name: getattr(described, name) for name in _DESCRIBED_FIELDS}
        ),
    }


def outcome_from_json(value: dict[str, Any]) -> ImageOutcome:
    """An outcome remembered by :func:`outcome_to_json`, as a later run finds it.

    A caption the backend gave then comes from the cache now: it says so, as a run that
    looked it up would.

    Raises:
        TypeError, ValueError, KeyError: ``value`` is not a remembered outcome.
    """
    rel_page, line, column, element, src, snippet, start, end = value["at"]
    action = value["action"]
    if action not in ("filled", "decorative"):
        raise ValueError(f"not a final outcome: {action!r}")
    at = ImageAt(
        str(rel_page), int(line), int(column), str(element), src, str(snippet), int(start), int(end)
    )
    described = value["described"]
    if described is not None:
        if described.get("origin") == "backend":
            described = {**described, "origin": "cache"}
        described = Described(**described)
    alt = value["alt"]
    if not isinstance(alt, str):
        raise ValueError("no alt")
    return ImageOutcome(at, action, alt, value["hash"], described)


def finding_to_json(finding: Finding) -> list[Any]:
    """A finding as JSON (its fields in order; the severity by number)."""
    f = finding
    return [
        f.file,
        f.line,
        f.column,
        f.rule,
        int(f.severity),
        f.message,
        f.element,
        f.src,
        f.snippet,
    ]


def finding_from_json(value: list[Any]) -> Finding:
    """A finding remembered by :func:`finding_to_json`.

    Raises:
        TypeError, ValueError: ``value`` is not one.
    """
    file, line, column, rule, severity, message, element, src, snippet = value
    if src is not None and not isinstance(src, str):
        raise TypeError("src")
    return Finding(
        str(file),
        int(line),
        int(column),
        str(rule),
        Severity(int(severity)),
        str(message),
        str(element),
        src,
        str(snippet),
    )
