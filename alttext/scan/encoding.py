"""Decode an HTML file the way a browser would, and remember how, so it can be re-encoded.

Order (a simplified WHATWG "encoding sniffing"): a byte-order mark wins; then a charset
declared in the first 1024 bytes (``<meta charset>``, ``<meta http-equiv=Content-Type>``,
``<?xml encoding?>``); then UTF-8. We do not guess: a file that does not decode with the
encoding it declares (or UTF-8) is an error naming the byte offset, because rewriting a
mis-decoded file would corrupt it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from alttext.errors import ScanError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)""", re.IGNORECASE
)
_XML_DECL = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")

# Labels whose Python codec differs from what browsers do and matters for round-trips.
# utf-16 declared inside an ASCII-compatible file is a lie browsers ignore (WHATWG).
_LABEL_OVERRIDES = {
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
    "x-user-defined": "cp1252",
}


@dataclass(frozen=True, slots=True)
class DecodedHTML:
    """A decoded document and what is needed to write it back byte-exactly.

    Attributes:
        text: the document without its byte-order mark.
        encoding: the Python codec name used to decode it.
        bom: the byte-order mark that preceded the text (``b""`` when none).
        declared: whether the encoding came from a BOM or a declaration (not the default).
    """

    text: str
    encoding: str
    bom: bytes
    declared: bool


def _normalise(label: str) -> str:
    label = label.strip().lower()
    label = _LABEL_OVERRIDES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        raise ScanError(f"unknown character encoding {label!r} declared") from None


def sniff_encoding(data: bytes) -> tuple[str, bytes, bool]:
    """Return ``(codec name, bom bytes, declared?)`` for raw HTML ``data``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, bom, True
    head = data[:1024]
    match = _XML_DECL.match(head) or _META_CHARSET.search(head)
    if match:
        return _normalise(match.group(1).decode("ascii")), b"", True
    return "utf-8", b"", False


def decode_html(data: bytes) -> DecodedHTML:
    """Decode ``data``; raise :class:`ScanError` when it does not decode cleanly."""
    encoding, bom, declared = sniff_encoding(data)
    body = data[len(bom) :]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        where = exc.start + len(bom)
        hint = "" if declared else "; declare its charset with <meta charset=...>"
        raise ScanError(
            f"cannot decode as {encoding}: invalid byte at offset {where}{hint}"
        ) from exc
    return DecodedHTML(text=text, encoding=encoding, bom=bom, declared=declared)
