"""SARIF output: valid against the OASIS 2.1.0 schema and usable by GitHub code scanning."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import jsonschema
import pytest

from alttext.report.sarif import (
    FINGERPRINT_KEY,
    artifact_uri,
    render_sarif,
    root_uri_for,
    rule_tags,
    sarif_document,
)
from alttext.rules.model import RULES, FileError, Finding, Severity

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

# RFC 3986 relative-ref whose path has no scheme-like first segment: unreserved,
# percent-encoded octets, sub-delims, ':' and '@' (but no ':' before the first '/').
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-F]{2})"
_SEGMENT_NC = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|%[0-9A-F]{2})+"
_RELATIVE_PATH = re.compile(rf"{_SEGMENT_NC}(?:/{_PCHAR}*)*")

# Paths and strings that break naive SARIF writers: spaces, non-ASCII, '%', '#', '?', ':'.
TRICKY_FILES = [
    "index.html",
    "blog/2024 post/index.html",
    "ünïcödé/日本語.html",
    "odd/100% & more #1?.html",
    "c:colon.html",
]
TRICKY_SNIPPETS = [
    '<img src="a.png">',
    '<img\n  src=\'quote"d.png\'\n  alt="">',
    '<img src="x.png" alt="Tom &amp; Jerry \u2014 \U0001f600 </script>">',
    '<input type="image" src="go.png" alt="\\back\\slash" data-x=\'{"a": 1}\'>',
    '<img\r\nsrc="crlf.png"\talt="tab">',
]


def _finding(
    rule: str,
    *,
    file: str = "index.html",
    line: int = 3,
    column: int = 5,
    snippet: str = '<img src="a.png">',
    message: str = "Image has no alt attribute",
    severity: Severity | None = None,
) -> Finding:
    return Finding(
        file=file,
        line=line,
        column=column,
        rule=rule,
        severity=RULES[rule].severity if severity is None else severity,
        message=message,
        element="img",
        src="a.png",
        snippet=snippet,
    )


def _every_rule_findings() -> list[Finding]:
    """One finding per rule, cycling through the tricky files and snippets."""
    findings = []
    for i, rule in enumerate(RULES):
        findings.append(
            _finding(
                rule,
                file=TRICKY_FILES[i % len(TRICKY_FILES)],
                line=1 + i * 7,
                column=1 + i,
                snippet=TRICKY_SNIPPETS[i % len(TRICKY_SNIPPETS)],
                message=f'{RULES[rule].summary}: alt="<b>&</b>" \u00e9\n"quoted" line two',
            )
        )
    return findings


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _validate(schema: dict[str, Any], text: str) -> dict[str, Any]:
    # The OASIS schema declares draft-04; use the validator it declares.
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    document: dict[str, Any] = json.loads(text)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return document


def _run(document: dict[str, Any]) -> dict[str, Any]:
    assert len(document["runs"]) == 1
    run: dict[str, Any] = document["runs"][0]
    return run


def test_schema_file_is_the_oasis_2_1_0_schema(schema: dict[str, Any]) -> None:
    assert "2.1.0" in schema["id"]
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    validator_cls = jsonschema.validators.validator_for(schema)
    assert validator_cls is jsonschema.Draft4Validator
    validator_cls.check_schema(schema)
    # The pieces GitHub relies on exist in this copy (a truncated file would lack them).
    for name in ("result", "reportingDescriptor", "notification", "region", "run"):
        assert name in schema["definitions"]


def test_the_validator_rejects_a_broken_log(schema: dict[str, Any]) -> None:
    # Guards the tests below: the schema must really constrain levels and line numbers.
    document = json.loads(render_sarif([_finding("image-alt")], [], tool_version="1.0"))
    result = document["runs"][0]["results"][0]
    result["level"] = "fatal"
    result["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    validator = jsonschema.validators.validator_for(schema)(schema)
    bad = {e.path[-1] for e in validator.iter_errors(document)}
    assert bad == {"level", "startLine"}


def test_every_rule_renders_valid_sarif(schema: dict[str, Any]) -> None:
    findings = _every_rule_findings()
    document = _validate(schema, render_sarif(findings, [], tool_version="0.1.0"))
    assert document["version"] == "2.1.0"
    assert "2.1.0" in document["$schema"]
    run = _run(document)
    assert run["tool"]["driver"]["name"] == "alttext"
    assert run["tool"]["driver"]["version"] == "0.1.0"
    assert len(run["results"]) == len(RULES)
    assert {r["ruleId"] for r in run["results"]} == set(RULES)


def test_results_meet_github_requirements(schema: dict[str, Any]) -> None:
    findings = _every_rule_findings()
    run = _run(_validate(schema, render_sarif(findings, [], tool_version="0.1.0")))
    rules = run["tool"]["driver"]["rules"]
    by_key = {(f.file, f.line, f.column): f for f in findings}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        region = location["region"]
        uri = location["artifactLocation"]["uri"]
        finding = by_key[(unquote(uri), region["startLine"], region["startColumn"])]
        assert (
            result["level"]
            == {"error": "error", "warning": "warning", "info": "note"}[finding.severity.label]
        )
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert region["endLine"] >= region["startLine"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert urlsplit(uri).scheme == "" and not uri.startswith("/")
        assert _RELATIVE_PATH.fullmatch(uri), uri
        assert result["message"]["text"] == finding.message
        assert region["snippet"]["text"] == finding.snippet
        fingerprint = result["partialFingerprints"][FINGERPRINT_KEY]
        assert re.fullmatch(r"[0-9a-f]{32}:1", fingerprint)


def test_rules_carry_help_tags_and_default_level(schema: dict[str, Any]) -> None:
    run = _run(_validate(schema, render_sarif([], [], tool_version="2.0")))
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for descriptor in rules:
        rule = RULES[descriptor["id"]]
        assert descriptor["name"] and " " not in descriptor["name"]
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"] == rule.help
        assert rule.help in descriptor["help"]["text"]
        assert descriptor["help"]["markdown"]
        assert descriptor["helpUri"] == rule.help_uri
        assert urlsplit(descriptor["helpUri"]).scheme == "https"
        level = {"error": "error", "warning": "warning", "info": "note"}[rule.severity.label]
        assert descriptor["defaultConfiguration"]["level"] == level
        tags = descriptor["properties"]["tags"]
        assert tags[0] == "accessibility"
        assert any(t.startswith("wcag-") for t in tags) or "best-practice" in tags
        # Security-only properties would make GitHub file these as security alerts.
        assert set(descriptor["properties"]) == {"tags"}
    assert rule_tags("image-alt") == ["accessibility", "wcag-1.1.1"]
    assert rule_tags("image-redundant-alt") == ["accessibility", "best-practice"]


def test_markdown_help_keeps_html_literal() -> None:
    document = sarif_document([], [], tool_version="1")
    image_alt = _run(document)["tool"]["driver"]["rules"][0]
    markdown = image_alt["help"]["markdown"]
    # "<img>" unescaped would be swallowed by GitHub's Markdown renderer as an HTML tag.
    assert "<img>" not in markdown
    assert r"\<img\>" in markdown
    assert f"(<{RULES['image-alt'].help_uri}>)" in markdown


def test_zero_findings_is_valid(schema: dict[str, Any]) -> None:
    run = _run(_validate(schema, render_sarif([], [], tool_version="0.1.0")))
    assert run["results"] == []
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert len(run["tool"]["driver"]["rules"]) == len(RULES)
    assert "originalUriBaseIds" not in run


def test_file_errors_become_error_notifications(schema: dict[str, Any]) -> None:
    errors = [
        FileError("b/broken page.html", "cannot decode as utf-8: byte 0xff at 12"),
        FileError("a/ünreadable.html", 'permission denied: "a/ünreadable.html"'),
    ]
    text = render_sarif([_finding("image-alt")], errors, tool_version="0.1.0")
    run = _run(_validate(schema, text))
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error", "error"]
    assert [n["message"]["text"] for n in notes] == [errors[1].message, errors[0].message]
    uris = [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes]
    assert uris == ["a/%C3%BCnreadable.html", "b/broken%20page.html"]
    assert len(run["results"]) == 1


def test_fingerprint_survives_line_moves_and_tells_tags_apart() -> None:
    def fp(*findings: Finding) -> list[str]:
        run = _run(sarif_document(list(findings), [], tool_version="1"))
        return [r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]]

    tag = '<img src="hero.png"\n     class="wide">'
    before = fp(_finding("image-alt", line=10, column=3, snippet=tag))
    moved = fp(_finding("image-alt", line=42, column=9, snippet=tag))
    reindented = fp(_finding("image-alt", line=42, snippet='<img src="hero.png" class="wide">'))
    assert before == moved == reindented
    assert fp(_finding("image-alt", snippet='<img src="other.png">')) != before
    assert fp(_finding("image-alt", file="other.html", snippet=tag)) != before
    assert fp(_finding("alt-filename", snippet=tag)) != before
    # The same tag twice in one file: two alerts, numbered in document order.
    twice = fp(
        _finding("image-alt", line=30, snippet='<img src="spacer.gif">'),
        _finding("image-alt", line=8, snippet='<img src="spacer.gif">'),
    )
    assert len(set(twice)) == 2
    assert [f.rsplit(":", 1)[1] for f in twice] == ["1", "2"]
    assert twice[0].split(":")[0] == twice[1].split(":")[0]


def test_output_is_deterministic_and_order_independent() -> None:
    findings = _every_rule_findings()
    errors = [FileError("z.html", "bad"), FileError("a.html", "worse")]
    first = render_sarif(findings, errors, tool_version="0.1.0", root_uri="file:///srv/site")
    shuffled = findings[:]
    random.Random(7).shuffle(shuffled)
    second = render_sarif(shuffled, errors[::-1], tool_version="0.1.0", root_uri="file:///srv/site")
    assert first == second
    assert first.endswith("}\n") and first.startswith('{\n  "$schema"')
    # Non-ASCII stays readable text, not \u escapes.
    assert "日本語" not in first  # paths are percent-encoded in URIs...
    assert "\u2014" in first  # ...while snippets and messages keep their characters.


def test_tricky_strings_round_trip_exactly(schema: dict[str, Any]) -> None:
    snippet = '<img alt="He said \\"hi\\" & <b>left</b>\n\u00a0\u202e" src="x.png">'
    message = "alt ends in </script><!-- and a NUL \x00 and a bell \x07"
    finding = _finding("alt-placeholder", snippet=snippet, message=message)
    text = render_sarif([finding], [], tool_version='1.0"; rm -rf /')
    run = _run(_validate(schema, text))
    result = run["results"][0]
    assert result["message"]["text"] == message
    assert result["locations"][0]["physicalLocation"]["region"]["snippet"]["text"] == snippet
    assert run["tool"]["driver"]["version"] == '1.0"; rm -rf /'
    assert "\x00" not in text and "\\u0000" in text


def test_lone_surrogates_become_replacement_characters(schema: dict[str, Any]) -> None:
    finding = _finding(
        "image-alt",
        file="bad\udcffname.html",
        snippet='<img alt="\udce9">',
        message="alt \udce9",
    )
    text = render_sarif([finding], [FileError("x\udc80.html", "undecodable")], tool_version="1")
    text.encode("utf-8")  # would raise on a surrogate
    run = _run(_validate(schema, text))
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location["region"]["snippet"]["text"] == '<img alt="\ufffd">'
    assert unquote(location["artifactLocation"]["uri"]) == "bad\ufffdname.html"


def test_region_end_follows_the_snippet() -> None:
    single = _finding("image-alt", line=4, column=7, snippet='<img src="a.png">')
    multi = _finding("image-alt", line=9, column=3, snippet='<img\r\n  src="a.png"\n  alt="">')
    run = _run(sarif_document([single, multi], [], tool_version="1"))
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in run["results"]]
    assert (regions[0]["endLine"], regions[0]["endColumn"]) == (4, 7 + len(single.snippet))
    assert (regions[1]["endLine"], regions[1]["endColumn"]) == (11, len('  alt="">') + 1)


def test_uris_resolve_to_the_real_files(tmp_path: Path, schema: dict[str, Any]) -> None:
    site = tmp_path / "my site ü"
    findings = []
    for i, name in enumerate(TRICKY_FILES):
        page = site / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text('<img src="a.png">', encoding="utf-8")
        findings.append(_finding("image-alt", file=name, line=1, column=1 + i))
    root = root_uri_for(site)
    assert root.startswith("file:///") and root.endswith("/")
    run = _run(_validate(schema, render_sarif(findings, [], tool_version="1", root_uri=root)))
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == root
    for result in run["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        resolved = urljoin(base, uri)
        path = Path(url2pathname(urlsplit(resolved).path))
        assert path.read_text(encoding="utf-8") == '<img src="a.png">'
        assert path.is_relative_to(site.resolve())


def test_root_uri_gets_its_trailing_slash() -> None:
    run = _run(sarif_document([], [], tool_version="1", root_uri="file:///srv/site"))
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///srv/site/"}}


def test_information_uri_is_emitted_when_known(schema: dict[str, Any]) -> None:
    text = render_sarif([], [], tool_version="1", information_uri="https://example.org/alttext")
    driver = _run(_validate(schema, text))["tool"]["driver"]
    assert driver["informationUri"] == "https://example.org/alttext"


def test_artifact_uri_encoding() -> None:
    assert artifact_uri("a b/ü.html") == "a%20b/%C3%BC.html"
    assert artifact_uri("100%/x#y?.html") == "100%25/x%23y%3F.html"
    # A colon in the first segment would otherwise read as a URI scheme.
    assert artifact_uri("c:colon.html") == "c%3Acolon.html"
    with pytest.raises(ValueError, match="relative"):
        artifact_uri("/etc/passwd")


@pytest.mark.parametrize(
    ("finding", "match"),
    [
        (_finding("image-alt", line=0), "1-based"),
        (_finding("image-alt", column=0), "1-based"),
        (_finding("image-alt", file="/abs/index.html"), "relative"),
    ],
)
def test_bad_findings_are_refused(finding: Finding, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        render_sarif([finding], [], tool_version="1")


def test_unknown_rule_is_refused() -> None:
    bogus = Finding("a.html", 1, 1, "no-such-rule", Severity.ERROR, "m", "img", None, "<img>")
    with pytest.raises(ValueError, match="no-such-rule"):
        render_sarif([bogus], [], tool_version="1")


def test_result_level_follows_the_finding_not_the_rule_default() -> None:
    # --severity overrides reach the finding; the result must show them.
    finding = _finding("image-alt", severity=Severity.INFO)
    run = _run(sarif_document([finding], [], tool_version="1"))
    assert run["results"][0]["level"] == "note"
    assert run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] == "error"
