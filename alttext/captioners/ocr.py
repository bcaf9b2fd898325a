"""Text in images, read locally with RapidOCR (the optional ``alttext[ocr]`` extra).

For an image of text (a screenshot of a paragraph, a banner, a slide) the alt text *is*
the text (W3C WAI images tutorial), so OCR is a faithful offline caption for exactly those
images and useless for the rest. :func:`ocr_text` therefore reports how much of the image
the text covers and how sure the recogniser was, and :attr:`OcrResult.mostly_text` decides.

``rapidocr-onnxruntime`` ships its ONNX models inside the wheel, so nothing is downloaded.
It is imported lazily, on first use; when it is not installed (or cannot load, e.g. OpenCV
missing a system library) :func:`ocr_available` is ``False`` and :func:`ocr_text` answers
``None``: a missing optional extra is not a configuration error.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alttext.errors import ImageFetchError, ImageRefused

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_PIXELS",
    "MIN_CONFIDENCE",
    "MIN_TEXT_CHARS",
    "MIN_TEXT_COVERAGE",
    "MODEL",
    "OcrResult",
    "ocr_available",
    "ocr_text",
]

logger = logging.getLogger(__name__)

#: The model name reported in ``CaptionResult.model`` for OCR captions.
MODEL = "rapidocr"

# "Mostly text" thresholds. Text boxes are tight around each line of glyphs, so margins and
# line spacing do not count. Measured on rendered samples: a two-line banner ~24 % of its
# area, a 1280x720 slide with a title and three bullets ~9 %, a 48 px "EXIT" sign in a
# 1200x900 picture ~0.5 %; noise and gradients give no boxes at all. Photos with incidental
# text (a sign, a shirt print, a watermark) and charts with axis labels stay in the low
# single digits, so 5 % keeps sparse slides in and pictures-with-some-text out. Recognition
# confidence on clean text is > 0.95; below 0.8 (length-weighted mean) the reading is
# unreliable or the "text" is texture the detector mistook for glyphs, and wrong alt text
# is worse than none. Fewer than three letters or digits is a mark, not text to read out.
MIN_TEXT_COVERAGE = 0.05
MIN_CONFIDENCE = 0.80
MIN_TEXT_CHARS = 3

#: Images with more pixels are refused before decoding (memory); larger ones are no
#: better OCR input than their downscaled copy anyway.
MAX_PIXELS = 40_000_000
# OCR input is downscaled to this longest side: enough for body text in a full-HD
# screenshot, and the detector's cost grows with the pixel count.
_MAX_SIDE = 2000


@dataclass(frozen=True, slots=True)
class OcrResult:
    """What OCR read in an image.

    Attributes:
        lines: the text, one entry per visual line, in reading order (top to bottom, left
            to right within a line; multi-column layouts are not separated).
        coverage: the share of the image area covered by text boxes, 0-1.
        confidence: the recogniser's mean confidence, weighted by text length, 0-1.
    """

    lines: tuple[str, ...]
    coverage: float
    confidence: float

    @property
    def text(self) -> str:
        """The lines joined with newlines; empty when nothing was read."""
        return "\n".join(self.lines)

    @property
    def mostly_text(self) -> bool:
        """Whether the image is an image *of text*, so that its text is its alt text."""
        chars = sum(char.isalnum() for line in self.lines for char in line)
        return (
            chars >= MIN_TEXT_CHARS
            and self.coverage >= MIN_TEXT_COVERAGE
            and self.confidence >= MIN_CONFIDENCE
        )


_engine_lock = threading.Lock()
# RapidOCR mutates per-call settings on the engine object and is not documented as
# thread-safe; onnxruntime already uses every core for one image, so serialising calls
# costs no throughput.
_run_lock = threading.Lock()
_engine: Any = None
_unavailable: str | None = None


def ocr_available() -> bool:
    """Whether the OCR extra is installed and loads; the first call loads the models."""
    return _get_engine() is not None


def _get_engine() -> Any:
    global _engine, _unavailable
    with _engine_lock:
        if _engine is None and _unavailable is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                _unavailable = f"OCR extra not installed ({exc})"
                return None
            try:
                # "max" keeps the detector from upscaling small or wide images (the default
                # stretches the shorter side to 736 px, which made a 800x200 banner take
                # seconds) while leaving screenshots at full resolution.
                _engine = RapidOCR(det_limit_type="max", det_limit_side_len=_MAX_SIDE)
            except Exception as exc:
                # A broken install (missing model file, onnxruntime error) must not break
                # captioning with metadata; record why, log it once, and carry on without OCR.
                _unavailable = f"OCR engine failed to load: {exc}"
                logger.warning("OCR disabled: %s", _unavailable, exc_info=True)
                return None
        return _engine


def ocr_text(data: bytes) -> OcrResult | None:
    """Read the text in an image.

    Returns ``None`` when OCR is not available (see :func:`ocr_available`), and an
    :class:`OcrResult` with no lines when the image holds no readable text.

    Raises:
        ImageRefused: the image has more than :data:`MAX_PIXELS` pixels.
        ImageFetchError: the bytes are not an image Pillow can decode (SVG included).
    """
    engine = _get_engine()
    if engine is None:
        return None
    image = _load_rgb(data)
    with _run_lock:
        raw, _elapsed = engine(image)
    return _summarise(raw or [], image.width * image.height)


def _load_rgb(data: bytes) -> Image.Image:
    """Decode the first frame as RGB on white, at most ``_MAX_SIDE`` px on its longest side."""
    # Pillow only here: every offline run builds this backend, few of them read text.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise ImageRefused(
                    f"image too large for OCR ({opened.width}x{opened.height} pixels, "
                    f"limit {MAX_PIXELS})"
                )
            opened.draft("RGB", (_MAX_SIDE, _MAX_SIDE))  # JPEG: decode at reduced scale
            opened.load()
            image = opened.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning (89-179 MP) only raises when warnings are errors; either way the
        # image is over MAX_PIXELS and refused.
        raise ImageRefused(f"image too large for OCR: {exc}") from exc
    except UnidentifiedImageError as exc:  # its message is just the BytesIO's repr
        raise ImageFetchError("image could not be decoded: not a format Pillow reads") from exc
    # Pillow's decoders raise all of these for corrupt, truncated or unsupported input.
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise ImageFetchError(f"image could not be decoded: {exc}") from exc
    # Transparent pixels often hold black RGB; flattening onto white keeps dark text on a
    # transparent background readable instead of turning it into black on black.
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A"))
    flat.thumbnail((_MAX_SIDE, _MAX_SIDE))
    return flat


@dataclass(frozen=True, slots=True)
class _Box:
    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float
    area: float

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def _summarise(raw: list[Any], image_area: int) -> OcrResult:
    boxes: list[_Box] = []
    for points, text, score in raw:
        text = str(text).strip()
        if not text:
            continue
        xs = [float(point[0]) for point in points]
        ys = [float(point[1]) for point in points]
        boxes.append(
            _Box(text, float(score), min(xs), min(ys), max(xs), max(ys), _polygon_area(xs, ys))
        )
    if not boxes:
        return OcrResult(lines=(), coverage=0.0, confidence=0.0)
    lines = tuple(" ".join(box.text for box in row) for row in _rows(boxes))
    coverage = min(1.0, sum(box.area for box in boxes) / max(image_area, 1))
    weights = [len(box.text) for box in boxes]
    confidence = sum(box.score * w for box, w in zip(boxes, weights, strict=True)) / sum(weights)
    return OcrResult(lines=lines, coverage=coverage, confidence=confidence)


def _rows(boxes: list[_Box]) -> list[list[_Box]]:
    """Group boxes into visual lines (top to bottom), each sorted left to right.

    The detector may split one line into several boxes ("Summer", "Sale"); a box joins a
    line when its vertical middle falls inside the line's vertical extent.
    """
    rows: list[list[_Box]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        if rows:
            row = rows[-1]
            top = min(b.top for b in row)
            bottom = max(b.bottom for b in row)
            if top <= box.middle <= bottom:
                row.append(box)
                continue
        rows.append([box])
    return [sorted(row, key=lambda b: b.left) for row in rows]


def _polygon_area(xs: list[float], ys: list[float]) -> float:
    """Shoelace formula: boxes can be rotated quadrilaterals, not just rectangles."""
    count = len(xs)
    twice = sum(xs[i] * ys[(i + 1) % count] - xs[(i + 1) % count] * ys[i] for i in range(count))
    return abs(twice) / 2
