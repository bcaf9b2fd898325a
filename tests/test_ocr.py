"""OCR on real rendered images (needs the ``alttext[ocr]`` extra)."""

from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip(
    "rapidocr_onnxruntime", reason="OCR extra not installed (pip install 'alttext[ocr]')"
)

from alttext.captioners import ocr
from alttext.errors import ImageFetchError, ImageRefused

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font(size: int) -> ImageFont.FreeTypeFont:
    """A scalable font: DejaVu when installed, else Pillow's bundled default (Pillow >= 10.1)."""
    if _DEJAVU.exists():
        return ImageFont.truetype(str(_DEJAVU), size)
    default = ImageFont.load_default(size=size)
    assert isinstance(default, ImageFont.FreeTypeFont)
    return default


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def banner(lines: list[str], size: tuple[int, int] = (800, 240), mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, "white" if mode == "RGB" else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((30, 30 + index * 90), line, font=font(56), fill="black")
    return encode(image)


def photo_like(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Noise over a gradient: texture, shading, no glyphs."""
    noise = Image.effect_noise(size, 60).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(noise, gradient, 0.5)


def test_available() -> None:
    assert ocr.ocr_available()


def test_reads_a_banner() -> None:
    found = ocr.ocr_text(banner(["Summer Sale", "Fifty percent off"]))
    assert found is not None
    assert found.lines == ("Summer Sale", "Fifty percent off")
    assert found.text == "Summer Sale\nFifty percent off"
    assert found.confidence > 0.9
    assert found.coverage > ocr.MIN_TEXT_COVERAGE
    assert found.mostly_text


def test_sparse_slide_is_mostly_text() -> None:
    image = Image.new("RGB", (1280, 720), "white")
    draw = ImageDraw.Draw(image)
    draw.text((80, 60), "Quarterly results", font=font(64), fill="black")
    for index, bullet in enumerate(["Revenue up 12 percent", "Two new markets"]):
        draw.text((120, 220 + index * 90), bullet, font=font(40), fill="black")
    found = ocr.ocr_text(encode(image))
    assert found is not None
    assert found.lines == ("Quarterly results", "Revenue up 12 percent", "Two new markets")
    assert found.mostly_text


def test_reading_order_joins_boxes_on_one_line() -> None:
    image = Image.new("RGB", (900, 260), "white")
    draw = ImageDraw.Draw(image)
    # Far apart on one line, so the detector gives two boxes; drawn right one first.
    draw.text((560, 30), "Right", font=font(56), fill="black")
    draw.text((30, 30), "Left", font=font(56), fill="black")
    draw.text((30, 150), "Below", font=font(56), fill="black")
    found = ocr.ocr_text(encode(image))
    assert found is not None
    assert found.lines == ("Left Right", "Below")


def test_transparent_background_with_dark_text() -> None:
    found = ocr.ocr_text(banner(["Download now"], size=(600, 140), mode="RGBA"))
    assert found is not None
    assert found.lines == ("Download now",)


def test_jpeg_input() -> None:
    image = Image.open(io.BytesIO(banner(["Opening hours"], size=(640, 140))))
    found = ocr.ocr_text(encode(image.convert("RGB"), "JPEG"))
    assert found is not None
    assert found.lines == ("Opening hours",)


def test_photo_like_image_is_not_text() -> None:
    found = ocr.ocr_text(encode(photo_like()))
    assert found is not None
    assert not found.mostly_text


def test_small_sign_in_a_large_picture_is_not_mostly_text() -> None:
    image = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 80, 330, 150), fill="white")
    draw.text((95, 90), "EXIT", font=font(48), fill="black")
    found = ocr.ocr_text(encode(image))
    assert found is not None
    assert "EXIT" in found.text  # it is read...
    assert found.coverage < ocr.MIN_TEXT_COVERAGE
    assert not found.mostly_text  # ...but the picture is not an image of text


def test_blank_image_has_no_lines() -> None:
    found = ocr.ocr_text(encode(Image.new("RGB", (300, 200), "white")))
    assert found is not None
    assert found.lines == ()
    assert found.text == ""
    assert not found.mostly_text


def test_concurrent_calls_agree() -> None:
    data = banner(["Team meeting", "Room 4"])
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: ocr.ocr_text(data), range(3)))
    assert {result.lines for result in results if result is not None} == {
        ("Team meeting", "Room 4")
    }


@pytest.mark.parametrize(
    ("lines", "coverage", "confidence", "expected"),
    [
        (("Hello world",), 0.20, 0.95, True),
        (("Hello world",), ocr.MIN_TEXT_COVERAGE, ocr.MIN_CONFIDENCE, True),
        (("Hello world",), 0.02, 0.95, False),  # small text in a big picture
        (("Hello world",), 0.20, 0.50, False),  # unreliable reading
        (("A!",), 0.30, 0.99, False),  # a mark, not text
        ((), 0.0, 0.0, False),
    ],
)
def test_mostly_text_thresholds(
    lines: tuple[str, ...], coverage: float, confidence: float, expected: bool
) -> None:
    assert ocr.OcrResult(lines, coverage, confidence).mostly_text is expected


# --- images that cannot be read ---------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims a size its (tiny) pixel data does not have."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + _chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>Hi</text></svg>',
        _png_claiming(200, 100),  # far fewer pixels than the header promises
    ],
)
def test_undecodable_images(data: bytes) -> None:
    with pytest.raises(ImageFetchError):
        ocr.ocr_text(data)


def test_truncated_jpeg() -> None:
    data = encode(photo_like().convert("RGB"), "JPEG")
    with pytest.raises(ImageFetchError):
        ocr.ocr_text(data[: len(data) // 3])


@pytest.mark.parametrize("size", [(8000, 6000), (10_000, 10_000), (30_000, 30_000)])
def test_huge_images_are_refused_before_decoding(size: tuple[int, int]) -> None:
    # 48 MP is over our cap; 100 MP makes Pillow warn (an error under this test config);
    # 900 MP is a decompression bomb to Pillow itself.
    with pytest.raises(ImageRefused, match="too large"):
        ocr.ocr_text(_png_claiming(*size))
