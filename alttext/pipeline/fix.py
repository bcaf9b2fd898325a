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
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from alttext.captioners.unavailable import UnavailableCaptioner
from alttext.config import Config
from alttext.durable import Retired, discard, sync_directories
from alttext.errors import AltTextError
from alttext.pipeline.check import audit_pages, folder_errors, html_files, scan_root
from alttext.pipeline.describe import Described, Describer, DescriberSession, ImageInput
from alttext.pipeline.land import (
    Entry,
    Mode,
    Rewritten,
    commit_batch,
    lands_nothing,
    not_rewritten,
    ready,
    rewrite_page,
    sweep,
    sweep_on_failure,
)
from alttext.pipeline.load import ImageLoader
from alttext.pipeline.outcomes import ImageOutcome, Key
from alttext.pipeline.remember import Ticket, memo_entry, run_memo
from alttext.pipeline.settle import Prepared, Preparer, Settled, may_need_alt
from alttext.rules.model import FileError, Finding
from alttext.scan.encoding import decode_html
from alttext.scan.model import ImageElement
from alttext.scan.scanner import read_page, scan_text
from alttext.spool import Spool

__all__ = ["DEFAULT_JOBS", "FixReport", "Mode", "default_env", "run_fix"]


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
    #: Temporary files of other runs still going (by process id), left where they are.
    leftovers_kept: dict[int, int] = field(default_factory=dict)
    #: Pages settled from the page memo (unchanged since a run remembered them).
    pages_remembered: int = 0
    #: ``estimate``: the distinct images (by hash and language) the backend would be asked
    #: for; their outcomes stay ``pending``.
    would_ask: int = 0
    #: Why the backend cannot be asked (a run with a catalog but no API key), or ``None``:
    #: each image that needs it fails.
    backend_unavailable: str | None = None
    patch: bytes = b""
    #: What the describer did per distinct image: answers by source, and ``api_calls``.
    counts: dict[str, int] = field(default_factory=dict)
    #: The source of each alt written from a description (one per image, so with
    #: ``decorative`` they add up to :attr:`alts_written`).
    origins: Counter[str] = field(default_factory=Counter)

    #: Whether :attr:`outcomes` keeps every outcome (``--report`` reads them; the summary
    #: needs only the counts, and a site with many images would spill them to disk).
    keep_outcomes: bool = True

    def record(self, outcome: ImageOutcome) -> None:
        """Add an image's final outcome (it must not change afterwards)."""
        if self.keep_outcomes:
            self.outcomes.append(outcome)
        self.actions[outcome.action] += 1
        if outcome.action == "failed":
            self.failed.append(outcome)
        elif outcome.action == "filled" and outcome.described and outcome.described.origin:
            self.origins[outcome.described.origin] += 1

    @property
    def alts_written(self) -> int:
        """Images that got an alt attribute (captions and spacers)."""
        return self.actions["filled"] + self.actions["decorative"]

    @property
    def ok(self) -> bool:
        """Whether every image that needed alt got one and every page was readable."""
        return not self.failed and not self.errors


def _memo_entry(work: _PageWork, done: Rewritten) -> tuple[str, dict[str, object]] | None:
    assert work.ticket is not None
    return memo_entry(work.ticket, work.entries, work.examples, done.splices)


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
    keep_outcomes: bool = True,
) -> FixReport:
    """Fill missing alt text in the HTML under ``paths``.

    Args:
        paths: HTML files and directories.
        config: settings (backend, cache, catalog, limits...).
        env: environment for backend credentials (``WAVESPEED_API_KEY``...).
        mode: ``write`` replaces files atomically; ``dry-run`` and ``patch`` only fill
            :attr:`FixReport.patch`; ``estimate`` changes nothing, asks no backend and
            counts what a run would ask it (:attr:`FixReport.would_ask`); the catalog
            is not saved and no page is remembered.
        on_total: told the number of distinct images to describe, once known.
        on_described: called after each description, for progress display.
        describer: an already-open describer (tests, plugins); by default one is opened
            from ``config`` and closed at the end.
        audit: also audit the pages as ``check`` does (:attr:`FixReport.findings`); a
            caller that reports no findings saves that work with ``False``.
        keep_outcomes: keep every image's outcome in :attr:`FixReport.outcomes`; a
            caller that needs only the counts and the failures saves that with ``False``.

    Raises:
        ConfigError: before any work, for a bad backend, a bad catalog, or a missing key
            when there is no catalog (with one, only the images that need the backend
            fail: see :attr:`FixReport.backend_unavailable`).
    """
    paths = list(paths)
    root = scan_root(paths, config.site_root)
    site_root = config.site_root or root
    session = None
    if describer is None:
        session = DescriberSession(config, env)
        describer = session.describer
    report = FixReport(root=root, keep_outcomes=keep_outcomes)
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
        if isinstance(describer.captioner, UnavailableCaptioner):
            report.backend_unavailable = str(describer.captioner.reason)
        if session is not None:
            # Only a run that writes the pages records its decisions: --dry-run, --patch
            # and --estimate change nothing (what they paid for is in the cache).
            session.close(save_catalog=mode == "write")
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
    # light records, for their captions, and are rewritten and committed in page order as
    # those arrive (an interrupted cold run keeps every page whose captions came in).
    waiting: deque[_PageWork] = deque()
    # Every page with images to fill, in scan order, until its rewrite is collected into
    # the report: pages leave in order, so the report keeps page order in flat memory.
    in_order: deque[_PageWork] = deque()
    # Pages rewritten (new content in memory), waiting to be committed together.
    to_commit: list[tuple[_PageWork, Rewritten]] = []
    # Batches handed to the committer thread, oldest first, until their outcomes are
    # recorded (in page order).
    committing: deque[tuple[list[tuple[_PageWork, Rewritten]], Future[dict[int, str]]]]
    committing = deque()
    patches: list[bytes] = []
    # New page content is worked out on a few writer threads and written by one committer
    # thread, so this thread never waits on the disk. The directories renamed into get one
    # durability barrier at the end. The pages they replace are freed on a thread of
    # their own (on some disks that costs more than the rename).
    dirs_to_sync: set[Path] = set()
    retired = Retired()
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
            if described is _NOT_ASKED:
                continue  # --estimate: it stays pending
            outcome.described = described
            if described.alt is not None:
                outcome.action, outcome.alt = "filled", described.alt
            else:
                outcome.action, outcome.error = "failed", described.error or "no caption"
        work.rewrite = writer.submit(rewrite_page, work.path, work.entries, mode, root)

    def decided(work: _PageWork) -> bool:
        return all(key is None or key in results or futures[key].done() for _, key in work.entries)

    def finish_decided() -> None:
        # The first waiting page only: pages land in page order, so a later one finished
        # early would wait behind it anyway.
        while waiting and decided(waiting[0]):
            finish(waiting.popleft())

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
            pages = [(work.path, done) for work, done in batch]
            if lands_nothing(pages):  # no thread hand-over per page for a diff or estimate
                landed: Future[dict[int, str]] = ready({})
            else:
                landed = committer.submit(commit_batch, pages, dirs_to_sync, retired)
            committing.append((batch, landed))
            to_commit.clear()

    def record_commits(*, block: bool) -> None:
        # Outcomes are final only once their page has landed: a page that fails to land
        # fails its images. Two batches may be on their way before this waits for one.
        while committing and (block or committing[0][1].done() or len(committing) > 2):
            batch, landed = committing.popleft()
            refused = landed.result()
            for index, (work, done) in enumerate(batch):
                if index in refused:
                    done = Rewritten(error=not_rewritten(work.entries, refused[index]))
                report.files_changed += done.changed
                if done.error is not None:
                    report.errors.append(done.error)
                if done.patch:
                    patches.append(done.patch)
                for outcome, _ in work.entries:
                    report.record(outcome)
                if done.error is None and work.ticket and (item := _memo_entry(work, done)):
                    remember(item)

    def remember(item: tuple[str, dict[str, object]]) -> None:
        if mode == "estimate":
            return  # a run that writes nothing remembers nothing
        # Put in large batches: each transaction has a fixed cost, and an entry lost to
        # an interruption only costs the next run a scan of its page.
        to_remember.append(item)
        if memo is not None and len(to_remember) >= _MEMO_BATCH:
            memo.pages.put(to_remember)
            to_remember.clear()

    unreadable: list[OSError] = []
    files = html_files(paths, config.exclude, unreadable)
    report.errors.extend(folder_errors(unreadable, root))
    # Leftovers of an interrupted run go before anything is written (scan workers write
    # the pages they settle as soon as they have them).
    if mode == "write":
        report.leftovers_removed, report.leftovers_kept = sweep(files)
    # Pages are scanned and audited (as check does, without caption context) in worker
    # processes, which also load and hash the images to fill, and settle the pages the
    # free sources answer in full (a warm run: all of them); this process commits those,
    # and looks up, captions and rewrites the rest. Context is built only for pages with
    # an image that goes to the backend.
    memo = run_memo(config, describer, audit=audit)
    # Memo entries waiting to be stored: of pages that landed, and of pages with nothing
    # to fill (no write to wait for).
    to_remember: list[tuple[str, dict[str, object]]] = []
    free = describer.free_sources()
    pick = Preparer(config, (root, site_root), free, mode, memo)
    keep = functools.partial(may_need_alt, replace_bad=config.replace_bad)
    pages = audit_pages(files, config, root, pick=pick, audit=audit, keep=keep)
    with (
        # Left last, once the scan workers are gone (see the function).
        sweep_on_failure(files, enabled=mode == "write"),
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
                    if ticket is not None and (item := memo_entry(ticket, (), (), ())):
                        remember(item)
                    continue
                if picked and isinstance(settled := picked[0], Settled):
                    # Queued first: its new content may be written already (by a scan
                    # worker), and an interrupt from here on must find it to remove it.
                    entries = [(outcome, key) for outcome, key, _ in settled.entries]
                    examples = tuple(example for _, _, example in settled.entries)
                    rewrite = ready(settled.rewritten)
                    in_order.append(_PageWork(page.path, entries, rewrite, ticket, examples))
                    for outcome, key, example in settled.entries:
                        if key is None or key in results or key in futures:
                            continue
                        assert outcome.described is not None
                        results[key] = outcome.described
                        image_input = ImageInput(b"", "", key[0], None, example)
                        describer.adopt(image_input, outcome.described, language=key[1])
                        if on_described is not None:
                            on_described()
                    collect(block=False)
                    continue
                entries = []
                examples_seen: list[str] = []
                with_context: dict[int, ImageElement] | None = None
                for kept in picked:
                    assert isinstance(kept, Prepared)
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
                    if mode == "estimate":
                        results[key] = _NOT_ASKED
                        report.would_ask += 1
                        continue
                    if describer.unavailable:  # it fails unread: no context, no bytes
                        results[key] = describer.caption(image_input, language=lang)
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
                        data = loader.reload(image, expected_sha256=loaded.sha256).data
                        image_input = replace(image_input, data=data)
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
                finish_decided()
                collect(block=False)
            if on_total is not None:
                on_total(len(futures) + len(results))
            while waiting:  # each page as soon as its captions are in
                work = waiting.popleft()
                if not decided(work):
                    collect(block=True)  # land the pages before it while its captions come
                finish(work)
            collect(block=True)
            if memo is not None:
                memo.pages.put(to_remember)
            report.patch = b"".join(patches)
        except BaseException:
            for future in futures.values():
                future.cancel()
            describer.stop()  # the captions under way: the pool waits for them on exit
            raise
        finally:
            # Pages already replaced stay replaced: make those renames durable. Batches
            # handed to the committer land whole; pages not handed to it (an error, Ctrl-C)
            # were never written: they stay as they were.
            writer.shutdown(wait=True)
            committer.shutdown(wait=True)
            retired.close()
            sync_directories(dirs_to_sync)
            # Pages written beside themselves but never handed to the committer (an
            # error, Ctrl-C) are removed: they stay as they were.
            discard(
                done.staged for done in _unhanded(in_order, to_commit) if done.staged is not None
            )
            if memo is not None:
                memo.pages.close()


def _unhanded(
    in_order: Iterable[_PageWork], to_commit: Iterable[tuple[_PageWork, Rewritten]]
) -> Iterator[Rewritten]:
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
#: Pages remembered by one transaction of the page memo.
_MEMO_BATCH = 512
#: ``estimate``: what an image the backend would be asked for is described as meanwhile.
_NOT_ASKED = Described(alt=None, origin=None, error=None)


@dataclass(slots=True)
class _PageWork:
    """A page with images to fill, until its rewrite is collected into the report."""

    path: Path
    entries: list[Entry]
    rewrite: Future[Rewritten] | None = None
    #: What the page memo needs to remember the page (``None``: not memorable).
    ticket: Ticket | None = None
    #: The catalog's "page src" example of each entry (for the memo).
    examples: tuple[str, ...] = ()


def _with_context(path: Path, rel_path: str) -> dict[int, ImageElement]:
    """Scan a page again, with the caption context a backend gets, by start offset.

    Only for pages with an image that goes to the backend, so a warm run never pays for
    it. A page that cannot be read now gives no context (the image is still described).
    """
    try:
        text = decode_html(read_page(path)).text
    except (OSError, AltTextError):
        return {}
    return {i.start: i for i in scan_text(text, path, rel_path, with_context=True)}


def default_env() -> Mapping[str, str]:
    """The process environment (the CLI's source of credentials)."""
    return os.environ
