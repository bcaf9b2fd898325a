"""The ``offline`` backend: no network, no key, nothing invented.

It is the default when no captioning service is configured, so it must work on a fresh
machine. It only ever returns text a person or the image itself already holds:

1. a description embedded in the image's metadata (:mod:`alttext.captioners.metadata`),
   in the page's language when the metadata has alternatives;
2. for an image *of text* (screenshot, banner, slide) the text, read by OCR
   (:mod:`alttext.captioners.ocr`, optional extra ``alttext[ocr]``).

Anything else raises :class:`~alttext.errors.NoCaption` with a reason saying what was
tried. It never derives a caption from a file name: ``IMG_1234.jpg`` is not alt text.
"""

from __future__ import annotations

from alttext.captioners import metadata
from alttext.captioners import ocr as text_reader
from alttext.captioners.base import BackendOptions, CaptionRequest, CaptionResult
from alttext.errors import ImageError, NoCaption

__all__ = ["OfflineCaptioner", "create"]

_SVG_MIME = "image/svg+xml"


class OfflineCaptioner:
    """Captions from embedded metadata, then OCR for images of text.

    Args:
        ocr: whether to read text in images when the metadata has nothing; when the OCR
            extra is not installed this quietly has no effect (the reason says so).
    """

    name = "offline"

    def __init__(self, *, ocr: bool = True) -> None:
        self._ocr = ocr

    def __repr__(self) -> str:
        return f"OfflineCaptioner(ocr={self._ocr!r})"

    def caption(self, request: CaptionRequest) -> CaptionResult:
        """Return the embedded description or the image's text; raise ``NoCaption`` otherwise."""
        embedded = metadata.read_embedded_alt(request.image, request.mime_type, request.language)
        if embedded is not None:
            return CaptionResult(
                caption=embedded.text,
                backend=self.name,
                model=None,
                source=f"metadata:{embedded.source}",
            )
        tried = "no embedded alt text"
        if not self._ocr:
            raise NoCaption(f"{tried}; OCR is turned off")
        if _is_svg(request):
            # SVG text is markup, not pixels; its <title>/<desc> were read above.
            raise NoCaption(f"{tried}; OCR does not read SVG")
        if not text_reader.ocr_available():
            raise NoCaption(f"{tried}; OCR extra not installed (pip install 'alttext[ocr]')")
        try:
            found = text_reader.ocr_text(request.image)
        except ImageError as exc:
            raise NoCaption(f"{tried}; OCR could not read the image: {exc}") from exc
        if found is None:  # only when OCR is unavailable, ruled out above; narrows the type
            raise NoCaption(f"{tried}; OCR extra not installed (pip install 'alttext[ocr]')")
        if not found.lines:
            raise NoCaption(f"{tried}; OCR found no text")
        if not found.mostly_text:
            raise NoCaption(
                f"{tried}; OCR found some text but the image is not mostly text "
                f"(text covers {found.coverage:.0%} of it, confidence {found.confidence:.2f})"
            )
        return CaptionResult(
            caption=" ".join(found.lines),
            backend=self.name,
            model=text_reader.MODEL,
            source="ocr",
        )

    def close(self) -> None:
        """Nothing to release: the OCR engine is shared by the process and lives with it."""


def _is_svg(request: CaptionRequest) -> bool:
    if request.mime_type.split(";", 1)[0].strip().lower() == _SVG_MIME:
        return True
    return request.image[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<svg", b"<?xml"))


def create(options: BackendOptions) -> OfflineCaptioner:
    """Build the offline backend; it needs no configuration, ``options.ocr`` toggles OCR."""
    return OfflineCaptioner(ocr=options.ocr)
