"""The streamed ``check`` JSON is byte-identical to the one-shot rendering."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from alttext.report.json_report import check_document, render_json, write_check_json
from alttext.rules.model import RULES, FileError, Finding, Severity

_text = st.text(max_size=30)
_finding = st.builds(
    Finding,
    file=_text,
    line=st.integers(1, 10**6),
    column=st.integers(1, 10**4),
    rule=st.sampled_from(sorted(RULES)),
    severity=st.sampled_from(list(Severity)),
    message=_text,
    element=st.sampled_from(["img", "svg", "a", "input"]),
    src=st.none() | _text,
    snippet=_text,
)
_error = st.builds(FileError, file=_text, message=_text)


@settings(max_examples=150, deadline=None)
@given(
    files=st.integers(0, 10**5),
    images=st.integers(0, 10**6),
    findings=st.lists(_finding, max_size=6),
    errors=st.lists(_error, max_size=3),
)
def test_streamed_json_equals_rendered(
    files: int, images: int, findings: list[Finding], errors: list[FileError]
) -> None:
    out = io.StringIO()
    write_check_json(out, files, images, findings, errors)
    expected = render_json(check_document(files, images, findings, errors))
    assert out.getvalue() == expected
    assert json.loads(out.getvalue())["summary"]["files"] == files
