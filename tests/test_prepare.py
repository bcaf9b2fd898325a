"""prepare_for_upload: pass through what services take, convert and shrink the rest."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

from alttext.errors import ImageError, ImageFetchError, ImageRefused
from alttext.images.prepare import MAX_PIXELS, prepare_for_upload


def save(tmp_path: Path, image: Image.Image, name: str, **params: Any) -> bytes:
    """Write ``image`` to a real file in tmp_path and return the file's bytes."""
    path = tmp_path / name
    image.save(path, **params)
    return path.read_bytes()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds no pixels: opening it must not decode anything."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_small_png_passes_through_unchanged(tmp_path: Path) -> None:
    data = save(tmp_path, Image.new("RGBA", (40, 30), (255, 0, 0, 128)), "a.png")
    assert prepare_for_upload(data, "image/png") == (data, "image/png")


def test_small_jpeg_passes_through_and_mime_comes_from_the_bytes(tmp_path: Path) -> None:
    data = save(tmp_path, Image.new("RGB", (40, 30), "blue"), "a.jpg")
    # The caller's MIME is wrong (a mislabelled file); the bytes decide.
    assert prepare_for_upload(data, "image/png") == (data, "image/jpeg")


def test_large_rgb_image_is_downscaled_to_max_side_as_jpeg(tmp_path: Path) -> None:
    data = save(tmp_path, Image.new("RGB", (3000, 1000), "green"), "big.png")
    out, mime = prepare_for_upload(data, "image/png", max_side=2048)
    assert mime == "image/jpeg"
    assert decode(out).size == (2048, 683)


def test_large_transparent_image_stays_png_with_alpha(tmp_path: Path) -> None:
    data = save(tmp_path, Image.new("RGBA", (1000, 2500), (0, 0, 0, 0)), "big.png")
    out, mime = prepare_for_upload(data, "image/png", max_side=1000)
    image = decode(out)
    assert (mime, image.format, image.mode, image.size) == ("image/png", "PNG", "RGBA", (400, 1000))
    assert image.getpixel((10, 10)) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("fmt", "mode", "name", "expected_mime"),
    [
        ("BMP", "RGB", "a.bmp", "image/jpeg"),
        ("TIFF", "RGB", "a.tiff", "image/jpeg"),
        ("ICO", "RGBA", "a.ico", "image/png"),
    ],
)
def test_formats_services_may_refuse_are_converted(
    tmp_path: Path, fmt: str, mode: str, name: str, expected_mime: str
) -> None:
    color = (200, 30, 30, 255) if mode == "RGBA" else (200, 30, 30)
    data = save(tmp_path, Image.new(mode, (32, 32), color), name, format=fmt)
    out, mime = prepare_for_upload(data, f"image/{fmt.lower()}")
    image = decode(out)
    assert mime == expected_mime
    assert image.format == expected_mime.split("/")[1].upper()
    red, green, _blue = image.convert("RGB").getpixel((16, 16))  # type: ignore[misc]
    assert red > 180 and green < 60


def test_animated_gif_becomes_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue", "blue")]
    data = save(
        tmp_path, frames[0], "anim.gif", save_all=True, append_images=frames[1:], duration=100
    )
    out, mime = prepare_for_upload(data, "image/gif")
    image = decode(out)
    assert mime in ("image/jpeg", "image/png")
    assert not getattr(image, "is_animated", False)
    red, _g, blue = image.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert red > 200 and blue < 60


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_is_converted(tmp_path: Path) -> None:
    data = save(tmp_path, Image.new("RGB", (32, 32), "white"), "a.avif")
    out, mime = prepare_for_upload(data, "image/avif")
    assert mime == "image/jpeg"
    assert decode(out).size == (32, 32)


def test_exif_rotation_is_applied_before_reencoding(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    data = save(tmp_path, Image.new("RGB", (60, 20), "white"), "rot.jpg", exif=exif)
    out, mime = prepare_for_upload(data, "image/jpeg")
    assert mime == "image/jpeg"
    assert decode(out).size == (20, 60)


def test_an_image_too_big_in_bytes_is_shrunk_until_it_fits(tmp_path: Path) -> None:
    noise = Image.effect_noise((800, 800), 100).convert("RGB")
    data = save(tmp_path, noise, "noise.png")
    out, mime = prepare_for_upload(data, "image/png", max_bytes=60_000)
    assert len(data) > 60_000
    assert len(out) <= 60_000
    assert mime == "image/jpeg"
    assert max(decode(out).size) < 800


def test_an_image_that_cannot_fit_is_refused(tmp_path: Path) -> None:
    data = save(tmp_path, Image.effect_noise((300, 300), 100).convert("RGB"), "n.png")
    with pytest.raises(ImageRefused, match="does not fit"):
        prepare_for_upload(data, "image/png", max_bytes=100)


def test_corrupt_bytes_are_an_image_fetch_error() -> None:
    with pytest.raises(ImageFetchError, match="not a readable image"):
        prepare_for_upload(b"this is not an image", "image/png")


def test_truncated_png_is_an_image_fetch_error(tmp_path: Path) -> None:
    data = save(tmp_path, Image.effect_noise((200, 200), 50).convert("RGB"), "t.png")
    with pytest.raises(ImageFetchError):
        prepare_for_upload(data[: len(data) // 2], "image/png")


def test_more_pixels_than_our_limit_is_refused_without_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 100  # above our limit, below Pillow's bomb threshold
    with pytest.raises(ImageRefused, match="pixels"):
        prepare_for_upload(png_header_only(side, side), "image/png")


def test_a_decompression_bomb_is_refused() -> None:
    # Past Pillow's own threshold: Pillow warns (an error under -W error) or raises.
    with pytest.raises(ImageRefused, match="too many pixels"):
        prepare_for_upload(png_header_only(40_000, 40_000), "image/png")


SVG_ICON = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="24" height="12">'
    b'<rect width="12" height="12" fill="red"/></svg>'
)


def test_svg_is_rasterised_large_enough_on_white() -> None:
    pytest.importorskip("resvg_py")
    # The MIME is generic: SVG is recognised from the bytes too.
    out, mime = prepare_for_upload(SVG_ICON, "application/octet-stream")
    image = decode(out).convert("RGB")
    assert mime == "image/png"
    assert image.size == (512, 256)
    assert image.getpixel((100, 100)) == (255, 0, 0)
    assert image.getpixel((400, 100)) == (255, 255, 255)  # transparent became white


def test_large_svg_is_rendered_at_most_max_side() -> None:
    pytest.importorskip("resvg_py")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8000 4000"/>'
    out, _mime = prepare_for_upload(svg, "image/svg+xml", max_side=1024)
    assert decode(out).size == (1024, 512)


def test_svg_with_entities_is_refused_before_rendering() -> None:
    pytest.importorskip("resvg_py")
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">&a;</svg>'
    )
    with pytest.raises(ImageRefused, match="SVG has a DTD declaration"):
        prepare_for_upload(svg, "image/svg+xml")


def test_svg_without_a_rasteriser_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes ``import resvg_py`` fail, as on a machine without it.
    monkeypatch.setitem(sys.modules, "resvg_py", None)
    with pytest.raises(ImageError, match="pip install resvg-py"):
        prepare_for_upload(SVG_ICON, "image/svg+xml")


# --- SVG references: the renderer reads them from our disk, so none may leave the SVG ----

SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def svg_with(body: str, *, before: str = "") -> bytes:
    return f'{before}<svg {SVG_NS} width="200" height="80">{body}</svg>'.encode()


def secret_png(path: Path) -> Path:
    """A red picture standing for a private file the renderer must never draw."""
    Image.new("RGB", (200, 80), "red").save(path)
    return path


def data_uri(data: bytes, mime: str) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    "body",
    [
        '<image href="{secret}" width="200" height="80"/>',
        '<image xlink:href="{secret}" width="200" height="80"/>',
        '<image href="secret.png" width="200" height="80"/>',
        '<image href="./secret.png" width="200" height="80"/>',
        '<image href="file://{secret}" width="200" height="80"/>',
        '<image href="https://example.com/a.png" width="200" height="80"/>',
        # resvg reads neither trimmed nor upper-case "data:" as inline data: a file name.
        '<image href=" #x" width="200" height="80"/>',
        '<image href="DATA:image/png;base64,AAAA" width="200" height="80"/>',
        '<filter id="f"><feImage xlink:href="{secret}"/></filter>'
        '<rect width="200" height="80" filter="url(#f)"/>',
        '<use href="other.svg#shape"/>',
        '<style>rect {{ fill: url("{secret}") }}</style><rect width="200" height="80"/>',
        "<style>@import 'theme.css';</style>",
        "<style>rect {{ fill: u\\72l(x.png) }}</style>",
        '<rect width="200" height="80" style="fill: url( {secret} )"/>',
        '<rect width="200" height="80" fill="url(other.svg#g)"/>',
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret}"/>',
    ],
)
def test_svg_referencing_anything_outside_itself_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    pytest.importorskip("resvg_py")
    secret = secret_png(tmp_path / "secret.png")
    monkeypatch.chdir(tmp_path)  # where resvg resolves relative references by default
    svg = svg_with(body.format(secret=secret))
    with pytest.raises(ImageRefused, match="SVG"):
        prepare_for_upload(svg, "image/svg+xml")


def test_svg_external_reference_is_named_in_the_refusal(tmp_path: Path) -> None:
    pytest.importorskip("resvg_py")
    secret = secret_png(tmp_path / "secret.png")
    svg = svg_with(f'<image href="{secret}" width="200" height="80"/>')
    with pytest.raises(ImageRefused, match=r"SVG references an external file: .*secret\.png"):
        prepare_for_upload(svg, "image/svg+xml")


def test_xml_stylesheet_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("resvg_py")
    svg = svg_with("", before='<?xml-stylesheet href="theme.css" type="text/css"?>')
    with pytest.raises(ImageRefused, match="xml-stylesheet"):
        prepare_for_upload(svg, "image/svg+xml")


def test_svg_inlining_an_svg_that_references_a_file_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("resvg_py")
    secret = secret_png(tmp_path / "secret.png")
    inner = svg_with(f'<image href="{secret}" width="200" height="80"/>')
    for mime in ("image/svg+xml", "text/plain"):
        svg = svg_with(f'<image href="{data_uri(inner, mime)}" width="200" height="80"/>')
        with pytest.raises(ImageRefused, match="external file"):
            prepare_for_upload(svg, "image/svg+xml")


def test_svg_with_only_internal_references_is_rendered() -> None:
    pytest.importorskip("resvg_py")
    red = io.BytesIO()
    Image.new("RGB", (20, 8), "red").save(red, "PNG")
    svg = svg_with(
        '<defs><rect id="r" width="100" height="80" fill="blue"/>'
        '<linearGradient id="g"><stop offset="0" stop-color="lime"/></linearGradient></defs>'
        "<style>@font-face { src: url(data:font/woff2;base64,AAAA) } .x { fill: url(#g) }</style>"
        '<a href="https://example.com/"><use href="#r"/></a>'
        f'<image x="100" href="{data_uri(red.getvalue(), "image/png")}" width="100" height="80"'
        ' preserveAspectRatio="none"/>'
    )
    out, mime = prepare_for_upload(svg, "image/svg+xml")
    image = decode(out).convert("RGB")
    width, height = image.size
    assert mime == "image/png"
    assert image.getpixel((width // 4, height // 2)) == (0, 0, 255)  # the <use> of #r
    assert image.getpixel((3 * width // 4, height // 2)) == (255, 0, 0)  # the inline PNG


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_any_href_but_a_fragment_or_data_is_refused(href: str) -> None:
    pytest.importorskip("resvg_py")
    from xml.sax.saxutils import quoteattr

    svg = svg_with(f"<image href={quoteattr(href)} width='10' height='10'/>")
    if href.startswith(("#", "data:")):
        return
    with pytest.raises(ImageRefused, match="external file"):
        prepare_for_upload(svg, "image/svg+xml")


@pytest.mark.parametrize(
    "prolog",
    [
        # expat ends the NOTATION's literal at its closing quote; roxmltree (resvg's
        # parser) at the first ">": the two would see two different documents.
        '<!DOCTYPE svg [<!NOTATION n SYSTEM "x>]>',
        '<!DOCTYPE svg PUBLIC "x" "x>]>',
        "<!DOCTYPE svg [<!ELEMENT svg ANY>]>",
    ],
)
def test_an_svg_whose_dtd_parsers_would_read_differently_is_refused(
    tmp_path: Path, prolog: str
) -> None:
    pytest.importorskip("resvg_py")
    secret = secret_png(tmp_path / "secret.png")
    two_documents = (
        f"{prolog}<svg xmlns='http://www.w3.org/2000/svg' width='50' height='50'>"
        f"<image href='{secret}' width='50' height='50'/><!--\">]>"
        '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50">--></svg>'
    )
    with pytest.raises(ImageRefused, match="DTD"):
        prepare_for_upload(two_documents.encode(), "image/svg+xml")


def test_an_svg_with_an_editors_plain_doctype_is_rendered() -> None:
    pytest.importorskip("resvg_py")
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><!-- a note -->'
        b'<rect width="40" height="20" fill="navy"/></svg>'
    )
    data, mime = prepare_for_upload(svg, "image/svg+xml")
    assert mime == "image/png" and data.startswith(b"\x89PNG")
