"""The ``offline`` backend, built through the registry like the pipeline builds it."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from alttext.captioners.base import BackendOptions, Captioner, CaptionRequest
from alttext.captioners.registry import create
from alttext.errors import NoCaption

needs_ocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="OCR extra not installed (pip install 'alttext[ocr]')",
)

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    if _DEJAVU.exists():
        return ImageFont.truetype(str(_DEJAVU), size)
    default = ImageFont.load_default(size=size)
    assert isinstance(default, ImageFont.FreeTypeFont)
    return default


def request(data: bytes, mime: str = "image/png", language: str | None = None) -> CaptionRequest:
    return CaptionRequest(
        image=data,
        mime_type=mime,
        content_hash=hashlib.sha256(data).hexdigest(),
        language=language,
    )


def banner_image() -> Image.Image:
    image = Image.new("RGB", (800, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.text((30, 30), "Summer Sale", font=font(56), fill="black")
    draw.text((30, 120), "Fifty percent off", font=font(56), fill="black")
    return image


def png(image: Image.Image, info: PngInfo | None = None) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def photo_like() -> Image.Image:
    noise = Image.effect_noise((640, 480), 60).convert("RGB")
    return Image.blend(noise, Image.linear_gradient("L").resize((640, 480)).convert("RGB"), 0.5)


def xmp_alt(values: dict[str, str]) -> bytes:
    items = "".join(f'<rdf:li xml:lang="{lang}">{text}</rdf:li>' for lang, text in values.items())
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">'
        f"<Iptc4xmpCore:AltTextAccessibility><rdf:Alt>{items}</rdf:Alt>"
        "</Iptc4xmpCore:AltTextAccessibility></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


@pytest.fixture
def offline() -> Captioner:
    return create("offline", BackendOptions())


def test_registry_builds_the_backend(offline: Captioner) -> None:
    assert isinstance(offline, Captioner)
    assert offline.name == "offline"
    offline.close()
    offline.close()  # safe twice


@needs_ocr
def test_metadata_wins_over_ocr(offline: Captioner) -> None:
    info = PngInfo()
    info.add_text("Description", "Poster announcing the summer sale")
    result = offline.caption(request(png(banner_image(), info)))
    assert result.caption == "Poster announcing the summer sale"
    assert result.backend == "offline"
    assert result.source == "metadata:png:Description"
    assert result.model is None


@needs_ocr
def test_image_of_text_is_read(offline: Captioner) -> None:
    result = offline.caption(request(png(banner_image())))
    assert result.caption == "Summer Sale Fifty percent off"
    assert (result.backend, result.model, result.source) == ("offline", "rapidocr", "ocr")


@needs_ocr
def test_no_caption_for_a_photo(offline: Captioner) -> None:
    with pytest.raises(NoCaption, match=r"^no embedded alt text; OCR found no text$"):
        offline.caption(request(png(photo_like())))


@needs_ocr
def test_no_caption_when_text_is_incidental(offline: Captioner) -> None:
    image = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 80, 330, 150), fill="white")
    draw.text((95, 90), "EXIT", font=font(48), fill="black")
    with pytest.raises(NoCaption, match="not mostly text"):
        offline.caption(request(png(image)))


def test_language_flows_through(offline: Captioner) -> None:
    buf = io.BytesIO()
    photo_like().save(buf, "JPEG", xmp=xmp_alt({"x-default": "A cat", "de": "Eine Katze"}))
    data = buf.getvalue()
    german = offline.caption(request(data, "image/jpeg", language="de-CH"))
    assert german.caption == "Eine Katze"
    assert german.source == "metadata:xmp:AltTextAccessibility"
    assert offline.caption(request(data, "image/jpeg", language="en")).caption == "A cat"


def test_ocr_turned_off() -> None:
    captioner = create("offline", BackendOptions(ocr=False))
    with pytest.raises(NoCaption, match=r"^no embedded alt text; OCR is turned off$"):
        captioner.caption(request(png(banner_image())))


def test_file_name_metadata_is_never_a_caption() -> None:
    captioner = create("offline", BackendOptions(ocr=False))
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "IMG_1234.JPG"
    photo_like().save(buf, "JPEG", exif=exif)
    with pytest.raises(NoCaption):
        captioner.caption(request(buf.getvalue(), "image/jpeg"))


def test_svg(offline: Captioner) -> None:
    titled = b'<svg xmlns="http://www.w3.org/2000/svg"><title>Acme logo</title></svg>'
    result = offline.caption(request(titled, "image/svg+xml"))
    assert (result.caption, result.source) == ("Acme logo", "metadata:svg:title")
    bare = b'<svg xmlns="http://www.w3.org/2000/svg"><text>Hello</text></svg>'
    with pytest.raises(NoCaption, match="OCR does not read SVG"):
        offline.caption(request(bare, "image/svg+xml"))


@needs_ocr
def test_corrupt_image(offline: Captioner) -> None:
    with pytest.raises(NoCaption, match="OCR could not read the image") as caught:
        offline.caption(request(b"\x89PNG\r\n\x1a\n truncated", "image/png"))
    assert caught.value.__cause__ is not None


def test_without_the_ocr_extra(tmp_path: Path) -> None:
    """A fresh interpreter where importing rapidocr fails, as on a machine without the extra."""
    image_path = tmp_path / "banner.png"
    image_path.write_bytes(png(banner_image()))
    script = textwrap.dedent(
        f"""
        import hashlib, sys
        sys.modules["rapidocr_onnxruntime"] = None  # makes the import raise ImportError
        from alttext.captioners.base import BackendOptions, CaptionRequest
        from alttext.captioners.ocr import ocr_available, ocr_text
        from alttext.captioners.registry import create
        from alttext.errors import NoCaption
        data = open({str(image_path)!r}, "rb").read()
        assert not ocr_available()
        assert ocr_text(data) is None
        request = CaptionRequest(data, "image/png", hashlib.sha256(data).hexdigest())
        try:
            create("offline", BackendOptions()).caption(request)
        except NoCaption as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[1],  # import this checkout's alttext
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "no embedded alt text; OCR extra not installed (pip install 'alttext[ocr]')"
    )
