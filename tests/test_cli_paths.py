"""How ``check`` and ``fix`` take their PATHS and outputs: one site root, each page once,
outputs checked before any work, and nothing to scan as an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write
from PIL import Image, PngImagePlugin

from alttext.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def described_png(path: Path, text: str, colour: str = "navy") -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, pnginfo=info)


@pytest.fixture
def two_sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Two sites with a /logo.png each, and an unrelated logo.png in the working directory:
    # the image a root-relative URL means is not the working directory's.
    monkeypatch.chdir(tmp_path)
    described_png(tmp_path / "logo.png", "Unrelated file in the working directory", "green")
    for name, colour in (("s1", "navy"), ("s2", "red")):
        described_png(tmp_path / name / "logo.png", f"Logo of {name}", colour)
        write(tmp_path / name / "i.html", '<html lang="en"><img src="/logo.png">\n')
    return tmp_path


def test_paths_in_different_folders_need_a_site_root(two_sites: Path) -> None:
    for command in ("fix", "check"):
        code, _, err = run(command, "s1", "s2", "--no-cache" if command == "fix" else "-q")
        assert code == 2 and "give --site-root" in err
    assert "alt=" not in (two_sites / "s1" / "i.html").read_text(encoding="utf-8")
    # Each site on its own gets its own logo's alt.
    for name in ("s1", "s2"):
        code, _, err = run("fix", name, "--no-cache", "-q")
        assert code == 0, err
        assert f'alt="Logo of {name}"' in (two_sites / name / "i.html").read_text("utf-8")


def test_overlapping_paths_and_aliases_give_each_page_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    described_png(tmp_path / "ov" / "img" / "a.png", "A navy rectangle")
    write(tmp_path / "ov" / "sub" / "i.html", '<html lang="en"><img src="/img/a.png">\n')
    write(tmp_path / "ov" / "real.html", '<html lang="en"><img src="img/a.png">\n')
    os.symlink("real.html", tmp_path / "ov" / "alias.html")
    args = ["fix", "ov", "ov/sub/i.html", "ov/sub", "ov", "--no-cache", "-q"]
    code, _, err = run(*args, "--patch", "twice.patch")
    assert code == 0, err
    code, _, err = run("fix", "ov", "--no-cache", "-q", "--patch", "once.patch")
    assert code == 0, err
    once = (tmp_path / "once.patch").read_text(encoding="utf-8")
    assert (tmp_path / "twice.patch").read_text(encoding="utf-8") == once
    assert once.count("+++ ") == 2  # real.html (also behind alias.html) and sub/i.html
    code, out, err = run(*args)
    assert code == 0, err
    assert "2 files scanned, 2 changed; 2 alts written" in out
    assert (tmp_path / "ov" / "alias.html").is_symlink()


def test_outputs_are_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    described_png(tmp_path / "site" / "a.png", "A navy rectangle")
    page = write(tmp_path / "site" / "index.html", '<html lang="en"><img src="a.png">\n')
    before = page.read_bytes()
    missing = str(tmp_path / "no" / "such" / "dir")
    for option in (["--report", f"{missing}/r.json"], ["--catalog", f"{missing}/c.json"]):
        code, _, err = run("fix", "site", "--no-cache", "-q", *option)
        assert code == 2 and "does not exist" in err
        assert page.read_bytes() == before  # nothing done, nothing paid for
    code, _, err = run("fix", "site", "--no-cache", "-q", "--patch", "site/index.html")
    assert code == 2 and "looks like a page" in err and page.read_bytes() == before
    code, _, err = run("fix", "site", "--no-cache", "-q", "--report", "site")
    assert code == 2 and "is a directory" in err
    code, _, err = run("check", "site", "-q", "-o", f"{missing}/out.json")
    assert code == 2 and "does not exist" in err


def test_nothing_to_scan_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    write(tmp_path / "site" / "index.html", "<p>hi\n")
    for args in (["check", "empty"], ["fix", "empty", "--no-cache"]):
        code, _, err = run(*args)
        assert code == 2 and "no HTML files" in err
    code, _, err = run("check", "site", "--exclude", "*")
    assert code == 2 and "(all excluded)" in err


def test_check_fails_on_a_page_it_could_not_read(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "good.html", '<html lang="en"><img src="a.png" alt="A chart">\n')
    (site / "bad.html").write_bytes(b"<img src=a.png alt=x>caf\xe9\n")  # not UTF-8
    code, out, _ = run("check", str(site))
    assert code == 1 and "bad.html: error" in out
    (site / "bad.html").unlink()
    assert run("check", str(site))[0] == 0


def test_fix_output_cannot_forge_log_lines(tmp_path: Path) -> None:
    # A src with a newline and a GitHub Actions workflow command, and an escape sequence.
    site = tmp_path / "site"
    write(site / "i.html", '<img src="x.png\n::error file=README.md::Injected\x1b[2J">\n')
    code, _, err = run("fix", str(site), "--no-cache", "-q")
    assert code == 1 and "not fixed" in err
    assert not any(line.startswith("::error") for line in err.splitlines())
    assert "\x1b" not in err


def test_a_page_a_patch_cannot_hold_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    described_png(tmp_path / "site" / "a.png", "A navy rectangle")
    write(tmp_path / "site" / "utf8.html", '<html lang="en"><img src="a.png">\n')
    wide = '\ufeff<html lang="en"><img src="a.png">\n'.encode("utf-16-le")
    (tmp_path / "site" / "wide.html").write_bytes(wide)
    code, _, err = run("fix", "site", "--no-cache", "-q", "--patch", "fix.patch")
    assert code == 1 and "wide.html" in err and "cannot write a text patch" in err
    patch = (tmp_path / "fix.patch").read_text(encoding="utf-8")
    assert "+++ b/site/utf8.html" in patch and "wide.html" not in patch
    # Written in place, the UTF-16 page is fine.
    code, _, err = run("fix", "site", "--no-cache", "-q")
    assert code == 0, err
    assert 'alt="A navy rectangle"' in (tmp_path / "site" / "wide.html").read_bytes().decode(
        "utf-16"
    )


def test_a_refused_api_key_stops_the_run_as_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.wavespeed import WaveSpeedServer

    site = tmp_path / "site"
    site.mkdir()
    for n in range(6):  # six distinct images: one refused request, not six
        Image.new("RGB", (64, 48 + n), "teal").save(site / f"i{n}.png")
        write(site / f"p{n}.html", f'<html lang="en"><img src="i{n}.png">\n')
    before = {p: p.read_bytes() for p in site.glob("*.html")}
    monkeypatch.setenv("WAVESPEED_API_KEY", "wrong-key")
    with WaveSpeedServer() as server:
        args = ["fix", str(site), "--backend", "wavespeed", "--api-base", server.url]
        code, out, err = run(*args, "--rate", "0", "--jobs", "1", "--sync", "--no-cache", "-q")
        assert code == 2, err
        assert "the API key was refused" in err and "wrong-key" not in err + out
        assert len(server.requests()) == 1  # the first keyed request (an upload) and no more
    assert {p: p.read_bytes() for p in site.glob("*.html")} == before


@pytest.mark.parametrize("marker", ["pyproject.toml", "mkdocs.yml"])
def test_the_projects_alttext_json_is_the_default_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    import hashlib
    import json

    project = tmp_path / "project"
    write(project / marker, "[project]\nname = 'docs'\n" if marker == "pyproject.toml" else "")
    described_png(project / "site" / "a.png", "What the metadata says")
    page = write(project / "site" / "index.html", '<html lang="en"><img src="a.png">\n')
    digest = hashlib.sha256((project / "site" / "a.png").read_bytes()).hexdigest()
    entry = {"alt": "What a person decided", "source": "human", "reviewed": True, "examples": []}
    monkeypatch.chdir(project)
    code, _, err = run("fix", "site", "--no-cache", "-q")  # no alttext.json: none is made
    assert code == 0, err
    assert not (project / "alttext.json").exists()
    page.write_text('<html lang="en"><img src="a.png">\n', encoding="utf-8")
    (project / "alttext.json").write_text(json.dumps({digest: entry}), encoding="utf-8")
    code, _, err = run("fix", "site", "--no-cache", "-q")
    assert code == 0, err
    assert 'alt="What a person decided"' in page.read_text(encoding="utf-8")


def test_fix_fills_image_buttons_by_the_type_browsers_see(tmp_path: Path) -> None:
    site = tmp_path / "site"
    described_png(site / "go.png", "Search")
    page = write(
        site / "f.html",
        '<form><input type="IMAGE" src="go.png"><input type=" image" src="go.png"></form>\n',
    )
    code, _, err = run("fix", str(site), "--no-cache", "-q")
    assert code == 0, err
    # type=IMAGE is an image button (ASCII case-insensitive); type=" image" a text field.
    assert page.read_text(encoding="utf-8") == (
        '<form><input alt="Search" type="IMAGE" src="go.png">'
        '<input type=" image" src="go.png"></form>\n'
    )


def test_require_reviewed_fails_the_gate_until_a_person_reviews(tmp_path: Path) -> None:
    import json

    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    described_png(site / "a.png", "A navy rectangle")
    write(site / "index.html", '<html lang="en"><img src="a.png">\n')
    assert run("fix", str(site), "--catalog", str(catalog), "--no-cache", "-q")[0] == 0
    gate = ["check", str(site), "--require-reviewed", "--catalog", str(catalog)]
    code, out, _ = run(*gate)
    assert code == 1 and "error alt-unreviewed" in out
    entries = json.loads(catalog.read_text(encoding="utf-8"))
    for entry in entries.values():
        entry["reviewed"] = True
    catalog.write_text(json.dumps(entries), encoding="utf-8")
    assert run(*gate)[0] == 0


@pytest.mark.parametrize(
    ("option", "value"), [("--rate", "-1"), ("--timeout", "0"), ("--timeout", "-3")]
)
def test_out_of_range_numbers_are_usage_errors(tmp_path: Path, option: str, value: str) -> None:
    write(tmp_path / "site" / "index.html", "<img src=a.png>\n")
    code, _, err = run("fix", str(tmp_path / "site"), "--no-cache", option, value)
    assert code == 2 and option in err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_no_color_turns_the_terminals_colours_off(tmp_path: Path) -> None:
    import subprocess
    import sys

    write(tmp_path / "site" / "index.html", '<html lang="en"><img src="a.png">\n')

    def on_a_terminal(**env: str) -> bytes:
        leader, follower = os.openpty()
        with os.fdopen(leader, "rb", buffering=0) as screen:
            subprocess.run(
                [sys.executable, "-m", "alttext", "check", str(tmp_path / "site")],
                stdout=follower,
                stderr=follower,
                env={**os.environ, **env},
                check=False,
            )
            os.close(follower)
            out = b""
            while True:
                try:
                    chunk = screen.read(4096)
                except OSError:  # the terminal closed: all read
                    break
                if not chunk:
                    break
                out += chunk
        return out

    red = b"\x1b[31m"  # errors are red on a terminal (the progress line is not colour)
    assert red in on_a_terminal()
    plain = on_a_terminal(NO_COLOR="1")
    assert b"image-alt" in plain and red not in plain and b"\x1b[1m" not in plain


def test_a_live_runs_temporary_files_are_kept_and_said_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    site = tmp_path / "site"
    described_png(site / "a.png", "A navy rectangle")
    write(site / "index.html", '<html lang="en"><img src="a.png">\n')
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = write(site / f".index.html.{other.pid}-0.alttext-tmp", "half a page")
        code, _, err = run("fix", str(site), "--no-cache", "-q")
        assert code == 0, err
        assert f"kept 1 temporary file of another run still going (process {other.pid})" in err
        assert theirs.exists()
    finally:
        other.kill()
        other.wait()
    write(site / "index.html", '<html lang="en"><img src="a.png">\n')
    code, _, err = run("fix", str(site), "--no-cache", "-q")
    assert code == 0 and "removed 1 temporary file left by an interrupted run" in err
    assert not theirs.exists()


def test_a_page_reached_twice_is_named_by_its_own_path(tmp_path: Path) -> None:
    site = tmp_path / "site"
    described_png(site / "a.png", "A navy rectangle")
    write(site / "own" / "page.html", '<html lang="en"><img src="../a.png">\n')
    os.symlink("own/page.html", site / "alias.html")  # listed first, resolved from site/
    code, out, err = run("fix", str(site), "--no-cache", "-q")
    assert code == 0, err
    assert "1 file scanned, 1 changed" in out
    assert 'alt="A navy rectangle"' in (site / "own" / "page.html").read_text("utf-8")
    assert (site / "alias.html").is_symlink()


def test_cache_commands_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-cache-here"
    code, out, _ = run("cache", "stats", "--cache-dir", str(missing))
    assert code == 0 and "no cache yet" in out and not missing.exists()
    code, out, _ = run("cache", "clear", "--cache-dir", str(missing))
    assert code == 0 and "nothing to clear" in out and not missing.exists()
    described_png(tmp_path / "site" / "a.png", "A navy rectangle")
    write(tmp_path / "site" / "index.html", '<html lang="en"><img src="a.png">\n')
    cache = tmp_path / "cache"
    assert run("fix", str(tmp_path / "site"), "--cache-dir", str(cache), "-q")[0] == 0
    code, out, _ = run("cache", "clear", "--cache-dir", str(cache), "--yes")
    assert code == 0 and "removed" in out


def test_a_folder_that_cannot_be_read_fails_the_gate(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    write(site / "index.html", '<html lang="en"><img src="a.png" alt="A chart">\n')
    write(site / "blog" / "post.html", '<html lang="en"><img src="a.png">\n')
    (site / "blog").chmod(0)
    command = [sys.executable, "-m", "alttext", "check", str(site)]
    if os.geteuid() == 0:  # root reads any folder: run without that privilege
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file-permission override")
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        (site / "blog").chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "blog: error cannot read folder" in result.stdout


def test_the_site_root_must_hold_the_paths_and_a_link_to_it_is_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "s1" / "sub" / "p.html", '<html lang="en"><img src="a.png">\n')
    (tmp_path / "other").mkdir()
    code, _, err = run("check", "s1/sub", "--site-root", "other")
    assert code == 2 and "does not hold the paths given" in err
    (tmp_path / "L").mkdir()
    os.symlink("../s1", tmp_path / "L" / "link")
    code, _, err = run("check", "L/link", "s1", "-q")
    assert code == 1, err  # one folder, spelled two ways: its finding, not a usage error
    before = (tmp_path / "s1" / "sub" / "p.html").read_bytes()
    code, _, err = run("check", "-q", "s1", "-o", "s1/sub/p.html")
    assert code == 2 and "looks like a page" in err
    assert (tmp_path / "s1" / "sub" / "p.html").read_bytes() == before


def test_a_page_name_cannot_start_a_ci_workflow_command(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("::error title=Pwned::Injected.html", "\t::add-mask::x.html"):
        write(site / name, '<html lang="en"><img src="x.png">\n')
    code, out, _ = run("check", str(site))
    code_fix, _, err = run("fix", str(site), "--no-cache", "-q")
    assert code == 1 and code_fix == 1
    for line in (out + err).splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "./::error title=Pwned::Injected.html:1:" in out


def test_a_catalog_entry_answers_only_pages_in_its_language(tmp_path: Path) -> None:
    import json

    from servers.openai import Answer, OpenAIServer

    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    Image.new("RGB", (64, 48), "teal").save(tmp_path / "x.png")
    site.mkdir()
    (site / "x.png").write_bytes((tmp_path / "x.png").read_bytes())
    write(site / "a-en.html", '<html lang="en"><img src="x.png">\n')
    write(site / "b-de.html", '<html lang="de"><img src="x.png">\n')
    with OpenAIServer(api_key=None) as server:
        server.answers += [Answer(content="A teal square."), Answer(content="Ein Quadrat.")]
        args = ["--backend", "openai", "--model", "m", "--api-base", server.url, "-q"]
        args += ["--catalog", str(catalog), "--cache-dir", str(tmp_path / "cache")]
        args += ["--workers", "1", "--jobs", "1"]  # one caption at a time: answers in order
        code, _, err = run("fix", str(site), *args)
        assert code == 0, err
        entries = json.loads(catalog.read_text(encoding="utf-8"))
        [(digest, entry)] = entries.items()
        assert entry["lang"] == "en" and entry["examples"] == ["a-en.html x.png"]
        # The next build: a new German page gets the German alt, not the English draft.
        write(site / "b-de.html", '<html lang="de"><img src="x.png">\n')
        write(site / "c-de.html", '<html lang="de"><img src="x.png">\n')
        write(site / "a-en.html", '<html lang="en"><img src="x.png">\n')
        code, _, err = run("fix", str(site), *args)
        assert code == 0, err
        assert len(server.requests("chat")) == 2  # the German caption came from the cache
    assert 'alt="Ein Quadrat."' in (site / "c-de.html").read_text(encoding="utf-8")
    assert 'alt="Ein Quadrat."' in (site / "b-de.html").read_text(encoding="utf-8")
    assert 'alt="A teal square."' in (site / "a-en.html").read_text(encoding="utf-8")
    # A person's entry without a language answers every page.
    entries[digest] = {"alt": "Teal", "source": "human", "reviewed": True, "examples": []}
    catalog.write_text(json.dumps(entries), encoding="utf-8")
    for name, lang in (("a-en", "en"), ("b-de", "de")):
        write(site / f"{name}.html", f'<html lang="{lang}"><img src="x.png">\n')
    assert run("fix", str(site), "--catalog", str(catalog), "--no-cache", "-q")[0] == 0
    assert 'alt="Teal"' in (site / "b-de.html").read_text(encoding="utf-8")
