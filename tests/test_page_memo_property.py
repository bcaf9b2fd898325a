"""The page memo never changes an answer: whatever changes between two runs (images
rewritten, resized, removed or replaced by symlinks; pages edited; catalog entries
edited, reviewed or removed; a setting), the run that uses the memo writes the same
bytes, outcomes and findings as one without it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from alttext.config import Config
from alttext.pipeline.fix import FixReport, run_fix
from alttext.store.pages import SUBDIRECTORY

IMAGES = 4
PAGES = 5

# One edit between the two runs: (what, which image or page, a variant).
Edit = tuple[str, int, int]
EDITS = st.tuples(
    st.sampled_from(["recaption", "resize", "remove", "symlink", "page", "alt-empty", "catalog"]),
    st.integers(0, PAGES - 1),
    st.integers(0, 3),
)


def png(path: Path, text: str | None, size: tuple[int, int] = (48, 32)) -> None:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Description", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    Image.new("RGB", size, (len(text or "") * 9 % 256, 60, 90)).save(path, pnginfo=info)


def page_text(p: int, variant: int = 0) -> str:
    """Page ``p``: two images without alt, one with alt="" (the audit sizes it)."""
    a, b, c = p % IMAGES, (p + 1 + variant) % IMAGES, (p + 2) % IMAGES
    extra = '<img src="img/new.png">' if variant == 3 else ""
    return (
        f'<h1>Page {p}</h1><img src="img/i{a}.png"><p>text</p><img src="/img/i{b}.png">'
        f'<img src="img/i{c}.png" alt="">{extra}'
    )


def make_site(root: Path) -> None:
    for i in range(IMAGES):
        png(root / "img" / f"i{i}.png", f"Figure {i}: a chart of rainfall")
    png(root / "img" / "new.png", "A new figure")
    for p in range(PAGES):
        write(root / f"p{p}.html", page_text(p))


def apply(site: Path, outside: Path, catalog: Path, edit: Edit) -> None:
    what, n, variant = edit
    image = site / "img" / f"i{n % IMAGES}.png"
    if what == "catalog":  # a person edits, reviews or removes an entry
        entries = json.loads(catalog.read_text())
        if image.is_file() and not image.is_symlink():
            sha256 = hashlib.sha256(image.read_bytes()).hexdigest()
            if variant == 3:
                entries.pop(sha256, None)
            else:
                alt = f"Figure {n} as a person put it, take {variant}"
                entries[sha256] = {"alt": alt, "source": "human", "reviewed": variant == 2}
            catalog.write_text(json.dumps(entries))
    elif what == "recaption":
        png(image, f"Figure {n} redrawn, version {variant}")
    elif what == "resize":  # to a spacer, or back to a figure
        png(image, f"Figure {n % IMAGES}: a chart of rainfall", (1, 1) if variant % 2 else (48, 32))
    elif what == "remove":
        if image.exists() or image.is_symlink():
            image.unlink()
    elif what == "symlink":  # the very bytes, from outside the site root
        target = outside / f"i{n % IMAGES}-{variant}.png"
        if image.exists() and not image.is_symlink():
            shutil.copyfile(image, target)
            image.unlink()
            os.symlink(target, image)
    elif what == "page":
        write(site / f"p{n}.html", page_text(n, variant))
    elif what == "alt-empty":  # the alt="" image of a page, resized (audit only)
        png(site / "img" / f"i{(n + 2) % IMAGES}.png", None, (2, 2) if variant else (40, 40))


def outcome(report: FixReport) -> tuple[Any, ...]:
    return (
        [(o.image, o.action, o.alt, o.content_hash, o.error, o.described) for o in report.outcomes],
        list(report.findings),
        [(e.file, e.message) for e in report.errors],
        (report.files, report.images, report.files_changed, report.ok),
    )


def pages(site: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(site.glob("*.html"))}


@contextmanager
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="alttext-memo-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(EDITS, max_size=4),
    audit=st.booleans(),
    max_length=st.sampled_from([125, 125, 14]),
)
def test_a_run_with_the_memo_equals_a_run_without_it(
    edits: list[Edit], audit: bool, max_length: int
) -> None:
    with workspace() as tmp:
        source, outside, cache = tmp / "source", tmp / "outside", tmp / "cache"
        catalog, edited_catalog = tmp / "alttext.json", tmp / "edited.json"
        make_site(source)
        outside.mkdir()

        def run(name: str, length: int, *, edited: bool, memo: bool) -> tuple[Any, ...]:
            site = tmp / name
            shutil.copytree(source, site, symlinks=True)
            if edited:  # the same edits, to the site and to the catalog, for both runs
                shutil.copyfile(edited_catalog, catalog)
                for edit in edits:
                    apply(site, outside, catalog, edit)
            if not memo:
                shutil.rmtree(cache / SUBDIRECTORY, ignore_errors=True)
            config = Config(
                cache_dir=cache, workers=1, site_root=site, max_length=length, catalog=catalog
            )
            report = run_fix([site], config, env={}, audit=audit)
            return outcome(report), pages(site)

        run("first", 125, edited=False, memo=True)  # fills the catalog (metadata)
        run("second", 125, edited=False, memo=True)  # remembers every page it can
        shutil.copyfile(catalog, edited_catalog)
        with_memo = run("with-memo", max_length, edited=True, memo=True)
        without = run("without", max_length, edited=True, memo=False)
        assert with_memo == without
