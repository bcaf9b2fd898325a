"""Property test of ``alttext fix`` as a whole: random sites, real files, the real CLI.

Each example builds a small site from pieces that have broken the tool's kind before:
several encodings and byte-order marks, markup in scripts and comments, uppercase and
unquoted tags, srcset and <picture>, lazy-load attributes, spacers, base href, image maps,
hostile and broken references, stray bytes, CR line endings, and images whose embedded
alt holds quotes, ampersands, angle brackets and characters a legacy encoding cannot hold.
Whatever the site, a run must end with a verdict (exit 0 or 1), change nothing but
inserted alt attributes, leave nothing beside the pages, and a second run must change
nothing at all.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from alttext.cli import main

PIECES = [
    b'<img src="a.png">',
    b"<IMG SRC=a.png>",
    b'<img src="a.png"/>',
    b'<img\r\nsrc="b.png"\n  width="40">',
    b'<img srcset="a.png 1x, b.png 2x">',
    b'<picture><source srcset="b.png"><img src="a.png"></picture>',
    b'<img data-src="b.png" src="data:,">',
    b'<img src="/a.png" alt>',
    b'<img src="a.png" alt="">',
    b'<img src="a.png" alt="A person wrote this">',
    b'<img src="a.png" width=1 height=1>',
    b'<img src="a.png" aria-hidden="true">',
    b"<input type=image src=a.png>",
    b'<map><area href="#" shape=rect></map>',
    b"<a href=x><img src=a.png></a>",
    b'<img src="missing.png">',
    b'<img src="broken.png">',
    b'<img src="../../../etc/passwd">',
    b'<img src="http://169.254.169.254/x.png">',
    b'<img src="%zz.png">',
    b'<img src="data:image/png;base64,iVBORw0KGgo=">',
    b'<base href="/sub/">',
    b'<meta charset="windows-1252">',
    b'<meta charset="shift_jis">',
    b'<html lang="zh-TW">',
    b"<!-- <img src=a.png> -->",
    b"<script>document.write('<img src=a.png>')</script>",
    b"<svg><image href=a.png /></svg>",
    b"<template><img src=a.png></template>",
    b"<noscript><img src=a.png></noscript>",
    b"<p>caf\xc3\xa9 \xe2\x82\xac</p>",
    b"<p>caf\xe9</p>",
    b"\xef\xbb\xbf",
    b"\r\n",
    b"\r",
    b"\x00",
    b"<",
    b'"',
]
ALTS = [
    'A "red" box & <b>tags</b>',
    "Ein rotes Kästchen",
    "红色方块 \u2018quoted\u2019",
    "It's red",
]
# An inserted attribute, with the space before or after it (where the rewriter puts it).
_ALT = rb'(?:alt|ALT)=(?:"[^"]*"|\'[^\']*\')'
INSERTED = (re.compile(rb" " + _ALT), re.compile(_ALT + rb" "))


def image(path: Path, colour: str, alt: str | None) -> None:
    info = PngImagePlugin.PngInfo()
    if alt is not None:
        info.add_text("Description", alt)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(path, pnginfo=info)


def snapshot(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


def inserted_alts(before: bytes, after: bytes) -> int | None:
    """How many alt attributes ``after`` inserts into ``before``; ``None`` if it changes
    anything else. (A walk along both: at each point ``after`` either goes on as
    ``before`` does, or holds an attribute ``before`` does not.)"""
    i = j = count = 0
    while i < len(before) or j < len(after):
        for pattern in INSERTED:
            inserted = pattern.match(after, j)
            if inserted is None or before.startswith(inserted.group(), i):
                continue
            end = inserted.end()
            if after[end : end + 1] == before[i : i + 1]:  # and the page goes on as before
                j, count = end, count + 1
                break
        else:
            if i < len(before) and j < len(after) and before[i] == after[j]:
                i, j = i + 1, j + 1
            else:
                return None
    return count


pages = st.lists(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=14).map(b"".join),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(pages=[b'<img src="a.png"><IMG SRC=sub/a.png>'], alt_a=ALTS[0], alt_b=None)  # 2 alts
@given(pages=pages, alt_a=st.sampled_from(ALTS), alt_b=st.none() | st.sampled_from(ALTS))
def test_fix_changes_only_alts_and_a_second_run_changes_nothing(
    pages: list[bytes], alt_a: str, alt_b: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        image(site / "a.png", "red", alt_a)
        image(site / "b.png", "blue", alt_b)  # without an alt: the offline backend fails it
        image(site / "sub" / "a.png", "green", alt_a)
        (site / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        for index, page in enumerate(pages):
            (site / ("sub" if index % 2 else "") / f"p{index}.html").write_bytes(page)
        before = snapshot(site)
        written = 0
        args = ["fix", str(site), "--no-cache", "--no-ocr", "--workers", "1", "-q"]
        first = CliRunner().invoke(main, args)
        assert first.exit_code in (0, 1), first.output
        after = snapshot(site)
        assert sorted(after) == sorted(before)  # nothing left beside the pages
        for name, old in before.items():
            if not name.endswith(".html"):
                assert after[name] == old, name
            else:
                inserted = inserted_alts(old, after[name])
                assert inserted is not None, (name, old, after[name])
                written += inserted
        # What the summary counts is what was inserted (so a run that writes nothing
        # cannot pass for one that writes right).
        assert re.search(rf"; {written} alts? written \(", first.stdout), first.stdout
        if pages == [b'<img src="a.png"><IMG SRC=sub/a.png>']:
            assert written == 2
        second = CliRunner().invoke(main, args)
        assert second.exit_code in (0, 1), second.output
        assert snapshot(site) == after
        assert ", 0 changed;" in second.stdout, second.stdout
