"""SARIF 2.1.0 output for ``check`` (and ``fix --report-format sarif``), shaped for GitHub.

One run whose ``tool.driver.rules`` lists every rule of the catalog, one result per finding,
and files that could not be scanned as error notifications of the (still successful)
invocation. GitHub code scanning reads::

    result.ruleId / ruleIndex -> driver.rules[i]   (id, shortDescription, help, tags)
    result.level                                   error / warning / note
    locations[0].physicalLocation                  uri relative to %SRCROOT%, startLine...
    partialFingerprints["alttextTagHash/v1"]       tracks an alert when its line moves

Every string from a page reaches the output only through ``json.dumps``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alttext.rules.model import RULES, FileError, Finding, Rule, Severity

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"
#: Not ``primaryLocationLineHash``: GitHub's uploader computes that key itself and warns
#: when a tool's value disagrees with its own.
FINGERPRINT_KEY = "alttextTagHash/v1"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

# WCAG 2 success criteria each rule checks (axe-core 4.10's tags for the axe rules);
# the rules without one are best practice, as axe files them.
_WCAG: dict[str, tuple[str, ...]] = {
    "image-alt": ("1.1.1",),
    "input-image-alt": ("1.1.1", "4.1.2"),
    "area-alt": ("2.4.4", "4.1.2"),
    "role-img-alt": ("1.1.1",),
    "svg-img-alt": ("1.1.1",),
    "object-alt": ("1.1.1",),
    "image-redundant-alt": (),
    "link-name": ("2.4.4", "4.1.2"),
    "button-name": ("4.1.2",),
    "alt-filename": ("1.1.1",),
    "alt-placeholder": ("1.1.1",),
    "alt-redundant-prefix": (),
    "alt-too-long": (),
    "alt-decorative-review": ("1.1.1",),
    "alt-unreviewed": ("1.1.1",),
}

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n|\r|\n")
_WHITESPACE = re.compile(r"\s+")
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that could
# start markup in our prose (help text says <img> and alt="", which must stay literal).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def rule_tags(rule_id: str) -> list[str]:
    """The ``properties.tags`` of a rule: ``accessibility`` plus its WCAG criteria."""
    criteria = _WCAG.get(rule_id, ())
    tags = ["accessibility"]
    tags += [f"wcag-{sc}" for sc in criteria] if criteria else ["best-practice"]
    return tags


def artifact_uri(file: str) -> str:
    """A scanned file's relative path as a relative URI reference (RFC 3986).

    Spaces, non-ASCII, ``%``, ``#``, ``?`` and ``:`` are percent-encoded (UTF-8), so the
    first segment can never be read as a scheme.

    Raises:
        ValueError: the path is absolute; findings carry paths relative to the site root.
    """
    if file.startswith("/"):
        raise ValueError(f"finding path must be relative to the scanned root: {file!r}")
    return quote(_text(file), safe="/")


def root_uri_for(path: Path) -> str:
    """The ``file:`` URI of a scanned root directory, with the trailing slash SARIF needs."""
    return _directory_uri(path.resolve().as_uri())


def fingerprint(finding: Finding) -> str:
    """A hash of file, rule and start tag, so it survives the tag moving to another line.

    Whitespace runs in the tag count as one space: re-indenting a page keeps the alert.
    """
    tag = _WHITESPACE.sub(" ", _text(finding.snippet)).strip()
    key = json.dumps([_text(finding.file), finding.rule, tag], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def sarif_document(
    findings: Iterable[Finding],
    errors: Iterable[FileError],
    *,
    tool_version: str,
    root_uri: str | None = None,
    information_uri: str | None = None,
) -> dict[str, Any]:
    """The SARIF log as a dict (``fix`` may add result properties before rendering).

    Args:
        findings: what ``check`` found; rendered sorted by file, line, column and rule.
        errors: files that could not be scanned; they become error notifications.
        tool_version: alttext's version, shown by GitHub next to each alert.
        root_uri: the absolute URI (or repository-relative path) the finding paths are
            relative to; recorded as ``originalUriBaseIds["%SRCROOT%"]``.
        information_uri: the project's home page, when known.

    Raises:
        ValueError: a finding names a rule missing from ``RULES``, has an absolute path,
            or a line/column below 1 (all bugs in the producer, not user errors).
    """
    rule_ids = list(RULES)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    ordered = sorted(findings, key=_sort_key)
    # Identical tags under one rule in one file (a spacer GIF used twice) need distinct
    # fingerprints, or GitHub folds them into one alert; number them in document order.
    seen: Counter[str] = Counter()
    results = []
    for finding in ordered:
        if finding.rule not in index:
            raise ValueError(f"finding has a rule that is not in the catalog: {finding.rule!r}")
        digest = fingerprint(finding)
        seen[digest] += 1
        results.append(_result(finding, index[finding.rule], f"{digest}:{seen[digest]}"))

    driver: dict[str, Any] = {"name": "alttext", "version": tool_version}
    if information_uri is not None:
        driver["informationUri"] = information_uri
    driver["rules"] = [_rule_descriptor(RULES[rule_id]) for rule_id in rule_ids]

    invocation: dict[str, Any] = {"executionSuccessful": True}
    notifications = [_notification(e) for e in sorted(errors, key=lambda e: (e.file, e.message))]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    run: dict[str, Any] = {"tool": {"driver": driver}, "invocations": [invocation]}
    if root_uri is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _directory_uri(root_uri)}}
    # Finding columns count characters, not SARIF's default UTF-16 code units.
    run["columnKind"] = "unicodeCodePoints"
    run["results"] = results
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(
    findings: Iterable[Finding],
    errors: Iterable[FileError],
    *,
    tool_version: str,
    root_uri: str | None = None,
    information_uri: str | None = None,
) -> str:
    """Render findings and unreadable files as a pretty, deterministic SARIF 2.1.0 log.

    See :func:`sarif_document` for the arguments. The text is UTF-8-safe: lone surrogates
    from undecodable pages are replaced with U+FFFD.
    """
    document = sarif_document(
        findings,
        errors,
        tool_version=tool_version,
        root_uri=root_uri,
        information_uri=information_uri,
    )
    return render_document(document)


def render_document(document: dict[str, Any]) -> str:
    """Serialise a SARIF dict: indented, non-ASCII kept readable, newline-terminated."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sort_key(finding: Finding) -> tuple[str, int, int, str, str, str]:
    return (
        finding.file,
        finding.line,
        finding.column,
        finding.rule,
        finding.snippet,
        finding.message,
    )


def _text(value: str) -> str:
    # A page decoded with surrogateescape can carry lone surrogates; they cannot be written
    # as UTF-8 (SARIF's encoding), so they become U+FFFD.
    return _SURROGATE.sub("\ufffd", value)


def _directory_uri(uri: str) -> str:
    # SARIF 3.14.14: a uriBaseId's URI ends with a slash, or resolution drops its last segment.
    return uri if uri.endswith("/") else uri + "/"


def _markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _rule_name(rule_id: str) -> str:
    # SARIF wants an identifier-like name, not a sentence: image-alt -> ImageAlt.
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    uri = rule.help_uri
    return {
        "id": rule.id,
        "name": _rule_name(rule.id),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.help},
        "help": {
            "text": f"{rule.summary}\n\n{rule.help}\n\nMore: {uri}",
            "markdown": f"**{_markdown(rule.summary)}**\n\n{_markdown(rule.help)}\n\n"
            f"[More about {rule.id}](<{uri}>)",
        },
        "helpUri": uri,
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        "properties": {"tags": rule_tags(rule.id)},
    }


def _region(finding: Finding) -> dict[str, Any]:
    if finding.line < 1 or finding.column < 1:
        raise ValueError(
            f"finding location must be 1-based: {finding.file!r} {finding.line}:{finding.column}"
        )
    snippet = _text(finding.snippet)
    region: dict[str, Any] = {"startLine": finding.line, "startColumn": finding.column}
    if snippet:
        # endColumn is exclusive: one past the tag's closing '>'.
        lines = _LINE_BREAK.split(snippet)
        last = len(lines[-1])
        region["endLine"] = finding.line + len(lines) - 1
        region["endColumn"] = finding.column + last if len(lines) == 1 else last + 1
        region["snippet"] = {"text": snippet}
    return region


def _result(finding: Finding, rule_index: int, partial_fingerprint: str) -> dict[str, Any]:
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": _text(finding.message)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(finding.file), "uriBaseId": SRCROOT},
                    "region": _region(finding),
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: partial_fingerprint},
    }


def _notification(error: FileError) -> dict[str, Any]:
    return {
        "level": "error",
        "message": {"text": _text(error.message)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(error.file), "uriBaseId": SRCROOT}
                }
            }
        ],
    }
