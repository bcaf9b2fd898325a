"""The pipeline behind ``alttext fix``: scan, resolve, describe once per image, rewrite.

Each page is replaced atomically once all of its images are decided, so an interrupted run
leaves every page untouched or complete, and a re-run pays nothing twice (captions are
cached as they arrive):

1. scan every page and pick the images to fill (missing alt; with ``replace_bad`` also
   file-name and placeholder alts); spacers get ``alt=""`` without a caption;
2. resolve each image to bytes and its sha256, once per distinct reference, and start
   describing each distinct (image, language) as soon as it is first seen, ``jobs`` at a
   time;
3. rewrite a page (only the inserted attributes change) as soon as its images are decided
   — in the scan worker itself when the catalog, metadata or cache decide them all (a
   warm run), after its captions arrive otherwise — or produce a diff.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from alttext.config import Config
from alttext.durable import Staged, commit, discard, stage, sweep_leftovers, sync_directories
from alttext.errors import AltTextError
from alttext.images.resolve import (
    LoadedImage,
    read_site_file,
)
from alttext.pipeline.check import Recalled, audit_pages, scan_root
from alttext.pipeline.describe import (
    Described,
    Describer,
    DescriberSession,
    FreeSources,
    ImageInput,
)
from alttext.pipeline.load import ImageLoader, decide
from alttext.pipeline.outcomes import ImageOutcome, Key
from alttext.pipeline.remember import (
    Remembered,
    RunMemo,
    Ticket,
    memo_entry,
    run_memo,
    with_reads,
)
from alttext.recent import Recent
from alttext.records import compact_pickle
from alttext.rewrite import Edit, Splice, apply_splices, plan_splices, unified_diff_bytes
from alttext.rules.checks import is_filename_alt, is_placeholder_alt
from alttext.rules.model import FileError, Finding
from alttext.scan.encoding import DecodedHTML, decode_html
from alttext.scan.model import AltState, ImageElement
from alttext.scan.scanner import PageScan, iter_html_files, scan_text
from alttext.scan.tokens import StartTag
from alttext.spool import Spool

if TYPE_CHECKING:
    from alttext.captioners.metadata import EmbeddedAlt

Mode = Literal["write", "dry-run", "patch"]


#: Images described at once when ``jobs`` is not set; the backend may allow fewer in flight
#: (WaveSpeed's default account tier: 2), an explicit ``jobs`` raises its limit too.
DEFAULT_JOBS = 8


@dataclass(slots=True)
class FixReport:
    """Everything ``fix`` did, for the summary line and ``--report``.

    ``findings``, ``errors`` and ``outcomes`` are :class:`~alttext.spool.Spool` sequences
    (in page order; past a few thousand items they live in a temporary file), so a report
    costs the same memory for any size of site. ``failed`` repeats the outcomes of images
    left without alt text: each is listed for a person anyway.
    """

    root: Path
    files: int = 0
    images: int = 0
    findings: Spool[Finding] = field(default_factory=Spool)
    errors: Spool[FileError] = field(default_factory=Spool)
    outcomes: Spool[ImageOutcome] = field(default_factory=Spool)
    failed: list[ImageOutcome] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    files_changed: int = 0
    #: Temporary files an earlier, interrupted run left beside pages, removed by this one.
    leftovers_removed: int = 0
    #: Pages settled from the page memo (unchanged since a run remembered them).
    pages_remembered: int = 0
    patch: bytes = b""
    counts: dict[str, int] = field(default_factory=dict)

    def record(self, outcome: ImageOutcome) -> None:
        """Add an image's final outcome (it must not change afterwards)."""
        self.outcomes.append(outcome)
        self.actions[outcome.action] += 1
        if outcome.action == "failed":
            self.failed.append(outcome)

    @property
    def alts_written(self) -> int:
        """Images that got an alt attribute (captions and spacers)."""
        return self.actions["filled"] + self.actions["decorative"]

    @property
    def ok(self) -> bool:
        """Whether every image that needed alt got one and every page was readable."""
        return not self.failed and not self.errors


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
        if image.attrs.get("type", "").strip().lower() != "image":
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


def _may_need_alt(tag: StartTag, *, replace_bad: bool) -> bool:
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
class _Prepared:
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
class _Settled:
    """A page a scan worker finished itself: every image decided without the backend.

    ``entries`` are the page's outcomes (final) with their description key and the
    "page src" example a catalog records; ``rewritten`` is the page's new content (or
    patch), worked out from the bytes the worker scanned.
    """

    entries: tuple[tuple[ImageOutcome, Key | None, str], ...]
    rewritten: _Rewritten


class _Preparer:
    """``fix``'s pick (runs in the scan workers): choose, load, hash, read metadata, and
    settle what the free sources can.

    A page whose images the catalog, metadata or cache all answer comes back settled: its
    new content worked out here, from the bytes just scanned, so a warm run leaves the
    main process only the commits. Any other page comes back as one :class:`_Prepared`
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
                key = self.memo.key(page.path, page.rel_path, page.data, self.roots)
                return (Ticket(key, (), page.found),)
            return ()
        settled = self._settle(page, prepared)
        picked: tuple[object, ...] = tuple(prepared) if settled is None else (settled,)
        if self.memo is not None and read is not None and page.data:
            key = self.memo.key(page.path, page.rel_path, page.data, self.roots)
            picked += (Ticket(key, tuple(read), page.found),)
        return picked

    def recall(self, path: Path, rel_path: str, data: bytes) -> Recalled | None:
        """The page settled as a run remembered it, if every file it read is unchanged."""
        if self.memo is None:
            return None
        key = self.memo.key(path, rel_path, data, self.roots)
        value = self.memo.pages.get(key)
        if value is None:
            return None
        try:
            remembered = Remembered.parse(value)
            findings = remembered.findings
            if self.memo.audit and findings is None:
                return None  # an auditing run needs the findings it would have found
            if any(self._sha256_of(name) != sha256 for name, sha256 in remembered.read):
                return None
            if not remembered.entries:
                return remembered.found, (), findings or ()
            # The same bytes as then: the same splices apply (a diff needs the encoding).
            encoding = decode_html(data).encoding if self.mode != "write" else ""
            splices = remembered.splices
            rewritten = _spliced(path, data, splices, encoding, self.mode, self.roots[0])
        except (AltTextError, KeyError, TypeError, ValueError, UnicodeError):
            return None  # not what a run stored (another version?): the full way
        settled = _Settled(remembered.entries, rewritten.staged_now(path))
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

    def _prepare(self, image: ImageElement) -> _Prepared | None:
        if not needs_alt(image, self.config.replace_bad):
            return None
        loader = self._loaded()
        loader.last_read = ()
        outcome, loaded = decide(image, loader)
        if loaded is None:
            return _Prepared(outcome, image.lang)
        embedded = None
        if self.config.metadata_first:
            key = (loaded.sha256, image.lang)
            if key not in self._embedded:
                from alttext.captioners.metadata import read_embedded_alt

                data = loaded.data or loader.reload(image).data
                self._embedded[key] = read_embedded_alt(data, loaded.mime, image.lang)
            embedded = self._embedded[key]
        if loaded.data:  # the bytes stay in the worker
            loaded = loaded.without_data()
        return _Prepared(outcome, image.lang, loaded, embedded)

    def _settle(self, page: PageScan, prepared: list[_Prepared]) -> _Settled | None:
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
        pairs: list[_Entry] = [(outcome, key) for outcome, key, _ in entries]
        root = self.roots[0]
        rewritten = _rewritten(page.path, page.data, page.decoded, pairs, self.mode, root)
        return _Settled(tuple(entries), rewritten.staged_now(page.path))


_PreparerState = tuple[Config, tuple[Path, Path], "FreeSources | None", "Mode", "RunMemo | None"]


def _memo_entry(work: _PageWork, done: _Rewritten) -> tuple[str, dict[str, object]] | None:
    assert work.ticket is not None
    return memo_entry(work.ticket, work.entries, work.examples, done.splices)


def _patch_path(path: Path, root: Path) -> str:
    """Paths in patches are relative to the working directory when possible (git apply)."""
    for base in (Path.cwd(), root):
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def run_fix(
    paths: Iterable[Path],
    config: Config,
    *,
    env: Mapping[str, str],
    mode: Mode = "write",
    on_total: Callable[[int], None] | None = None,
    on_described: Callable[[], None] | None = None,
    describer: Describer | None = None,
    audit: bool = True,
) -> FixReport:
    """Fill missing alt text in the HTML under ``paths``.

    Args:
        paths: HTML files and directories.
        config: settings (backend, cache, catalog, limits...).
        env: environment for backend credentials (``WAVESPEED_API_KEY``...).
        mode: ``write`` replaces files atomically; ``dry-run`` and ``patch`` only fill
            :attr:`FixReport.patch`.
        on_total: told the number of distinct images to describe, once known.
        on_described: called after each description, for progress display.
        describer: an already-open describer (tests, plugins); by default one is opened
            from ``config`` and closed at the end.
        audit: also audit the pages as ``check`` does (:attr:`FixReport.findings`); a
            caller that reports no findings saves that work with ``False``.

    Raises:
        ConfigError: before any work, for a bad backend, missing key or bad catalog.
    """
    paths = list(paths)
    root = scan_root(paths, config.site_root)
    site_root = config.site_root or root
    session = None
    if describer is None:
        session = DescriberSession(config, env)
        describer = session.describer
    report = FixReport(root=root)
    try:
        _run(
            paths,
            config,
            (root, site_root),
            describer,
            report,
            mode,
            (on_total, on_described),
            audit=audit,
        )
    finally:
        report.counts = dict(describer.counts)
        if session is not None:
            session.close()
    return report


def _run(
    paths: list[Path],
    config: Config,
    roots: tuple[Path, Path],
    describer: Describer,
    report: FixReport,
    mode: Mode,
    callbacks: tuple[Callable[[int], None] | None, Callable[[], None] | None],
    *,
    audit: bool,
) -> None:
    (root, site_root), (on_total, on_described) = roots, callbacks
    loader = ImageLoader(config, site_root)
    jobs = config.jobs or DEFAULT_JOBS
    futures: dict[Key, Future[Described]] = {}
    results: dict[Key, Described] = {}
    # Pages whose images are all decided are rewritten at once; the others wait here, as
    # light records, for their captions.
    waiting: list[_PageWork] = []
    # Every page with images to fill, in scan order, until its rewrite is collected into
    # the report: pages leave in order, so the report keeps page order in flat memory.
    in_order: deque[_PageWork] = deque()
    # Pages rewritten (new content in memory), waiting to be committed together.
    to_commit: list[tuple[_PageWork, _Rewritten]] = []
    # Batches handed to the committer thread, oldest first, until their outcomes are
    # recorded (in page order).
    committing: deque[tuple[list[tuple[_PageWork, _Rewritten]], Future[dict[int, str]]]]
    committing = deque()
    patches: list[bytes] = []
    # New page content is worked out on a few writer threads and written by one committer
    # thread, so this thread never waits on the disk. The directories renamed into get one
    # durability barrier at the end.
    dirs_to_sync: set[Path] = set()
    # Bound the images held in memory while waiting for a worker.
    slots = threading.BoundedSemaphore(jobs * 4)

    def caption(image_input: ImageInput, image: ImageElement) -> Described:
        try:
            return describer.caption(image_input, language=image.lang, context=image.context)
        finally:
            slots.release()
            if on_described is not None:
                on_described()

    def finish(work: _PageWork) -> None:
        for outcome, key in work.entries:
            if key is None:
                continue
            described = results[key] if key in results else futures[key].result()
            outcome.described = described
            if described.alt is not None:
                outcome.action, outcome.alt = "filled", described.alt
            else:
                outcome.action, outcome.error = "failed", described.error or "no caption"
        work.rewrite = writer.submit(_rewrite_page, work.path, work.entries, mode, root)

    def collect(*, block: bool) -> None:
        # A page waiting for captions holds the ones after it (a cold run); on a warm run
        # at most _IN_FLIGHT pages are held before this waits for the writers.
        while in_order and (rewrite := in_order[0].rewrite) is not None:
            if not (block or rewrite.done() or len(in_order) > _IN_FLIGHT):
                break
            work = in_order.popleft()
            to_commit.append((work, rewrite.result()))
            if len(to_commit) >= _COMMIT_BATCH:
                commit_pages()
        # Group commit: whatever is ready goes as soon as the committer is free, so a
        # slow disk gets fewer, larger batches and the last one is small.
        if block or not committing or committing[-1][1].done():
            commit_pages()
        record_commits(block=block)

    def commit_pages() -> None:
        if to_commit:
            batch = to_commit.copy()
            committing.append((batch, committer.submit(_commit_batch, batch, dirs_to_sync)))
            to_commit.clear()

    def record_commits(*, block: bool) -> None:
        # Outcomes are final only once their page has landed: a page that fails to land
        # fails its images. Two batches may be on their way before this waits for one.
        while committing and (block or committing[0][1].done() or len(committing) > 2):
            batch, landed = committing.popleft()
            refused = landed.result()
            remembered = []
            for index, (work, done) in enumerate(batch):
                if index in refused:
                    done = _Rewritten(error=_not_rewritten(work.entries, refused[index]))
                report.files_changed += done.changed
                if done.error is not None:
                    report.errors.append(done.error)
                if done.patch:
                    patches.append(done.patch)
                for outcome, _ in work.entries:
                    report.record(outcome)
                remember = memo is not None and done.error is None and work.ticket
                if remember and (item := _memo_entry(work, done)):
                    remembered.append(item)
            if memo is not None:
                memo.pages.put(remembered)

    files = list(iter_html_files(paths, config.exclude))
    # Leftovers of an interrupted run go before anything is written (scan workers write
    # the pages they settle as soon as they have them).
    report.leftovers_removed = _sweep(files) if mode == "write" else 0
    # Pages are scanned and audited (as check does, without caption context) in worker
    # processes, which also load and hash the images to fill, and settle the pages the
    # free sources answer in full (a warm run: all of them); this process commits those,
    # and looks up, captions and rewrites the rest. Context is built only for pages with
    # an image that goes to the backend.
    memo = run_memo(config, describer, audit=audit)
    # Memo entries of pages with nothing to fill (no write to wait for), put in batches.
    untouched: list[tuple[str, dict[str, object]]] = []
    pick = _Preparer(config, (root, site_root), describer.free_sources(), mode, memo)
    keep = functools.partial(_may_need_alt, replace_bad=config.replace_bad)
    pages = audit_pages(files, config, root, pick=pick, audit=audit, keep=keep)
    with (
        # Left last, once the scan workers are gone (see the function).
        _sweep_on_failure(files, enabled=mode == "write"),
        # Closed explicitly: on an error here the scan workers stop at once.
        contextlib.closing(pages),
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="alttext") as pool,
        ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="alttext-write") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="alttext-commit") as committer,
    ):
        try:
            for page in pages:
                report.files += 1
                report.pages_remembered += page.recalled
                if page.error is not None:
                    report.errors.append(FileError(page.rel_path, page.error))
                    continue
                report.images += page.images
                report.findings.extend(page.findings)
                picked, ticket = page.picked, None
                if picked and isinstance(last := picked[-1], Ticket):
                    picked, ticket = picked[:-1], last
                    if audit:
                        ticket = ticket.audited(page.findings, page.audit_reads)
                if not picked:
                    if memo is not None and ticket is not None:
                        if item := memo_entry(ticket, (), (), ()):
                            untouched.append(item)
                        if len(untouched) >= _COMMIT_BATCH:
                            memo.pages.put(untouched)
                            untouched.clear()
                    continue
                if picked and isinstance(settled := picked[0], _Settled):
                    # Queued first: its new content may be written already (by a scan
                    # worker), and an interrupt from here on must find it to remove it.
                    entries = [(outcome, key) for outcome, key, _ in settled.entries]
                    examples = tuple(example for _, _, example in settled.entries)
                    rewrite = _done(settled.rewritten)
                    in_order.append(_PageWork(page.path, entries, rewrite, ticket, examples))
                    for outcome, key, example in settled.entries:
                        if key is None or key in results or key in futures:
                            continue
                        assert outcome.described is not None
                        results[key] = outcome.described
                        image_input = ImageInput(b"", "", key[0], None, example)
                        describer.adopt(image_input, outcome.described)
                        if on_described is not None:
                            on_described()
                    collect(block=False)
                    continue
                entries = []
                examples_seen: list[str] = []
                with_context: dict[int, ImageElement] | None = None
                for kept in picked:
                    assert isinstance(kept, _Prepared)
                    outcome, loaded, lang = kept.outcome, kept.loaded, kept.lang
                    key = (loaded.sha256, lang) if loaded is not None else None
                    entries.append((outcome, key))
                    examples_seen.append(f"{page.rel_path} {loaded.origin}" if loaded else "")
                    if loaded is None or key is None or key in futures or key in results:
                        continue
                    image_input = ImageInput(
                        b"",  # the worker kept the bytes; read again only for the backend
                        loaded.mime,
                        loaded.sha256,
                        loaded.public_url,
                        f"{page.rel_path} {loaded.origin}",
                    )
                    found = describer.lookup(image_input, language=lang, embedded=kept.embedded)
                    if found is not None:
                        results[key] = found
                        if on_described is not None:
                            on_described()
                        continue
                    # To the backend: read the page again for the element with its caption
                    # context, and the image's bytes (the workers sent neither).
                    if with_context is None:
                        with_context = _with_context(page.path, page.rel_path)
                    image = with_context.get(outcome.image.start)
                    try:
                        if image is None:
                            raise AltTextError(
                                "the page changed (or became unreadable) during the run"
                            )
                        image_input = replace(image_input, data=loader.reload(image).data)
                    except AltTextError as exc:  # changed on disk since the worker read it
                        results[key] = Described(alt=None, origin=None, error=str(exc))
                        continue
                    slots.acquire()
                    futures[key] = pool.submit(caption, image_input, image)
                if not entries:
                    continue
                work = _PageWork(page.path, entries, None, ticket, tuple(examples_seen))
                in_order.append(work)
                if all(key is None or key in results for _, key in entries):
                    finish(work)
                else:
                    waiting.append(work)
                collect(block=False)
            if on_total is not None:
                on_total(len(futures) + len(results))
            for work in waiting:
                finish(work)
            collect(block=True)
            if memo is not None:
                memo.pages.put(untouched)
            report.patch = b"".join(patches)
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
        finally:
            # Pages already replaced stay replaced: make those renames durable. Batches
            # handed to the committer land whole; pages not handed to it (an error, Ctrl-C)
            # were never written: they stay as they were.
            writer.shutdown(wait=True)
            committer.shutdown(wait=True)
            sync_directories(dirs_to_sync)
            # Pages written beside themselves but never handed to the committer (an
            # error, Ctrl-C) are removed: they stay as they were.
            discard(
                done.staged for done in _unhanded(in_order, to_commit) if done.staged is not None
            )
            if memo is not None:
                memo.pages.close()


def _sweep(files: list[Path]) -> int:
    """Remove what interrupted runs left beside these pages; return how many files."""
    return sum(len(sweep_leftovers(folder)) for folder in sorted({f.parent for f in files}))


@contextlib.contextmanager
def _sweep_on_failure(files: list[Path], *, enabled: bool) -> Iterator[None]:
    """On an error or Ctrl-C, remove what the (by then finished) scan workers wrote.

    A worker writes each page it settles beside the page at once; pages whose results
    never reached the committer leave those files, named by a process that has ended.
    """
    try:
        yield
    except BaseException:
        if enabled:
            with contextlib.suppress(OSError):
                _sweep(files)
        raise


def _unhanded(
    in_order: Iterable[_PageWork], to_commit: Iterable[tuple[_PageWork, _Rewritten]]
) -> Iterator[_Rewritten]:
    """The rewrites worked out but not handed to the committer."""
    yield from (done for _, done in to_commit)
    for work in in_order:
        rewrite = work.rewrite
        if rewrite is not None and rewrite.done() and not rewrite.cancelled():
            with contextlib.suppress(Exception):
                yield rewrite.result()


#: Threads replacing pages at once.
_WRITERS = 4
#: Rewritten pages held before the report collects them in order.
_IN_FLIGHT = 256
#: Pages made durable by one barrier, then renamed into place.
_COMMIT_BATCH = 128


def _commit_batch(
    batch: list[tuple[_PageWork, _Rewritten]], dirs_to_sync: set[Path]
) -> dict[int, str]:
    """Replace a batch of pages; return why, by index in ``batch``, for those that failed.

    Runs on the committer thread. Pages that waited for captions are written beside
    themselves only now (a run killed while it waits for captions leaves no temporary
    files); pages a scan worker settled come already written. The batch is made durable
    by one barrier, then each page is renamed into place. A run killed meanwhile leaves
    temporary files beside pages it had not renamed yet; the re-run removes them before
    it writes anything (see :func:`_sweep`).
    """
    staged: dict[int, Staged] = {}
    refused: dict[int, str] = {}
    try:
        for index, (_, done) in enumerate(batch):
            if done.staged is not None:
                staged[index] = done.staged
        for index, (work, done) in enumerate(batch):
            if done.staged is None and done.content is not None:
                try:
                    staged[index] = stage(work.path, done.content)
                except AltTextError as exc:
                    refused[index] = str(exc)
        by_tmp = {item.tmp: index for index, item in staged.items()}
        for item, why in commit(staged.values(), dirs_to_sync):
            refused[by_tmp[item.tmp]] = why
    except BaseException:
        discard(staged.values())
        raise
    return refused


@dataclass(frozen=True, slots=True)
class _Rewritten:
    """What rewriting one page did: its new content (written at the commit), or its patch."""

    changed: bool = False
    patch: bytes = b""
    error: FileError | None = None
    content: bytes | None = None
    #: The byte changes behind ``content``/``patch`` (what the page memo replays).
    splices: tuple[Splice, ...] = ()
    #: The new content already written beside the page (by a scan worker), to commit.
    staged: Staged | None = None

    def staged_now(self, path: Path) -> _Rewritten:
        """This rewrite with its new content written beside ``path`` (not in place yet).

        A page a scan worker settles is staged there, in parallel, so the committer only
        makes it durable and renames it; if writing fails here the committer tries again
        and reports why.
        """
        if self.content is None:
            return self
        try:
            staged = stage(path, self.content)
        except AltTextError:
            return self
        return _Rewritten(self.changed, self.patch, self.error, None, self.splices, staged)


_Entry = tuple["ImageOutcome", "Key | None"]


@dataclass(slots=True)
class _PageWork:
    """A page with images to fill, until its rewrite is collected into the report."""

    path: Path
    entries: list[_Entry]
    rewrite: Future[_Rewritten] | None = None
    #: What the page memo needs to remember the page (``None``: not memorable).
    ticket: Ticket | None = None
    #: The catalog's "page src" example of each entry (for the memo).
    examples: tuple[str, ...] = ()


def _done(rewritten: _Rewritten) -> Future[_Rewritten]:
    """A rewrite already worked out (by a scan worker), as the writers' futures look."""
    future: Future[_Rewritten] = Future()
    future.set_result(rewritten)
    return future


def _with_context(path: Path, rel_path: str) -> dict[int, ImageElement]:
    """Scan a page again, with the caption context a backend gets, by start offset.

    Only for pages with an image that goes to the backend, so a warm run never pays for
    it. A page that cannot be read now gives no context (the image is still described).
    """
    try:
        text = decode_html(path.read_bytes()).text
    except (OSError, AltTextError):
        return {}
    return {i.start: i for i in scan_text(text, path, rel_path, with_context=True)}


def _rewrite_page(path: Path, entries: list[_Entry], mode: Mode, root: Path) -> _Rewritten:
    """Read a page again and work out its new content (see :func:`_rewritten`).

    Runs on a writer thread, for pages whose images were decided after the scan.
    """
    if not _edits(entries):
        return _Rewritten()
    try:
        before = path.read_bytes()
    except OSError as exc:
        return _Rewritten(
            error=_not_rewritten(entries, f"cannot read {path}: {exc.strerror or exc}")
        )
    try:
        decoded = decode_html(before)
    except AltTextError as exc:
        return _Rewritten(error=_not_rewritten(entries, f"{path}: {exc}"))
    return _rewritten(path, before, decoded, entries, mode, root)


def _edits(entries: Iterable[_Entry]) -> list[Edit]:
    return [
        Edit(o.image.start, o.image.end, o.image.snippet, o.alt)
        for o, _ in entries
        if o.action in ("filled", "decorative") and o.alt is not None
    ]


def _rewritten(
    path: Path, before: bytes, decoded: DecodedHTML, entries: list[_Entry], mode: Mode, root: Path
) -> _Rewritten:
    """One page's new content (written later, by a commit), or its patch.

    On failure the page's outcomes become failures: they touch only this page's entries.
    """
    edits = _edits(entries)
    if not edits:
        return _Rewritten()
    try:
        splices = plan_splices(before, decoded, edits)
    except AltTextError as exc:
        return _Rewritten(error=_not_rewritten(entries, str(exc)))
    return _spliced(path, before, tuple(splices), decoded.encoding, mode, root)


def _spliced(
    path: Path, before: bytes, splices: tuple[Splice, ...], encoding: str, mode: Mode, root: Path
) -> _Rewritten:
    """The page's new content (or patch) from its byte changes."""
    after = apply_splices(before, splices)
    if after == before:
        return _Rewritten(splices=splices)
    if mode == "write":
        return _Rewritten(changed=True, content=after, splices=splices)
    patch = unified_diff_bytes(_patch_path(path, root), before, after, encoding)
    return _Rewritten(changed=True, patch=patch, splices=splices)


def _not_rewritten(entries: list[_Entry], why: str) -> FileError:
    """Turn a page's written alts into failures: the page stays as it was."""
    for outcome, _ in entries:
        if outcome.action in ("filled", "decorative"):
            outcome.action, outcome.error = "failed", f"page not rewritten: {why}"
    return FileError(entries[0][0].image.rel_page, f"not rewritten: {why}")


def default_env() -> Mapping[str, str]:
    """The process environment (the CLI's source of credentials)."""
    return os.environ
