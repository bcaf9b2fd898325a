"""Identify image bytes: the format from magic bytes, the size from the header only.

Nothing here decodes pixels. Pillow's ``Image.open`` reads just the header, which is all we
need for the intrinsic size (spacer detection) and to tell a real image from an HTML error
page or a truncated download. SVG is text: its size comes from ``width``/``height`` or the
``viewBox``, read with defusedxml so entity expansion and external entities are refused.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from alttext.errors import ImageFetchError, ImageRefused

__all__ = ["MAX_IMAGE_PIXELS", "ImageInfo", "image_size", "probe", "sniff_mime"]

# Pillow's own default (~89.5 Mpx, a 1 GB RGBA bitmap). A page image larger than that is
# either an error or an attack; no captioner needs it.
MAX_IMAGE_PIXELS = 89_478_485

# What Pillow may raise on malformed headers. Its plugins are not uniform, so the list is
# broad, but it stays a list: anything else is a bug and keeps its traceback.
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, struct.error)

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

# Things that may precede the root element of an SVG document.
_SVG_PROLOGUE = re.compile(
    rb"\s*(?:<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>|<\?[^>]*\?>)",
    re.DOTALL | re.IGNORECASE,
)
_SVG_ROOT = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?svg[\s>/]")
_SVG_NS = "{http://www.w3.org/2000/svg}"
# CSS absolute units in CSS pixels (96 per inch).
_SVG_UNITS = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54}
_SVG_UNITS["mm"] = _SVG_UNITS["cm"] / 10
_SVG_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|pt|pc|in|cm|mm)?\s*\Z")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says about an image.

    Attributes:
        mime: the media type from the magic bytes.
        size: ``(width, height)`` in pixels, ``None`` when the format states no size (an SVG
            without width/height/viewBox, or a format this Pillow build cannot read).
    """

    mime: str
    size: tuple[int, int] | None


def sniff_mime(data: bytes) -> str | None:
    """Return the image media type from the leading bytes, or ``None`` when not an image."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    # "BM" alone is two common letters; also require a known DIB header size.
    if head.startswith(b"BM") and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "image/bmp"
    # ICONDIR: reserved 0, type 1, at least one image.
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "image/x-icon"
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(data)
    if _looks_like_svg(data[:4096]):
        return "image/svg+xml"
    return None


def _sniff_isobmff(data: bytes) -> str | None:
    """AVIF or HEIF from the ``ftyp`` box's major and compatible brands."""
    box_size = int.from_bytes(data[:4], "big")
    box = data[8 : min(max(box_size, 16), 4096)]
    brands = {box[i : i + 4] for i in range(0, len(box), 4) if i != 4}  # skip minor_version
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEIF_BRANDS:
        return "image/heic"
    return None


def _looks_like_svg(head: bytes) -> bool:
    """Whether the first element, after any prologue, is ``<svg``."""
    text = head.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    while match := _SVG_PROLOGUE.match(text, pos):
        pos = match.end()
    return _SVG_ROOT.match(text, pos) is not None


def probe(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Identify ``data`` as an image and read its size from the header.

    Args:
        data: the whole file.
        max_pixels: refuse images whose header declares more pixels than this.

    Returns:
        The media type and size.

    Raises:
        ImageFetchError: the bytes are not an image we know, or the header is corrupt.
        ImageRefused: the image declares more than ``max_pixels`` pixels.
    """
    mime = sniff_mime(data)
    if mime is None:
        raise ImageFetchError("not an image: content matches no known image format")
    return ImageInfo(mime=mime, size=image_size(data, max_pixels=max_pixels))


def image_size(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int] | None:
    """Return ``(width, height)`` read from the image header, without decoding pixels.

    Args:
        data: the whole file.
        max_pixels: refuse images whose header declares more pixels than this.

    Returns:
        The size, or ``None`` when the format states none (see :class:`ImageInfo`).

    Raises:
        ImageFetchError: the data is corrupt or not an image.
        ImageRefused: a decompression bomb (more than ``max_pixels`` pixels declared).
    """
    mime = sniff_mime(data)
    if mime == "image/svg+xml":
        return _svg_size(data)
    header = _header_size(data, mime)
    if header is not None and header[0] * header[1] <= max_pixels:
        return header
    # Anything unusual (another format, an odd header, a declared bomb) goes to Pillow,
    # whose verdicts and messages are the reference (imported only then: most sites never
    # need it).
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow raises the Error above 2x its limit and *warns* between 1x and 2x; the
        # warning is an exception only when warnings are errors (our test config). Either
        # way the check below refuses the image, so both paths end the same.
        raise ImageRefused(f"image declares too many pixels (decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        if mime in ("image/avif", "image/heic"):
            return None  # a real format this Pillow build has no plugin for
        raise ImageFetchError("corrupt or unreadable image: no decoder recognises it") from exc
    except _PIL_ERRORS as exc:
        raise ImageFetchError(f"corrupt or unreadable image: {exc}") from exc
    width, height = size
    if width * height > max_pixels:
        raise ImageRefused(
            f"image declares {width}x{height} pixels, more than the {max_pixels} allowed"
        )
    return size


_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _header_size(data: bytes, mime: str | None) -> tuple[int, int] | None:
    """The size the common formats state in their first bytes, without Pillow.

    Opening an image with Pillow costs tens of microseconds, which a site with thousands
    of images pays on every run. Returns ``None`` whenever the header is not plainly well
    formed, so the caller asks Pillow instead.
    """
    size: tuple[int, ...] | None
    try:
        if mime == "image/png":
            # Signature, then IHDR (length 13) whose CRC must match.
            if data[8:16] != b"\x00\x00\x00\rIHDR" or len(data) < 33:
                return None
            if zlib.crc32(data[12:29]) != int.from_bytes(data[29:33], "big"):
                return None
            size = struct.unpack(">II", data[16:24])
        elif mime == "image/gif":
            if len(data) < 13:
                return None
            size = struct.unpack("<HH", data[6:10])
        elif mime == "image/webp":
            size = _webp_size(data)
        elif mime == "image/jpeg":
            size = _jpeg_size(data)
        else:
            return None
    except struct.error:
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return (int(size[0]), int(size[1]))


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and data[20:21] == b"\x2f" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first start-of-frame."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _svg_size(data: bytes) -> tuple[int, int] | None:
    """Size of an SVG from ``width``/``height``, else from the ``viewBox``."""
    try:
        root: Element = safe_et.fromstring(data)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ImageFetchError(f"corrupt or unsafe SVG: {exc}") from exc
    if root.tag not in ("svg", _SVG_NS + "svg"):
        raise ImageFetchError(f"not an SVG document: root element is {root.tag!r}")
    width = _svg_length(root.get("width"))
    height = _svg_length(root.get("height"))
    box = _viewbox(root.get("viewBox"))
    if width is None and height is None and box is None:
        return None
    if box is not None:
        # A missing width or height follows the viewBox's aspect ratio, as browsers do.
        box_w, box_h = box
        if width is None and height is None:
            width, height = box_w, box_h
        elif width is None:
            width = height * box_w / box_h if height is not None and box_h else box_w
        elif height is None:
            height = width * box_h / box_w if box_w else box_h
    if width is None or height is None:
        return None
    return _pixels(width), _pixels(height)


def _svg_length(value: str | None) -> float | None:
    """An absolute SVG length in pixels; ``None`` for absent, relative (%/em) or bad values."""
    if value is None:
        return None
    match = _SVG_LENGTH.match(value)
    if match is None:
        return None
    return float(match.group(1)) * _SVG_UNITS[match.group(2) or ""]


def _viewbox(value: str | None) -> tuple[float, float] | None:
    """The viewBox's width and height, when it is four numbers with a positive size."""
    if value is None:
        return None
    parts = value.replace(",", " ").split()
    if len(parts) != 4:
        return None
    try:
        box_w, box_h = float(parts[2]), float(parts[3])
    except ValueError:
        return None
    if not (box_w > 0 and box_h > 0 and math.isfinite(box_w) and math.isfinite(box_h)):
        return None
    return box_w, box_h


def _pixels(length: float) -> int:
    """Round a CSS length to whole pixels, keeping any visible size at least 1 px."""
    if not math.isfinite(length):
        return 0
    return max(round(length), 1) if length > 0 else 0
