"""The catalog file: shared by runs and people (save merges), its errors, merge and prune."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import REPO, write
from PIL import Image

from alttext.cli import main
from alttext.errors import ConfigError
from alttext.store.catalog import MAX_EXAMPLES, Catalog, CatalogEntry

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


def entry(
    alt: str, *, reviewed: bool = False, examples: tuple[str, ...] = ("p.html x.png",)
) -> dict[str, object]:
    return {"alt": alt, "source": "backend:x", "reviewed": reviewed, "examples": list(examples)}


def write_catalog(path: Path, entries: dict[str, dict[str, object]]) -> Path:
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return path


def on_disk(path: Path) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# --- save merges with the file as it is now -------------------------------------------


def test_two_runs_sharing_a_catalog_keep_both_runs_entries(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("Old")})
    first, second = Catalog.load(path), Catalog.load(path)
    first.add(H2, "From the first run", "backend:x", "a.html two.png")
    second.add(H3, "From the second run", "backend:x", "b.html three.png")
    first.save()
    second.save()
    assert sorted(on_disk(path)) == [H1, H2, H3]
    # The later saver now holds what the file holds, not just what it knew.
    assert second.get(H2) is not None and second.to_text() == path.read_text(encoding="utf-8")


def test_a_persons_edit_during_a_run_survives_its_save(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("A draft caption")})
    run = Catalog.load(path)
    run.add(H1, "ignored", "backend:x", "other.html x.png")  # a new example for H1
    run.add(H2, "New", "backend:x", "q.html y.png")
    write_catalog(path, {H1: entry("A person's alt", reviewed=True)})  # edited meanwhile
    run.save()
    data = on_disk(path)
    # The edit wins whole: this run's example is not grafted onto a different decision.
    assert data[H1] == entry("A person's alt", reviewed=True)
    assert data[H2]["alt"] == "New"
    assert run.get(H1) == CatalogEntry("A person's alt", "backend:x", True, ("p.html x.png",))


def test_examples_from_two_runs_are_combined_up_to_the_cap(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("Cat", examples=("a",))})
    first, second = Catalog.load(path), Catalog.load(path)
    first.add(H1, "Cat", "backend:x", "b")
    second.add(H1, "Cat", "backend:x", "c")
    second.add(H1, "Cat", "backend:x", "d")
    first.save()
    second.save()
    assert MAX_EXAMPLES == 3
    assert on_disk(path)[H1]["examples"] == ["a", "b", "c"]


def test_an_entry_deleted_by_hand_stays_deleted_but_a_new_one_is_added(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("Cat"), H2: entry("Dog")})
    run = Catalog.load(path)
    run.add(H1, "Cat", "backend:x", "more.html cat.png")  # touched by the run
    run.add(H3, "Bird", "backend:x", "b.html bird.png")
    write_catalog(path, {H2: entry("Dog")})  # a person removed H1 on purpose
    run.save()
    assert sorted(on_disk(path)) == [H2, H3]


def test_a_removal_lands_unless_the_entry_was_edited_meanwhile(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("Cat"), H2: entry("Dog")})
    run = Catalog.load(path)
    assert run.prune([]) == [H1, H2]
    write_catalog(path, {H1: entry("Cat"), H2: entry("A reviewed dog", reviewed=True)})
    run.save()
    assert on_disk(path) == {H2: entry("A reviewed dog", reviewed=True)}


def test_a_file_made_invalid_meanwhile_is_neither_overwritten_nor_dropped(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1: entry("Cat")})
    run = Catalog.load(path)
    run.add(H2, "Dog", "backend:x", "d.html dog.png")
    half_edited = '{\n  "' + H1 + '": {"alt": "Cat" "reviewed": true}\n}\n'
    path.write_text(half_edited, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2, column .*changes were not saved"):
        run.save()
    assert path.read_text(encoding="utf-8") == half_edited
    assert run.dirty  # still unsaved: a later save (after the person is done) writes it
    write_catalog(path, {H1: entry("Cat", reviewed=True)})
    run.save()
    assert sorted(on_disk(path)) == [H1, H2] and on_disk(path)[H1]["reviewed"] is True


_SAVER = """
import sys, time
from pathlib import Path
from alttext.store.catalog import Catalog

path, prefix, go, count = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
catalog = Catalog.load(path)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for i in range(count):
    catalog.add(prefix + format(i, "063x"), f"{prefix} {i}", "backend:x", f"{prefix}.html")
    catalog.save()
"""


def _python(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _SAVER, *args], stdout=subprocess.PIPE, text=True, env=env
    )


def _finish(saver: subprocess.Popen[str]) -> int:
    saver.communicate(timeout=60)  # also closes its pipe
    return saver.returncode


def test_processes_saving_at_the_same_time_lose_no_entry(tmp_path: Path) -> None:
    path, go, count = tmp_path / "alttext.json", tmp_path / "go", 80
    savers = [_python(str(path), prefix, str(go), str(count)) for prefix in "de"]
    for saver in savers:
        assert saver.stdout is not None and saver.stdout.readline() == "ready\n"
    go.touch()  # both start saving together
    assert [_finish(saver) for saver in savers] == [0, 0]
    data = on_disk(path)
    assert len(data) == 2 * count
    assert {key[0] for key in data} == {"d", "e"}


def test_a_save_waits_for_the_lock_beside_the_catalog(tmp_path: Path) -> None:
    path, go = tmp_path / "alttext.json", tmp_path / "go"
    go.touch()
    lock = os.open(tmp_path / ".alttext.json.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    saver = _python(str(path), "f", str(go), "1")
    try:
        assert saver.stdout is not None and saver.stdout.readline() == "ready\n"
        with pytest.raises(subprocess.TimeoutExpired):
            saver.wait(timeout=0.5)
        assert not path.exists()
    finally:
        os.close(lock)
        returncode = _finish(saver)
    assert returncode == 0
    assert len(on_disk(path)) == 1


# --- reading: duplicates, encodings, messages -------------------------------------------


def test_duplicate_keys_name_the_key_and_both_values(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(
        "{\n"
        f'  "{H1}": {{"alt": "Ours: a red door", "reviewed": true}},\n'
        f'  "{H1}": {{"alt": "Theirs: a door"}}\n'
        "}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    message = str(caught.value)
    assert H1 in message and "appears twice" in message
    assert '"Ours: a red door" (reviewed' in message and '"Theirs: a door" (not reviewed' in message


def test_an_uppercase_key_is_accepted_and_a_clash_after_lowercasing_is_a_duplicate(
    tmp_path: Path,
) -> None:
    path = write_catalog(tmp_path / "alttext.json", {H1.upper(): entry("Cat")})
    assert Catalog.load(path).get(H1) is not None
    write_catalog(path, {H1.upper(): entry("Cat"), H1: entry("Kitten")})
    with pytest.raises(ConfigError, match=r"appears twice \(written 'A+' and 'a+'\)"):
        Catalog.load(path)


def test_a_catalog_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({H1: entry("Cat")}).encode())
    catalog = Catalog.load(path)
    assert catalog.get(H1) is not None
    catalog.add(H2, "Dog", "backend:x", "d")
    catalog.save()
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")  # written canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"alt": "x", "reviewed": "yes"}, "^[^']*'reviewed' must be true or false, not \"yes\"$"),
        ({"alt": "x", "source": 3}, "'source' must be a string, not 3$"),
        ({"alt": "x", "examples": ["a", 1]}, "'examples' must be a list of strings; 1 is"),
        (
            {"alt": "x", "Reviewed": True},
            "'Reviewed'; allowed: alt, source, reviewed, examples, lang, other_languages$",
        ),
        ({"source": "human"}, "'alt' is missing"),
        ("Cat", "must be an object with an 'alt', not \"Cat\""),
        (
            {"alt": "x", "other_languages": [{"alt": "y", "lang": "de"}]},
            "has 'other_languages' but no 'lang' of its own",
        ),
        ({"alt": "x", "lang": "en", "other_languages": {}}, "must be a list of entries"),
        ({"alt": "x", "lang": "en", "other_languages": [{"alt": "y"}]}, "needs its 'lang'"),
        (
            {"alt": "x", "lang": "en", "other_languages": [{"alt": "y", "lang": "EN-gb"}]},
            "two alts in the language 'en'",
        ),
        (
            {"alt": "x", "lang": "en", "other_languages": [{"alt": "y", "lang": "de", "z": 1}]},
            "in 'other_languages': unknown field",
        ),
    ],
)
def test_each_message_names_the_field_that_is_wrong(
    tmp_path: Path, value: object, message: str
) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(json.dumps({H1: value}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    assert caught.match(message)
    assert "'source'" not in str(caught.value) or "source" in json.dumps(value)


def test_a_duplicate_field_in_an_entry_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(f'{{"{H1}": {{"alt": "a", "alt": "b"}}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="field 'alt' appears twice"):
        Catalog.load(path)


def test_left_over_merge_markers_are_named(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(
        f'{{\n<<<<<<< HEAD\n  "{H1}": {{"alt": "a"}}\n=======\n  "{H1}": {{"alt": "b"}}\n'
        ">>>>>>> other\n}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"at line 2, column 1 .*merge conflict markers"):
        Catalog.load(path)


def test_the_cli_reports_a_bad_catalog_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    path.write_text(f'{{"{H1}": {{"alt": "a"}}, "{H1}": {{"alt": "b"}}}}', encoding="utf-8")
    result = cli("catalog", "show", str(path))
    assert result.exit_code == 2
    assert "appears twice" in result.stderr and "Traceback" not in result.output


# --- merge ------------------------------------------------------------------------------


def test_merge_reports_conflicts_combines_examples_and_exits_1(tmp_path: Path) -> None:
    ours = write_catalog(
        tmp_path / "ours.json",
        {
            H1: entry("Our reviewed alt", reviewed=True, examples=("a",)),
            H2: entry("Same", examples=("a",)),
        },
    )
    theirs = write_catalog(
        tmp_path / "theirs.json",
        {
            H1: entry("Their reviewed alt", reviewed=True, examples=("b",)),
            H2: entry("Same", examples=("b", "c", "d")),
            H3: entry("New"),
        },
    )
    result = cli("catalog", "merge", str(ours), str(theirs))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'conflict {H1[:12]}: kept "Our reviewed alt" ({ours}), not "Their reviewed alt"'
        f" ({theirs}); both reviewed"
    ]
    assert "took 1 entry (1 new, 0 reviewed over drafts), more examples on 2, 1 conflict;" in (
        result.stdout
    )
    data = on_disk(ours)
    assert data[H1]["alt"] == "Our reviewed alt" and data[H1]["examples"] == ["a", "b"]
    assert data[H2]["examples"] == ["a", "b", "c"]  # capped
    assert sorted(data) == [H1, H2, H3]


def test_merge_without_conflicts_exits_0_and_prefers_reviewed(tmp_path: Path) -> None:
    ours = write_catalog(tmp_path / "ours.json", {H1: entry("Draft", examples=("a",))})
    theirs = write_catalog(
        tmp_path / "theirs.json", {H1: entry("Reviewed", reviewed=True, examples=("b",))}
    )
    result = cli("catalog", "merge", str(ours), str(theirs))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert on_disk(ours)[H1] == entry("Reviewed", reviewed=True, examples=("b", "a"))


# --- prune ------------------------------------------------------------------------------


def image(path: Path, colour: str) -> str:
    """Write a PNG; its sha256 (the catalog key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def pruned_site(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A site showing ``used`` (and ``hosted``, by its public URL); a catalog with entries
    for those and for an unused draft and an unused reviewed image."""
    site = tmp_path / "site"
    hashes = {
        "used": image(site / "img" / "used.png", "red"),
        "hosted": image(site / "img" / "hosted.png", "green"),
        "draft": image(tmp_path / "gone" / "draft.png", "blue"),
        "reviewed": image(tmp_path / "gone" / "reviewed.png", "yellow"),
    }
    write(
        site / "index.html",
        '<img src="img/used.png"><img src="https://docs.example.com/img/hosted.png">'
        '<img src="img/missing.png"><img src="https://cdn.example.net/x.png">'
        # A page's src reaches the terminal: no escape sequence or forged log line.
        '<img src="img/\x1b[2J\n::error::forged.png">',
    )
    catalog = write_catalog(
        tmp_path / "alttext.json",
        {
            hashes["used"]: entry("Used"),
            hashes["hosted"]: entry("Hosted"),
            hashes["draft"]: entry("Unused draft"),
            hashes["reviewed"]: entry("Unused but reviewed", reviewed=True),
        },
    )
    write(tmp_path / "alttext.toml", 'base_url = "https://docs.example.com/"\n')
    return site, catalog, hashes


def test_prune_keeps_reviewed_entries_and_lists_what_it_removes(
    tmp_path: Path, pruned_site: tuple[Path, Path, dict[str, str]]
) -> None:
    site, catalog, hashes = pruned_site
    config = ("--config", str(tmp_path / "alttext.toml"))
    before = catalog.read_bytes()
    dry = cli("catalog", "prune", str(catalog), str(site), *config, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f'would remove {hashes["draft"][:12]}  draft  "Unused draft"' in dry.stdout
    assert "kept 1 reviewed entry no page uses (--include-reviewed removes them)" in dry.stdout
    assert dry.stdout.endswith("1 would be removed, 3 kept\n")
    assert catalog.read_bytes() == before

    done = cli("catalog", "prune", str(catalog), str(site), *config)
    assert done.exit_code == 0, done.output
    assert f"removed {hashes['draft'][:12]}" in done.stdout
    # The image under base_url is read from the site, as fix reads it: still used.
    assert sorted(on_disk(catalog)) == sorted(
        [hashes["used"], hashes["hosted"], hashes["reviewed"]]
    )

    everything = cli("catalog", "prune", str(catalog), str(site), *config, "--include-reviewed")
    assert everything.exit_code == 0, everything.output
    assert f"removed {hashes['reviewed'][:12]}  reviewed" in everything.stdout
    assert "kept 0" not in everything.stdout and "reviewed entr" not in everything.stdout
    assert sorted(on_disk(catalog)) == sorted([hashes["used"], hashes["hosted"]])


def test_prune_says_which_references_it_could_not_read(
    tmp_path: Path, pruned_site: tuple[Path, Path, dict[str, str]]
) -> None:
    site, catalog, _ = pruned_site
    result = cli("catalog", "prune", str(catalog), str(site), "--dry-run")  # no base_url
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "warning: 4 image references could not be read; entries for them may be kept or"
        " removed wrongly:"
    )
    assert "index.html  img/missing.png: " in lines[2]
    assert "index.html  https://cdn.example.net/x.png: a remote image (prune does not fetch)" in (
        result.stderr
    )
    assert "index.html  img/ [2J ::error::forged.png: " in result.stderr
    assert "\x1b" not in result.stderr and "\n::error" not in result.stderr


@pytest.mark.parametrize("content", [None, "image.png"])
def test_prune_refuses_when_no_page_is_found(tmp_path: Path, content: str | None) -> None:
    catalog = write_catalog(tmp_path / "alttext.json", {H1: entry("Cat")})
    where = tmp_path / "public"
    where.mkdir()
    if content:
        image(where / content, "red")
    before = catalog.read_bytes()
    result = cli("catalog", "prune", str(catalog), str(where))
    assert result.exit_code == 2
    assert "no HTML page found under" in result.stderr and "refusing to prune" in result.stderr
    assert catalog.read_bytes() == before


def test_prune_help_shows_its_examples() -> None:
    result = cli("catalog", "prune", "--help")
    assert "--include-reviewed" in result.output and "--dry-run   # list" in result.output


def test_prune_refuses_when_a_page_cannot_be_read(
    tmp_path: Path, pruned_site: tuple[Path, Path, dict[str, str]]
) -> None:
    site, catalog, _ = pruned_site
    (site / "broken.html").write_bytes(b'<meta charset="utf-7"><img src="img/x.png">')
    before = catalog.read_bytes()
    result = cli("catalog", "prune", str(catalog), str(site))
    assert result.exit_code == 2
    assert "could not be read" in result.stderr and "broken.html" in result.stderr
    assert catalog.read_bytes() == before


def test_an_empty_catalog_file_starts_a_catalog(tmp_path: Path) -> None:
    (tmp_path / "alttext.json").write_text("\n", encoding="utf-8")
    assert len(Catalog.load(tmp_path / "alttext.json")) == 0


# --- a CI build without secrets -------------------------------------------------------


def test_a_build_with_a_catalog_needs_no_api_key_and_lists_what_is_undecided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.wavespeed import WaveSpeedServer

    from alttext.pipeline import fix, load

    def unwanted(*args: object, **kwargs: object) -> None:
        raise AssertionError("read again for a backend that cannot be asked")

    # An image no backend can caption fails as it is: its page and bytes are not read again.
    monkeypatch.setattr(load.ImageLoader, "reload", unwanted)
    monkeypatch.setattr(fix, "_with_context", unwanted)

    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    decided, new = image(site / "decided.png", "navy"), image(site / "new.png", "olive")
    write(site / "a.html", '<html lang="en"><img src="decided.png">\n')
    write(site / "b.html", '<html lang="en"><img src="decided.png"><img src="new.png">\n')
    write_catalog(catalog, {decided: {**entry("A navy square"), "reviewed": True}})
    with WaveSpeedServer() as server:  # the key a real run would need is not set
        args = ["fix", str(site), "--backend", "wavespeed", "--api-base", server.url]
        args += ["--catalog", str(catalog), "--no-cache", "-q"]
        estimate = cli(*args, "--estimate")
        result = cli(*args)
        assert server.requests() == []
    assert estimate.exit_code == 1, estimate.stderr
    assert "1 image needs the wavespeed backend: 1 distinct image to caption" in estimate.stdout
    assert "cannot be asked (WaveSpeed needs an API key" in estimate.stderr
    assert result.exit_code == 1, result.stderr
    assert 'alt="A navy square"' in (site / "a.html").read_text(encoding="utf-8")
    assert "new.png" in result.stderr and "WAVESPEED_API_KEY" in result.stderr
    assert "b.html:1:" in result.stderr and "not fixed [new.png]" in result.stderr
    assert (
        "2 alts written (catalog 2," in result.stdout
        and "1 failed; 0 backend calls" in result.stdout
    )
    assert set(on_disk(catalog)) == {decided}  # nothing invented for the new image
    assert new not in on_disk(catalog)
    # Once every image is decided, the build passes, still without a key.
    write(site / "b.html", '<html lang="en"><img src="decided.png">\n')
    assert cli(*args[:-1]).exit_code == 0


def test_without_a_catalog_a_missing_api_key_stops_the_run_before_any_work(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    image(site / "x.png", "navy")
    write(site / "a.html", '<html lang="en"><img src="x.png">\n')
    result = cli("fix", str(site), "--backend", "wavespeed", "--no-cache", "-q")
    assert result.exit_code == 2
    assert "WaveSpeed needs an API key" in result.stderr
    assert "alt=" not in (site / "a.html").read_text(encoding="utf-8")


# --- one alt per language ---------------------------------------------------------------


def test_an_image_keeps_an_alt_for_each_language_and_answers_each_from_the_file(
    tmp_path: Path,
) -> None:
    from servers.openai import Answer, OpenAIServer

    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    digest = image(site / "x.png", "teal")
    pages = {"a-en": "en", "b-de": "de", "c-fr": "fr-CA"}

    def build() -> None:  # what a site generator writes each time
        for name, lang in pages.items():
            page = f'<html lang="{lang}"><meta charset="utf-8"><img src="x.png">\n'
            write(site / f"{name}.html", page)

    build()
    with OpenAIServer(api_key=None) as server:
        server.answers += [
            Answer(content="A teal square."),
            Answer(content="Ein blaugrünes Quadrat."),
            Answer(content="Un carré sarcelle."),
        ]
        args = ["fix", str(site), "--backend", "openai", "--model", "m", "--api-base"]
        args += [server.url, "--catalog", str(catalog), "--no-cache", "-q"]
        assert cli(*args, "--workers", "1", "--jobs", "1").exit_code == 0
        assert len(server.requests("chat")) == 3  # one per language
        # The next build, on a CI runner: no cache, and every language from the file,
        # also for a new page in a regional variant (de-AT is German).
        pages["d-de"] = "de-AT"
        build()
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert len(server.requests("chat")) == 3
    assert "(catalog 4," in result.stdout
    alts = {name: (site / f"{name}.html").read_text(encoding="utf-8") for name in pages}
    assert 'alt="A teal square."' in alts["a-en"]
    assert 'alt="Ein blaugrünes Quadrat."' in alts["b-de"]
    assert 'alt="Ein blaugrünes Quadrat."' in alts["d-de"]
    assert 'alt="Un carré sarcelle."' in alts["c-fr"]
    stored = on_disk(catalog)
    assert list(stored) == [digest]
    assert stored[digest]["lang"] == "en"
    assert [(o["lang"], o["alt"], o["reviewed"]) for o in stored[digest]["other_languages"]] == [
        ("de", "Ein blaugrünes Quadrat.", False),
        ("fr-CA", "Un carré sarcelle.", False),
    ]
    german = stored[digest]["other_languages"][0]
    assert german["examples"] == ["b-de.html x.png"]  # (catalog answers add no examples)
    # The file is written in its canonical form: loading and saving changes nothing.
    assert Catalog.load(catalog).to_text() == catalog.read_text(encoding="utf-8")


def test_traditional_and_simplified_chinese_pages_each_get_their_own_alt(tmp_path: Path) -> None:
    # zh-TW and zh-HK are written in Traditional characters, zh-CN in Simplified: the
    # same primary subtag, but not text the other's readers were given.
    from servers.openai import Answer, OpenAIServer

    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    digest = image(site / "x.png", "teal")
    pages = {"a-cn": "zh-CN", "b-tw": "zh-TW"}

    def build() -> None:
        for name, lang in pages.items():
            page = f'<html lang="{lang}"><meta charset="utf-8"><img src="x.png">\n'
            write(site / f"{name}.html", page)

    build()
    with OpenAIServer(api_key=None) as server:
        server.answers += [Answer(content="蓝绿色方块。"), Answer(content="藍綠色方塊。")]
        args = ["fix", str(site), "--backend", "openai", "--model", "m", "--api-base"]
        args += [server.url, "--catalog", str(catalog), "--no-cache", "-q"]
        assert cli(*args, "--workers", "1", "--jobs", "1").exit_code == 0
        assert len(server.requests("chat")) == 2
        pages["c-hk"] = "zh-HK"  # Hong Kong reads Traditional: answered by zh-TW's alt
        build()
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert len(server.requests("chat")) == 2
    alts = {name: (site / f"{name}.html").read_text(encoding="utf-8") for name in pages}
    assert 'alt="蓝绿色方块。"' in alts["a-cn"]
    assert 'alt="藍綠色方塊。"' in alts["b-tw"] and 'alt="藍綠色方塊。"' in alts["c-hk"]
    stored = on_disk(catalog)[digest]
    assert stored["lang"] == "zh-CN"
    assert [(o["lang"], o["alt"]) for o in stored["other_languages"]] == [("zh-TW", "藍綠色方塊。")]
    # A person may write the file that way too: two Chinese alts are not "two in zh".
    assert Catalog.load(catalog).decision(digest, "zh-Hant").alt == "藍綠色方塊。"


def test_require_reviewed_looks_at_the_alt_in_the_pages_language(tmp_path: Path) -> None:
    site, catalog = tmp_path / "site", tmp_path / "alttext.json"
    digest = image(site / "x.png", "teal")
    write(site / "en.html", '<html lang="en"><img src="x.png" alt="A teal square">\n')
    write(site / "de.html", '<html lang="de"><img src="x.png" alt="Ein Quadrat">\n')
    german = {"alt": "Ein Quadrat", "lang": "de", "source": "backend:x", "reviewed": False}
    first = {**entry("A teal square", reviewed=True), "lang": "en"}
    write_catalog(catalog, {digest: {**first, "other_languages": [german]}})
    result = cli("check", str(site), "--catalog", str(catalog), "--require-reviewed")
    assert result.exit_code == 1
    flagged = [line for line in result.stdout.splitlines() if "alt-unreviewed" in line]
    assert len(flagged) == 1 and flagged[0].startswith("de.html:1:"), result.stdout
    german["reviewed"] = True
    write_catalog(catalog, {digest: {**first, "other_languages": [german]}})
    result = cli("check", str(site), "--catalog", str(catalog), "--require-reviewed")
    assert "alt-unreviewed" not in result.stdout, result.stdout


def test_prune_and_merge_treat_each_language_of_an_image_as_an_entry(tmp_path: Path) -> None:
    site, ours, theirs = tmp_path / "site", tmp_path / "ours.json", tmp_path / "theirs.json"
    used = image(site / "used.png", "teal")
    write(site / "i.html", '<html lang="en"><img src="used.png">\n')
    gone = "d" * 64
    german = {"alt": "Ein Quadrat", "lang": "de", "source": "backend:x", "reviewed": False}
    write_catalog(
        ours,
        {
            used: {**entry("A square"), "lang": "en", "other_languages": [german]},
            gone: {**entry("Gone"), "lang": "en", "other_languages": [german]},
        },
    )
    french = {"alt": "Un carré", "lang": "fr", "source": "human", "reviewed": True}
    write_catalog(theirs, {used: {**entry("A square"), "lang": "en", "other_languages": [french]}})
    merged = cli("catalog", "merge", str(ours), str(theirs))
    assert merged.exit_code == 0, merged.stderr
    assert [o["lang"] for o in on_disk(ours)[used]["other_languages"]] == ["de", "fr"]
    pruned = cli("catalog", "prune", str(ours), str(site))
    assert pruned.exit_code == 0, pruned.stderr
    assert (
        f"removed {gone[:12]} (de)" in pruned.stdout and f"removed {gone[:12]}  " in pruned.stdout
    )
    assert list(on_disk(ours)) == [used]
    assert [o["lang"] for o in on_disk(ours)[used]["other_languages"]] == ["de", "fr"]
    shown = cli("catalog", "show", str(ours), "--unreviewed").stdout.splitlines()
    assert [line.split("  ")[0] for line in shown if line.startswith(used[:12])] == [
        f"{used[:12]} (en)",
        f"{used[:12]} (de)",
    ]  # the reviewed French one is not listed
