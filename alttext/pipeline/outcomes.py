"""What ``fix`` decided for each image, and how a decision is remembered.

:class:`ImageOutcome` is one image's result (in the report, the catalog's examples and
the rewrite); :func:`outcome_to_json` / :func:`outcome_from_json` keep it in the page memo
(:mod:`alttext.store.pages`) as plain JSON (each distinct description once per page,
:func:`described_to_json`), and :func:`finding_to_json` /
:func:`finding_from_json` a page's findings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def outcome_to_json(outcome: ImageOutcome, described: Callable[[Described], int]) -> list[Any]:
    """A final outcome (filled or decorative) as a flat JSON list.

    Its description is the index ``described`` gives it in the memo entry's table of
    descriptions (see :func:`described_to_json`): a page shows the same few images many
    times, and a memo entry is read back on every warm run.
    """
    at, found = outcome.image, outcome.described
    return [
        at.rel_page,
        at.line,
        at.column,
        at.element,
        at.src,
        at.snippet,
        at.start,
        at.end,
        outcome.action,
        outcome.alt,
        outcome.content_hash,
        None if found is None else described(found),
    ]


def described_to_json(described: Described) -> list[Any]:
    """A description as JSON: its field values in order."""
    return [getattr(described, name) for name in _DESCRIBED_FIELDS]


def described_from_json(value: list[Any]) -> Described:
    """A description remembered by :func:`described_to_json`, as a later run finds it.

    A caption the backend gave then comes from the cache now: it says so, as a run that
    looked it up would.

    Raises:
        TypeError, ValueError: ``value`` is not a remembered description.
    """
    if not isinstance(value, list):
        raise TypeError("not a description")
    found = dict(zip(_DESCRIBED_FIELDS, value, strict=True))
    if found["origin"] == "backend":
        found["origin"] = "cache"
    return Described(**found)


def outcome_from_json(value: list[Any], described: Sequence[Described]) -> ImageOutcome:
    """An outcome remembered by :func:`outcome_to_json`; ``described``: the entry's
    descriptions, read back by :func:`described_from_json`.

    Raises:
        TypeError, ValueError: ``value`` is not a remembered outcome.
    """
    rel_page, line, column, element, src, snippet, start, end, action, alt, sha, index = value
    if action not in ("filled", "decorative"):
        raise ValueError(f"not a final outcome: {action!r}")
    if not isinstance(alt, str):
        raise ValueError("no alt")
    if index is not None and not (type(index) is int and 0 <= index < len(described)):
        raise ValueError(f"no description {index!r}")
    at = ImageAt(
        str(rel_page), int(line), int(column), str(element), src, str(snippet), int(start), int(end)
    )
    return ImageOutcome(at, action, alt, sha, None if index is None else described[index])


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
