"""What ``fix``'s scan workers do with each page.

For each page they choose the images to fill, load and hash them, and read their
metadata. They settle every page that the free sources (catalog, metadata, cache) answer
in full, and they recall the pages the page memo remembers. The main process captions
and rewrites the rest (:mod:`alttext.pipeline.fix`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alttext.config import Config
from alttext.errors import AltTextError
from alttext.images.resolve import LoadedImage, read_site_file
from alttext.pipeline.check import Recalled
from alttext.pipeline.describe import Described, FreeSources, ImageInput
from alttext.pipeline.land import Entry, Mode, Rewritten, page_rewrite, spliced
from alttext.pipeline.load import ImageLoader, decide
from alttext.pipeline.outcomes import ImageOutcome, Key
from alttext.pipeline.remember import (
    Remembered,
    RunMemo,
    Ticket,
    consistent_with_catalog,
    with_reads,
)
from alttext.recent import Recent
from alttext.records import compact_pickle
from alttext.rules.checks import is_filename_alt, is_placeholder_alt
from alttext.scan.encoding import decode_html
from alttext.scan.model import AltState, ImageElement
from alttext.scan.scanner import PageScan
from alttext.scan.tokens import StartTag, ascii_lower

if TYPE_CHECKING:
    from alttext.captioners.metadata import EmbeddedAlt


def needs_alt(image: ImageElement, replace_bad: bool) -> bool:
    """Whether ``fix`` should write an alt for this element.

    Never a person's alt (unless it is a file name or placeholder and ``replace_bad``),
    never ``alt=""`` on an ``img`` (decorative), never hidden, ignored or template content,
    never an element that already has a name through ARIA or a presentational role.
    ``<noscript>`` content is filled: it is what users without JavaScript get.
    """
    if image.hidden or image.ignored or image.in_template:
        return False
    name = image.element
    if name == "input":
        # ASCII case-insensitive, not trimmed: type=" image" is a text field to browsers.
        if ascii_lower(image.attrs.get("type", "")) != "image":
            return False
    elif name == "area":
        if "href" not in image.attrs:
            return False
    elif name != "img":
        return False
    if image.named_by_aria() or image.role in ("none", "presentation"):
        return False
    state = image.alt_state
    if state is AltState.MISSING:
        return True
    if state is AltState.EMPTY:
        return name == "input"  # an image button with alt="" has no name: a defect
    if not replace_bad:
        return False
    alt = image.alt or ""
    return (
        state is AltState.WHITESPACE or is_filename_alt(alt, image.src) or is_placeholder_alt(alt)
    )


def may_need_alt(tag: StartTag, *, replace_bad: bool) -> bool:
    """The part of :func:`needs_alt` its start tag decides (the scan of a page skips the
    other elements): only ``img``, ``input`` and ``area`` are filled, an ``img`` or
    ``area`` only when its alt is missing (or may be bad), an ``area`` only with ``href``."""
    if tag.name == "img":
        return replace_bad or "alt" not in tag.attrs
    if tag.name == "area":
        return "href" in tag.attrs and (replace_bad or "alt" not in tag.attrs)
    return tag.name == "input"


@compact_pickle
@dataclass(frozen=True, slots=True)
class Prepared:
    """What a scan worker found out about one image to fill (no image bytes: they stay).

    ``embedded`` is the image's metadata alt, read in the worker when the configuration
    honours metadata first (``None`` otherwise, or when it has none).
    """

    outcome: ImageOutcome
    lang: str | None
    loaded: LoadedImage | None = None
    embedded: EmbeddedAlt | None = None


@compact_pickle
@dataclass(frozen=True, slots=True)
class Settled:
    """A page a scan worker finished itself: every image decided without the backend.

    ``entries`` are the page's outcomes (final) with their description key and the
    "page src" example a catalog records; ``rewritten`` is the page's new content (or
    patch), worked out from the bytes the worker scanned.
    """

    entries: tuple[tuple[ImageOutcome, Key | None, str], ...]
    rewritten: Rewritten


class Preparer:
    """``fix``'s pick (runs in the scan workers): choose, load, hash, read metadata, and
    settle what the free sources can.

    A page whose images the catalog, metadata or cache all answer comes back settled: its
    new content worked out here, from the bytes just scanned, so a warm run leaves the
    main process only the commits. Any other page comes back as one :class:`Prepared`
    per image to fill. Picklable: each worker builds its own loader (one read per
    distinct image per worker) and opens its own cache.
    """

    def __init__(
        self,
        config: Config,
        roots: tuple[Path, Path],
        free: FreeSources | None,
        mode: Mode,
        memo: RunMemo | None = None,
    ) -> None:
        self.config = config
        self.roots = roots
        self.free = free
        self.mode = mode
        self.memo = memo
        self._loader: ImageLoader | None = None
        # Per worker, the most recent few thousand of each (flat memory on any site).
        self._embedded: Recent[Key, EmbeddedAlt | None] = Recent()
        self._found: Recent[Key, Described | None] = Recent()
        # Files a recalled page named, by path: the sha256 found.
        self._verified: Recent[str, str | None] = Recent()
        # The memo key of the page recall was last asked about (the scan that follows a
        # miss needs it again).
        self._last_key: tuple[Path, bytes, str] | None = None

    def __getstate__(self) -> _PreparerState:
        return self.config, self.roots, self.free, self.mode, self.memo

    def __setstate__(self, state: _PreparerState) -> None:
        self.__init__(*state)  # type: ignore[misc]

    def __call__(self, page: PageScan) -> tuple[object, ...]:
        # The local files each decision reads, while the page is still memorable.
        read: list[tuple[str, str]] | None = [] if self.memo is not None else None
        prepared = []
        for image in page.images:
            kept = self._prepare(image)
            if kept is None:
                continue
            prepared.append(kept)
            if read is not None:
                read = with_reads(kept.outcome.action, self._loaded().last_read, read)
        if not prepared:
            # Nothing to fill: remembered too, so the next run need not scan it again.
            if self.memo is not None and page.data:
                return (Ticket(self._key(page.path, page.rel_path, page.data), (), page.found),)
            return ()
        settled = self._settle(page, prepared)
        picked: tuple[object, ...] = tuple(prepared) if settled is None else (settled,)
        if self.memo is not None and read is not None and page.data:
            key = self._key(page.path, page.rel_path, page.data)
            picked += (Ticket(key, tuple(read), page.found),)
        return picked

    def _key(self, path: Path, rel_path: str, data: bytes) -> str:
        """The page's memo key (a page missed by :meth:`recall` is hashed only once)."""
        assert self.memo is not None
        last = self._last_key
        if last is not None and last[0] == path and last[1] is data:  # the very bytes
            return last[2]
        key = self.memo.key(path, rel_path, data, self.roots)
        self._last_key = (path, data, key)
        return key

    def recall(
        self, path: Path, rel_path: str, data: bytes, version: os.stat_result | None = None
    ) -> Recalled | None:
        """The page settled as a run remembered it, if every file it read is unchanged
        (``data`` read from the file ``version`` describes, if given)."""
        self._last_key = None
        if self.memo is None or not self.memo.recalls:
            return None
        value = self.memo.pages.get(self._key(path, rel_path, data))
        if value is None:
            return None
        try:
            remembered = Remembered.parse(value)
            findings = remembered.findings
            if self.memo.audit and findings is None:
                return None  # an auditing run needs the findings it would have found
            if any(self._sha256_of(name) != sha256 for name, sha256 in remembered.read):
                return None
            answer = self.free.catalog_answer if self.free is not None else _no_answer
            if not consistent_with_catalog(remembered.entries, answer):
                return None
            if not remembered.entries:
                return remembered.found, (), findings or ()
            # The same bytes as then: the same splices apply (a diff needs the encoding).
            diff = self.mode in ("dry-run", "patch")
            encoding = decode_html(data).encoding if diff else ""
            splices = remembered.splices
            rewritten = spliced(path, data, splices, encoding, self.mode, self.roots[0], version)
        except (AltTextError, KeyError, TypeError, ValueError, UnicodeError):
            return None  # not what a run stored (another version?): the full way
        settled = Settled(remembered.entries, rewritten.staged_now(path))
        return remembered.found, (settled,), findings or ()

    def _sha256_of(self, rel_file: str) -> str | None:
        """The sha256 of a file under the site root, read as a first read would (or None)."""
        if rel_file not in self._verified:
            try:
                data = read_site_file(self.roots[1], rel_file, self._loaded().policy.max_bytes)
                self._verified[rel_file] = hashlib.sha256(data).hexdigest()
            except AltTextError:
                self._verified[rel_file] = None
        return self._verified[rel_file]

    def _loaded(self) -> ImageLoader:
        if self._loader is None:
            self._loader = ImageLoader(self.config, self.roots[1])
        return self._loader

    def _prepare(self, image: ImageElement) -> Prepared | None:
        if not needs_alt(image, self.config.replace_bad):
            return None
        loader = self._loaded()
        loader.last_read = ()
        outcome, loaded = decide(image, loader)
        if loaded is None:
            return Prepared(outcome, image.lang)
        embedded = None
        if self.config.metadata_first:
            key = (loaded.sha256, image.lang)
            if key not in self._embedded:
                from alttext.captioners.metadata import read_embedded_alt

                data = loaded.data or loader.reload(image, expected_sha256=loaded.sha256).data
                self._embedded[key] = read_embedded_alt(data, loaded.mime, image.lang)
            embedded = self._embedded[key]
        if loaded.data:  # the bytes stay in the worker
            loaded = loaded.without_data()
        return Prepared(outcome, image.lang, loaded, embedded)

    def _settle(self, page: PageScan, prepared: list[Prepared]) -> Settled | None:
        """Decide every pending image from the free sources, or ``None`` (not all found)."""
        if self.free is None or page.decoded is None:
            return None
        entries: list[tuple[ImageOutcome, Key | None, str]] = []
        for kept in prepared:
            outcome, loaded = kept.outcome, kept.loaded
            if loaded is None:
                entries.append((outcome, None, ""))
                continue
            key = (loaded.sha256, kept.lang)
            example = f"{page.rel_path} {loaded.origin}"
            if key not in self._found:
                image = ImageInput(b"", loaded.mime, loaded.sha256, loaded.public_url, example)
                self._found[key] = self.free.find(image, language=key[1], embedded=kept.embedded)
            found = self._found[key]
            if found is None or found.alt is None:
                return None  # the main process looks again, and asks the backend
            outcome.action, outcome.alt, outcome.described = "filled", found.alt, found
            entries.append((outcome, key, example))
        pairs: list[Entry] = [(outcome, key) for outcome, key, _ in entries]
        root = self.roots[0]
        rewritten = page_rewrite(
            page.path, page.data, page.decoded, pairs, self.mode, root, page.version
        )
        return Settled(tuple(entries), rewritten.staged_now(page.path))


_PreparerState = tuple[Config, tuple[Path, Path], "FreeSources | None", "Mode", "RunMemo | None"]


def _no_answer(content_hash: str, language: str | None) -> None:
    """No catalog: it decides nothing."""
