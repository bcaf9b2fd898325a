"""The ``check`` JSON contract (version 1), which other tools and ``fix --report`` consume.

::

    {"version": 1,
     "summary": {"files": N, "images": N, "errors": N, "warnings": N, "infos": N},
     "findings": [{"file", "line", "column", "rule", "severity", "message", "element",
                   "src", "snippet"}],
     "errors": [{"file", "message"}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from alttext.rules.model import FileError, Finding, Severity

if TYPE_CHECKING:
    from alttext.pipeline.fix import FixReport

VERSION = 1


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One finding as the JSON contract spells it."""
    return {
        "file": finding.file,
        "line": finding.line,
        "column": finding.column,
        "rule": finding.rule,
        "severity": finding.severity.label,
        "message": finding.message,
        "element": finding.element,
        "src": finding.src,
        "snippet": finding.snippet,
    }


def summary(files: int, images: int, findings: Iterable[Finding]) -> dict[str, int]:
    """The ``summary`` object."""
    return {
        "files": files,
        "images": images,
        "errors": sum(1 for f in findings if f.severity is Severity.ERROR),
        "warnings": sum(1 for f in findings if f.severity is Severity.WARNING),
        "infos": sum(1 for f in findings if f.severity is Severity.INFO),
    }


def check_document(
    files: int, images: int, findings: Iterable[Finding], errors: Iterable[FileError]
) -> dict[str, Any]:
    """The whole JSON document as a dict (``fix --report`` extends it)."""
    return {
        "version": VERSION,
        "summary": summary(files, images, findings),
        "findings": [finding_to_dict(f) for f in findings],
        "errors": [{"file": e.file, "message": e.message} for e in errors],
    }


def render_json(document: dict[str, Any]) -> str:
    """Serialise deterministically; non-ASCII stays readable."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_check_json(
    stream: TextIO,
    files: int,
    images: int,
    findings: Iterable[Finding],
    errors: Iterable[FileError],
) -> None:
    """Write the ``check`` document finding by finding, byte-identical to :func:`render_json`.

    A site with a hundred thousand findings would otherwise hold every finding as a dict
    and the whole text in memory at once.
    """

    def dump(value: Any, indent: str) -> str:
        text = json.dumps(value, indent=2, ensure_ascii=False)
        return text.replace("\n", "\n" + indent)

    head = {"version": VERSION, "summary": summary(files, images, findings)}
    opening = json.dumps(head, indent=2, ensure_ascii=False)
    stream.write(opening[:-2] + ",\n")  # drop the closing "\n}"
    stream.write('  "findings": [')
    wrote = False
    for finding in findings:
        stream.write(("," if wrote else "") + "\n    " + dump(finding_to_dict(finding), "    "))
        wrote = True
    stream.write("\n  ]," if wrote else "],")
    error_list = [{"file": e.file, "message": e.message} for e in errors]
    stream.write('\n  "errors": ' + dump(error_list, "  ") + "\n}\n")


def fix_document(report: FixReport) -> dict[str, Any]:
    """``fix --report``: the check contract plus one entry per image that needed alt."""
    document = check_document(report.files, report.images, report.findings, report.errors)
    images = []
    for outcome in report.outcomes:
        image, described = outcome.image, outcome.described
        images.append(
            {
                "file": image.rel_page,
                "line": image.line,
                "column": image.column,
                "element": image.element,
                "src": image.src,
                "snippet": image.snippet,
                "content_hash": outcome.content_hash,
                "action": outcome.action,
                "alt": outcome.alt,
                "origin": described.origin if described else None,
                "backend": described.backend if described else None,
                "model": described.model if described else None,
                "nsfw": described.nsfw if described else None,
                "inference_ms": described.inference_ms if described else None,
                "error": outcome.error,
            }
        )
    document["images"] = images
    document["fix"] = {
        "files_changed": report.files_changed,
        "alts_written": report.alts_written,
        "failed": len(report.failed),
        # Per alt written (with ``decorative`` they add up to ``alts_written``).
        "from": {k: report.origins[k] for k in ("catalog", "metadata", "cache", "backend")},
        "decorative": report.actions["decorative"],
        "api_calls": report.counts.get("api_calls", 0),
    }
    return document
