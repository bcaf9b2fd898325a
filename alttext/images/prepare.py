"""Make an image acceptable to a captioning service before it is uploaded or inlined.

Services take JPEG, PNG and WebP up to a size limit (WaveSpeed documents 20 MB). This
module passes such images through untouched and otherwise converts a copy: it downscales
what is too large, takes the first frame of an animation, turns ICO / TIFF / BMP / AVIF
(and HEIC when ``pillow-heif`` is installed) into PNG when there is transparency and JPEG
otherwise, and rasterises SVG with ``resvg-py`` when installed, refusing an SVG that
references any file or URL outside itself (the renderer would read it from our disk).
Every Pillow failure becomes an :class:`~alttext.errors.ImageError` subclass.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import io
import re
import struct
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from PIL import Image, ImageOps

from alttext.errors import ImageError, ImageFetchError, ImageRefused

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

#: Formats every service we talk to accepts as they are.
PASSTHROUGH = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: More pixels than this is refused before decoding. Below Pillow's own bomb threshold
#: (``Image.MAX_IMAGE_PIXELS``), so our check is the one that normally fires.
MAX_PIXELS = 64_000_000
#: SVGs are vector art: render small icons at least this large so a model can see them.
SVG_MIN_SIDE = 512
#: The smallest side we shrink to while trying to meet ``max_bytes``.
MIN_SIDE = 64

_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
_heif_checked = False


def prepare_for_upload(
    data: bytes, mime: str, *, max_side: int = 2048, max_bytes: int = 20 * 1024 * 1024
) -> tuple[bytes, str]:
    """Return image bytes and their MIME type, fit for a captioning service.

    Args:
        data: the original image bytes.
        mime: the MIME type the caller believes ``data`` has (used to recognise SVG;
            raster formats are recognised from the bytes).
        max_side: the longest side allowed, in pixels.
        max_bytes: the largest encoded size allowed.

    Raises:
        ImageRefused: the image has too many pixels to decode safely.
        ImageFetchError: the bytes are not a readable image.
        ImageError: an SVG, when no SVG rasteriser is installed.
    """
    if _is_svg(data, mime):
        data = _rasterise_svg(data, max_side)
    _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow warns (an error under ``-W error``) or raises for huge images.
        raise ImageRefused(f"image has too many pixels to decode safely: {exc}") from exc
    except _PIL_ERRORS as exc:
        raise ImageFetchError(f"not a readable image ({mime}): {exc}") from exc
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageRefused(
                f"image is {width}x{height} pixels, more than the {MAX_PIXELS} allowed"
            )
        try:
            return _prepare(image, data, max_side=max_side, max_bytes=max_bytes)
        except _PIL_ERRORS as exc:
            raise ImageFetchError(f"corrupt or unreadable image ({mime}): {exc}") from exc


def _prepare(
    image: Image.Image, data: bytes, *, max_side: int, max_bytes: int
) -> tuple[bytes, str]:
    fmt = image.format or ""
    animated = bool(getattr(image, "is_animated", False))
    if fmt == "JPEG":
        # Lets libjpeg decode at 1/2, 1/4 or 1/8 scale: big photos shrink far faster.
        image.draft("RGB", (max_side, max_side))
    image.load()  # decode now, so a corrupt file fails here rather than at the service
    fits = max(image.size) <= max_side and len(data) <= max_bytes
    if fmt in PASSTHROUGH and not animated and fits and not _has_orientation(image):
        return data, PASSTHROUGH[fmt]
    # Re-encoding drops EXIF, so apply its rotation to the pixels first.
    frame = ImageOps.exif_transpose(image)
    alpha = frame.mode in ("RGBA", "LA", "PA") or (
        frame.mode == "P" and "transparency" in frame.info
    )
    frame = frame.convert("RGBA" if alpha else "RGB")
    side = min(max_side, max(frame.size))
    while True:
        copy = frame.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if alpha:
            copy.save(out, format="PNG", optimize=True)
        else:
            copy.save(out, format="JPEG", quality=85, optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), "image/png" if alpha else "image/jpeg"
        if side <= MIN_SIDE:
            raise ImageRefused(f"image does not fit in {max_bytes} bytes even at {side} px")
        side = max(MIN_SIDE, int(side * 0.7))


def _has_orientation(image: Image.Image) -> bool:
    """Whether EXIF asks for a rotation (the service might ignore it; we apply it)."""
    try:
        return image.getexif().get(0x0112, 1) not in (1, None)
    except _PIL_ERRORS:
        return False


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF when the optional ``pillow-heif`` is installed."""
    global _heif_checked
    if _heif_checked:
        return
    _heif_checked = True
    try:
        module: Any = importlib.import_module("pillow_heif")
    except ImportError:
        return
    module.register_heif_opener()


_SVG_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg\b", re.S
)


def _is_svg(data: bytes, mime: str) -> bool:
    if mime.split(";")[0].strip().lower() == "image/svg+xml":
        return True
    return _SVG_START.match(data[:4096]) is not None


_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|pt|pc|mm|cm|in)?\s*$")
_UNIT_PX = {
    None: 1.0,
    "px": 1.0,
    "pt": 4 / 3,
    "pc": 16.0,
    "mm": 96 / 25.4,
    "cm": 96 / 2.54,
    "in": 96.0,
}


def _parse_svg(text: str) -> Element:
    """The SVG's XML tree, parsed from the very text the renderer is given."""
    from defusedxml import ElementTree  # defused: SVG is XML from the web

    try:
        root: Element = ElementTree.fromstring(text)
    except (SyntaxError, ValueError) as exc:  # ParseError; defusedxml's entity refusals
        raise ImageFetchError(f"not a readable SVG: {exc}") from exc
    return root


def _svg_size(root: Element) -> tuple[float, float]:
    """The SVG's intrinsic size from its root ``width``/``height`` or ``viewBox``."""

    def length(name: str) -> float | None:
        match = _LENGTH.match(root.get(name) or "")
        if match is None:
            return None
        value = float(match.group(1)) * _UNIT_PX[match.group(2)]
        return value if value > 0 else None

    width, height = length("width"), length("height")
    box = [p for p in re.split(r"[\s,]+", (root.get("viewBox") or "").strip()) if p]
    box_size: tuple[float, float] | None = None
    if len(box) == 4:
        try:
            box_w, box_h = float(box[2]), float(box[3])
        except ValueError:
            box_w = box_h = 0.0
        if box_w > 0 and box_h > 0:
            box_size = (box_w, box_h)
    if width and height:
        return width, height
    if box_size:
        if width:
            return width, width * box_size[1] / box_size[0]
        if height:
            return height * box_size[0] / box_size[1], height
        return box_size
    return 100.0, 100.0  # the size a browser gives an SVG that names none


# --- what an SVG may reference ----------------------------------------------------------
#
# resvg loads every ``href`` that is not a ``data:`` URI or a ``#fragment`` from the local
# disk: an absolute path as it is, a relative one against its resources directory (the
# working directory when none is given). Its Python binding has no option to turn that
# off, so an SVG from a page, or from any server, could make us render /etc/... or the
# user's files and upload the picture to the captioning service. Every reference is
# therefore checked here, on the tree parsed from the same text, and an SVG that names
# anything outside itself is refused: a silent removal would caption a different picture.

_XINCLUDE = "{http://www.w3.org/2001/XInclude}"
_CSS_URL = re.compile(r"url\(", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
#: How deep ``data:`` SVGs inside SVGs are checked; deeper nesting is refused.
_MAX_NESTING = 4


def _check_references(root: Element, depth: int = 0) -> None:
    """Refuse an SVG that references anything but itself and inline ``data:``.

    Raises:
        ImageRefused: an external ``href``, CSS ``url()``/``@import``, XInclude, or an
            ``<?xml-stylesheet?>`` (checked by the caller on the raw text).
    """
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag.startswith(_XINCLUDE):
            raise ImageRefused("SVG uses XInclude, which may read external files")
        local = tag.rpartition("}")[2]
        for name, value in element.attrib.items():
            attribute = name.rpartition("}")[2]
            # A hyperlink's target is never loaded to draw the picture.
            if attribute == "href" and local != "a":
                _check_href(value, depth)
            elif attribute == "style":
                _check_css(value)
            elif "url(" in value.lower():
                _check_css_urls(value)
        if local == "style":
            _check_css("".join(element.itertext()))


def _check_href(value: str, depth: int) -> None:
    # Exactly as resvg reads them: it does not trim, and only lower-case ``data:`` is inline.
    if value.startswith("#"):
        return
    if not value.startswith("data:"):
        raise ImageRefused(f"SVG references an external file: {value[:200]!r}")
    _check_nested(value, depth)


def _check_nested(uri: str, depth: int) -> None:
    """An SVG inlined as a ``data:`` image is rendered too: hold it to the same rules."""
    header, _, payload = uri[5:].partition(",")
    try:
        if header.strip().lower().endswith(";base64"):
            data = base64.b64decode(re.sub(r"[\t\n\f\r ]", "", payload) + "==", validate=False)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise ImageRefused(f"SVG embeds an unreadable data: URI: {exc}") from exc
    if data.startswith(_RASTER_MAGIC):
        return
    if data.startswith(b"\x1f\x8b"):
        raise ImageRefused("SVG embeds a compressed SVG, which cannot be checked")
    if depth + 1 >= _MAX_NESTING:
        raise ImageRefused(f"SVG nests SVG images more than {_MAX_NESTING} deep")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # neither a raster image nor SVG text: nothing the renderer can draw
    if "<" not in text:
        return
    _check_text(text, depth + 1)


def _check_css(css: str) -> None:
    # CSS escapes can spell ``url(`` or ``@import`` in ways a plain search cannot see.
    if "\\" in css:
        raise ImageRefused("SVG style uses CSS escapes, which could hide an external reference")
    if _CSS_IMPORT.search(css):
        raise ImageRefused("SVG style uses @import, which may load an external file")
    _check_css_urls(css)


def _check_css_urls(css: str) -> None:
    for match in _CSS_URL.finditer(css):
        target = css[match.end() :].lstrip(" \t\r\n\f").lstrip("'\"")
        if not target.startswith(("#", "data:")):
            raise ImageRefused(f"SVG references an external file: url({target[:200]}")


# The one DOCTYPE an SVG may have: a plain external one (as editors write), whose quoted
# ids hold no "<", ">", "[" or "]". Any other "<!" declaration (an internal subset, a
# NOTATION, an ENTITY...) is refused before parsing: XML parsers disagree on where such
# declarations end (roxmltree, resvg's parser, ends a quoted literal at ">"), so a check
# of one parser's tree would not be a check of what the renderer draws.
_PLAIN_DOCTYPE = re.compile(
    r"""<!DOCTYPE\s+svg(?:\s+(?:PUBLIC\s+(?:"[^"<>\[\]]*"|'[^'<>\[\]]*')\s+|SYSTEM\s+)"""
    r"""(?:"[^"<>\[\]]*"|'[^'<>\[\]]*'))?\s*>""",
    re.IGNORECASE,
)
_DECLARATION = re.compile(r"<!(?!--|\[CDATA\[)")


def _check_text(text: str, depth: int = 0) -> Element:
    """Parse SVG text and refuse it when it references anything outside itself."""
    if "<?xml-stylesheet" in text:
        raise ImageRefused("SVG uses <?xml-stylesheet?>, which may load an external file")
    if _DECLARATION.search(_PLAIN_DOCTYPE.sub("", text, count=1)):
        raise ImageRefused("SVG has a DTD declaration (only a plain <!DOCTYPE svg> is read)")
    root = _parse_svg(text)
    _check_references(root, depth)
    return root


def _rasterise_svg(data: bytes, max_side: int) -> bytes:
    """Render an SVG to PNG on white (a model sees transparency as black) at a usable size."""
    try:
        resvg: Any = importlib.import_module("resvg_py")
    except ImportError as exc:
        raise ImageError(
            "SVG images need an SVG rasteriser to be captioned: pip install resvg-py"
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImageFetchError("SVG is not UTF-8 text") from exc
    width, height = _svg_size(_check_text(text))
    longest = max(width, height)
    target = min(max_side, max(SVG_MIN_SIDE, longest))
    scale = target / longest
    size = (
        {"width": max(1, round(width * scale))}
        if width >= height
        else {"height": max(1, round(height * scale))}
    )
    # Every reference was checked above; an empty resources directory as well means a
    # relative path the check somehow missed resolves to nothing, not to the working
    # directory (resvg's default).
    with tempfile.TemporaryDirectory(prefix="alttext-svg-") as nowhere:
        try:
            png: bytes = resvg.svg_to_bytes(
                svg_string=text, background="#ffffff", resources_dir=nowhere, **size
            )
        except (ValueError, OSError) as exc:
            raise ImageFetchError(f"SVG could not be rendered: {exc}") from exc
    return png
