"""Embedded alt text: real image files written by Pillow (and by hand where Pillow cannot)."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, IptcImagePlugin
from PIL.PngImagePlugin import PngInfo

from alttext.captioners.metadata import (
    SOURCES,
    EmbeddedAlt,
    is_junk,
    pick_language,
    read_embedded_alt,
)

# --- builders ---------------------------------------------------------------------------


def xmp_packet(
    *,
    alt_text: dict[str, str] | None = None,
    description: dict[str, str] | None = None,
    title: dict[str, str] | None = None,
) -> bytes:
    """An XMP packet as Photoshop / exiftool write it, with rdf:Alt language alternatives."""

    def lang_alt(tag: str, values: dict[str, str] | None) -> str:
        if values is None:
            return ""
        items = "".join(
            f'<rdf:li xml:lang="{lang}">{text}</rdf:li>' for lang, text in values.items()
        )
        return f"<{tag}><rdf:Alt>{items}</rdf:Alt></{tag}>"

    body = (
        lang_alt("Iptc4xmpCore:AltTextAccessibility", alt_text)
        + lang_alt("dc:description", description)
        + lang_alt("dc:title", title)
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>\n" + " " * 200 + '\n<?xpacket end="w"?>'
    ).encode()


def exif_with_description(text: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = text
    return exif


def save(tmp_path: Path, name: str, image: Image.Image, fmt: str, **params: object) -> bytes:
    path = tmp_path / name
    image.save(path, fmt, **params)
    return path.read_bytes()


def photo() -> Image.Image:
    return Image.linear_gradient("L").convert("RGB").resize((64, 48))


def iim_dataset(record: int, dataset: int, value: bytes) -> bytes:
    return b"\x1c" + bytes([record, dataset]) + struct.pack(">H", len(value)) + value


def app13_segment(caption: bytes, *, utf8: bool = True) -> bytes:
    """A JPEG APP13 segment: Photoshop 3.0 header, one 8BIM resource 0x0404 with IIM data."""
    iim = iim_dataset(1, 90, b"\x1b%G") if utf8 else b""
    iim += iim_dataset(2, 0, b"\x00\x04") + iim_dataset(2, 120, caption)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00"  # empty name, padded
    resource += struct.pack(">I", len(iim)) + iim + (b"\x00" if len(iim) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def with_segment(jpeg: bytes, segment: bytes) -> bytes:
    """Insert ``segment`` right after SOI, where writers put metadata."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + segment + jpeg[2:]


def svg(body: str, prolog: str = "") -> bytes:
    return (
        f'{prolog}<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f"{body}<rect width='10' height='10'/></svg>"
    ).encode()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- XMP --------------------------------------------------------------------------------

ALT_LANGS = {
    "x-default": "A red barn at dawn",
    "en": "Red barn in the morning",
    "de": "Rote Scheune",
}


def test_jpeg_xmp_alt_text_accessibility(tmp_path: Path) -> None:
    data = save(
        tmp_path,
        "a.jpg",
        photo(),
        "JPEG",
        xmp=xmp_packet(alt_text=ALT_LANGS, description={"x-default": "Farm report 2024"}),
    )
    found = read_embedded_alt(data, "image/jpeg", "en")
    assert found == EmbeddedAlt("Red barn in the morning", "xmp:AltTextAccessibility", "en")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Red barn in the morning"),
        ("EN", "Red barn in the morning"),
        ("de", "Rote Scheune"),
        ("de-CH", "Rote Scheune"),  # primary subtag
        ("fr", "A red barn at dawn"),  # x-default
        (None, "A red barn at dawn"),
    ],
)
def test_language_choice(tmp_path: Path, language: str | None, expected: str) -> None:
    data = save(tmp_path, "a.jpg", photo(), "JPEG", xmp=xmp_packet(alt_text=ALT_LANGS))
    found = read_embedded_alt(data, "image/jpeg", language)
    assert found is not None
    assert found.text == expected


def test_language_falls_back_to_first_without_x_default(tmp_path: Path) -> None:
    data = save(
        tmp_path,
        "a.jpg",
        photo(),
        "JPEG",
        xmp=xmp_packet(description={"nl": "Rode schuur", "de-DE": "Rote Scheune"}),
    )
    assert read_embedded_alt(data, "image/jpeg", "fr") == EmbeddedAlt(
        "Rode schuur", "xmp:dc:description", "nl"
    )
    assert read_embedded_alt(data, "image/jpeg", "de-AT") == EmbeddedAlt(
        "Rote Scheune", "xmp:dc:description", "de-DE"
    )


def test_pick_language_prefers_bare_primary_tag() -> None:
    alternatives = [("de-DE", "Deutschland"), ("de", "Deutsch"), ("x-default", "Default")]
    assert pick_language(alternatives, "de-CH") == ("de", "Deutsch")
    assert pick_language(alternatives, "de-DE") == ("de-DE", "Deutschland")
    with pytest.raises(ValueError):
        pick_language([], "en")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-HK", "zh-TW"),  # Traditional, like zh-TW: not the first zh alternative
        ("zh-Hant", "zh-TW"),
        ("zh-SG", "zh-CN"),  # Simplified
        ("zh", "zh-CN"),
        ("sr-ME", "sr-Latn"),  # Montenegro writes Serbian in Latin script
        ("sr-RS", "sr"),
        ("sr-Latn-RS", "sr-Latn"),
        ("pa-PK", "pa"),  # no Shahmukhi alternative: the language in another script
    ],
)
def test_pick_language_keeps_to_the_script_a_reader_reads(language: str, expected: str) -> None:
    alternatives = [
        ("zh-CN", "简体"),
        ("zh-TW", "繁體"),
        ("sr", "Ћирилица"),
        ("sr-Latn", "Latinica"),
        ("pa", "ਗੁਰਮੁਖੀ"),
        ("x-default", "Default"),
    ]
    assert pick_language(alternatives, language)[0] == expected


def test_jpeg_xmp_description_then_title(tmp_path: Path) -> None:
    both = save(
        tmp_path,
        "both.jpg",
        photo(),
        "JPEG",
        xmp=xmp_packet(
            description={"x-default": "Two goats on a hill"}, title={"x-default": "Goats"}
        ),
    )
    assert read_embedded_alt(both, "image/jpeg", None) == EmbeddedAlt(
        "Two goats on a hill", "xmp:dc:description", "x-default"
    )
    title_only = save(
        tmp_path, "title.jpg", photo(), "JPEG", xmp=xmp_packet(title={"x-default": "Goats"})
    )
    found = read_embedded_alt(title_only, "image/jpeg", None)
    assert found is not None
    assert (found.text, found.source) == ("Goats", "xmp:dc:title")


def test_xmp_simple_attribute_form(tmp_path: Path) -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:description="Harbour at night"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    data = save(tmp_path, "a.jpg", photo(), "JPEG", xmp=packet)
    found = read_embedded_alt(data, "image/jpeg", None)
    assert found is not None
    assert (found.text, found.source) == ("Harbour at night", "xmp:dc:description")


def test_png_xmp_itxt(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(alt_text={"x-default": "Ein Logo"}).decode())
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    found = read_embedded_alt(data, "image/png", "de")
    assert found == EmbeddedAlt("Ein Logo", "xmp:AltTextAccessibility", "x-default")


def test_png_xmp_compressed_itxt(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_itxt(
        "XML:com.adobe.xmp", xmp_packet(title={"x-default": "Compressed title"}).decode(), zip=True
    )
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    assert b"Compressed title" not in data  # really compressed
    found = read_embedded_alt(data, "image/png", None)
    assert found is not None
    assert found.text == "Compressed title"


def test_webp_xmp(tmp_path: Path) -> None:
    xmp = xmp_packet(description={"x-default": "Lighthouse on a cliff"})
    data = save(tmp_path, "a.webp", photo(), "WEBP", xmp=xmp)
    found = read_embedded_alt(data, "image/webp", None)
    assert found is not None
    assert (found.text, found.source) == ("Lighthouse on a cliff", "xmp:dc:description")


def test_gif_xmp_application_extension(tmp_path: Path) -> None:
    plain = save(tmp_path, "a.gif", photo().convert("P"), "GIF")
    packet = xmp_packet(alt_text={"x-default": "Animated spinner"})
    # XMP in GIF: an application extension "XMP DataXMP", the packet, a 258-byte magic trailer.
    trailer = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    extension = b"!\xff\x0bXMP DataXMP" + packet + trailer
    assert plain.endswith(b";")
    data = plain[:-1] + extension + b";"
    found = read_embedded_alt(data, "image/gif", None)
    assert found is not None
    assert (found.text, found.source) == ("Animated spinner", "xmp:AltTextAccessibility")


# --- IPTC IIM, EXIF ---------------------------------------------------------------------


def test_jpeg_iptc_caption_abstract(tmp_path: Path) -> None:
    plain = save(tmp_path, "a.jpg", photo(), "JPEG")
    data = with_segment(plain, app13_segment("Zürich skyline at dusk".encode()))
    # Pillow agrees that the hand-built segment is valid IPTC.
    (tmp_path / "b.jpg").write_bytes(data)
    with Image.open(tmp_path / "b.jpg") as reopened:
        iptc = IptcImagePlugin.getiptcinfo(reopened)
    assert iptc is not None
    assert iptc[(2, 120)] == "Zürich skyline at dusk".encode()
    assert read_embedded_alt(data, "image/jpeg", None) == EmbeddedAlt(
        "Zürich skyline at dusk", "iptc:Caption-Abstract"
    )


def test_iptc_legacy_charset(tmp_path: Path) -> None:
    plain = save(tmp_path, "a.jpg", photo(), "JPEG")
    data = with_segment(plain, app13_segment("Café terrace".encode("cp1252"), utf8=False))
    found = read_embedded_alt(data, "image/jpeg", None)
    assert found is not None
    assert found.text == "Café terrace"


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("TIFF", "image/tiff"), ("WEBP", "image/webp")]
)
def test_exif_image_description(tmp_path: Path, fmt: str, mime: str) -> None:
    data = save(tmp_path, "a.img", photo(), fmt, exif=exif_with_description("A red barn"))
    assert read_embedded_alt(data, mime, None) == EmbeddedAlt("A red barn", "exif:ImageDescription")


def test_exif_short_inline_value(tmp_path: Path) -> None:
    # Up to four bytes (including the NUL) are stored inside the IFD entry itself.
    data = save(tmp_path, "a.jpg", photo(), "JPEG", exif=exif_with_description("Ox"))
    found = read_embedded_alt(data, "image/jpeg", None)
    assert found is not None
    assert found.text == "Ox"


# --- PNG text chunks --------------------------------------------------------------------


def test_png_text_description_and_title(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Title", "Quarterly chart")
    info.add_text("Description", "Bar chart of sales rising from 3 to 7 million")
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    assert read_embedded_alt(data, "image/png", None) == EmbeddedAlt(
        "Bar chart of sales rising from 3 to 7 million", "png:Description"
    )


def test_png_title_only_ztxt(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Title", "Mountain lake " * 20, zip=True)
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    assert b"zTXt" in data
    found = read_embedded_alt(data, "image/png", None)
    assert found is not None
    assert found.source == "png:Title"
    assert found.text == ("Mountain lake " * 20).strip()


def test_png_itxt_languages(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_itxt("Description", "A black cat", lang="en", tkey="Description")
    info.add_itxt("Description", "Eine schwarze Katze", lang="de", tkey="Beschreibung")
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    assert read_embedded_alt(data, "image/png", "de-AT") == EmbeddedAlt(
        "Eine schwarze Katze", "png:Description", "de"
    )
    assert read_embedded_alt(data, "image/png", "en-GB") == EmbeddedAlt(
        "A black cat", "png:Description", "en"
    )


def test_png_chunk_with_bad_crc_is_ignored(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Description", "Trusted text")
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    assert read_embedded_alt(data, "image/png", None) is not None
    damaged = data.replace(b"Trusted text", b"Trusted tent")
    assert read_embedded_alt(damaged, "image/png", None) is None


def test_png_ztxt_bomb_is_not_inflated() -> None:
    base = Image.new("RGB", (1, 1))
    buf = io.BytesIO()
    base.save(buf, "PNG")
    plain = buf.getvalue()
    bomb = zlib.compress(b"A" * (64 * 1024 * 1024), 9)  # 64 MiB of text in ~64 KiB
    chunk = png_chunk(b"zTXt", b"Description\x00\x00" + bomb)
    data = plain[:33] + chunk + plain[33:]  # after IHDR
    assert read_embedded_alt(data, "image/png", None) is None


# --- SVG --------------------------------------------------------------------------------


def test_svg_title_then_desc() -> None:
    data = svg("<title>Company logo: Acme</title><desc>A red anvil</desc>")
    assert read_embedded_alt(data, "image/svg+xml", None) == EmbeddedAlt(
        "Company logo: Acme", "svg:title"
    )
    only_desc = svg("<desc>A red anvil</desc>")
    assert read_embedded_alt(only_desc, "image/svg+xml", None) == EmbeddedAlt(
        "A red anvil", "svg:desc"
    )


def test_svg_recognised_without_mime_and_with_doctype() -> None:
    prolog = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    )
    data = svg("<title>Route map</title>", prolog)
    found = read_embedded_alt(data, "application/octet-stream", None)
    assert found is not None
    assert found.text == "Route map"


def test_svg_title_languages_and_nested_titles() -> None:
    data = svg(
        '<title xml:lang="en">Mountain</title><title lang="fr">Montagne</title>'
        "<g><title>tooltip of one part</title></g>"
    )
    found = read_embedded_alt(data, "image/svg+xml", "fr-CA")
    assert found == EmbeddedAlt("Montagne", "svg:title", "fr")
    nested_only = svg("<g><title>tooltip of one part</title></g>")
    assert read_embedded_alt(nested_only, "image/svg+xml", None) is None


def test_svgz() -> None:
    data = gzip.compress(svg("<title>Compressed drawing</title>"))
    found = read_embedded_alt(data, "image/svg+xml", None)
    assert found is not None
    assert found.text == "Compressed drawing"


def test_svg_entity_bomb_is_refused() -> None:
    prolog = (
        '<?xml version="1.0"?><!DOCTYPE svg ['
        '<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]>"
    )
    data = svg("<title>&i;</title>", prolog)
    assert read_embedded_alt(data, "image/svg+xml", None) is None


def test_svg_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    prolog = f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    data = svg("<title>&xxe;</title>", prolog)
    assert read_embedded_alt(data, "image/svg+xml", None) is None
    # A DOCTYPE without entity declarations is fine: the refusal is about the entity.
    harmless = svg("<title>Readable</title>", '<?xml version="1.0"?><!DOCTYPE svg>')
    assert read_embedded_alt(harmless, "image/svg+xml", None) == EmbeddedAlt(
        "Readable", "svg:title"
    )


# --- order of preference and junk -------------------------------------------------------


def test_full_order_of_preference(tmp_path: Path) -> None:
    """Each source wins while present, and the next one takes over when it is removed."""
    texts = {
        "xmp:AltTextAccessibility": "Alt text field",
        "xmp:dc:description": "Description field",
        "xmp:dc:title": "Title field",
        "iptc:Caption-Abstract": "Caption field",
        "exif:ImageDescription": "Exif field",
    }
    present = dict(texts)
    for source in SOURCES[:5]:
        xmp = xmp_packet(
            alt_text={"x-default": v} if (v := present.get("xmp:AltTextAccessibility")) else None,
            description={"x-default": v} if (v := present.get("xmp:dc:description")) else None,
            title={"x-default": v} if (v := present.get("xmp:dc:title")) else None,
        )
        jpeg = save(
            tmp_path,
            "a.jpg",
            photo(),
            "JPEG",
            xmp=xmp,
            exif=exif_with_description(texts[SOURCES[4]]),
        )
        if "iptc:Caption-Abstract" in present:
            jpeg = with_segment(jpeg, app13_segment(b"Caption field"))
        found = read_embedded_alt(jpeg, "image/jpeg", None)
        assert found is not None
        assert (found.source, found.text) == (source, texts[source])
        del present[source]


def test_png_xmp_beats_png_text(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Description", "Text chunk description")
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(title={"x-default": "XMP title"}).decode())
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    found = read_embedded_alt(data, "image/png", None)
    assert found is not None
    assert found.source == "xmp:dc:title"


@pytest.mark.parametrize(
    "junk",
    [
        "OLYMPUS DIGITAL CAMERA",
        "KONICA MINOLTA DIGITAL CAMERA",
        "SONY DSC",
        "Default",
        "   ",
        "IMG_1234",
        "DSC_0001",
        "PXL_20240101_120000123",
        "P1010001",
        "holiday-photo.JPG",
        "Screenshot 2024-01-02 at 10.00.00",
        "0f3c6a1e-4b1d-4c3a-9a57-0d7f2d9f3a11",
        "d41d8cd98f00b204e9800998ecf8427e",
        "Created with Sketch.",
        "image",
        "Untitled",
        "***",
        "Layer 1",
        "photo_2023_05",
    ],
)
def test_junk_values(junk: str) -> None:
    assert is_junk(junk.strip())


@pytest.mark.parametrize(
    "good",
    [
        "Prev",
        "A red barn",
        "Screenshot of the settings dialog",
        "iPhone 15 on a desk",
        "Logo of Acme",
    ],
)
def test_real_descriptions_are_not_junk(good: str) -> None:
    assert not is_junk(good)


def test_junk_is_skipped_for_next_source(tmp_path: Path) -> None:
    data = save(
        tmp_path,
        "a.jpg",
        photo(),
        "JPEG",
        xmp=xmp_packet(
            alt_text={"x-default": "   "},
            description={"x-default": "OLYMPUS DIGITAL CAMERA"},
            title={"x-default": "IMG_2041.JPG"},
        ),
        exif=exif_with_description("SONY DSC"),
    )
    assert read_embedded_alt(data, "image/jpeg", None) is None
    data = with_segment(data, app13_segment(b"Sheep grazing by a stone wall"))
    assert read_embedded_alt(data, "image/jpeg", None) == EmbeddedAlt(
        "Sheep grazing by a stone wall", "iptc:Caption-Abstract"
    )


def test_junk_language_alternative_skipped_within_field(tmp_path: Path) -> None:
    xmp = xmp_packet(alt_text={"x-default": "Default", "en": "A bowl of soup"})
    data = save(tmp_path, "a.jpg", photo(), "JPEG", xmp=xmp)
    found = read_embedded_alt(data, "image/jpeg", "fr")
    assert found is not None
    assert found.text == "A bowl of soup"


def test_whitespace_collapsed(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Description", "  A   dog\n  on a\tbeach  ")
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    found = read_embedded_alt(data, "image/png", None)
    assert found is not None
    assert found.text == "A dog on a beach"


def test_no_metadata(tmp_path: Path) -> None:
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif")):
        data = save(tmp_path, "plain", photo().convert("RGB" if fmt != "GIF" else "P"), fmt)
        assert read_embedded_alt(data, mime, "en") is None


# --- corrupt, truncated, huge -----------------------------------------------------------


def _rich_jpeg(tmp_path: Path) -> bytes:
    data = save(
        tmp_path,
        "rich.jpg",
        photo(),
        "JPEG",
        xmp=xmp_packet(alt_text=ALT_LANGS),
        exif=exif_with_description("A red barn"),
    )
    return with_segment(data, app13_segment(b"Harbour cranes at sunset"))


def test_every_truncation_of_a_jpeg_is_safe(tmp_path: Path) -> None:
    data = _rich_jpeg(tmp_path)
    results = {read_embedded_alt(data[:cut], "image/jpeg", "en") for cut in range(len(data))}
    # Short prefixes have nothing; once a whole segment is in, its text is found.
    assert None in results
    assert EmbeddedAlt("Red barn in the morning", "xmp:AltTextAccessibility", "en") in results


def test_every_truncation_of_a_png_is_safe(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Title", "Dog")
    info.add_itxt("Description", "Ein Hund", lang="de")
    data = save(tmp_path, "a.png", photo(), "PNG", pnginfo=info)
    found = {read_embedded_alt(data[:cut], "image/png", "de") for cut in range(len(data))}
    # Nothing, then the Title once its chunk is complete, then the Description.
    assert found == {
        None,
        EmbeddedAlt("Dog", "png:Title"),
        EmbeddedAlt("Ein Hund", "png:Description", "de"),
    }


def test_corrupt_segment_lengths(tmp_path: Path) -> None:
    data = _rich_jpeg(tmp_path)
    # Point the first segment's length far past the end of the file: the segment walk
    # stops, and the XMP packet is still found as text in the bytes.
    assert data[2:4] == b"\xff\xed"
    broken = data[:4] + b"\xff\xff" + data[6:]
    assert read_embedded_alt(broken, "image/jpeg", None) == EmbeddedAlt(
        "A red barn at dawn", "xmp:AltTextAccessibility", "x-default"
    )
    # An EXIF IFD offset pointing nowhere: that EXIF block is skipped, the IPTC survives.
    exif_only = save(tmp_path, "e.jpg", photo(), "JPEG", exif=exif_with_description("A red barn"))
    assert read_embedded_alt(exif_only, "image/jpeg", None) == EmbeddedAlt(
        "A red barn", "exif:ImageDescription"
    )
    start = exif_only.index(b"Exif\x00\x00") + 6
    order = exif_only[start : start + 2]
    bad_offset = b"\xff\xff\xff\x7f" if order == b"II" else b"\x7f\xff\xff\xff"
    bad_ifd = exif_only[: start + 4] + bad_offset + exif_only[start + 8 :]
    assert read_embedded_alt(bad_ifd, "image/jpeg", None) is None
    with_iptc = with_segment(bad_ifd, app13_segment(b"Harbour cranes at sunset"))
    assert read_embedded_alt(with_iptc, "image/jpeg", None) == EmbeddedAlt(
        "Harbour cranes at sunset", "iptc:Caption-Abstract"
    )


def test_huge_dimensions_do_not_matter() -> None:
    # A PNG header claiming 100000 x 100000 pixels: metadata reading never decodes pixels.
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    text = png_chunk(b"tEXt", b"Description\x00Satellite mosaic of Europe")
    data = b"\x89PNG\r\n\x1a\n" + ihdr + text + png_chunk(b"IEND", b"")
    assert read_embedded_alt(data, "image/png", None) == EmbeddedAlt(
        "Satellite mosaic of Europe", "png:Description"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\xff\xd8\xff",
        b"\x89PNG\r\n\x1a\n",
        b"RIFF\x00\x00\x00\x00WEBP",
        b"II*\x00\xff\xff\xff\xff",
        b"<svg",
        b"<x:xmpmeta>",
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed></x:xmpmeta>",
        b"\x1f\x8b\x08\x00garbage",
    ],
)
def test_garbage_gives_none(data: bytes) -> None:
    for mime in ("image/jpeg", "image/svg+xml", "application/octet-stream"):
        assert read_embedded_alt(data, mime, "en") is None


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=256).map(lambda b: b"\xff\xd8\xff\xe1" + b),
        st.binary(max_size=256).map(lambda b: b"\xff\xd8\xff\xed\x01\x00Photoshop 3.0\x00" + b),
        st.binary(max_size=256).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
        st.binary(max_size=256).map(lambda b: b"RIFF\x00\x01\x00\x00WEBP" + b),
        st.binary(max_size=256).map(lambda b: b"MM\x00*\x00\x00\x00\x08" + b),
    ),
    mime=st.sampled_from(["image/jpeg", "image/png", "image/svg+xml", ""]),
)
def test_never_raises_on_arbitrary_bytes(data: bytes, mime: str) -> None:
    found = read_embedded_alt(data, mime, "en")
    assert found is None or (found.text.strip() and found.source in SOURCES)
