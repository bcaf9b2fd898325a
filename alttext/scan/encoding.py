"""Decode an HTML file the way a browser would, and remember how, so it can be re-encoded.

Order (WHATWG "encoding sniffing", without the guessing): a byte-order mark wins; then an
``<?xml encoding?>`` declaration at the very start (XHTML); then what the HTML Standard's
*prescan* finds in the first 1024 bytes (a ``<meta charset>``, or a ``<meta
http-equiv=content-type content="...; charset=...">``, outside comments and other tags'
attribute values); then UTF-8. Only labels of the WHATWG Encoding Standard count, as in
browsers. We do not guess: a label browsers do not know, an encoding they refuse to decode,
or a file that does not decode with the encoding it declares (or UTF-8) is a per-page
:class:`~alttext.errors.ScanError`, because rewriting a mis-decoded file would corrupt it.

References: https://html.spec.whatwg.org/multipage/parsing.html#prescan-a-byte-stream-to-determine-its-encoding
and https://encoding.spec.whatwg.org/#names-and-labels.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from alttext.errors import ScanError
from alttext.scan.labels import ASCII_WHITESPACE, codec_for_label, whatwg_encoding

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

#: How many bytes the prescan reads, as the HTML Standard advises and browsers do.
PRESCAN_BYTES = 1024

_XML_DECL = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
# Only for the error hint: a declaration somewhere after the prescan window.
# Bounded, and stopping at "<", so that it stays linear on any input.
_LATE_META = re.compile(rb"<meta[^<>]{0,4096}?charset", re.IGNORECASE)

_ASCII_WHITESPACE = b"\t\n\x0c\r "


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


# --- the HTML Standard's prescan --------------------------------------------------------


def _attribute(data: bytes, pos: int) -> tuple[tuple[bytes, bytes] | None, int]:
    """ "Get an attribute" at ``pos``: ``((name, value) or None, position after it)``.

    Names and values come back ASCII-lowercased, as the algorithm builds them. ``None``
    with a position before the end: the tag ended (``>``); at the end: the input did.
    """
    end = len(data)
    while pos < end and data[pos] in b"\t\n\x0c\r /":
        pos += 1
    if pos >= end or data[pos] == 0x3E:  # ">"
        return None, pos
    name = bytearray()
    while True:  # the attribute name
        if pos >= end:
            return None, end
        byte = data[pos]
        if byte == 0x3D and name:  # "=" after at least one name byte
            pos += 1
            break
        if byte in _ASCII_WHITESPACE:
            while pos < end and data[pos] in _ASCII_WHITESPACE:
                pos += 1
            if pos >= end:
                return None, end
            if data[pos] != 0x3D:
                return (bytes(name), b""), pos
            pos += 1
            break
        if byte in b"/>":
            return (bytes(name), b""), pos
        name.append(byte + 0x20 if 0x41 <= byte <= 0x5A else byte)
        pos += 1
    while pos < end and data[pos] in _ASCII_WHITESPACE:
        pos += 1
    if pos >= end:
        return None, end
    quote = data[pos]
    if quote in b"\"'":
        close = data.find(bytes((quote,)), pos + 1)
        if close < 0:
            return None, end
        return (bytes(name), data[pos + 1 : close].lower()), close + 1
    if quote == 0x3E:
        return (bytes(name), b""), pos
    start = pos
    while pos < end and data[pos] not in b"\t\n\x0c\r >":
        pos += 1
    if pos >= end:
        return None, end
    return (bytes(name), data[start:pos].lower()), pos


def _charset_from_content(content: str) -> str | None:
    """The HTML Standard's "extracting a character encoding from a meta element"."""
    pos = 0
    while True:
        found = content.find("charset", pos)
        if found < 0:
            return None
        pos = found + len("charset")
        while pos < len(content) and content[pos] in ASCII_WHITESPACE:
            pos += 1
        if pos < len(content) and content[pos] == "=":
            break  # otherwise look for the next "charset"
    pos += 1
    while pos < len(content) and content[pos] in ASCII_WHITESPACE:
        pos += 1
    if pos >= len(content):
        return None
    first = content[pos]
    if first in "\"'":
        close = content.find(first, pos + 1)
        return content[pos + 1 : close] if close >= 0 else None
    stop = pos
    while stop < len(content) and content[stop] not in ASCII_WHITESPACE + ";":
        stop += 1
    return content[pos:stop]


def _meta_charset(data: bytes, pos: int) -> tuple[str | None, int]:
    """Read a ``<meta``'s attributes from ``pos``: (its declared label or None, end)."""
    seen: set[bytes] = set()
    got_pragma = False
    need_pragma: bool | None = None
    charset: str | None = None
    while True:
        attribute, pos = _attribute(data, pos)
        if attribute is None:
            break
        name, value = attribute
        if name in seen:
            continue
        seen.add(name)
        text = value.decode("latin-1")  # only ASCII bytes matter to a label
        if name == b"http-equiv":
            got_pragma = got_pragma or text == "content-type"
        elif name == b"content":
            extracted = _charset_from_content(text)
            if extracted is not None and charset is None:
                charset, need_pragma = extracted, True
        elif name == b"charset":
            charset, need_pragma = text, False
    if pos >= len(data):
        return None, pos  # the tag runs past the window: it does not count
    if need_pragma is None or (need_pragma and not got_pragma):
        return None, pos
    return charset, pos


_TAG_NAME_END = re.compile(rb"[\t\n\x0c\r >]")


def prescan(data: bytes) -> tuple[str | None, str | None]:
    """The HTML Standard's prescan of ``data`` (the caller cuts it to the window).

    Returns ``(label, unknown)``: the label of the first ``<meta>`` declaration browsers
    would honour (``None`` when there is none), and the first declared label that is not
    in the Encoding Standard (which browsers skip, looking on), for the error message when
    nothing else is found.
    """
    pos, end = 0, len(data)
    unknown: str | None = None
    while True:
        pos = data.find(b"<", pos)
        if pos < 0 or pos + 1 >= end:
            return None, unknown
        if data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 2)  # "<!-->" is a whole comment
            if close < 0:
                return None, unknown
            pos = close + 3
            continue
        if data[pos + 1 : pos + 5].lower() == b"meta" and data[pos + 5 : pos + 6] in (
            b"\t",
            b"\n",
            b"\x0c",
            b"\r",
            b" ",
            b"/",
        ):
            label, pos = _meta_charset(data, pos + 6)
            if label is not None:
                if whatwg_encoding(label) is not None:
                    return label, unknown
                unknown = unknown if unknown is not None else label
            pos += 1
            continue
        after = data[pos + 1]
        letter = 0x61 <= (after | 0x20) <= 0x7A
        if letter or (after == 0x2F and pos + 2 < end and 0x61 <= (data[pos + 2] | 0x20) <= 0x7A):
            # Any other start or end tag: skip its attributes, so a value that reads like
            # a <meta> is not taken for one.
            name_end = _TAG_NAME_END.search(data, pos + 1)
            if name_end is None:
                return None, unknown
            pos = name_end.start()
            while True:
                attribute, pos = _attribute(data, pos)
                if attribute is None:
                    break
            pos += 1
            continue
        if after in b"!/?":
            close = data.find(b">", pos + 1)
            if close < 0:
                return None, unknown
            pos = close + 1
            continue
        pos += 1


def sniff_encoding(data: bytes) -> tuple[str, bytes, bool]:
    """Return ``(codec name, bom bytes, declared?)`` for raw HTML ``data``.

    Raises:
        ScanError: the page declares an encoding browsers do not know or do not decode.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, bom, True
    head = data[:PRESCAN_BYTES]
    xml = _XML_DECL.match(head)
    if xml:
        return codec_for_label(xml.group(1).decode("ascii")), b"", True
    label, unknown = prescan(head)
    if label is None:
        label = unknown  # browsers would fall back to a locale's guess: we do not guess
    if label is not None:
        return codec_for_label(label), b"", True
    return "utf-8", b"", False


def _hint(data: bytes, declared: bool) -> str:
    """What to tell the author of a page that did not decode."""
    if declared:
        return ""
    for late in _LATE_META.finditer(data):
        if late.end() > PRESCAN_BYTES:
            return (
                f"; its charset is declared after the first {PRESCAN_BYTES} bytes, where "
                f"browsers do not look: move the <meta charset> within the first "
                f"{PRESCAN_BYTES} bytes"
            )
    return "; declare its charset with <meta charset=...>"


def decode_html(data: bytes) -> DecodedHTML:
    """Decode ``data``; raise :class:`ScanError` when it does not decode cleanly."""
    encoding, bom, declared = sniff_encoding(data)
    body = data[len(bom) :]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        where = exc.start + len(bom)
        raise ScanError(
            f"cannot decode as {encoding}: invalid byte at offset {where}{_hint(data, declared)}"
        ) from exc
    except (UnicodeError, LookupError) as exc:  # a codec that cannot decode at all
        raise ScanError(f"cannot decode as {encoding}: {exc}") from exc
    return DecodedHTML(text=text, encoding=encoding, bom=bom, declared=declared)
