"""The caption cache, the catalog, and the describer's look-up order."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from alttext.captioners.base import CaptionRequest, CaptionResult
from alttext.config import Config
from alttext.errors import ConfigError, NoCaption
from alttext.pipeline.describe import Describer, ImageInput
from alttext.store.cache import CacheKey, CaptionCache
from alttext.store.catalog import Catalog

H1, H2 = "a" * 64, "b" * 64


class CountingCaptioner:
    """A real (in-process) backend that answers from a table and counts calls."""

    name = "counting"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[CaptionRequest] = []
        self._lock = threading.Lock()

    def caption(self, request: CaptionRequest) -> CaptionResult:
        with self._lock:
            self.calls.append(request)
        answer = self.answers.get(request.content_hash)
        if answer is None:
            raise NoCaption("nothing to say")
        return CaptionResult(caption=answer, backend=self.name, model="m1", nsfw=False)

    def close(self) -> None:
        pass


def png(tmp_path: Path, colour: str, description: str | None = None) -> ImageInput:
    info = PngImagePlugin.PngInfo()
    if description:
        info.add_text("Description", description)
    path = tmp_path / f"{colour}.png"
    Image.new("RGB", (40, 30), colour).save(path, pnginfo=info)
    return ImageInput.from_bytes(path.read_bytes(), "image/png", example=f"p.html {colour}.png")


def key(**kw: object) -> CacheKey:
    base: dict[str, object] = dict(
        content_hash=H1,
        backend="b",
        model="m",
        detail="low",
        focus=None,
        language="en",
        max_length=125,
    )
    base.update(kw)
    return CacheKey(**base)  # type: ignore[arg-type]


def test_cache_round_trip_and_persistence(tmp_path: Path) -> None:
    result = CaptionResult(caption="A cat", backend="b", model="m", nsfw=False, inference_ms=12)
    with CaptionCache(tmp_path / "c") as cache:
        cache.put(key(), result)
        assert cache.get(key()) == result
    with CaptionCache(tmp_path / "c") as cache:  # a new process would see the same
        assert cache.get(key()) == result
        assert cache.stats().entries == 1 and cache.stats().size_bytes > 0
        assert cache.clear() == 1 and cache.get(key()) is None


@pytest.mark.parametrize(
    "change",
    [
        {"content_hash": H2},
        {"backend": "x"},
        {"model": "n"},
        {"detail": "high"},
        {"focus": "the dog"},
        {"language": "de"},
        {"max_length": 80},
        {"prompt_version": 99},
    ],
)
def test_cache_key_includes_everything_that_changes_the_answer(change: dict[str, object]) -> None:
    assert key(**change).digest() != key().digest()


def test_cache_key_digests_stay_the_same_across_versions() -> None:
    # Caches written by earlier versions must still be found: the digest is pinned.
    assert key().digest() == (
        "caption:e165310c6cbd64883f7482a03cc0bdcd6f608928f3eee3dc469698cac06224c8"
    )
    assert key(focus="the dog", language=None, model=None).digest() == (
        "caption:41403db1088e8b002781942f71812e9f11ad26d9b2297aac7c15363d2c942754"
    )


def test_catalog_round_trip_is_sorted_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "alttext.json"
    catalog = Catalog.load(path)
    assert len(catalog) == 0
    catalog.add(H2, "A dog", "backend:x/m", "b.html dog.png")
    catalog.add(H1, 'A "quoted" cat & <friend>', "metadata", "a.html cat.png")
    catalog.add(H1, "ignored: first decision stays", "backend:x", "c.html cat.png")
    catalog.save()
    text = path.read_text(encoding="utf-8")
    assert text.index(H1) < text.index(H2) and text.endswith("}\n")
    again = Catalog.load(path)
    entry = again.get(H1)
    assert entry is not None and entry.alt == 'A "quoted" cat & <friend>'
    assert entry.examples == ("a.html cat.png", "c.html cat.png") and not entry.reviewed
    assert again.to_text() == text


def test_catalog_merge_and_prune(tmp_path: Path) -> None:
    ours, theirs = Catalog(None), Catalog(None)
    ours.add(H1, "draft", "backend:x", "e")
    theirs.add(H1, "Reviewed alt", "human", "e")
    theirs.entries[H1] = theirs.entries[H1].__class__("Reviewed alt", "human", True, ("e",))
    theirs.add(H2, "Other", "backend:x", "e")
    assert ours.merge(theirs).taken == 2
    assert ours.get(H1) is not None and ours.get(H1).alt == "Reviewed alt"  # type: ignore[union-attr]
    assert ours.prune([H1]) == [H2] and len(ours) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "JSON object"),
        ("{", r"not valid JSON: .* at line 1, column 2"),
        ('{"nothex": {"alt": "x"}}', "not a sha256"),
        (json.dumps({H1: {"alt": 3}}), "'alt' must be a string"),
        (json.dumps({H1: {"alt": "x", "extra": 1}}), "unknown field"),
    ],
)
def test_catalog_errors_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Catalog.load(path)


def test_describer_lookup_order_catalog_metadata_cache_backend(tmp_path: Path) -> None:
    red = png(tmp_path, "red", description="A red square")
    blue = png(tmp_path, "blue")
    green = png(tmp_path, "green")
    captioner = CountingCaptioner(
        {blue.sha256: "this image shows a blue square", green.sha256: "x"}
    )
    catalog = Catalog(tmp_path / "cat.json")
    with CaptionCache(tmp_path / "cache") as cache:
        describer = Describer(Config(), captioner, cache, catalog)
        got_red = describer.describe(red)
        assert (got_red.alt, got_red.origin) == ("A red square", "metadata")
        first = describer.describe(blue, language="en")
        assert (first.alt, first.origin, first.model) == ("A blue square", "backend", "m1")
        # A second describer (a re-run) with no catalog gets it from the cache: no call.
        rerun = Describer(Config(), captioner, cache, None)
        again = rerun.describe(blue, language="en")
        assert (again.alt, again.origin) == ("A blue square", "cache")
        assert len(captioner.calls) == 1
        # Catalog entries win over everything, even the metadata: from the next run on
        # (a run answers from the decisions it began with, not from its own additions).
        catalog.entries[red.sha256] = catalog.entries[red.sha256].__class__(
            "Human alt", "human", True
        )
        assert describer.describe(red).alt == "A red square"
        assert Describer(Config(), captioner, cache, catalog).describe(red).alt == "Human alt"
        # An unusable caption is an error, and failures are never cached.
        bad = describer.describe(green)
        assert bad.alt is None and bad.error is not None and "no usable text" in bad.error
        assert describer.describe(green).error is not None
        assert len(captioner.calls) == 3  # green asked twice: failures are not cached
    assert describer.counts["api_calls"] == 3 and describer.counts["metadata"] == 2
    assert catalog.get(blue.sha256) is not None


def test_describer_reports_backend_errors(tmp_path: Path) -> None:
    image = png(tmp_path, "white")
    describer = Describer(Config(), CountingCaptioner({}), None, None)
    outcome = describer.describe(image)
    assert outcome.alt is None and outcome.error == "nothing to say"


def test_cache_keys_stay_the_same_across_versions() -> None:
    # Caches outlive upgrades: a changed digest would make every cached caption a miss
    # (and pay for it again). Pinned from the digest this key had before keys were built by hand.
    expected = "e165310c6cbd64883f7482a03cc0bdcd6f608928f3eee3dc469698cac06224c8"
    assert key().digest() == "caption:" + expected


def test_an_unusable_cache_directory_is_a_configuration_error_at_once(tmp_path: Path) -> None:
    # Before any page is read (the store itself opens at first use).
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot open cache in") as caught:
        CaptionCache(tmp_path / "file" / "cache")
    assert "--cache-dir or ALTTEXT_CACHE_DIR, or run with --no-cache" in str(caught.value)


def test_the_cache_opens_at_first_use_and_closes_only_what_it_opened(tmp_path: Path) -> None:
    cache = CaptionCache(tmp_path / "c")
    cache.close()  # never opened: nothing to close, no database created
    assert not (tmp_path / "c" / "cache.db").exists()
    result = CaptionResult(caption="A cat", backend="b", model="m")
    cache.put(key(), result)
    assert (tmp_path / "c" / "cache.db").exists() and cache.get(key()) == result
    cache.close()


def test_a_damaged_caption_cache_is_a_clear_error_and_cache_clear_removes_it(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from alttext.cli import main

    cache = tmp_path / "cache"
    with CaptionCache(cache) as store:
        store.put(key(), CaptionResult(caption="A cat", backend="b", model="m"))
    for name in os.listdir(cache):
        if name.startswith("cache.db"):
            os.unlink(cache / name)
    (cache / "cache.db").write_bytes(b"garbage, not SQLite " * 200)
    Image.new("RGB", (40, 30), "teal").save(tmp_path / "plain.png")  # no metadata: a look-up
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "p.html").write_text('<img src="../plain.png">')
    runner = CliRunner()
    args = ["fix", str(tmp_path / "site"), "--site-root", str(tmp_path), "-q"]
    result = runner.invoke(main, [*args, "--cache-dir", str(cache), "--no-ocr"])
    assert result.exit_code == 2, result.output
    assert "is damaged" in result.output and "alttext cache clear" in result.output
    assert "Traceback" not in result.output
    cleared = runner.invoke(main, ["cache", "clear", "--cache-dir", str(cache), "--yes"])
    assert cleared.exit_code == 0, cleared.output
    with CaptionCache(cache) as store:
        assert store.stats().entries == 0  # a new, working database


_LANGUAGES = [None, "en", "en-GB", "de", "de-AT", "fr", "pt-BR", "ja"]
_LANGS = st.sampled_from(_LANGUAGES)
_ADDS = st.lists(
    st.tuples(
        st.sampled_from(["a" * 64, "b" * 64, "c" * 64]),
        st.text(max_size=20),
        _LANGS,
        st.sampled_from(["p.html x.png", "q.html y.png", "r.html z.png"]),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(adds=_ADDS)
def test_catalog_languages_survive_the_file_and_each_page_gets_its_own(
    adds: list[tuple[str, str, str | None, str]],
) -> None:
    """Whatever runs add, in whatever languages: the file reads back as the same decisions
    and writes back byte for byte, and a page in any language gets the alt first recorded
    for its primary language (the image's first alt, when that has no language)."""
    import tempfile

    def primary(lang: str | None) -> str | None:
        return lang.split("-")[0].lower() if lang else None

    catalog = Catalog(None)
    model: dict[str, tuple[str | None, str, dict[str, str]]] = {}  # first lang, alt, others
    for digest, alt, lang, example in adds:
        catalog.add(digest, alt, "backend:x", example, lang)
        if digest not in model:
            model[digest] = (primary(lang), alt, {})
            continue
        first_lang, _, others = model[digest]
        if first_lang is not None and lang is not None and primary(lang) != first_lang:
            others.setdefault(str(primary(lang)), alt)
    text = catalog.to_text()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alttext.json"
        path.write_text(text, encoding="utf-8")
        again = Catalog.load(path)
    assert again.entries == catalog.entries and again.to_text() == text
    for digest, (first_lang, first_alt, others) in model.items():
        for page_lang in _LANGUAGES:
            decided = again.decision(digest, page_lang)
            if first_lang is None or page_lang is None or primary(page_lang) == first_lang:
                expected: str | None = first_alt
            else:
                expected = others.get(str(primary(page_lang)))
            assert (decided.alt if decided else None) == expected, (digest, page_lang)
