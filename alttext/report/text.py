"""Human-readable ``check`` output: one line per finding, then a summary line.

``path:line:col: severity rule-id message [src]`` — the format compilers use, so editors
and CI log viewers make the location clickable. On a terminal findings are grouped by file
and coloured; piped output stays plain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from alttext.rules.model import FileError, Finding, Severity

_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def _clean(text: str) -> str:
    # Alt text and src come from the page: keep control characters out of the terminal.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def format_finding(finding: Finding, *, colour: bool = False) -> str:
    """One finding as one line."""
    src = f" [{_clean(finding.src)}]" if finding.src else ""
    label = finding.severity.label
    if colour:
        label = f"{_COLOURS[finding.severity]}{label}{_RESET}"
        src = f"{_DIM}{src}{_RESET}" if src else ""
    return (
        f"{_clean(finding.file)}:{finding.line}:{finding.column}: {label} "
        f"{finding.rule} {_clean(finding.message)}{src}"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(files: int, images: int, findings: Iterable[Finding], errors: int) -> str:
    """``N files, N images: N errors, N warnings, N infos[, N unreadable files]``."""
    counts = [
        _plural(sum(1 for f in findings if f.severity is sev), sev.label)
        for sev in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    ]
    tail = f", {_plural(errors, 'unreadable file')}" if errors else ""
    return f"{_plural(files, 'file')}, {_plural(images, 'image')}: {', '.join(counts)}{tail}"


def render_text(
    files: int,
    images: int,
    findings: Iterable[Finding],
    errors: Iterable[FileError],
    *,
    colour: bool = False,
) -> Iterator[str]:
    """Yield the output lines."""
    errors = list(errors)
    current = None
    for finding in findings:
        if colour and finding.file != current:
            if current is not None:
                yield ""
            yield f"{_BOLD}{_clean(finding.file)}{_RESET}"
            current = finding.file
        yield format_finding(finding, colour=colour)
    for error in errors:
        yield f"{_clean(error.file)}: error {_clean(error.message)}"
    yield summary_line(files, images, findings, len(errors))
