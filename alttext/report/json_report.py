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
from typing import Any

from alttext.rules.model import FileError, Finding, Severity

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


def summary(files: int, images: int, findings: list[Finding]) -> dict[str, int]:
    """The ``summary`` object."""
    return {
        "files": files,
        "images": images,
        "errors": sum(1 for f in findings if f.severity is Severity.ERROR),
        "warnings": sum(1 for f in findings if f.severity is Severity.WARNING),
        "infos": sum(1 for f in findings if f.severity is Severity.INFO),
    }


def check_document(
    files: int, images: int, findings: list[Finding], errors: Iterable[FileError]
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
