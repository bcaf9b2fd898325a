"""Write alt text into HTML files without touching any other byte.

A fix is a list of :class:`Edit`: a start tag found by the scanner (character offsets into
the decoded page, plus the exact original tag text) and the alt it should get. The rewrite
splices ` alt="..."` into that tag's original text, or replaces just the value of an
existing ``alt`` attribute (the ``--replace-bad`` case), and copies every other byte of the
file as it was: the declared encoding, the byte-order mark, CRLF line endings, the tag's
own spacing and quoting. Characters the page's encoding cannot hold are written as
character references (``&#8364;`` in a latin-1 page).

Every edit is checked against the bytes on disk before it is applied: the text between
edits must re-encode to exactly the original bytes and each start tag must still be the one
that was scanned. Anything else (a file changed since it was scanned, an encoding that does
not round-trip) raises :class:`~alttext.errors.RewriteError` instead of guessing.

Files are replaced atomically (:func:`atomic_write`), and :func:`unified_diff` renders the
change as a patch that ``git apply`` and ``patch -p1`` accept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from alttext.durable import atomic_write, sync_directories
from alttext.errors import RewriteError, ScanError
from alttext.scan.encoding import DecodedHTML, decode_html
from alttext.scan.scanner import read_page
from alttext.scan.tokens import ascii_lower

__all__ = [
    "PATCH_ENCODING",
    "PATCH_ERRORS",
    "Edit",
    "apply_edits",
    "atomic_write",
    "format_alt_attribute",
    "normalise_alt",
    "rewrite_file",
    "sync_directories",
    "unified_diff",
    "unified_diff_bytes",
]

#: How the ``str`` from :func:`unified_diff` maps back to the patch's bytes:
#: ``diff.encode(PATCH_ENCODING, PATCH_ERRORS)``. Bytes that are not UTF-8 (a latin-1 page)
#: travel as lone surrogates, so the patch reproduces the file's own bytes exactly.
PATCH_ENCODING = "utf-8"
PATCH_ERRORS = "surrogateescape"

# The attribute grammar of alttext.scan.tokens (the tokenizer that found the tag), repeated
# here on purpose: the rewriter must split a tag into attributes exactly as the scanner
# did, and it needs each attribute's position, which the scanner does not keep. Only
# HTML's ASCII whitespace separates: a no-break space belongs to the name or value.
_SP = r"\t\n\f\r\x20"  # inside a character class
_NAME = rf"[^{_SP}/>][^{_SP}/>=]*+"
_ATTR = re.compile(
    rf"""[{_SP}/]*+(?P<name>{_NAME})"""
    rf"""(?:[{_SP}]*+=[{_SP}]*+(?:"(?P<dq>[^"]*+)"|'(?P<sq>[^']*+)'|(?!["'])(?P<uq>[^{_SP}>]*+)))?+"""
)
_TAG_OPEN = re.compile(rf"<([a-zA-Z][^{_SP}/>]*+)")
_TAG_CLOSE = re.compile(rf"[{_SP}/]*+>")

# Alt is one line: runs of HTML/line whitespace become one space.
_WHITESPACE = re.compile(r"[\t\n\x0b\x0c\r \x85\u2028\u2029]+")
# Controls, lone surrogates and non-characters mean nothing in alt and some do not survive
# a round trip through a character reference (html.unescape drops ``&#xFFFE;``).
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef"
    # U+FFFE and U+FFFF of every plane
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)
# A value that may stay unquoted (HTML "unquoted attribute value syntax"). Deliberately
# stricter than HTML, which ends an unquoted value at ASCII whitespace only: any Unicode
# space (\s) gets quotes too, so tools that split on \s read the value the same way.
_UNQUOTED_OK = re.compile(r"""[^\s"'=<>`]+""")


@dataclass(frozen=True)
class Edit:
    """Give one start tag an alt.

    Attributes:
        start: character offset of the tag's ``<`` in the decoded page text.
        end: character offset just past its ``>``.
        snippet: the tag's text as scanned; must equal ``text[start:end]`` when applied.
        alt: the alt to write (normalised with :func:`normalise_alt`; ``""`` for spacers).
    """

    start: int
    end: int
    snippet: str
    alt: str


@dataclass(frozen=True, slots=True)
class _Attr:
    name: str
    start: int  # offset of the name within the tag text
    end: int  # offset just past the value (or the name, when bare)
    value_start: int  # offset of the value text (inside quotes), == end when bare
    value_end: int
    quote: str | None  # '"', "'", "" for unquoted, None for a bare attribute


def normalise_alt(alt: str) -> str:
    """Return ``alt`` as it will be written: one line, trimmed, without control characters.

    Noncharacters (U+FFFE, U+FFFF in every plane, U+FDD0-U+FDEF) are dropped too.
    """
    alt = _DROPPED.sub("", alt)
    return _WHITESPACE.sub(" ", alt).strip(" ")


def _escape(value: str, quote: str) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote == '"':
        value = value.replace('"', "&quot;")
    elif quote == "'":
        value = value.replace("'", "&#39;")
    return value


def _parse_tag(tag_text: str) -> tuple[int, list[_Attr]]:
    """Split a start tag into (end of its name, attributes); RewriteError if it is none."""
    opened = _TAG_OPEN.match(tag_text)
    if opened is None:
        raise RewriteError(f"not a start tag: {tag_text[:60]!r}")
    pos = opened.end()
    attrs: list[_Attr] = []
    while True:
        closed = _TAG_CLOSE.match(tag_text, pos)
        if closed is not None and closed.end() == len(tag_text):
            return opened.end(), attrs
        match = _ATTR.match(tag_text, pos)
        if match is None or match.end() == pos:
            raise RewriteError(f"not a single start tag: {tag_text[:60]!r}")
        quote: str | None = None
        for group, mark in (("dq", '"'), ("sq", "'"), ("uq", "")):
            if match.group(group) is not None:
                quote = mark
                value_start, value_end = match.span(group)
                break
        else:
            value_start = value_end = match.end()
        attrs.append(
            _Attr(
                name=match.group("name"),
                start=match.start("name"),
                end=match.end(),
                value_start=value_start,
                value_end=value_end,
                quote=quote,
            )
        )
        pos = match.end()


def _plan(tag_text: str, alt: str) -> tuple[int, int, str]:
    """Where and what to splice into ``tag_text``: ``(start, end, replacement)``."""
    name_end, attrs = _parse_tag(tag_text)
    alt = normalise_alt(alt)
    existing = next((a for a in attrs if ascii_lower(a.name) == "alt"), None)
    if existing is not None:
        # The first alt is the one HTML uses; if it already says this, change nothing,
        # so a second run (and --replace-bad over its own output) is a no-op.
        current = tag_text[existing.value_start : existing.value_end]
        if html.unescape(current) == alt:
            return existing.value_start, existing.value_end, current
        if existing.quote in ('"', "'"):
            return existing.value_start, existing.value_end, _escape(alt, existing.quote)
        escaped = _escape(alt, "")
        if existing.quote == "" and _UNQUOTED_OK.fullmatch(escaped):
            return existing.value_start, existing.value_end, escaped
        quote = _choose_quote(attrs)
        replacement = f"={quote}{_escape(alt, quote)}{quote}"
        if existing.quote is None:  # bare `alt`: give it a value
            return existing.end, existing.end, replacement
        # Unquoted value that cannot stay unquoted: re-quote from the '=' on.
        eq = tag_text.rindex("=", existing.start, existing.value_start)
        return eq, existing.value_end, replacement
    quote = _choose_quote(attrs)
    names = [tag_text[1:name_end], *(a.name for a in attrs)]
    cased = [n for n in names if n.lower() != n.upper()]
    attr_name = "ALT" if cased and all(n.isupper() for n in cased) else "alt"
    # Right after the tag name: never next to a '/' that an unquoted value would swallow
    # (<img src=x/>) and never inside the tag's own line breaks and indentation.
    return name_end, name_end, f" {attr_name}={quote}{_escape(alt, quote)}{quote}"


def _choose_quote(attrs: Sequence[_Attr]) -> str:
    quotes = {a.quote for a in attrs if a.quote in ('"', "'")}
    return "'" if quotes == {"'"} else '"'


def format_alt_attribute(tag_text: str, alt: str) -> str:
    """Return start tag ``tag_text`` with ``alt`` written into it.

    Inserts `` alt="..."`` after the tag name, or, when the tag has an ``alt`` attribute,
    replaces only that attribute's value (keeping its quotes). ``alt`` is normalised
    (:func:`normalise_alt`) and escaped; double quotes unless the tag's quoted attributes
    all use single quotes.

    Raises:
        RewriteError: ``tag_text`` is not exactly one start tag.
    """
    start, end, replacement = _plan(tag_text, alt)
    return tag_text[:start] + replacement + tag_text[end:]


def _encode(text: str, encoding: str, errors: str = "strict") -> bytes:
    try:
        return text.encode(encoding, errors)
    except (UnicodeEncodeError, LookupError) as exc:
        raise RewriteError(f"cannot re-encode the page as {encoding}: {exc}") from exc


def _new_tag_bytes(
    tag_text: str, original: bytes, alt: str, encoding: str, alt_encoding: str
) -> bytes:
    start, end, replacement = _plan(tag_text, alt)
    prefix = _encode(tag_text[:start], encoding)
    suffix = _encode(tag_text[end:], encoding)
    if not (original.startswith(prefix) and original.endswith(suffix)):
        raise RewriteError(f"the {encoding} encoding does not split this tag cleanly")
    # xmlcharrefreplace: what the page's encoding cannot hold becomes &#NNNN;, which is
    # valid inside an attribute value, quoted or not.
    inserted = _encode(replacement, alt_encoding, "xmlcharrefreplace")
    return prefix + inserted + suffix


#: One change to a page's bytes: ``original[start:end]`` becomes ``replacement``.
Splice = tuple[int, int, bytes]


def apply_edits(original: bytes, decoded: DecodedHTML, edits: Sequence[Edit]) -> bytes:
    """Return ``original`` with each edit's alt written into its start tag.

    ``decoded`` is ``original`` as decoded by :func:`alttext.scan.encoding.decode_html`.
    Only the edited start tags change; every other byte is copied.

    Raises:
        RewriteError: an edit is out of range, overlaps another, or its snippet is not
            what the file holds now; or the encoding does not reproduce the original bytes.
    """
    return apply_splices(original, plan_splices(original, decoded, edits))


def apply_splices(original: bytes, splices: Sequence[Splice]) -> bytes:
    """``original`` with each splice made (in order, not overlapping, within the bytes).

    Raises:
        RewriteError: the splices are out of order, overlap or fall outside ``original``.
    """
    out: list[bytes] = []
    pos = 0
    for start, end, replacement in splices:
        if not pos <= start <= end <= len(original):
            raise RewriteError(f"splice at bytes {start}-{end} is out of order or outside")
        out.append(original[pos:start])
        out.append(replacement)
        pos = end
    out.append(original[pos:])
    return b"".join(out)


def plan_splices(original: bytes, decoded: DecodedHTML, edits: Sequence[Edit]) -> list[Splice]:
    """The byte changes :func:`apply_edits` makes: one per edited start tag, in order.

    Raises:
        RewriteError: as :func:`apply_edits`.
    """
    text, encoding = decoded.text, decoded.encoding
    # A page that declares nothing and is all ASCII may be read as windows-1252 as well
    # as UTF-8 (browsers guess): an alt in ASCII, with character references for the
    # rest, reads the same either way.
    alt_encoding = encoding if decoded.declared or not original.isascii() else "ascii"
    if not original.startswith(decoded.bom):
        raise RewriteError("the file does not start with the byte-order mark it was read with")
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    splices: list[Splice] = []
    pos = 0  # character offset in text
    bpos = len(decoded.bom)  # byte offset in original
    for edit in ordered:
        if not 0 <= edit.start < edit.end <= len(text):
            raise RewriteError(f"edit at {edit.start}-{edit.end} is outside the page")
        if edit.start < pos:
            raise RewriteError(f"edits overlap at character offset {edit.start}")
        if text[edit.start : edit.end] != edit.snippet:
            raise RewriteError(
                f"the tag at character offset {edit.start} is not the one scanned "
                "(the file changed since it was scanned)"
            )
        gap = _encode(text[pos : edit.start], encoding)
        if original[bpos : bpos + len(gap)] != gap:
            raise RewriteError(f"the page does not round-trip through {encoding}")
        bpos += len(gap)
        tag = _encode(edit.snippet, encoding)
        if original[bpos : bpos + len(tag)] != tag:
            raise RewriteError(f"the page does not round-trip through {encoding}")
        splices.append(
            (
                bpos,
                bpos + len(tag),
                _new_tag_bytes(edit.snippet, tag, edit.alt, encoding, alt_encoding),
            )
        )
        bpos += len(tag)
        pos = edit.end
    return splices


def rewrite_file(
    path: Path,
    edits: Sequence[Edit],
    *,
    write: bool = True,
    dirs_to_sync: set[Path] | None = None,
) -> tuple[bytes, bytes]:
    """Read ``path``, apply ``edits`` and (when ``write``) replace it atomically.

    Returns ``(before, after)`` bytes, e.g. for :func:`unified_diff`. The file is not
    written when nothing changed.

    Raises:
        RewriteError: the file cannot be read, decoded, edited safely or written.
    """
    try:
        before = read_page(path)
    except OSError as exc:
        raise RewriteError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        decoded = decode_html(before)
    except ScanError as exc:
        raise RewriteError(f"{path}: {exc}") from exc
    after = apply_edits(before, decoded, edits)
    if write and after != before:
        atomic_write(path, after, dirs_to_sync=dirs_to_sync)
    return before, after


# --- diffs ---------------------------------------------------------------------------


def _range(start: int, stop: int) -> str:
    # The unified-diff range rule (as difflib): an empty range names the line before it.
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _opcodes(a: list[bytes], b: list[bytes]) -> list[tuple[str, int, int, int, int]]:
    if len(a) != len(b):
        from difflib import SequenceMatcher  # rare (a line count changed): not at start-up

        matcher = SequenceMatcher(None, a, b, autojunk=False)
        return [(t, i1, i2, j1, j2) for t, i1, i2, j1, j2 in matcher.get_opcodes()]
    # Inserting an attribute never adds or removes a line, so line i maps to line i:
    # compare pairwise in linear time instead of running a quadratic matcher.
    codes: list[tuple[str, int, int, int, int]] = []
    i = 0
    while i < len(a):
        same = a[i] == b[i]
        j = i
        while j < len(a) and (a[j] == b[j]) == same:
            j += 1
        codes.append(("equal" if same else "replace", i, j, i, j))
        i = j
    return codes


def _groups(
    codes: list[tuple[str, int, int, int, int]], context: int
) -> Iterator[list[tuple[str, int, int, int, int]]]:
    """Hunks: changes with up to ``context`` equal lines around them (difflib's rule)."""
    if not any(code[0] != "equal" for code in codes):
        return
    codes = list(codes)
    if codes[0][0] == "equal":
        t, i1, i2, j1, j2 = codes[0]
        codes[0] = (t, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == "equal":
        t, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (t, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    group: list[tuple[str, int, int, int, int]] = []
    for t, i1, i2, j1, j2 in codes:
        if t == "equal" and i2 - i1 > 2 * context:
            group.append((t, i1, i1 + context, j1, j1 + context))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((t, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _header_path(prefix: str, rel_path: str) -> bytes:
    name = f"{prefix}/{rel_path}"
    if re.search(r'[\x00-\x1f\x7f"\\]', name) or not name.isascii():
        # git's C-style quoting, which git apply and GNU patch both read.
        raw = name.encode("utf-8", "surrogateescape")
        quoted = "".join(
            {0x22: '\\"', 0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n"}.get(
                byte, chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}"
            )
            for byte in raw
        )
        return f'"{quoted}"'.encode("ascii")
    # A tab ends the name, so names with spaces are read whole.
    return name.encode("ascii") + (b"\t" if " " in name else b"")


def unified_diff_bytes(
    rel_path: str, before: bytes, after: bytes, encoding: str, *, context: int = 3
) -> bytes:
    """Return a patch turning ``before`` into ``after`` (``b""`` when they are equal).

    The patch is the files' own bytes, line by line (split on ``\\n``, so CRLF lines keep
    their ``\\r``), with ``--- a/<rel_path>`` / ``+++ b/<rel_path>`` headers and
    ``\\ No newline at end of file`` markers: ``git apply`` and ``patch -p1`` apply it in
    the directory that ``rel_path`` is relative to.

    Raises:
        RewriteError: ``encoding`` is not ASCII-compatible (UTF-16/32 pages have no
            text lines a patch tool can match), or ``rel_path`` is absolute or climbs out.
    """
    if "\n".encode(encoding, "replace") != b"\n" or "<".encode(encoding, "replace") != b"<":
        raise RewriteError(f"cannot write a text patch for a {encoding} file")
    parts = rel_path.split("/")
    if rel_path.startswith("/") or ".." in parts or not rel_path:
        raise RewriteError(f"patch paths must be relative to the site: {rel_path!r}")
    if before == after:
        return b""
    a, b = _lines(before), _lines(after)
    out = [
        b"--- " + _header_path("a", rel_path) + b"\n",
        b"+++ " + _header_path("b", rel_path) + b"\n",
    ]
    for group in _groups(_opcodes(a, b), context):
        a1, a2, b1, b2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(a1, a2)} +{_range(b1, b2)} @@\n".encode("ascii"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(_line(b" ", line) for line in a[i1:i2])
                continue
            out.extend(_line(b"-", line) for line in a[i1:i2])
            out.extend(_line(b"+", line) for line in b[j1:j2])
    return b"".join(out)


def _lines(data: bytes) -> list[bytes]:
    # Not bytes.splitlines, which also splits on a lone \r: patch tools only know \n, and
    # a lone \r is line content to them.
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _line(mark: bytes, line: bytes) -> bytes:
    if line.endswith(b"\n"):
        return mark + line
    return mark + line + b"\n\\ No newline at end of file\n"


def unified_diff(rel_path: str, before: bytes, after: bytes, encoding: str) -> str:
    """Return :func:`unified_diff_bytes` as text, for printing (``--dry-run``).

    A patch is bytes: the file's own bytes, whatever its encoding, so that it applies.
    This ``str`` is those bytes decoded as UTF-8 with ``surrogateescape``: a UTF-8 page
    reads naturally, and ``diff.encode(PATCH_ENCODING, PATCH_ERRORS)`` gives back the
    exact patch bytes for any page (write it that way, e.g. to ``sys.stdout.buffer`` or a
    ``--patch`` file; a latin-1 page's non-ASCII bytes print as they would with
    ``git diff``).
    """
    patch = unified_diff_bytes(rel_path, before, after, encoding)
    return patch.decode(PATCH_ENCODING, PATCH_ERRORS)
