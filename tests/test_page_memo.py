"""The page memo: a page fixed before is settled from its bytes without a scan, exactly as
the full path would settle it, and any change to what a decision read takes the full path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import write
from PIL import Image, PngImagePlugin

import alttext.pipeline.check
from alttext.cli import main
from alttext.config import Config
from alttext.pipeline.fix import FixReport, run_fix
from alttext.rules.model import Finding
from alttext.store.pages import DATABASE, SUBDIRECTORY, PageMemo


def png(path: Path, text: str | None, size: tuple[int, int] = (64, 48)) -> None:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Description", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (len(text or "") * 7 % 256, 90, 30)).save(path, pnginfo=info)


def make_site(root: Path) -> None:
    """Pages that the offline backend fills entirely: metadata alts, a spacer, a lazy
    image, a shared image, relative references from a folder, one page with nothing."""
    png(root / "img" / "cat.png", "A cat asleep on a red sofa")
    png(root / "img" / "dog.png", "A dog catching a frisbee")
    png(root / "img" / "real.png", "A lighthouse at dusk")
    png(root / "img" / "dot.png", None, size=(1, 1))
    write(root / "index.html", '<p>Home</p><img src="img/cat.png"><img src="img/dot.png">')
    write(root / "docs" / "a.html", '<img src="../img/dog.png"> <img src="/img/cat.png">')
    write(root / "docs" / "lazy.html", '<img src="../img/dot.png" data-src="../img/real.png">')
    write(root / "docs" / "inline.html", '<img src="data:image/png;base64,' + _inline() + '">')
    write(root / "done.html", '<img src="img/cat.png" alt="Our cat">')


def _inline() -> str:
    import base64
    import io

    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "An inline chart of sales")
    buf = io.BytesIO()
    Image.new("RGB", (30, 20), "olive").save(buf, "PNG", pnginfo=info)
    return base64.b64encode(buf.getvalue()).decode()


class Scans:
    """Counts pages scanned (the memo's whole point is not to)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages: list[str] = []
        real = alttext.pipeline.check.scan_file

        def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
            self.pages.append(path.name)
            return real(path, *args, **kwargs)

        monkeypatch.setattr(alttext.pipeline.check, "scan_file", counting)


def fresh(tmp_path: Path, source: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(source, copy, symlinks=True)
    return copy


def fix(site: Path, cache: Path, *, audit: bool = False, **overrides: Any) -> FixReport:
    config = Config(cache_dir=cache, workers=1, site_root=site, **overrides)
    return run_fix([site], config, env={}, audit=audit)  # audit: as the CLI with --report


def summary(report: FixReport) -> list[tuple[Any, ...]]:
    return [
        (
            o.image,
            o.action,
            o.alt,
            o.content_hash,
            o.described.origin if o.described else None,
            o.described.caption if o.described else None,
            o.error,
        )
        for o in report.outcomes
    ]


def pages(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*.html"))}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    make_site(root)
    return root


def test_a_remembered_page_is_not_scanned_and_comes_out_the_same(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = fix(fresh(tmp_path, source, "first"), cache)
    assert first.ok and first.files_changed == 4
    assert len(PageMemo(cache)) == 5  # every page (done.html: that it has nothing to fill)

    scans = Scans(monkeypatch)
    again = fresh(tmp_path, source, "again")
    remembered = fix(again, cache)
    assert scans.pages == []

    shutil.rmtree(cache / SUBDIRECTORY)  # the same run without the memo: the full path
    scans.pages.clear()
    full = fresh(tmp_path, source, "full")
    without = fix(full, cache)
    assert len(scans.pages) == 5

    assert pages(again) == pages(full) == pages(tmp_path / "first")
    assert summary(remembered) == summary(without)
    assert remembered.counts == without.counts and remembered.actions == without.actions
    assert (remembered.files, remembered.images, remembered.files_changed) == (
        without.files,
        without.images,
        without.files_changed,
    )
    assert remembered.ok and remembered.alts_written == 6


def test_dry_run_and_patch_from_the_memo_match_the_full_path(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"

    def patch_of(site: Path) -> bytes:
        config = Config(cache_dir=cache, workers=1, site_root=site)
        before = pages(site)
        report = run_fix([site], config, env={}, mode="patch", audit=False)
        assert pages(site) == before  # a patch changes nothing
        return report.patch

    full = patch_of(fresh(tmp_path, source, "full"))  # no memo yet: the full path
    fix(fresh(tmp_path, source, "first"), cache)
    scans = Scans(monkeypatch)
    remembered = patch_of(fresh(tmp_path, source, "again"))
    assert scans.pages == []
    # The same hunks (the headers name each copy's paths).
    assert full and _hunks(remembered) == _hunks(full)


def _hunks(patch: bytes) -> list[bytes]:
    return [line for line in patch.splitlines() if not line.startswith((b"---", b"+++"))]


def change_image(site: Path) -> str:
    png(site / "img" / "dog.png", "A dog asleep in the snow")
    return "A dog asleep in the snow"


def change_lazy_image(site: Path) -> str:
    png(site / "img" / "real.png", "A harbour at night")
    return "A harbour at night"


@pytest.mark.parametrize("change", [change_image, change_lazy_image])
def test_a_changed_image_is_read_and_described_again(
    tmp_path: Path, source: Path, change: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    site = fresh(tmp_path, source, "again")
    new_alt = change(site)
    scans = Scans(monkeypatch)
    report = fix(site, cache)
    assert report.ok
    assert any(o.alt == new_alt for o in report.outcomes)
    assert new_alt in "".join(p.decode() for p in pages(site).values())
    # Only the page that uses the changed image went the full way.
    assert scans.pages == ["a.html" if "dog" in new_alt else "lazy.html"]


def test_a_symlink_or_a_missing_file_in_place_of_an_image_is_not_replayed(
    tmp_path: Path, source: Path
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    outside = tmp_path / "outside.png"
    shutil.copy(source / "img" / "dog.png", outside)  # the very bytes it remembers
    site = fresh(tmp_path, source, "again")
    (site / "img" / "dog.png").unlink()
    os.symlink(outside, site / "img" / "dog.png")
    (site / "img" / "real.png").unlink()
    report = fix(site, cache)
    errors = {o.image.rel_page: o.error for o in report.outcomes if o.action == "failed"}
    assert set(errors) == {"docs/a.html", "docs/lazy.html"}
    assert "outside the site root" in (errors["docs/a.html"] or "")
    assert "not found" in (errors["docs/lazy.html"] or "")
    assert b'<img src="../img/dog.png">' in (site / "docs" / "a.html").read_bytes()


def test_a_setting_that_changes_decisions_takes_the_full_path(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    scans = Scans(monkeypatch)
    fix(fresh(tmp_path, source, "jobs"), cache, jobs=3)  # how fast, not what
    assert scans.pages == []
    report = fix(fresh(tmp_path, source, "short"), cache, max_length=12)
    assert len(scans.pages) == 5
    assert "A cat asleep" in [o.alt for o in report.outcomes]  # cut to 12 characters


def test_a_catalog_edit_is_written_at_once(tmp_path: Path, source: Path) -> None:
    cache, catalog = tmp_path / "cache", tmp_path / "alttext.json"
    fix(fresh(tmp_path, source, "first"), cache, catalog=catalog)
    fix(fresh(tmp_path, source, "second"), cache, catalog=catalog)  # remembered with it
    entries = json.loads(catalog.read_text())
    cat = next(h for h, e in entries.items() if e["alt"] == "A cat asleep on a red sofa")
    entries[cat].update(alt="Mittens, our cat", reviewed=True)
    catalog.write_text(json.dumps(entries))
    site = fresh(tmp_path, source, "edited")
    fix(site, cache, catalog=catalog)
    assert b'alt="Mittens, our cat"' in (site / "index.html").read_bytes()
    assert b"A cat asleep" not in (site / "docs" / "a.html").read_bytes()


def test_an_unreadable_memo_entry_is_ignored(tmp_path: Path, source: Path) -> None:
    import sqlite3

    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    with contextlib.closing(sqlite3.connect(cache / SUBDIRECTORY / DATABASE)) as db, db:
        keys = [key for (key,) in db.execute("SELECT key FROM pages")]
        for n, key in enumerate(keys):
            bad = ["not json", "{]", json.dumps({"read": 3}), json.dumps([]), None][n % 5]
            db.execute("UPDATE pages SET value = ? WHERE key = ?", (bad or b"\xff", key))
    site = fresh(tmp_path, source, "again")
    report = fix(site, cache)
    assert report.ok and report.files_changed == 4
    assert pages(site) == pages(tmp_path / "first")


def _entries(cache: Path) -> dict[str, Any]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(cache / SUBDIRECTORY / DATABASE)) as db:
        return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM pages")}


@pytest.mark.parametrize("bad_index", [2, -1, "0", 0.5, True])
def test_an_image_shown_many_times_is_described_once_per_entry(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch, bad_index: object
) -> None:
    import sqlite3

    write(source / "gallery.html", '<img src="img/cat.png">' * 3 + '<img src="img/dog.png">')
    cache = tmp_path / "cache"
    first = fix(fresh(tmp_path, source, "first"), cache)
    assert first.ok
    (key, entry), *_ = [(k, e) for k, e in _entries(cache).items() if len(e["outcomes"]) == 4]
    assert [row[0] for row in entry["described"]] == [
        "A cat asleep on a red sofa",
        "A dog catching a frisbee",
    ]
    assert [outcome[0][-1] for outcome in entry["outcomes"]] == [0, 0, 0, 1]
    # Replayed: the same page, without a scan.
    scans = Scans(monkeypatch)
    site = fresh(tmp_path, source, "second")
    assert summary(fix(site, cache)) == summary(first)
    assert "gallery.html" not in scans.pages
    # An index into nothing: the page goes the full way, and comes out the same.
    entry["outcomes"][2][0][-1] = bad_index
    with contextlib.closing(sqlite3.connect(cache / SUBDIRECTORY / DATABASE)) as db, db:
        db.execute("UPDATE pages SET value = ? WHERE key = ?", (json.dumps(entry), key))
    site = fresh(tmp_path, source, "third")
    assert summary(fix(site, cache)) == summary(first)
    assert "gallery.html" in scans.pages
    assert pages(site) == pages(tmp_path / "first")


def test_pages_with_a_failure_are_not_remembered(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "cache"
    site = fresh(tmp_path, source, "first")
    write(site / "remote.html", '<img src="https://cdn.example/x.png"><img src="img/cat.png">')
    png(site / "img" / "plain.png", None)
    write(site / "plain.html", '<img src="img/plain.png">')  # the offline backend: no caption
    report = fix(site, cache, remote=False)
    assert not report.ok
    assert len(PageMemo(cache)) == 5  # not remote.html, not plain.html


def test_cache_stats_counts_and_clear_forgets_remembered_pages(
    tmp_path: Path, source: Path
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    runner = CliRunner()
    stats = runner.invoke(main, ["cache", "stats", "--cache-dir", str(cache)])
    assert stats.exit_code == 0 and "pages:     5 remembered" in stats.output
    cleared = runner.invoke(main, ["cache", "clear", "--cache-dir", str(cache), "--yes"])
    assert cleared.exit_code == 0 and "5 remembered page(s)" in cleared.output
    assert len(PageMemo(cache)) == 0


def test_a_caption_the_backend_gave_is_reported_from_the_cache_next_time(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.openai import Answer, OpenAIServer

    cache = tmp_path / "cache"
    with OpenAIServer() as server:
        server.answers.extend(Answer(f"A picture of thing {n}") for n in range(10))
        config = Config(
            backend="openai",
            model="m",
            api_base=server.url,
            metadata_first=False,
            ocr=False,
            cache_dir=cache,
            workers=1,
        )

        def run(name: str) -> FixReport:
            site = fresh(tmp_path, source, name)
            return run_fix([site], replace(config, site_root=site), env={}, audit=False)

        cold = run("cold")
        assert len(server.requests("chat")) == 4  # cat, dog, the lazy one, the inline one
        scans = Scans(monkeypatch)
        remembered = run("remembered")
        assert scans.pages == []
        shutil.rmtree(cache / SUBDIRECTORY)
        full = run("full")
        assert len(server.requests("chat")) == 4  # never asked again
    assert {o.described.origin for o in cold.outcomes if o.described} == {"backend"}
    assert {o.described.origin for o in remembered.outcomes if o.described} == {"cache"}
    assert summary(remembered) == summary(full)
    assert remembered.counts == full.counts and remembered.counts["cache"] == 4
    assert [o.described for o in remembered.outcomes] == [o.described for o in full.outcomes]


def many_pages(root: Path, count: int) -> None:
    """Enough pages for two scan workers, each with its own image and a shared one."""
    png(root / "img" / "cat.png", "A cat asleep on a red sofa")
    for n in range(count):
        png(root / "img" / f"i{n}.png", f"Figure {n}: a chart of rainfall")
        write(
            root / f"p{n:03d}.html", f'<h1>{n}</h1><img src="img/i{n}.png"><img src="img/cat.png">'
        )


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".alttext-tmp")]


@pytest.mark.parametrize("audit", [False, True])
def test_pages_the_scan_workers_settle_and_write_land_like_the_full_path(
    tmp_path: Path, audit: bool
) -> None:
    source = tmp_path / "source"
    many_pages(source, 90)
    cache = tmp_path / "cache"
    found: list[list[Finding]] = []

    def run(name: str) -> Path:
        site = fresh(tmp_path, source, name)
        config = Config(cache_dir=cache, workers=2, site_root=site)
        report = run_fix([site], config, env={}, audit=audit)
        assert report.ok and report.files_changed == 90
        assert temp_files(site) == []
        found.append(list(report.findings))
        return site

    cold = run("cold")  # settled by the workers from metadata, then remembered
    warm = run("warm")  # recalled and written by the workers
    assert len(PageMemo(cache)) == 90
    assert pages(warm) == pages(cold)
    assert found[1] == found[0] and len(found[0]) == (180 if audit else 0)
    assert b'alt="Figure 7: a chart of rainfall"' in (warm / "p007.html").read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_commit_removes_what_the_workers_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    import alttext.pipeline.land

    source = tmp_path / "source"
    many_pages(source, 90)
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)  # remembered: the next run's workers write

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(alttext.pipeline.land, "commit", interrupted)
    site = fresh(tmp_path, source, "again")
    with pytest.raises(KeyboardInterrupt):
        config = Config(cache_dir=cache, workers=workers, site_root=site)
        run_fix([site], config, env={}, audit=False)
    assert temp_files(site) == []
    assert pages(site) == pages(source)  # nothing landed: every page as it was


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_while_pages_wait_for_the_committer_leaves_no_written_files(
    tmp_path: Path, workers: int
) -> None:
    source = tmp_path / "source"
    many_pages(source, 90)
    cache = tmp_path / "cache"
    done = fresh(tmp_path, source, "first")
    fix(done, cache)
    calls = 0

    def interrupt_midway() -> None:
        nonlocal calls
        calls += 1
        if calls == 60:  # pages settled and written beside themselves, some not committed
            raise KeyboardInterrupt

    site = fresh(tmp_path, source, "again")
    config = Config(cache_dir=cache, workers=workers, site_root=site)
    with pytest.raises(KeyboardInterrupt):
        run_fix([site], config, env={}, audit=False, on_described=interrupt_midway)
    assert temp_files(site) == []
    finished, expected, before = pages(site), pages(done), pages(source)
    assert all(finished[name] in (before[name], expected[name]) for name in finished)
    assert any(finished[name] == before[name] for name in finished)


def test_an_edit_to_the_code_is_a_new_fingerprint() -> None:
    import alttext.rewrite
    from alttext.store import pages as pages_module

    source = Path(alttext.rewrite.__file__)
    before = source.stat()
    pages_module.code_digest.cache_clear()
    first = pages_module.fingerprint({"max_length": 125})
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
        pages_module.code_digest.cache_clear()
        assert pages_module.fingerprint({"max_length": 125}) != first
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
        pages_module.code_digest.cache_clear()
    assert pages_module.fingerprint({"max_length": 125}) == first
    assert pages_module.fingerprint({"max_length": 80}) != first


def test_a_folder_fixed_under_its_site_root_is_remembered_for_the_whole_site(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"

    def run(name: str) -> Path:
        site = fresh(tmp_path, source, name)
        config = Config(cache_dir=cache, workers=1, site_root=site)
        assert run_fix([site / "docs"], config, env={}, audit=False).ok
        return site

    first = run("first")
    scans = Scans(monkeypatch)
    again = run("again")
    assert scans.pages == []  # docs/a.html, docs/lazy.html, docs/inline.html: remembered
    assert pages(again) == pages(first)
    # Pages are named from the site root either way: the whole site's run remembers the
    # folder's pages and scans only the others.
    site = fresh(tmp_path, source, "whole")
    fix(site, cache)
    assert sorted(scans.pages) == ["done.html", "index.html"]
    assert {k: v for k, v in pages(site).items() if k.startswith("docs/")} == {
        k: v for k, v in pages(first).items() if k.startswith("docs/")
    }


def test_a_damaged_memo_store_costs_a_warning_not_the_run(
    tmp_path: Path, source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = fresh(tmp_path, source, "first")
    fix(first, cache)
    (cache / SUBDIRECTORY / DATABASE).write_bytes(b"this is not a database" * 100)
    for name in os.listdir(cache / SUBDIRECTORY):  # WAL and shared-memory files
        if name != DATABASE:
            os.unlink(cache / SUBDIRECTORY / name)
    site = fresh(tmp_path, source, "again")
    with caplog.at_level("WARNING", logger="alttext.store.pages"):
        report = fix(site, cache)
    assert report.ok and pages(site) == pages(first)
    warnings = [r.getMessage() for r in caplog.records if r.name == "alttext.store.pages"]
    assert len(warnings) == 1 and "pages are scanned in full" in warnings[0]
    runner = CliRunner()
    stats = runner.invoke(main, ["cache", "stats", "--cache-dir", str(cache)])
    assert stats.exit_code == 0 and "unreadable" in stats.output
    cleared = runner.invoke(main, ["cache", "clear", "--cache-dir", str(cache), "--yes"])
    assert cleared.exit_code == 0
    assert PageMemo(cache).count() == 0  # a new, empty store


# -- an auditing run (``--report``): the findings are remembered too ----------------------


def add_audited_pages(root: Path) -> None:
    """Pages whose findings depend on files the audit reads, and one it cannot read."""
    png(root / "img" / "rule.png", None, size=(1, 1))
    write(root / "deco.html", '<img src="img/rule.png" alt=""><img src="img/real.png" alt="">')
    write(root / "named.html", '<img src="img/cat.png" alt="cat.png"><img src="img/dog.png">')
    write(root / "broken.html", '<img src="img/missing.png" alt="">')


def findings(report: FixReport) -> list[tuple[Any, ...]]:
    return [(f.file, f.line, f.column, f.rule, f.severity, f.message) for f in report.findings]


@pytest.fixture
def audited_source(source: Path) -> Path:
    add_audited_pages(source)
    return source


def test_a_report_run_replays_the_findings_it_remembered(
    tmp_path: Path, audited_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = fix(fresh(tmp_path, audited_source, "first"), cache, audit=True)
    rules = {f.rule for f in first.findings}
    assert {"image-alt", "alt-filename", "alt-decorative-review"} <= rules

    scans = Scans(monkeypatch)
    again = fresh(tmp_path, audited_source, "again")
    remembered = fix(again, cache, audit=True)
    # broken.html: its audit could not read an image, so it cannot be remembered.
    assert scans.pages == ["broken.html"]

    shutil.rmtree(cache / SUBDIRECTORY)
    scans.pages.clear()
    full = fresh(tmp_path, audited_source, "full")
    without = fix(full, cache, audit=True)
    assert len(scans.pages) == 8
    assert findings(remembered) == findings(without) == findings(first)
    assert list(remembered.findings) == list(without.findings)  # every field, in order
    assert summary(remembered) == summary(without)
    assert pages(again) == pages(full)
    assert (remembered.files, remembered.images) == (without.files, without.images)


def test_a_changed_file_the_audit_read_is_audited_again(
    tmp_path: Path, audited_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, audited_source, "first"), cache, audit=True)
    site = fresh(tmp_path, audited_source, "again")
    png(site / "img" / "rule.png", None, size=(64, 48))  # no longer a spacer
    scans = Scans(monkeypatch)
    report = fix(site, cache, audit=True)
    assert sorted(scans.pages) == ["broken.html", "deco.html"]
    review = [f.column for f in report.findings if f.file == "deco.html"]
    assert len(review) == 2  # both alt="" images now need a person's review


def test_runs_with_and_without_a_report_keep_their_own_entries(
    tmp_path: Path, audited_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, audited_source, "quiet"), cache)  # remembered without findings
    scans = Scans(monkeypatch)
    audited = fix(fresh(tmp_path, audited_source, "audited"), cache, audit=True)
    assert len(scans.pages) == 8  # no entry holds findings yet: every page scanned
    assert {f.rule for f in audited.findings} >= {"image-alt", "alt-decorative-review"}
    scans.pages.clear()
    fix(fresh(tmp_path, audited_source, "quiet-again"), cache)
    # Without the audit, alt="" is all broken.html has: nothing to fill, nothing read.
    assert scans.pages == []


def test_require_reviewed_findings_are_replayed_until_the_catalog_changes(
    tmp_path: Path, audited_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, catalog = tmp_path / "cache", tmp_path / "alttext.json"
    fix(fresh(tmp_path, audited_source, "first"), cache, catalog=catalog)  # fills it

    def unreviewed(report: FixReport) -> list[tuple[str, int]]:
        return [(f.file, f.column) for f in report.findings if f.rule == "alt-unreviewed"]

    # The fixed site, audited: the alts it now has came from unreviewed entries.
    fixed = tmp_path / "first"
    audited = fix(
        fresh(tmp_path, fixed, "audit1"), cache, catalog=catalog, audit=True, require_reviewed=True
    )
    assert unreviewed(audited)
    scans = Scans(monkeypatch)
    again = fix(
        fresh(tmp_path, fixed, "audit2"), cache, catalog=catalog, audit=True, require_reviewed=True
    )
    assert scans.pages == ["broken.html"]
    assert unreviewed(again) == unreviewed(audited)
    # An image the audit hashed changes: no catalog entry for it now, no such finding.
    changed = fresh(tmp_path, fixed, "audit-changed")
    change_image(changed)
    scans.pages.clear()
    after = fix(changed, cache, catalog=catalog, audit=True, require_reviewed=True)
    assert sorted(scans.pages) == ["a.html", "broken.html", "named.html"]
    assert ("docs/a.html", 1) in unreviewed(again) and ("docs/a.html", 1) not in unreviewed(after)
    entries = json.loads(catalog.read_text())
    for entry in entries.values():
        entry["reviewed"] = True
    catalog.write_text(json.dumps(entries))
    reviewed = fix(
        fresh(tmp_path, fixed, "audit3"), cache, catalog=catalog, audit=True, require_reviewed=True
    )
    assert unreviewed(reviewed) == []


def test_the_cli_report_of_a_remembered_run_is_the_same(
    tmp_path: Path, audited_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    runner = CliRunner()
    scans = Scans(monkeypatch)

    def report(name: str, fmt: str) -> str:
        site = fresh(tmp_path, audited_source, f"{name}-{fmt}")
        out = tmp_path / f"{name}.{fmt}"
        args = ["fix", str(site), "--site-root", str(site), "--cache-dir", str(cache)]
        args += ["-q", "--workers", "1", "--report", str(out), "--report-format", fmt]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        return out.read_text().replace(str(site), "SITE")

    for fmt in ("json", "sarif"):
        shutil.rmtree(cache, ignore_errors=True)
        cold = report("cold", fmt)
        scans.pages.clear()
        warm = report("warm", fmt)
        assert scans.pages == ["broken.html"]
        assert warm == cold
        assert '"alt-decorative-review"' in warm and '"image-alt"' in warm


def test_the_summary_says_how_many_pages_were_remembered(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "cache"
    runner = CliRunner()

    def run(name: str) -> str:
        site = fresh(tmp_path, source, name)
        args = ["fix", str(site), "--site-root", str(site), "--cache-dir", str(cache), "-q"]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        return result.output

    assert "5 files scanned, 4 changed" in run("cold")
    assert "5 files (5 unchanged, not scanned again), 4 changed" in run("warm")


def test_clearing_only_the_pages_keeps_every_caption(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.openai import Answer, OpenAIServer

    cache = tmp_path / "cache"
    runner = CliRunner()
    with OpenAIServer() as server:
        server.answers.extend(Answer(f"A picture of thing {n}") for n in range(10))
        base = ["--backend", "openai", "--model", "m", "--api-base", server.url]
        base += ["--cache-dir", str(cache), "--workers", "1", "-q"]
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")

        def run(name: str) -> Path:
            site = fresh(tmp_path, source, name)
            result = runner.invoke(main, ["fix", str(site), "--site-root", str(site), *base])
            assert result.exit_code == 0, result.output
            return site

        cold = run("cold")
        paid = len(server.requests("chat"))
        asked = runner.invoke(main, ["cache", "clear", "--cache-dir", str(cache)], input="n\n")
        assert asked.exit_code == 1 and "pay for them again" in asked.output  # refused
        assert len(PageMemo(cache)) == 5
        cleared = runner.invoke(main, ["cache", "clear", "--pages", "--cache-dir", str(cache)])
        assert cleared.exit_code == 0, cleared.output
        assert "removed 5 remembered page(s); the captions are kept" in cleared.output
        assert len(PageMemo(cache)) == 0
        scans = Scans(monkeypatch)
        again = run("again")
        assert len(scans.pages) == 5  # every page scanned again...
        assert len(server.requests("chat")) == paid  # ...and no caption paid for twice
    assert pages(again) == pages(cold)


def test_the_memo_forgets_its_oldest_pages_past_its_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alttext.store import pages as pages_module

    monkeypatch.setattr(pages_module, "SIZE_LIMIT", 64 * 1024)
    memo = PageMemo(tmp_path)
    for batch in range(20):
        memo.put([(f"page:{batch}:{n}", {"blob": "x" * 500, "n": n}) for n in range(20)])
        time.sleep(0.001)  # each batch stored later than the one before
    assert 0 < len(memo) < 400
    assert memo.get("page:19:19") == {"blob": "x" * 500, "n": 19}  # the newest stay
    assert memo.get("page:0:0") is None  # the oldest went first
    memo.close()


def test_a_forked_worker_opens_its_own_connection(tmp_path: Path) -> None:
    import multiprocessing

    memo = PageMemo(tmp_path)
    memo.put([("page:a", {"n": 1})])  # open in this process before the fork
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    # The child gets this very object (a forked Process's arguments are not pickled).
    child = context.Process(target=_read_in_child, args=(memo, answers))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and answers.get(timeout=5) == ({"n": 1}, True)
    memo.put([("page:b", {"n": 2})])  # this process's connection still works
    assert memo.get("page:b") == {"n": 2} and memo.get("page:c") == {"n": 3}
    memo.close()


def _read_in_child(memo: PageMemo, answers: Any) -> None:
    inherited = memo._db
    found = memo.get("page:a")
    memo.put([("page:c", {"n": 3})])
    answers.put((found, memo._db is not inherited))
    memo.close()


def test_a_new_cache_is_not_asked_for_pages_only_told_them(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real_get = PageMemo.get

    def counting_get(self: PageMemo, key: str) -> dict[str, Any] | None:
        asked.append(key)
        return real_get(self, key)

    monkeypatch.setattr(PageMemo, "get", counting_get)
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)  # a CI runner's empty cache
    assert asked == [] and len(PageMemo(cache)) == 5
    scans = Scans(monkeypatch)
    fix(fresh(tmp_path, source, "again"), cache)
    assert len(asked) == 5 and scans.pages == []


def test_asking_about_the_memo_does_not_create_it(tmp_path: Path) -> None:
    runner = CliRunner()
    stats = runner.invoke(main, ["cache", "stats", "--cache-dir", str(tmp_path / "c")])
    assert stats.exit_code == 0 and "no cache yet" in stats.output
    cleared = runner.invoke(main, ["cache", "clear", "--pages", "--cache-dir", str(tmp_path / "c")])
    assert cleared.exit_code == 0 and "nothing to clear" in cleared.output
    assert not PageMemo(tmp_path / "c").exists() and not (tmp_path / "c").exists()


def test_an_earlier_versions_memo_files_are_removed_when_the_store_opens(
    tmp_path: Path,
) -> None:
    old = tmp_path / SUBDIRECTORY
    old.mkdir()
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
        (old / name).write_bytes(b"an earlier version's diskcache")
    memo = PageMemo(tmp_path)
    memo.put([("page:x", {"n": 1})])
    assert sorted(p.name for p in old.iterdir() if p.name.startswith("cache.db")) == []
    assert memo.get("page:x") == {"n": 1}
    memo.close()


def test_a_catalog_edit_rescans_only_the_pages_of_its_image(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, catalog = tmp_path / "cache", tmp_path / "alttext.json"
    fix(fresh(tmp_path, source, "first"), cache, catalog=catalog)  # metadata: recorded
    fix(fresh(tmp_path, source, "second"), cache, catalog=catalog)  # now the catalog's
    scans = Scans(monkeypatch)
    fix(fresh(tmp_path, source, "third"), cache, catalog=catalog)
    assert scans.pages == []  # examples grew, no decision changed: all remembered
    entries = json.loads(catalog.read_text())
    cat = next(h for h, e in entries.items() if e["alt"] == "A cat asleep on a red sofa")
    entries[cat].update(alt="Mittens, our cat", reviewed=True)
    catalog.write_text(json.dumps(entries))
    site = fresh(tmp_path, source, "edited")
    report = fix(site, cache, catalog=catalog)
    assert sorted(scans.pages) == ["a.html", "index.html"]  # the two pages showing it
    assert b'alt="Mittens, our cat"' in (site / "index.html").read_bytes()
    assert [o.described.reviewed for o in report.outcomes if o.alt == "Mittens, our cat"] == [
        True,
        True,
    ]
    del entries[cat]  # and removed: decided by its metadata again
    catalog.write_text(json.dumps(entries))
    scans.pages.clear()
    site = fresh(tmp_path, source, "removed")
    fix(site, cache, catalog=catalog)
    assert sorted(scans.pages) == ["a.html", "index.html"]
    assert b'alt="A cat asleep on a red sofa"' in (site / "index.html").read_bytes()


def test_an_estimate_recalls_remembered_pages_and_says_so(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "cache"
    fix(fresh(tmp_path, source, "first"), cache)
    site = fresh(tmp_path, source, "again")
    args = ["fix", str(site), "--site-root", str(site), "--cache-dir", str(cache), "-q"]
    result = CliRunner().invoke(main, [*args, "--estimate"])
    assert result.exit_code == 0, result.output
    assert "5 files (5 unchanged, not scanned again), 4 would change" in result.output
    assert "0 distinct images to caption" in result.output
    assert pages(site) == pages(source)  # still nothing written
