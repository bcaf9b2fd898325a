"""``alttext check`` on the shipped fixture site: golden JSON, and the generator's own list."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from click.testing import CliRunner
from conftest import FIXTURE_SITE, REPO

from alttext.cli import main

GOLDEN = REPO / "tests" / "golden" / "check-fixtures-site.json"


def _check_json() -> dict[str, object]:
    result = CliRunner().invoke(main, ["check", str(FIXTURE_SITE), "--format", "json"])
    assert result.exit_code == 1, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_golden_json_for_fixture_site() -> None:
    document = _check_json()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert document == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_findings_match_what_the_generator_marked() -> None:
    spec = importlib.util.spec_from_file_location("make_site", REPO / "fixtures" / "make_site.py")
    assert spec is not None and spec.loader is not None
    make_site = importlib.util.module_from_spec(spec)
    sys.modules["make_site"] = make_site  # dataclasses look their module up there
    spec.loader.exec_module(make_site)
    expected = sorted(
        (e.file, e.line, e.column, e.rule, e.snippet) for e in make_site.expected_findings()
    )
    findings = _check_json()["findings"]
    assert isinstance(findings, list)
    got = sorted((f["file"], f["line"], f["column"], f["rule"], f["snippet"]) for f in findings)
    assert got == expected
