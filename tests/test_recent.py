"""The bounded memos of a run: least recently used entries go first, and a run whose
memos forget almost everything decides exactly as one that forgets nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import write
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

import alttext.recent
from alttext.config import Config
from alttext.pipeline.fix import run_fix
from alttext.recent import Recent


def test_the_least_recently_used_entry_goes_first() -> None:
    recent: Recent[str, int] = Recent(2)
    recent["a"], recent["b"] = 1, 2
    assert recent["a"] == 1  # now "b" is the oldest
    recent["c"] = 3
    assert "b" not in recent and "a" in recent and "c" in recent
    assert len(recent) == 2
    with pytest.raises(KeyError):
        recent["b"]
    with pytest.raises(ValueError):
        Recent(0)


@given(st.integers(1, 6), st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=60))
def test_it_holds_the_last_keys_used_with_their_latest_values(
    capacity: int, operations: list[tuple[bool, int]]
) -> None:
    recent: Recent[int, int] = Recent(capacity)
    model: dict[int, int] = {}  # every value ever set
    order: list[int] = []  # keys, least recently used first
    for step, (is_set, key) in enumerate(operations):
        if is_set:
            recent[key] = model[key] = step
        elif key in recent:
            assert recent[key] == model[key]
        else:
            continue
        order = [k for k in order if k != key] + [key]
        order = order[-capacity:]
    assert len(recent) == len(order)
    assert all(k in recent and recent[k] == model[k] for k in order)


def _site(root: Path, images: int) -> None:
    for n in range(images):
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", f"Figure {n}: rainfall by month")
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (n * 20, 9, 9)).save(root / "img" / f"i{n}.png", pnginfo=info)
    for p in range(3 * images):  # each image on several pages, far apart
        refs = f'<img src="../img/i{p % images}.png"><img src="/img/i{(p * 7) % images}.png">'
        write(root / "d" / f"p{p:02d}.html", f"<h1>{p}</h1>{refs}")


def test_a_run_whose_memos_hold_one_entry_decides_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    _site(source, 8)

    def run(name: str, cache: Path, edit: bool = False) -> tuple[dict[str, bytes], list[object]]:
        site = tmp_path / name
        shutil.copytree(source, site)
        if edit:  # one image changes: every page that shows it must say so
            info = PngImagePlugin.PngInfo()
            info.add_text("Description", "A new figure")
            Image.new("RGB", (40, 30), "navy").save(site / "img" / "i3.png", pnginfo=info)
        config = Config(cache_dir=cache, workers=1, site_root=site)
        report = run_fix([site], config, env={}, audit=False)
        assert report.ok and report.files_changed == 24
        outcomes = [(o.image, o.action, o.alt, o.content_hash) for o in report.outcomes]
        return {p.name: p.read_bytes() for p in sorted(site.rglob("*.html"))}, outcomes

    roomy = run("roomy", tmp_path / "cache-roomy")
    monkeypatch.setattr(alttext.recent, "DEFAULT_CAPACITY", 1)
    tight_cold = run("tight", tmp_path / "cache-tight")
    # Remembered pages, verified against reads of loads that were forgotten and redone.
    tight_warm = run("tight-warm", tmp_path / "cache-tight")
    assert tight_cold == roomy == tight_warm
    edited, _ = run("tight-edited", tmp_path / "cache-tight", edit=True)
    showing = [name for name, data in roomy[0].items() if b"Figure 3:" in data]
    assert showing and all(b'alt="A new figure"' in edited[name] for name in showing)
    assert not any(b"Figure 3:" in data for data in edited.values())
