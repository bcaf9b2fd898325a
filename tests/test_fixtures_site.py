"""Sanity checks for the fixture site and its generator, ``fixtures/make_site.py``."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

import lxml.html
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from alttext.rules.model import RULES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITE = FIXTURES / "site"
README = FIXTURES / "README.md"


def _load_generator() -> ModuleType:
    # fixtures/ is not a package; load the script by path so tests need no sys.path edits.
    spec = importlib.util.spec_from_file_location("make_site", FIXTURES / "make_site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_site"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


make_site = _load_generator()

_TEXT_SUFFIXES = (".html", ".css", ".svg")
_ENCODINGS = {"docs/legacy-latin1.html": "iso-8859-1", "about/index.html": "utf-8-sig"}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _page_text(rel: str) -> str:
    return (SITE / rel).read_bytes().decode(_ENCODINGS.get(rel, "utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh build of the site, made once for this module."""
    dest = tmp_path_factory.mktemp("built") / "site"
    make_site.build(dest)
    return dest


# --- the generator ------------------------------------------------------------------------


def test_build_is_deterministic(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    make_site.build(again)
    first, second = _files(built), _files(again)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_rebuild_replaces_previous_output(tmp_path: Path) -> None:
    dest = tmp_path / "site"
    make_site.build(dest)
    (dest / "blog" / "stale.html").write_text("<p>old</p>")
    make_site.build(dest)
    assert not (dest / "blog" / "stale.html").exists()
    assert (dest / "blog" / "index.html").is_file()


def test_build_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"precious\.txt"):
        make_site.build(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_committed_site_is_up_to_date(built: Path) -> None:
    committed, fresh = _files(SITE), _files(built)
    assert sorted(committed) == sorted(fresh), "run: python fixtures/make_site.py"
    # Raster bytes depend on the fonts and codecs of the machine; text files never do.
    stale = [n for n in fresh if n.endswith(_TEXT_SUFFIXES) and committed[n] != fresh[n]]
    assert stale == [], "run: python fixtures/make_site.py"


def test_site_is_small() -> None:
    total = sum(len(data) for data in _files(FIXTURES).values())
    assert total < 1_000_000


# --- pages --------------------------------------------------------------------------------


def test_every_page_is_written() -> None:
    pages = {name for name in _files(SITE) if name.endswith(".html")}
    assert pages == set(make_site.PAGES)
    assert {
        "index.html",
        "blog/index.html",
        "blog/2024/first-post.html",
        "docs/guide.html",
        "docs/api/reference.html",
        "about/index.html",
        "de/index.html",
        "docs/legacy-latin1.html",
    } <= pages


def _local_refs(rel: str) -> list[str]:
    """Site paths of the images and stylesheets ``rel`` references, resolved like a browser."""
    doc = lxml.html.document_fromstring(_page_text(rel))
    page_url = f"http://site.test/{rel}"
    base = next((el.get("href", "") for el in doc.iter("base")), "")
    base_url = urljoin(page_url, base)
    urls: list[str] = []
    for el in doc.iter("img", "input", "source", "object", "link"):
        for attr in ("src", "data-src", "data"):
            if el.get(attr):
                urls.append(el.get(attr, ""))
        if el.tag == "link" and el.get("rel") == "stylesheet":
            urls.append(el.get("href", ""))
        for candidate in el.get("srcset", "").split(","):
            if candidate.strip():
                urls.append(candidate.split()[0])
    resolved = []
    for url in urls:
        parts = urlsplit(urljoin(base_url, url))
        if parts.scheme == "http" and parts.netloc == "site.test":
            resolved.append(parts.path.lstrip("/"))
        else:
            assert parts.scheme == "data", f"{rel}: unexpected external reference {url}"
    return resolved


@pytest.mark.parametrize("rel", make_site.PAGES)
def test_every_referenced_local_file_exists(rel: str) -> None:
    refs = _local_refs(rel)
    assert refs, rel
    missing = sorted({ref for ref in refs if not (SITE / ref).is_file()})
    assert missing == []


def test_all_url_styles_are_used() -> None:
    raw = "\n".join(_page_text(rel) for rel in make_site.PAGES)
    assert 'src="/images/' in raw  # root-relative
    assert 'src="../../images/' in raw  # page-relative
    assert "srcset=" in raw and "<picture>" in raw
    assert '<base href="/docs/">' in _page_text("docs/api/reference.html")
    assert f'src="{make_site.LAZY_PLACEHOLDER}" data-src=' in raw


def test_every_image_file_is_referenced() -> None:
    referenced = {ref for rel in make_site.PAGES for ref in _local_refs(rel)}
    assert {spec.path for spec in make_site.IMAGES} <= referenced


def test_latin1_page_bytes() -> None:
    data = (SITE / "docs/legacy-latin1.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert "Café".encode("iso-8859-1") in data and "Größe".encode("iso-8859-1") in data
    assert b'<meta charset="iso-8859-1">' in data
    assert data.count(b"\n") == data.count(b"\r\n") > 20  # CRLF everywhere, no bare LF


def test_bom_and_language_pages() -> None:
    assert (SITE / "about/index.html").read_bytes().startswith(b"\xef\xbb\xbf<!DOCTYPE html>")
    assert not (SITE / "index.html").read_bytes().startswith(b"\xef\xbb\xbf")
    assert '<html lang="de">' in _page_text("de/index.html")


# --- the expected findings ----------------------------------------------------------------


def test_expected_findings_point_at_their_start_tags() -> None:
    findings = make_site.expected_findings()
    assert len(findings) == 28
    for f in findings:
        lines = _page_text(f.file).splitlines()
        at = lines[f.line - 1][f.column - 1 :]
        assert at.startswith(f.snippet.splitlines()[0]), f
        assert f.snippet.startswith("<") and f.snippet.endswith(">")
        assert f.rule in RULES


def test_findings_on_awkward_lines() -> None:
    by_rule = {(f.file, f.rule, f.snippet.split()[0]): f for f in make_site.expected_findings()}
    multiline = by_rule[("docs/guide.html", "image-alt", "<img")]
    assert multiline.snippet.count("\n") == 4  # reported at the line of "<", not of ">"
    latin = by_rule[("docs/legacy-latin1.html", "image-alt", "<img")]
    assert latin.column == 29  # "    <p>Größe der Downloads: " is 28 characters
    assert ("docs/api/reference.html", "image-alt", "<IMG") in by_rule


def test_alt_lengths() -> None:
    """Only the alt marked ``alt-too-long`` is over 125 characters."""
    long_ones: set[str] = set()
    for rel in make_site.PAGES:
        doc = lxml.html.document_fromstring(_page_text(rel))
        long_ones |= {alt for el in doc.iter("img") if len(alt := el.get("alt", "")) > 125}
    marked = [f for f in make_site.expected_findings() if f.rule == "alt-too-long"]
    marked_alts = [m.group(1) for f in marked if (m := re.search(r'alt="([^"]*)"', f.snippet))]
    assert len(marked) == 1 and marked_alts == sorted(long_ones)


def _table_rows(section: str) -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    body = text.split(section, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = [line.strip("|").split("|") for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # skip header and rule


def test_readme_whole_site_counts_match() -> None:
    documented: dict[str, int] = {}
    for rule, severity, count in _table_rows("## Expected findings, whole site"):
        if rule.startswith("**"):
            assert count == f"**{len(make_site.expected_findings())}**"
            continue
        rule_id = rule.strip("`")
        assert RULES[rule_id].severity.label == severity
        documented[rule_id] = int(count)
    assert documented == dict(Counter(f.rule for f in make_site.expected_findings()))


def test_readme_page_counts_match() -> None:
    documented: dict[str, dict[str, int]] = {}
    for page, _shows, findings in _table_rows("## Pages"):
        documented[page.strip("`")] = {
            rule: int(n) for rule, n in re.findall(r"([a-z-]+) (\d+)", findings)
        }
    actual: dict[str, dict[str, int]] = {rel: {} for rel in make_site.PAGES}
    for f in make_site.expected_findings():
        actual[f.file][f.rule] = actual[f.file].get(f.rule, 0) + 1
    assert documented == actual


def test_readme_image_sizes_match() -> None:
    documented = {
        path.strip("`"): tuple(int(n) for n in size.split("\N{MULTIPLICATION SIGN}"))
        for path, size, *_ in _table_rows("## Images")
    }
    assert documented == {spec.path: spec.size for spec in make_site.IMAGES}


# --- images -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", make_site.IMAGES, ids=lambda spec: spec.path)
def test_image_decodes_with_documented_size(spec: Any) -> None:
    path = SITE / spec.path
    if spec.format == "SVG":
        root = ElementTree.fromstring(path.read_bytes())
        size = (int(root.get("width", "0")), int(root.get("height", "0")))
    else:
        with Image.open(path) as image:
            image.load()
            assert image.format == spec.format
            size = image.size
    assert size == spec.size


def test_icon_spacer_and_logo_details() -> None:
    with Image.open(SITE / "images/spacer.gif") as spacer:
        assert spacer.info.get("transparency") == 0
    with Image.open(SITE / "images/icons/search.png") as icon:
        assert icon.mode == "RGBA"
        alpha = icon.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # drawn on a transparent background


def test_jpeg_carries_xmp_alt_text() -> None:
    data = (SITE / "images/landscape.jpg").read_bytes()
    assert b"\xff\xe1" in data and b"http://ns.adobe.com/xap/1.0/\x00" in data
    assert b"Iptc4xmpCore:AltTextAccessibility" in data
    for lang in (b"x-default", b"en", b"de"):
        assert b'xml:lang="' + lang + b'"' in data
    assert make_site.XMP_ALT.encode() in data
    assert make_site.XMP_ALT_DE.encode("utf-8") in data
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.getxmp()  # needs defusedxml, a project dependency
    alts = xmp["xmpmeta"]["RDF"]["Description"]["AltTextAccessibility"]["Alt"]["li"]
    assert {"lang": "x-default", "text": make_site.XMP_ALT} in alts


def test_png_carries_text_description() -> None:
    data = (SITE / "images/downloads-chart.png").read_bytes()
    assert b"tEXtDescription\x00" + make_site.PNG_DESCRIPTION.encode("latin-1") in data
    with Image.open(io.BytesIO(data)) as image:
        assert isinstance(image, PngImageFile)
        assert image.text == {"Description": make_site.PNG_DESCRIPTION}


def test_svg_carries_title() -> None:
    root = ElementTree.fromstring((SITE / "images/architecture.svg").read_bytes())
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == make_site.SVG_TITLE


def test_only_the_documented_images_carry_descriptions() -> None:
    """The offline backend must fill exactly the three documented images."""
    for spec in make_site.IMAGES:
        data = (SITE / spec.path).read_bytes()
        has_text = any(
            marker in data
            for marker in (b"http://ns.adobe.com/xap/1.0/", b"tEXt", b"iTXt", b"zTXt", b"<title>")
        )
        assert has_text == (spec.embedded_alt is not None), spec.path
