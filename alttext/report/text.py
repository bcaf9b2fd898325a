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


def printable(text: str, limit: int = 200) -> str:
    """``text`` as it may go to a terminal or CI log: control characters (escape
    sequences, carriage returns, newlines that would forge a log line such as a GitHub
    Actions ``::error`` command) become spaces, and a value over ``limit`` characters is
    cut short (a ``data:`` URI can be megabytes long)."""
    # Alt text, src and file names come from the pages, error messages from servers.
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(ch if ch.isprintable() else " " for ch in text)


def line_start(path: str) -> str:
    """A page's path as the start of an output line: :func:`printable`, and never read as
    a CI workflow command (GitHub Actions runs a line that starts with ``::`` once
    leading whitespace is trimmed, e.g. a page named ``::add-mask::x.html``)."""
    shown = printable(path, 1000)
    return "./" + shown if shown.lstrip().startswith("::") else shown


def format_finding(finding: Finding, *, colour: bool = False) -> str:
    """One finding as one line."""
    src = f" [{printable(finding.src)}]" if finding.src else ""
    label = finding.severity.label
    if colour:
        label = f"{_COLOURS[finding.severity]}{label}{_RESET}"
        src = f"{_DIM}{src}{_RESET}" if src else ""
    return (
        f"{line_start(finding.file)}:{finding.line}:{finding.column}: {label} "
        f"{finding.rule} {printable(finding.message, 1000)}{src}"
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
            yield f"{_BOLD}{line_start(finding.file)}{_RESET}"
            current = finding.file
        yield format_finding(finding, colour=colour)
    for error in errors:
        yield f"{line_start(error.file)}: error {printable(error.message, 1000)}"
    yield summary_line(files, images, findings, len(errors))
