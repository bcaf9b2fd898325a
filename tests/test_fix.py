"""``alttext fix`` end to end with the offline default, on real files."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURE_SITE, write
from PIL import Image, PngImagePlugin

from alttext.cli import main
from alttext.config import Config
from alttext.pipeline.fix import run_fix

INSERTED = re.compile(r' (?:alt|ALT)="[^"]*"')


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def originals() -> dict[str, bytes]:
    return {
        p.relative_to(FIXTURE_SITE).as_posix(): p.read_bytes()
        for p in FIXTURE_SITE.rglob("*")
        if p.is_file()
    }


def described_png(path: Path, text: str | None, colour: str = "navy") -> Path:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Description", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, pnginfo=info)
    return path


def test_fix_fixture_site_changes_only_inserted_alts(site: Path) -> None:
    before = originals()
    code, out, err = run("fix", str(site), "-q")
    assert code == 1  # the offline backend cannot describe the photos: listed, exit 1
    assert "not fixed" in err and "team-photo.jpg" in err
    assert re.search(r"8 files scanned, \d+ changed; \d+ alts written", out)
    changed = 0
    for rel, old in before.items():
        new = (site / rel).read_bytes()
        if new == old:
            continue
        changed += 1
        assert rel.endswith(".html")
        # Nothing but insertions, and only of alt attributes (each tag gains one).
        ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
        assert {op for op, *_ in ops} <= {"equal", "insert"}
        added = len(new) - len(old)
        attrs = INSERTED.findall(new.decode("latin-1"))
        old_attrs = INSERTED.findall(old.decode("latin-1"))
        assert added == sum(map(len, attrs)) - sum(map(len, old_attrs))
    assert changed >= 4
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'alt="Sunrise over a mountain lake" class="hero-image"' in index
    german = (site / "de" / "index.html").read_text(encoding="utf-8")
    assert 'alt="Sonnenaufgang über einem Bergsee"' in german  # the page's language
    # A second run changes nothing.
    snapshot = {p: p.read_bytes() for p in site.rglob("*.html")}
    code, out, _ = run("fix", str(site), "-q")
    assert code == 1 and ", 0 changed;" in out
    assert {p: p.read_bytes() for p in site.rglob("*.html")} == snapshot


def test_dry_run_and_patch_change_nothing_and_patch_applies(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # patches name files relative to the working directory
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    code, out, _ = run("fix", "site", "--dry-run", "-q")
    assert code == 1 and out.startswith("--- a/site/") and "+++ b/site/" in out
    code, _, _ = run("fix", "site", "--patch", "fix.patch", "-q")
    assert code == 1
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    fixed = tmp_path / "fixed"
    shutil.copytree(site, fixed / "site")
    monkeypatch.chdir(fixed)
    run("fix", "site", "-q")
    monkeypatch.chdir(tmp_path)
    subprocess.run(["patch", "-p1", "-s", "-i", "fix.patch"], cwd=tmp_path, check=True)
    for path in (fixed / "site").rglob("*.html"):
        assert (site / path.relative_to(fixed / "site")).read_bytes() == path.read_bytes()
    # git apply takes the same patch (undo it with --reverse to show it matches exactly).
    subprocess.run(["git", "apply", "--reverse", "fix.patch"], cwd=tmp_path, check=True)
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


def test_only_a_writing_run_records_decisions_and_its_summary_adds_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site"
    described_png(site / "img" / "chart.png", "Bar chart of sales")
    Image.new("RGB", (1, 1), "white").save(site / "img" / "dot.png")
    for name in ("a", "b"):  # one image on two pages: two alts, one description
        write(site / f"{name}.html", '<html lang="en"><img src="img/chart.png">\n')
    write(site / "c.html", '<html lang="en"><img src="img/dot.png">\n')
    catalog = tmp_path / "alttext.json"
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    for change_nothing in (["--dry-run"], ["--patch", "fix.patch"], ["--estimate"]):
        code, out, err = run("fix", "site", "--catalog", str(catalog), "-q", *change_nothing)
        assert code == 0, err
        assert not catalog.exists()  # "change nothing" includes the committed catalog
        assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    summary = out if change_nothing != ["--dry-run"] else err
    assert "3 alts answered now (catalog 0, metadata 2, cache 0, decorative 1)" in summary
    code, out, err = run("fix", "site", "--catalog", str(catalog), "-q", "--dry-run")
    assert "3 would change; 3 alts to write (catalog 0, metadata 2, cache 0, backend 0" in err
    code, out, err = run("fix", "site", "--catalog", str(catalog), "-q")
    assert code == 0, err
    # Per alt written, the sources and spacers add up to the alts; the calls are per image.
    assert "3 changed; 3 alts written (catalog 0, metadata 2, " in out
    assert "cache 0, backend 0, decorative 1); 0 failed; 0 backend calls" in out
    entries = json.loads(catalog.read_text(encoding="utf-8"))
    assert [e["alt"] for e in entries.values()] == ["Bar chart of sales"]


def test_a_runs_own_catalog_additions_do_not_answer_pages_in_another_language(
    site: Path, tmp_path: Path
) -> None:
    # The lake photo carries alt text in English and German: each page gets its own
    # language, although the English page's answer went into the catalog first.
    catalog = tmp_path / "alttext.json"
    code, out, _ = run("fix", str(site), "--catalog", str(catalog), "-q", "--workers", "1")
    assert code == 1  # the offline backend cannot describe the photos
    german = (site / "de" / "index.html").read_text(encoding="utf-8")
    assert 'alt="Sonnenaufgang über einem Bergsee"' in german
    assert "(catalog 0, " in out  # nothing was decided by the catalog the run began with
    assert "Sunrise over a mountain lake" in catalog.read_text(encoding="utf-8")


def test_relative_paths_resolve_from_each_runs_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One process, two runs given the same relative path from two working directories (a
    # build plugin in a long-lived process): each run reads its own site's images.
    for name in ("first", "second"):
        folder = tmp_path / name
        described_png(folder / "site" / "a.png", f"A {name} rectangle")
        page = write(folder / "site" / "index.html", '<html lang="en"><body><img src="a.png">\n')
        monkeypatch.chdir(folder)
        code, _, err = run("fix", "site", "-q")
        assert code == 0, err
        assert f'alt="A {name} rectangle"' in page.read_text(encoding="utf-8")


def test_a_patch_names_the_files_behind_symlinks_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The site is reached through a symlinked folder, and one page is a symlink to a file
    # kept elsewhere. The patch names each file the fix would change by its real path
    # below the working directory, so `patch -p1` applies it there.
    work = tmp_path / "work"
    real = work / "real-site"
    described_png(real / "a.png", "A navy rectangle")
    write(real / "one.html", '<html lang="en"><body><img src="a.png"></body></html>\n')
    # Served from where the link sits: its image is relative to the site's folder.
    write(work / "shared" / "two.html", '<html lang="en"><body><img src="a.png"></body></html>\n')
    (real / "two.html").symlink_to(work / "shared" / "two.html")
    (work / "site").symlink_to(real, target_is_directory=True)
    monkeypatch.chdir(work)
    code, _, err = run("fix", "site", "--patch", "fix.patch", "-q")
    assert code == 0, err
    patch = (work / "fix.patch").read_text(encoding="utf-8")
    names = sorted(re.findall(r"^\+\+\+ b/(\S+)", patch, flags=re.MULTILINE))
    assert names == ["real-site/one.html", "shared/two.html"]
    # The same patch again from the page memo (the pages are not scanned this time).
    code, out, _ = run("fix", "site", "--patch", "again.patch")
    assert code == 0 and "(2 unchanged, not scanned again)" in out
    assert (work / "again.patch").read_text(encoding="utf-8") == patch
    subprocess.run(["patch", "-p1", "-s", "-i", "fix.patch"], cwd=work, check=True)
    assert 'alt="A navy rectangle"' in (real / "one.html").read_text(encoding="utf-8")
    assert 'alt="A navy rectangle"' in (work / "shared" / "two.html").read_text(encoding="utf-8")
    assert (real / "two.html").is_symlink()


def test_never_touches_decorative_human_hidden_or_ignored(tmp_path: Path) -> None:
    described_png(tmp_path / "a.png", "A navy rectangle")
    html = (
        '<html lang="en"><body>\n'
        '<img src="a.png" alt="">\n'
        '<img src="a.png" alt="Written by a person">\n'
        '<img src="a.png" aria-hidden="true">\n'
        '<div hidden><img src="a.png"></div>\n'
        '<div data-alttext-ignore><img src="a.png"></div>\n'
        '<template><img src="a.png"></template>\n'
        '<img src="a.png" aria-label="Named">\n'
        '<img src="a.png" role="presentation">\n'
        '<img src="a.png" alt="IMG_0001.PNG">\n'
        "</body></html>\n"
    )
    page = write(tmp_path / "p.html", html)
    code, _, _ = run("fix", str(tmp_path), "-q")
    assert code == 0 and page.read_text(encoding="utf-8") == html
    code, _, _ = run("fix", str(tmp_path), "-q", "--replace-bad")
    assert code == 0
    assert page.read_text(encoding="utf-8") == html.replace(
        'alt="IMG_0001.PNG"', 'alt="A navy rectangle"'
    )


def test_spacers_input_buttons_and_noscript(tmp_path: Path) -> None:
    Image.new("RGBA", (1, 1)).save(tmp_path / "pixel.png")
    described_png(tmp_path / "go.png", "Search")
    html = (
        '<img src="pixel.png">\n<img src="nothing.png" width="1" height="1">\n'
        '<input type="image" src="go.png" alt="">\n'
        '<noscript><img src="go.png"></noscript>\n'
    )
    page = write(tmp_path / "p.html", html)
    code, _, err = run("fix", str(tmp_path), "-q")
    assert code == 0, err
    assert page.read_text(encoding="utf-8") == (
        '<img alt="" src="pixel.png">\n<img alt="" src="nothing.png" width="1" height="1">\n'
        '<input type="image" src="go.png" alt="Search">\n'
        '<noscript><img alt="Search" src="go.png"></noscript>\n'
    )


def test_refusals_are_per_image_errors_and_the_rest_completes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    described_png(site / "ok.png", "A navy rectangle")
    (tmp_path / "secret.png").write_bytes((site / "ok.png").read_bytes())
    (site / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    page = write(
        site / "p.html",
        '<img src="../secret.png">\n<img src="/../../secret.png">\n<img src="corrupt.png">\n'
        '<img src="missing.png">\n<img src="http://169.254.169.254/latest/x.png">\n'
        '<img src="ok.png">\n',
    )
    report = tmp_path / "r.json"
    code, _, err = run("fix", str(site), "-q", "--report", str(report))
    assert code == 1
    assert 'alt="A navy rectangle" src="ok.png"' in page.read_text(encoding="utf-8")
    doc = json.loads(report.read_text(encoding="utf-8"))
    # With --report, fix audits the pages as check does (as they were before the fix).
    assert [f["rule"] for f in doc["findings"]] == ["image-alt"] * 6
    by_src = {item["src"]: item for item in doc["images"]}
    assert by_src["ok.png"]["action"] == "filled" and by_src["ok.png"]["origin"] == "metadata"
    for src in (
        "../secret.png",
        "/../../secret.png",
        "corrupt.png",
        "missing.png",
        "http://169.254.169.254/latest/x.png",
    ):
        assert by_src[src]["action"] == "failed" and by_src[src]["error"], src
        assert src in err
    assert doc["fix"]["failed"] == 5 and doc["fix"]["alts_written"] == 1


def test_one_image_on_many_pages_is_described_once(tmp_path: Path) -> None:
    described_png(tmp_path / "img" / "shared.png", "A navy rectangle")
    for index in range(40):
        write(tmp_path / f"p{index}.html", '<p>x</p><img src="img/shared.png">')
    # metadata_first off: the offline backend itself is asked, once.
    report = run_fix([tmp_path], Config(metadata_first=False, cache=False), env={})
    assert report.ok and report.files_changed == 40
    assert report.counts["api_calls"] == 1


def test_a_file_named_from_many_folders_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.pipeline.load as load_module

    described_png(tmp_path / "img" / "shared.png", "A navy rectangle")
    for folder in ("a", "b/c", "d/e/f"):
        depth = "../" * (folder.count("/") + 1)
        for index in range(3):
            write(tmp_path / folder / f"p{index}.html", f'<img src="{depth}img/shared.png">')
    reads: list[str] = []
    real_load_image = load_module.load_image

    def counting(resolved: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(resolved.path))
        return real_load_image(resolved, *args, **kwargs)

    monkeypatch.setattr(load_module, "load_image", counting)
    report = run_fix([tmp_path], Config(cache=False, workers=1), env={})
    assert report.ok and report.files_changed == 9
    # Three distinct references (one per folder depth), one file: read once.
    assert reads == [str(tmp_path / "img" / "shared.png")]


def test_latin1_page_keeps_its_encoding_and_crlf(tmp_path: Path) -> None:
    described_png(tmp_path / "a.png", "Preis in € und Größe")
    original = '<meta charset="iso-8859-1">\r\n<p>Café</p><img src="a.png">\r\n'.encode("latin-1")
    (tmp_path / "p.html").write_bytes(original)
    code, _, _ = run("fix", str(tmp_path), "-q")
    assert code == 0
    assert (tmp_path / "p.html").read_bytes() == original.replace(
        b'<img src="a.png">',
        'alt="Preis in &#8364; und Größe" '.encode("latin-1").join([b"<img ", b'src="a.png">']),
    )


def test_missing_api_key_is_a_usage_error_before_any_work(site: Path) -> None:
    before = {p: p.read_bytes() for p in site.rglob("*.html")}
    code, out, err = run("fix", str(site), "--backend", "wavespeed")
    assert code == 2 and "WAVESPEED_API_KEY" in (out + err)
    assert {p: p.read_bytes() for p in site.rglob("*.html")} == before


@pytest.mark.parametrize("flag", [["--dry-run", "--patch", "x.patch"]])
def test_conflicting_output_modes(site: Path, flag: list[str]) -> None:
    assert run("fix", str(site), *flag)[0] == 2


def test_backend_gets_page_context_and_functional_images_say_where_they_lead(
    tmp_path: Path,
) -> None:
    from servers.openai import Answer, OpenAIServer

    described_png(tmp_path / "home.png", None, colour="teal")
    described_png(tmp_path / "chart.png", None, colour="olive")
    page = write(
        tmp_path / "p.html",
        "<html lang=en><head><title>Quarterly report</title></head><body>"
        "<h2>Sales</h2><figure><img src=chart.png><figcaption>Sales by month</figcaption>"
        '</figure><a href="/start/"><img src=home.png></a></body></html>',
    )
    with OpenAIServer() as server:
        server.answers.extend([Answer("A bar chart of sales"), Answer("Start page")])
        code, _, err = run(
            "fix",
            str(tmp_path),
            "-q",
            "--backend",
            "openai",
            "--model",
            "m",
            "--api-base",
            server.url,
            "--no-ocr",
            "--jobs",
            "1",
        )
        assert code == 0, err
        prompts = [json.dumps(r.json()) for r in server.requests("chat")]
    assert any("Quarterly report" in p and "Sales by month" in p and "Sales" in p for p in prompts)
    assert any("/start/" in p and "link" in p for p in prompts)
    text = page.read_text(encoding="utf-8")
    assert 'alt="A bar chart of sales"' in text and 'alt="Start page"' in text


def test_report_lists_images_in_page_order_even_when_some_pages_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.spool

    # A tiny in-memory share: the report's outcomes and findings spill to disk.
    monkeypatch.setattr(alttext.spool, "IN_MEMORY", 2)
    monkeypatch.setattr(alttext.spool, "BATCH", 3)
    pages = []
    for index in range(12):
        if index % 3 == 1:  # decided at once: a spacer needs no caption
            Image.new("RGB", (1, 1)).save(tmp_path / f"s{index}.png")
            body = f'<img src="s{index}.png"><img src="s{index}.png">'
        else:  # waits for the (offline) backend
            described_png(tmp_path / f"i{index}.png", f"Picture number {index}", "teal")
            body = f'<img src="i{index}.png"><img src="i{index}.png">'
        pages.append(write(tmp_path / f"p{index:02d}.html", f"<p>x</p>{body}"))
    report = run_fix([tmp_path], Config(metadata_first=False, cache=False, workers=1), env={})
    assert report.ok and report.files_changed == 12
    assert report.outcomes.spilled > 0
    assert [o.image.rel_page for o in report.outcomes] == [p.name for p in pages for _ in range(2)]
    assert [o.action for o in report.outcomes] == [
        "decorative" if index % 3 == 1 else "filled" for index in range(12) for _ in range(2)
    ]
    assert report.alts_written == 24 and report.actions["decorative"] == 8
    assert [o.alt for o in report.outcomes][:2] == ["Picture number 0"] * 2


def test_a_page_that_changes_before_its_caption_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.pipeline.fix as fix

    described_png(tmp_path / "a.png", "A teal square", "teal")
    page = write(tmp_path / "p.html", '<p>x</p><img src="a.png">')

    original = fix._with_context

    def rewritten_meanwhile(path: Path, rel_path: str) -> dict[int, object]:
        path.write_text("<p>someone else's edit</p>", encoding="utf-8")
        return original(path, rel_path)  # type: ignore[return-value]

    monkeypatch.setattr(fix, "_with_context", rewritten_meanwhile)
    report = run_fix([tmp_path], Config(metadata_first=False, cache=False, workers=1), env={})
    (failed,) = report.failed
    assert "page changed" in (failed.error or "")
    assert page.read_text(encoding="utf-8") == "<p>someone else's edit</p>"  # not overwritten


# Markup where a shortcut could go wrong: two images on one line, uppercase tags, "alt"
# inside another attribute's value, image maps, image buttons, malformed tags.
_TRICKY = (
    '<html lang="en"><body><p><img src="/img/photo.png"><IMG SRC="/img/chart.png" ALT="Chart">'
    '<img src="/img/photo.png" data-x=\'alt="no"\'><img alt src="/img/chart.png"></p>\n'
    '<map name="m"><area href="/a" shape="rect" coords="0,0,1,1"><area shape="rect">'
    '<area href="/b" alt="B"></map><img src="/img/photo.png" usemap="#m">\n'
    '<input type="image" src="/img/chart.png"><input type="image" alt="" src="/img/chart.png">'
    '<input type="text" alt="x"><img src="/img/photo.png" alt="photo.png">'
    '<img src="/img/photo.png" alt="image"><svg role="img"><img src="/x.png"></svg>'
    "<div role=img></div><img src=/img/photo.png\n  class=x></body></html>\n"
)


@pytest.mark.parametrize("replace_bad", [False, True])
def test_without_the_audit_fix_writes_the_same_bytes_and_reports_no_findings(
    tmp_path: Path, replace_bad: bool
) -> None:
    # Without the audit, the scan skips the elements fix cannot fill: nothing else changes.
    copies = []
    for name in ("audited", "not-audited"):
        copies.append(tmp_path / name)
        shutil.copytree(FIXTURE_SITE, copies[-1])
        (copies[-1] / "tricky.html").write_text(_TRICKY, encoding="utf-8")
    config = Config(cache=False, workers=1, replace_bad=replace_bad)
    audited = run_fix([copies[0]], config, env={})
    plain = run_fix([copies[1]], config, env={}, audit=False)
    assert len(audited.findings) > 0 and len(plain.findings) == 0
    assert audited.images == plain.images > 0
    assert [(o.image, o.action, o.alt, o.error) for o in audited.outcomes] == [
        (o.image, o.action, o.alt, o.error) for o in plain.outcomes
    ]
    tricky = [o for o in plain.outcomes if o.image.rel_page == "tricky.html"]
    assert len(tricky) >= (8 if replace_bad else 6)
    for page in copies[0].rglob("*.html"):
        assert page.read_bytes() == (copies[1] / page.relative_to(copies[0])).read_bytes()


def test_a_backend_that_refuses_every_connection_fails_the_rest_at_once(
    tmp_path: Path,
) -> None:
    # A wrong --api-base: a few requests go through their retries, the other images fail
    # without any (the run ends in seconds, not minutes), each with the reason.
    import socket

    from servers import FakeClock
    from servers.wavespeed import API_KEY

    from alttext.captioners.wavespeed import WaveSpeedCaptioner
    from alttext.pipeline.describe import Describer
    from alttext.store.cache import CaptionCache

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "site").mkdir()
    for n in range(18):  # 18 distinct images
        Image.new("RGB", (64, 48 + n), "teal").save(tmp_path / "site" / f"i{n}.png")
        write(tmp_path / "site" / f"p{n}.html", f'<p>x</p><img src="i{n}.png">')
    config = Config(backend="wavespeed", rate=0, jobs=4, workers=1, cache_dir=tmp_path / "c")
    clock = FakeClock()
    with CaptionCache(tmp_path / "c") as cache:
        backend = WaveSpeedCaptioner(
            API_KEY,
            base_url=f"http://127.0.0.1:{port}",
            max_concurrent=4,
            per_minute=None,
            clock=clock,
            sleep=clock.sleep,
            journal=cache,
        )
        report = run_fix(
            [tmp_path / "site"], config, env={}, describer=Describer(config, backend, cache)
        )
    failed = [o for o in report.outcomes if o.action == "failed"]
    assert not report.ok and len(failed) == 18 and report.files_changed == 0
    assert all("connection" in (o.error or "") for o in failed)
    given_up = [o for o in failed if "not sent" in (o.error or "")]
    assert len(given_up) >= 18 - 3 - 4 and all("refused" in (o.error or "") for o in given_up)
    # Retries (four waits per request) only for the three that decided it and the others
    # in flight then (--jobs 4), not for all 18 images (72 waits).
    assert len(clock.sleeps) <= 4 * (3 + 4)


def test_estimate_counts_what_a_run_would_pay_for_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.wavespeed import API_KEY, WaveSpeedServer

    from alttext.store.pages import PageMemo

    site = tmp_path / "site"
    described_png(site / "img" / "meta.png", "A red bicycle by a wall", "red")
    for n in range(3):
        described_png(site / "img" / f"photo{n}.png", None, ["teal", "olive", "gray"][n])
    Image.new("RGB", (1, 1), "white").save(site / "img" / "dot.png")
    # photo0 and photo1 on several pages; photo2 answered by the catalog; one refused image.
    write(site / "a.html", '<img src="img/meta.png"><img src="img/photo0.png">')
    write(site / "b.html", '<img src="img/photo0.png"><img src="img/photo1.png">')
    write(site / "c.html", '<img src="img/photo1.png"><img src="img/dot.png">')
    write(site / "d.html", '<img src="img/photo2.png"><img src="../outside.png">')
    catalog = tmp_path / "alttext.json"
    with WaveSpeedServer() as server:
        monkeypatch.setenv("WAVESPEED_API_KEY", API_KEY)
        base = ["fix", str(site), "--site-root", str(site), "--backend", "wavespeed"]
        base += ["--api-base", server.url, "--rate", "0", "--cache-dir", str(tmp_path / "c")]
        base += ["--catalog", str(catalog), "-q", "--workers", "1"]
        # The catalog knows photo2 (a person reviewed it).
        photo2 = hashlib.sha256((site / "img" / "photo2.png").read_bytes()).hexdigest()
        entry = {"alt": "Our office", "source": "human", "reviewed": True, "examples": []}
        catalog.write_text(json.dumps({photo2: entry}))
        catalog_before = catalog.read_bytes()
        before = {p.name: p.read_bytes() for p in site.glob("*.html")}

        code, out, err = run(*base, "--estimate")
        assert code == 1 and "outside.png" in err  # refused now, refused in a run too
        assert server.requests() == []  # asked nothing
        assert {p.name: p.read_bytes() for p in site.glob("*.html")} == before
        assert [p for p in site.rglob("*") if p.name.endswith(".alttext-tmp")] == []
        assert catalog.read_bytes() == catalog_before
        assert PageMemo(tmp_path / "c").count() == 0
        assert "(catalog 1, metadata 1, cache 0, decorative 1)" in out
        assert "4 images need the wavespeed backend: 2 distinct images to caption" in out
        assert "1 would fail" in out and "3 would change" in out

        code, out, err = run(*base)  # the real run pays for exactly what was estimated
        assert code == 1 and len(server.requests("submit")) == 2
        code, out, err = run(*base, "--estimate")  # and next time, nothing
        assert "0 images need the wavespeed backend: 0 distinct images" in out
        for name, data in before.items():  # the site as the next build writes it again
            (site / name).write_bytes(data)
        code, out, err = run(*base, "--estimate")
        # The run recorded its answers in the catalog: it decides them all now (the
        # sources count images, so with the spacer they add up to the alts).
        assert "4 would change; 7 alts answered now (catalog 6, metadata 0, cache 0, " in out
        assert "decorative 1)" in out
        assert "0 distinct images to caption" in out and len(server.requests("submit")) == 2
        assert len(server.requests("submit")) == 2


def test_estimate_is_given_alone(site: Path) -> None:
    code, out, err = run("fix", str(site), "--estimate", "--dry-run")
    assert code == 2 and "--estimate" in (out + err)


def test_outcomes_are_kept_only_for_a_caller_that_reads_them(tmp_path: Path) -> None:
    described_png(tmp_path / "a.png", "A navy rectangle")
    for n in range(3):
        write(tmp_path / f"p{n}.html", '<html lang="en"><img src="a.png"><img src="a.png">\n')
    config = Config(cache=False, workers=1)
    counts_only = run_fix([tmp_path], config, env={}, mode="dry-run", keep_outcomes=False)
    everything = run_fix([tmp_path], config, env={}, mode="dry-run")
    assert list(counts_only.outcomes) == [] and len(list(everything.outcomes)) == 6
    assert counts_only.actions == everything.actions and counts_only.alts_written == 6
    assert counts_only.origins == everything.origins == {"metadata": 6}
