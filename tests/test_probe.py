"""Identifying image bytes: magic-byte sniffing, header sizes, bombs and corrupt data."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from alttext.errors import ImageFetchError, ImageRefused
from alttext.images.probe import _header_size, image_size, probe, sniff_mime


def _encode(fmt: str, size: tuple[int, int] = (7, 5), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "red").save(buffer, fmt)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that *declares* the given size: signature + IHDR + IEND, no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("ICO", "image/x-icon"),
        ("AVIF", "image/avif"),
    ],
)
def test_raster_formats_sniffed_and_sized(fmt: str, mime: str) -> None:
    size = (16, 16) if fmt == "ICO" else (7, 5)
    data = _encode(fmt, size)
    assert sniff_mime(data) == mime
    assert image_size(data) == size
    assert probe(data).mime == mime


def test_heic_brand_is_sniffed_and_size_unknown_without_plugin() -> None:
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32
    assert sniff_mime(data) == "image/heic"
    assert image_size(data) is None


def test_non_images_are_not_sniffed() -> None:
    assert sniff_mime(b"") is None
    assert sniff_mime(b"<!doctype html><html><body><svg></svg></body></html>") is None
    assert sniff_mime(b"BM but not a bitmap at all, just text") is None
    assert sniff_mime(b'{"json": true}') is None


def test_probe_refuses_unknown_content_clearly() -> None:
    with pytest.raises(ImageFetchError, match="not an image"):
        probe(b"<html>404 Not Found</html>")


def test_corrupt_image_is_a_fetch_error() -> None:
    data = _encode("PNG")[:20]  # signature and half an IHDR
    assert sniff_mime(data) == "image/png"
    with pytest.raises(ImageFetchError, match="corrupt"):
        image_size(data)


def test_decompression_bomb_far_over_limit_is_refused() -> None:
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 100
    with pytest.raises(ImageRefused, match="decompression bomb"):
        image_size(bomb)


def test_decompression_bomb_just_over_limit_is_refused() -> None:
    # Between 1x and 2x Pillow's limit Pillow only warns; it must still be refused.
    with pytest.raises(ImageRefused):
        image_size(_png_header_only(10_000, 10_000))


def test_decompression_bomb_refused_when_warnings_are_not_errors() -> None:
    # Outside our test config Pillow's warning is only a warning; our own check refuses.
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageRefused):
        image_size(_png_header_only(10_000, 10_000))


def test_own_pixel_limit() -> None:
    data = _encode("PNG", (40, 40))
    assert image_size(data, max_pixels=1600) == (40, 40)
    with pytest.raises(ImageRefused, match="40x40"):
        image_size(data, max_pixels=1599)


@pytest.mark.parametrize(
    ("svg", "size"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"/>', (120, 80)),
        ('<svg xmlns="http://www.w3.org/2000/svg" width="120px" height="1in"/>', (120, 96)),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 150"/>', (300, 150)),
        ('<svg xmlns="http://www.w3.org/2000/svg" width="60" viewBox="0,0,300,150"/>', (60, 30)),
        ('<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="100%"/>', None),
        ("<svg width='1' height='1'></svg>", (1, 1)),
    ],
)
def test_svg_size(svg: str, size: tuple[int, int] | None) -> None:
    data = svg.encode()
    assert sniff_mime(data) == "image/svg+xml"
    assert image_size(data) == size


def test_svg_after_prologue_is_sniffed() -> None:
    data = (
        b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n'
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="3" height="2"/>'
    )
    assert sniff_mime(data) == "image/svg+xml"
    assert image_size(data) == (3, 2)


def test_svg_entity_expansion_is_refused() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&b;</text></svg>'
    )
    assert sniff_mime(data) == "image/svg+xml"
    with pytest.raises(ImageFetchError, match="SVG"):
        image_size(data)


def test_malformed_svg_is_a_fetch_error() -> None:
    with pytest.raises(ImageFetchError, match="SVG"):
        image_size(b'<svg xmlns="http://www.w3.org/2000/svg" width="10"')


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "A description"  # ImageDescription: an APP1 segment before the frame
    return exif.tobytes()


_HEADER_CASES = {
    "png": ("PNG", "RGBA", {}),
    "png-palette": ("PNG", "P", {}),
    "gif": ("GIF", "P", {}),
    "jpeg": ("JPEG", "RGB", {}),
    "jpeg-progressive": ("JPEG", "RGB", {"progressive": True}),
    "jpeg-grey-exif": ("JPEG", "L", {"exif": _exif()}),
    "webp-lossy": ("WEBP", "RGB", {}),
    "webp-lossless": ("WEBP", "RGBA", {"lossless": True}),
    "webp-alpha": ("WEBP", "RGBA", {"quality": 50}),
}


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(sorted(_HEADER_CASES)),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
)
def test_header_sizes_agree_with_pillow(case: str, width: int, height: int) -> None:
    # The fast path reads sizes without Pillow; Pillow stays the reference.
    fmt, mode, options = _HEADER_CASES[case]
    data = _save(Image.new(mode, (width, height)), fmt, **options)
    assert _header_size(data, sniff_mime(data)) == (width, height)
    with Image.open(io.BytesIO(data)) as image:
        assert image_size(data) == image.size == (width, height)


def test_animated_webp_header_is_read_from_its_canvas() -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in ("red", "blue")]
    data = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    assert data[12:16] == b"VP8X"
    assert _header_size(data, "image/webp") == (30, 20)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:29] + bytes([d[29] ^ 0xFF]) + d[30:],  # IHDR CRC wrong
        lambda d: d[:8] + b"\x00\x00\x00\x0eIHDR" + d[16:],  # IHDR length wrong
    ],
)
def test_a_damaged_png_header_goes_to_pillow(damage: Callable[[bytes], bytes]) -> None:
    data = damage(_encode("PNG"))
    assert _header_size(data, "image/png") is None
    with pytest.raises(ImageFetchError, match="corrupt"):
        image_size(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xd9",  # ends before any frame
        b"\xff\xd8\xff\xe0\x00\x01",  # impossible segment length
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # truncated before a frame header
        b"\xff\xd8\x00\x00\x00\x00",  # not a marker
        b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00",  # no VP8 start code
        b"GIF89a\x01",  # shorter than its header
    ],
)
def test_odd_headers_are_left_to_pillow(data: bytes) -> None:
    assert _header_size(data, sniff_mime(data)) is None
