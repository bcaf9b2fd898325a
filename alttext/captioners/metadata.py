"""Alt text that the image already carries in its metadata.

Photographers, agencies and design tools write descriptions into the file: IPTC's
"Alt Text (Accessibility)" field, XMP Dublin Core, the IPTC IIM caption, EXIF, PNG text
chunks, SVG ``<title>``/``<desc>``. When one of those is there, it was written by a person
and beats anything a model would guess, so the offline backend reads it first.

The container walkers here are small, bounded and byte-level on purpose: they never decode
pixels (so huge images cost nothing), they never hand hostile bytes to a full decoder, and
XML is parsed with :mod:`defusedxml` with entities forbidden. Corrupt or truncated input is
not an error here: :func:`read_embedded_alt` answers ``None`` ("no usable metadata") and
leaves it to the pixel-reading steps (OCR, a remote model) to report an undecodable image.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from alttext.languages import written_language
from alttext.records import compact_pickle

__all__ = ["SOURCES", "EmbeddedAlt", "is_junk", "pick_language", "read_embedded_alt"]

#: Every source this module reads, in order of preference (best first).
SOURCES: tuple[str, ...] = (
    "xmp:AltTextAccessibility",
    "xmp:dc:description",
    "xmp:dc:title",
    "iptc:Caption-Abstract",
    "exif:ImageDescription",
    "png:Description",
    "png:Title",
    "svg:title",
    "svg:desc",
)
_RANK = {source: rank for rank, source in enumerate(SOURCES)}

# Bounds on what we are willing to parse or inflate; real metadata is far smaller, and the
# caps keep a hostile file from costing memory (zip bombs in zTXt, giant XMP packets).
_MAX_XMP_BYTES = 4 * 1024 * 1024
_MAX_TEXT_BYTES = 256 * 1024
_MAX_SVG_BYTES = 16 * 1024 * 1024

_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS_DC = "http://purl.org/dc/elements/1.1/"
_NS_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
_NS_SVG = "http://www.w3.org/2000/svg"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XMP_PROPERTIES = {
    f"{{{_NS_IPTC_CORE}}}AltTextAccessibility": "xmp:AltTextAccessibility",
    f"{{{_NS_DC}}}description": "xmp:dc:description",
    f"{{{_NS_DC}}}title": "xmp:dc:title",
}
_RDF_CONTAINERS = {f"{{{_NS_RDF}}}{name}" for name in ("Alt", "Bag", "Seq")}

Alternative = tuple[str | None, str]
"""One language alternative: (BCP 47 tag or ``None``, text)."""


@compact_pickle
@dataclass(frozen=True, slots=True)
class EmbeddedAlt:
    """A description found in the image's own metadata.

    Attributes:
        text: the description, trimmed, whitespace collapsed.
        source: where it came from, one of :data:`SOURCES`.
        language: the language tag of the alternative that was chosen, when the field had one.
    """

    text: str
    source: str
    language: str | None = None


def read_embedded_alt(data: bytes, mime: str, language: str | None) -> EmbeddedAlt | None:
    """Return the best human-written description embedded in ``data``, or ``None``.

    Sources are tried in the order of :data:`SOURCES`; junk values (empty, camera defaults,
    file names, editor boilerplate, see :func:`is_junk`) are skipped so the next source
    gets its turn. Among language alternatives the page's ``language`` wins (see
    :func:`pick_language`).

    Never raises for bad input: corrupt, truncated, hostile (XML entity bombs, external
    entities) or unknown data gives ``None``, because missing metadata is the normal case
    and the caller goes on to read the pixels, which reports an undecodable image properly.

    Args:
        data: the image bytes.
        mime: the image's MIME type; only needed to recognise SVG, the other formats are
            recognised by their magic bytes.
        language: the page's BCP 47 language tag, or ``None``.
    """
    found: dict[str, list[Alternative]] = {}
    for source, lang, text in _candidates(data, mime):
        cleaned = _clean(text)
        if not is_junk(cleaned):
            found.setdefault(source, []).append((lang, cleaned))
    for source in SOURCES:
        if alternatives := found.get(source):
            lang, text = pick_language(alternatives, language)
            return EmbeddedAlt(text=text, source=source, language=lang)
    return None


def pick_language(alternatives: Sequence[Alternative], language: str | None) -> Alternative:
    """Choose the alternative for ``language``.

    Exact tag first (case-insensitive), then the same written language (``de-CH`` takes
    ``de`` or ``de-DE``, preferring the bare ``de``; ``zh-HK`` takes ``zh-TW`` before
    ``zh-CN``: see :func:`~alttext.languages.written_language`), then the same primary
    subtag (another script of the language), then ``x-default``, then the first.
    """
    if not alternatives:
        raise ValueError("no alternatives to choose from")
    tags = [(lang or "").lower() for lang, _ in alternatives]
    if language:
        wanted = language.lower()
        written = written_language(wanted)
        if wanted in tags:
            return alternatives[tags.index(wanted)]
        same = [index for index, tag in enumerate(tags) if written_language(tag) == written]
        if same:  # the bare tag (``de``, ``zh-Hant``) before a regional one
            return alternatives[next((i for i in same if tags[i] == written.lower()), same[0])]
        primary = written.split("-", 1)[0]
        for index, tag in enumerate(tags):
            if tag.split("-", 1)[0] == primary:
                return alternatives[index]
    if "x-default" in tags:
        return alternatives[tags.index("x-default")]
    return alternatives[0]


# --- junk values ------------------------------------------------------------------------

# Words that say "there is an image" and nothing else (alt-placeholder), and values that
# cameras, phones and editors write by default rather than a person.
# fmt: off
_JUNK_WORDS = frozenset({
    "alt", "blank", "caption", "chart", "default", "description", "diagram", "dsc", "dcim",
    "graphic", "icon", "image", "img", "logo", "n/a", "none", "null", "photo", "picture",
    "placeholder", "screenshot", "spacer", "temp", "title", "untitled", "untitled-1",
    "unknown", "sony dsc", "no title", "no description", "lorem ipsum",
})
# fmt: on
_JUNK_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # OLYMPUS DIGITAL CAMERA, KONICA MINOLTA DIGITAL CAMERA, "Digital Camera"...
        r"^(?:[\w-]+\s+){0,2}digital\s+(?:still\s+)?camera$",
        # a file name: anything ending in an image extension
        r"\.(?:png|jpe?g|gif|webp|svgz?|avif|tiff?|bmp|heic|heif|jxl)$",
        # camera and phone file stems: IMG_1234, DSC_0001, DSCN1234, PXL_20240101_..., P1010001
        r"^(?:img|dsc[nf_]?|pxl|mvimg|gopr|dji|sam|wp|p|_mg|mg)[_-]?\d{3,}\S*$",
        # OS screenshot defaults with their date
        r"^(?:screen\s?shot|cleanshot)\s+\d{4}-\d{2}-\d{2}",
        # UUIDs and long hex hashes
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        r"^[0-9a-f]{16,}$",
        # editor boilerplate: "Created with Sketch.", "Generator: Adobe Illustrator 27"
        r"^(?:created\s+with|generated\s+by|made\s+with|generator:)\s",
        r"^(?:layer|group|frame|artboard|page|rectangle|slice)\s*\d*$",
        # one token made of word characters with an underscore and a digit: a file stem
        r"^(?=\S*_)(?=\S*\d)[\w.-]+$",
    )
)


def is_junk(text: str) -> bool:
    """Whether ``text`` (already trimmed) is not a description a person wrote."""
    if not any(char.isalnum() for char in text):
        return True
    if text.casefold() in _JUNK_WORDS:
        return True
    return any(pattern.search(text) for pattern in _JUNK_PATTERNS)


def _clean(text: str) -> str:
    return " ".join(text.replace("\x00", " ").split())


# --- format dispatch --------------------------------------------------------------------

_Candidate = tuple[str, str | None, str]
"""(source, language tag or None, raw text)."""


def _candidates(data: bytes, mime: str) -> Iterator[_Candidate]:
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        yield from _from_jpeg(data)
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        yield from _from_png(data)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        yield from _from_webp(data)
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        yield from _from_exif(data)
        yield from _xmp_from_bytes(data)
    elif _looks_like_svg(data, mime):
        yield from _from_svg(data)
    else:
        # GIF (XMP application extension), AVIF/HEIC and others: the XMP packet is stored
        # as plain text in the file, which is all we need.
        yield from _xmp_from_bytes(data)


def _looks_like_svg(data: bytes, mime: str) -> bool:
    if mime.split(";", 1)[0].strip().lower() == "image/svg+xml":
        return True
    start = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower()


# --- JPEG -------------------------------------------------------------------------------

_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_PHOTOSHOP = b"Photoshop 3.0\x00"


def _from_jpeg(data: bytes) -> Iterator[_Candidate]:
    xmp_seen = False
    for marker, payload in _jpeg_segments(data):
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            yield from _from_exif(payload[6:])
        elif marker == 0xE1 and payload.startswith(_XMP_APP1):
            xmp_seen = True
            yield from _from_xmp(payload[len(_XMP_APP1) :])
        elif marker == 0xED and payload.startswith(_PHOTOSHOP):
            yield from _from_photoshop(payload[len(_PHOTOSHOP) :])
    if not xmp_seen:
        # XMP can also hide in Photoshop resource 0x0424 or a writer's odd segment.
        yield from _xmp_from_bytes(data)


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (marker, payload) for each segment before the image data starts."""
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers, no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > end:
            return  # corrupt or truncated: keep what we had
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length


def _from_photoshop(data: bytes) -> Iterator[_Candidate]:
    """Walk Photoshop image resources for the IPTC IIM block (resource 0x0404)."""
    pos = 0
    while pos + 12 <= len(data) and data[pos : pos + 4] == b"8BIM":
        (resource_id,) = struct.unpack(">H", data[pos + 4 : pos + 6])
        name_length = data[pos + 6]
        pos += 6 + 1 + name_length + ((1 + name_length) % 2)  # Pascal name, padded to even
        if pos + 4 > len(data):
            return
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        pos += 4
        if pos + size > len(data):
            return
        if resource_id == 0x0404:
            yield from _from_iim(data[pos : pos + size])
        pos += size + (size % 2)


def _from_iim(data: bytes) -> Iterator[_Candidate]:
    """Read Caption-Abstract (2:120) from IPTC IIM datasets, honouring 1:90 (charset)."""
    utf8 = False
    captions: list[bytes] = []
    pos = 0
    while pos + 5 <= len(data) and data[pos] == 0x1C:
        record, dataset = data[pos + 1], data[pos + 2]
        (size,) = struct.unpack(">H", data[pos + 3 : pos + 5])
        pos += 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7FFF) bytes hold the size
            count = size & 0x7FFF
            if count > 4 or pos + count > len(data):
                return
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        value = data[pos : pos + size]
        pos += size
        if record == 1 and dataset == 90:
            utf8 = value in (b"\x1b%G", b"\x1b%/I")
        elif record == 2 and dataset == 120:
            captions.append(value)
    for value in captions:
        yield "iptc:Caption-Abstract", None, _decode_legacy(value, utf8=utf8)


def _decode_legacy(raw: bytes, *, utf8: bool = False) -> str:
    """Decode a legacy text field: UTF-8 when declared or when it decodes, else cp1252."""
    if utf8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


# --- EXIF (TIFF structure) --------------------------------------------------------------

_IMAGE_DESCRIPTION = 0x010E


def _from_exif(tiff: bytes) -> Iterator[_Candidate]:
    """Read ImageDescription from IFD0 of a TIFF structure (EXIF blocks and TIFF files)."""
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return
    order = "<" if tiff[:2] == b"II" else ">"
    magic, offset = struct.unpack(order + "HI", tiff[2:8])
    if magic != 42 or offset + 2 > len(tiff):
        return
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for index in range(count):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(tiff):
            return
        tag, kind, size, inline = struct.unpack(order + "HHI4s", tiff[entry : entry + 12])
        if tag != _IMAGE_DESCRIPTION or kind not in (1, 2, 7):  # BYTE, ASCII, UNDEFINED
            continue
        if size <= 4:
            raw = inline[:size]
        else:
            (value_offset,) = struct.unpack(order + "I", inline)
            if value_offset + size > len(tiff) or size > _MAX_TEXT_BYTES:
                return
            raw = tiff[value_offset : value_offset + size]
        yield "exif:ImageDescription", None, _decode_legacy(raw.split(b"\x00", 1)[0])
        return


# --- PNG --------------------------------------------------------------------------------

_PNG_TEXT_KEYS = {"description": "png:Description", "title": "png:Title"}


def _from_png(data: bytes) -> Iterator[_Candidate]:
    for kind, body in _png_chunks(data):
        if kind == b"eXIf":
            yield from _from_exif(body)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            parsed = _png_text(kind, body)
            if parsed is None:
                continue
            keyword, lang, text = parsed
            if keyword == "XML:com.adobe.xmp":
                yield from _from_xmp(text.encode("utf-8"))
            elif source := _PNG_TEXT_KEYS.get(keyword.casefold()):
                yield source, lang, text


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return  # truncated
        body = data[pos + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        # A chunk whose checksum fails is damaged; skip it rather than trust its text.
        if zlib.crc32(kind + body) == crc:
            yield kind, body
        if kind == b"IEND":
            return
        pos = end + 4


def _png_text(kind: bytes, body: bytes) -> tuple[str, str | None, str] | None:
    """Decode a tEXt/zTXt/iTXt chunk into (keyword, language, text)."""
    keyword_raw, sep, rest = body.partition(b"\x00")
    if not sep:
        return None
    keyword = keyword_raw.decode("latin-1")
    if kind == b"tEXt":
        return keyword, None, rest.decode("latin-1")
    if kind == b"zTXt":
        inflated = _inflate(rest[1:]) if rest[:1] == b"\x00" else None
        return None if inflated is None else (keyword, None, inflated.decode("latin-1"))
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    lang_raw, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text_raw = rest.partition(b"\x00")
    if compressed:
        inflated = _inflate(text_raw) if method == 0 else None
        if inflated is None:
            return None
        text_raw = inflated
    lang = lang_raw.decode("ascii", "replace") or None
    return keyword, lang, text_raw.decode("utf-8", "replace")


def _inflate(raw: bytes, limit: int = _MAX_XMP_BYTES) -> bytes | None:
    """Decompress zlib data, refusing output beyond ``limit`` (zip bombs)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, limit)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        return None
    return out


# --- WebP -------------------------------------------------------------------------------


def _from_webp(data: bytes) -> Iterator[_Candidate]:
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if len(body) < size:
            return  # truncated
        if kind == b"EXIF":
            yield from _from_exif(body)
        elif kind == b"XMP ":
            yield from _from_xmp(body)
        pos += 8 + size + (size % 2)


# --- XMP --------------------------------------------------------------------------------

_XMP_START = re.compile(rb"<(?:x:xmpmeta|x:xapmeta)\b")
_XMP_END = re.compile(rb"</(?:x:xmpmeta|x:xapmeta)>")


def _xmp_from_bytes(data: bytes) -> Iterator[_Candidate]:
    """Find the XMP packet stored as plain text anywhere in ``data``."""
    start_match = _XMP_START.search(data)
    if start_match is None:
        return
    end_match = _XMP_END.search(data, start_match.end())
    if end_match is None:
        return
    yield from _from_xmp(data[start_match.start() : end_match.end()])


def _from_xmp(packet: bytes) -> Iterator[_Candidate]:
    if len(packet) > _MAX_XMP_BYTES:
        return
    start_match = _XMP_START.search(packet)
    if start_match is not None:
        # Pillow and most writers wrap the packet in <?xpacket?> processing instructions and
        # padding; parse only the x:xmpmeta element.
        end_match = _XMP_END.search(packet, start_match.end())
        if end_match is None:
            return
        packet = packet[start_match.start() : end_match.end()]
    root = _parse_xml(packet, allow_dtd=False)
    if root is None:
        return
    for element in root.iter():
        for attribute, attribute_source in _XMP_PROPERTIES.items():
            # Simple values may be written as attributes of rdf:Description.
            if value := element.get(attribute):
                yield attribute_source, None, value
        source = _XMP_PROPERTIES.get(element.tag)
        if source is None:
            continue
        containers = [child for child in element if child.tag in _RDF_CONTAINERS]
        if containers:
            for item in containers[0]:
                yield source, item.get(_XML_LANG), "".join(item.itertext())
        else:
            yield source, element.get(_XML_LANG), "".join(element.itertext())


def _parse_xml(data: bytes, *, allow_dtd: bool) -> Element | None:
    """Parse untrusted XML: entities and external references are always refused."""
    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=not allow_dtd, forbid_entities=True, forbid_external=True
        )
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        return None
    return root


# --- SVG --------------------------------------------------------------------------------


def _from_svg(data: bytes) -> Iterator[_Candidate]:
    if data.startswith(b"\x1f\x8b"):  # .svgz
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                data = stream.read(_MAX_SVG_BYTES + 1)
        except (OSError, EOFError, zlib.error):
            return
    if len(data) > _MAX_SVG_BYTES:
        return
    # SVG files routinely carry a DOCTYPE, so DTDs are allowed; entity declarations and
    # external references are still refused (billion laughs, XXE).
    root = _parse_xml(data, allow_dtd=True)
    if root is None or root.tag not in (f"{{{_NS_SVG}}}svg", "svg"):
        return
    # Only the root's own title/desc name the whole image; nested ones label its parts.
    for child in root:
        name = child.tag.removeprefix(f"{{{_NS_SVG}}}")
        if name in ("title", "desc"):
            lang = child.get(_XML_LANG) or child.get("lang")
            yield f"svg:{name}", lang, "".join(child.itertext())
