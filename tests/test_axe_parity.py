"""Parity with axe-core: ``alttext check`` gives axe's verdicts on the same markup.

The real axe-core (pinned in ``tests/axe/package.json``) runs in headless Chromium over the
case pages in ``tests/axe/cases``; ``python -m alttext check`` runs over the same files. Every
element carrying a ``data-case-id`` is one test: for each axe rule alttext reuses, axe's
verdict (violation or not) must equal alttext's (finding or not). Known gaps are marked
``xfail(strict=True)`` below, so fixing alttext turns them into failures until the mark goes.

Without Chromium or ``node_modules/axe-core`` the tests skip, unless ``CI`` is set: CI
installs both, so a missing browser there is a failure, not a silent skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe.run_axe import AXE_JS, AXE_RULES, CASE_ATTR, VIOLATION, PageResult, find_chromium, run_axe

REPO = Path(__file__).resolve().parent.parent
AXE_DIR = REPO / "tests" / "axe"
CASES = AXE_DIR / "cases"

_CASE_ID = re.compile(rf"""{CASE_ATTR}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")

# Where alttext and axe disagree and alttext is wrong: "page#case-id" -> what differs.
# Each is a precise bug report; remove the entry once alttext is fixed (strict xfail fails).
KNOWN_GAPS: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Case:
    """One element under test: its page and ``data-case-id``."""

    page: str
    case_id: str

    @property
    def key(self) -> str:
        """``page#case-id``, the test id and the ``KNOWN_GAPS`` key."""
        return f"{self.page}#{self.case_id}"


def _case_id(markup: str) -> str | None:
    match = _CASE_ID.search(markup)
    if match is None:
        return None
    return next(g for g in match.groups() if g is not None)


def _iter_case_ids(text: str) -> Iterator[str]:
    # Read the raw text, not a parsed tree, so ids inside comments, <script> and
    # <textarea> count too: alttext must not report those elements either.
    for match in _CASE_ID.finditer(text):
        yield next(g for g in match.groups() if g is not None)


def collect_cases() -> list[Case]:
    """Every ``data-case-id`` in the corpus, in page and document order."""
    return [
        Case(path.name, case_id)
        for path in sorted(CASES.glob("*.html"))
        for case_id in _iter_case_ids(path.read_text(encoding="utf-8"))
    ]


ALL_CASES = collect_cases()


def _params() -> list[Any]:
    params = []
    for case in ALL_CASES:
        reason = KNOWN_GAPS.get(case.key)
        marks = (
            [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
        )
        params.append(pytest.param(case, id=case.key, marks=marks))
    return params


def _missing_tool(reason: str) -> None:
    """Skip locally; in CI (which installs Chromium and axe) a missing tool is a failure."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so this must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def axe_results() -> dict[str, PageResult]:
    """axe's verdicts on every case page, from one Chromium launch."""
    chromium = find_chromium()
    if chromium is None:
        _missing_tool("chromium not found (apt-get install chromium, or set $CHROMIUM)")
    if not AXE_JS.is_file():
        _missing_tool("axe-core not installed (run `npm ci` in tests/axe)")
    assert chromium is not None
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.html"))}
    return run_axe(pages, chromium=chromium)


@dataclass(frozen=True, slots=True)
class AltTextRun:
    """What ``alttext check --format json`` reported on the corpus."""

    failures: dict[tuple[str, str], set[str]]
    untagged: list[dict[str, Any]]
    document: dict[str, Any]


@pytest.fixture(scope="module")
def alttext_results() -> AltTextRun:
    """Run the real CLI once over the corpus; index axe-rule findings by (page, case id)."""
    proc = subprocess.run(
        [sys.executable, "-m", "alttext", "check", str(CASES), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode in (0, 1), proc.stderr
    document: dict[str, Any] = json.loads(proc.stdout)
    failures: dict[tuple[str, str], set[str]] = {}
    untagged = []
    for finding in document["findings"]:
        if finding["rule"] not in AXE_RULES:
            continue
        case_id = _case_id(finding["snippet"])
        if case_id is None:
            untagged.append(finding)
        else:
            failures.setdefault((finding["file"], case_id), set()).add(finding["rule"])
    return AltTextRun(failures, untagged, document)


def _axe_verdict(result: PageResult, case_id: str, rule: str) -> str:
    return result.verdicts.get((case_id, rule), "inapplicable")


@pytest.mark.parametrize("case", _params())
def test_verdicts_match_axe(
    case: Case, axe_results: dict[str, PageResult], alttext_results: AltTextRun
) -> None:
    """For each axe rule, axe flags this element exactly when alttext does."""
    result = axe_results[case.page]
    flagged = alttext_results.failures.get((case.page, case.case_id), set())
    mismatches = []
    for rule in AXE_RULES:
        verdict = _axe_verdict(result, case.case_id, rule)
        if verdict not in (VIOLATION, "pass", "inapplicable"):
            # axe "incomplete" (needs review) has no alttext equivalent: keep cases decisive.
            mismatches.append(f"{rule}: axe says {verdict!r}; make the case decisive")
        elif (verdict == VIOLATION) != (rule in flagged):
            ours = "violation" if rule in flagged else "no finding"
            mismatches.append(f"{rule}: axe {verdict}, alttext {ours}")
    assert not mismatches, f"{case.key}:\n  " + "\n  ".join(mismatches)


def test_case_ids_unique_per_page() -> None:
    """Each page's case ids are unique, so a verdict names exactly one element."""
    keys = [case.key for case in ALL_CASES]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []
    assert len(ALL_CASES) > 100


def test_known_gaps_name_real_cases() -> None:
    """Every xfail entry points at a case that exists (no stale marks)."""
    keys = {case.key for case in ALL_CASES}
    assert sorted(set(KNOWN_GAPS) - keys) == []


def test_every_result_is_on_a_tagged_element(
    axe_results: dict[str, PageResult], alttext_results: AltTextRun
) -> None:
    """Neither tool reports on an element the corpus did not tag (which no test compares)."""
    stray = [f"axe {page}: {item}" for page, r in axe_results.items() for item in r.untagged]
    stray += [f"alttext: {finding}" for finding in alttext_results.untagged]
    assert stray == []
    assert alttext_results.document["errors"] == []


def test_corpus_exercises_every_rule(axe_results: dict[str, PageResult]) -> None:
    """axe both passes and fails each rule somewhere in the corpus, so each is really tested."""
    seen = {
        (rule, verdict) for r in axe_results.values() for (_, rule), verdict in r.verdicts.items()
    }
    missing = [
        f"{rule} {verdict}"
        for rule in AXE_RULES
        for verdict in (VIOLATION, "pass")
        if (rule, verdict) not in seen
    ]
    assert missing == []


def test_axe_is_the_pinned_version(axe_results: dict[str, PageResult]) -> None:
    """The axe that ran is the one package-lock.json pins (not some global copy)."""
    lock = json.loads((AXE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    versions = {r.axe_version for r in axe_results.values()}
    assert versions == {pinned}
