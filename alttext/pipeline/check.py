"""The audit pipeline behind ``alttext check``: files in, findings out."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import sys
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from alttext.config import Config
from alttext.errors import ConfigError, ScanError
from alttext.images.resolve import LAZY_ATTRIBUTES, ImageRef, forget_site_paths
from alttext.records import compact_pickle
from alttext.rules.checks import SizeProbe, audit_page
from alttext.rules.model import FileError, Finding, Severity
from alttext.scan.model import ImageElement
from alttext.scan.scanner import (
    PageScan,
    TagFilter,
    iter_html_files,
    page_rel_path,
    read_page_version,
    scan_file,
)
from alttext.spool import Spool

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor


@dataclass(slots=True)
class CheckReport:
    """Everything ``check`` found, ready to render.

    ``findings`` and ``errors`` are :class:`~alttext.spool.Spool` sequences: iterate them
    (as often as needed); past a few thousand items they live in a temporary file, so a
    report costs the same memory for any size of site.
    """

    root: Path
    files: int = 0
    images: int = 0
    findings: Spool[Finding] = field(default_factory=Spool)
    errors: Spool[FileError] = field(default_factory=Spool)
    severities: Counter[Severity] = field(default_factory=Counter)

    def add(self, findings: Iterable[Finding]) -> None:
        """Record ``findings`` (in order), counting them by severity."""
        for finding in findings:
            self.findings.append(finding)
            self.severities[finding.severity] += 1

    def count(self, severity: Severity) -> int:
        """How many findings have exactly ``severity``."""
        return self.severities[severity]

    def failed(self, threshold: Severity | None) -> bool:
        """Whether any finding is at or above ``threshold`` (never when ``None``)."""
        return threshold is not None and any(s >= threshold for s in self.severities)


def scan_root(paths: Iterable[Path], site_root: Path | None) -> Path:
    """The site's root: where root-relative URLs (``/img/a.png``) start, and what reports
    name pages relative to.

    ``site_root`` when given; else the directory given, or the folder of the file given.
    Several paths must agree on one: a directory among them that holds all the others,
    or the one folder all the files given are in. Otherwise which folder ``/img/a.png``
    means would be a guess (the working directory served another site's image): a
    :class:`ConfigError` asks for ``--site-root``.
    """
    folders = [p if p.is_dir() else p.parent for p in dict.fromkeys(paths)]
    # As given, then with symlinks resolved (site/ and a link to it are one folder).
    for spelled in (os.path.abspath, os.path.realpath):
        absolute = [spelled(folder) for folder in folders]
        if site_root is not None:
            if all(_within(a, spelled(site_root)) for a in absolute):
                return site_root
            continue
        for folder, candidate in zip(folders, absolute, strict=True):
            if all(_within(a, candidate) for a in absolute):
                return folder
    if site_root is not None:
        raise ConfigError(
            f"--site-root {site_root} does not hold the paths given: it is the folder "
            "root-relative URLs like /img/a.png start from, and the pages are below it"
        )
    raise ConfigError(
        "the paths given are in different folders: give --site-root DIR, the folder "
        "root-relative URLs like /img/a.png start from (it holds them all)"
    )


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def html_files(
    paths: Iterable[Path], exclude: Iterable[str], unreadable: list[OSError] | None = None
) -> list[Path]:
    """The HTML files under ``paths`` (as :func:`iter_html_files`), each file once: paths
    that overlap (``site site/docs``) or a page reached twice (a symlink to another page)
    would otherwise be audited twice, and rewritten or patched twice. Folders that could
    not be listed are added to ``unreadable`` (see :func:`folder_errors`)."""
    at: dict[tuple[int, int], int] = {}  # a file's identity: its place in ``files``
    links: set[int] = set()  # the places held by a symlink's path
    files: list[Path] = []
    on_error = unreadable.append if unreadable is not None else None
    for path in iter_html_files(paths, exclude, on_error):
        try:
            info = os.lstat(path)
            link = stat.S_ISLNK(info.st_mode)
            if link:
                info = os.stat(path)
        except OSError:  # reading it will say why
            files.append(path)
            continue
        identity = (info.st_dev, info.st_ino)
        if identity not in at:
            at[identity] = len(files)
            files.append(path)
            if link:
                links.add(len(files) - 1)
        elif at[identity] in links and not link:
            # The page's own path rather than a link's: its relative URLs are resolved
            # from where it is.
            files[at[identity]] = path
            links.discard(at[identity])
    return files


def folder_errors(unreadable: Iterable[OSError], root: Path) -> list[FileError]:
    """The folders a listing could not read, as errors: pages in them were not audited."""
    return [
        FileError(
            page_rel_path(Path(str(exc.filename)), root),
            f"cannot read folder: {exc.strerror or exc} (its pages were not checked)",
        )
        for exc in unreadable
    ]


def iter_pages(
    paths: Iterable[Path], config: Config, root: Path, *, with_context: bool = False
) -> Iterator[PageScan]:
    """Scan every HTML file under ``paths``, one page at a time."""
    for path in html_files(paths, config.exclude):
        yield scan_file(path, root, with_context=with_context)


@compact_pickle
@dataclass(frozen=True, slots=True)
class PageAudit:
    """One page's audit: what crosses a worker-process boundary (not the page's text).

    ``picked`` holds what the auditor's ``pick`` returned for the page (``fix``: a compact
    record of each image to fill, loaded and hashed, or the page already settled); the
    scanned elements themselves stay behind, so a page costs little to hand over.
    """

    path: Path
    rel_path: str
    images: int
    findings: tuple[Finding, ...]
    error: str | None = None
    picked: tuple[object, ...] = ()
    #: The local files the audit read (site-root path, sha256): what its findings depend
    #: on besides the page, for a pick that remembers pages. ``None`` when not known (no
    #: audit, no such pick, a custom size probe, a read that failed): then the findings
    #: cannot be remembered.
    audit_reads: tuple[tuple[str, str], ...] | None = None
    #: Whether the pick recalled the page (not scanned: unchanged since a run that
    #: remembered it).
    recalled: bool = False


#: Runs in the worker for each page that was read: what it returns (picklable, and best
#: small) comes back in :attr:`PageAudit.picked`.
PagePick = Callable[[PageScan], tuple[object, ...]]


#: A remembered page: images found, what the pick returns, the audit's findings.
Recalled = tuple[int, tuple[object, ...], tuple[Finding, ...]]


@runtime_checkable
class RecallingPick(Protocol):
    """A pick that may know a page's outcome from its bytes alone (``fix``'s page memo).

    ``recall`` gets the page's path, its name in reports and its bytes before any scan,
    and returns what the scan would have: ``(images found, picked, findings)`` for a page
    it remembers, else ``None`` (the page is then scanned and picked as usual). With the
    audit on, it must remember the findings too (else return ``None``).
    """

    def __call__(self, page: PageScan) -> tuple[object, ...]: ...

    def recall(
        self, path: Path, rel_path: str, data: bytes, version: os.stat_result | None = None
    ) -> Recalled | None: ...


class AuditReads:
    """The local files the audit of the current page read, each with its sha256.

    A page's findings depend on its bytes, the settings and these files (the intrinsic
    size of an ``alt=""`` image, the catalog entry of an image's hash). ``files`` is
    ``None`` when that is not tracked (nothing remembers pages, or the size probe is
    the caller's own) or cannot be known (a read that failed).
    """

    __slots__ = ("files", "tracked")

    def __init__(self, *, tracked: bool) -> None:
        self.tracked = tracked
        self.files: list[tuple[str, str]] | None = [] if tracked else None

    def start(self) -> None:
        """A new page."""
        self.files = [] if self.tracked else None

    def read(self, rel_path: str | None, sha256: str) -> None:
        if self.files is not None and rel_path is not None:
            self.files.append((rel_path, sha256))

    def failed(self) -> None:
        self.files = None

    def found(self) -> tuple[tuple[str, str], ...] | None:
        return None if self.files is None else tuple(dict.fromkeys(self.files))


class PageAuditor:
    """Scans and audits one page at a time with one configuration."""

    def __init__(
        self,
        config: Config,
        root: Path,
        probe_factory: Callable[[Path], SizeProbe] | None = None,
        pick: PagePick | None = None,
        *,
        audit: bool = True,
        keep: TagFilter | None = None,
    ) -> None:
        self.root = root
        self.pick = pick
        self.audit = audit
        self.recall = pick.recall if isinstance(pick, RecallingPick) else None
        # Without the audit, elements the caller will not look at need not be described.
        self.keep = None if audit else keep
        self.settings = config.rule_settings()
        site_root = config.site_root or root
        # What the audit reads matters only to a pick that remembers pages.
        remembers = self.recall is not None and probe_factory is None
        self.reads = AuditReads(tracked=audit and remembers)
        if probe_factory is None:
            self.probe = local_size_probe(site_root, self.reads)
        else:
            self.probe = probe_factory(site_root)
        # Loads the catalog: only when the audit will run.
        self.unreviewed = _unreviewed_check(config, site_root, self.reads) if audit else None

    def __call__(self, path: Path) -> PageAudit:
        """Audit the page at ``path``."""
        data, rel_path, version = None, None, None
        if self.recall is not None:
            rel_path = page_rel_path(path, self.root)
            try:
                data, version = read_page_version(path)
            except OSError:
                data = None  # the scan reads it again, and reports why it cannot
            recalled = self.recall(path, rel_path, data, version) if data is not None else None
            if recalled is not None:
                found, picked, remembered = recalled
                kept = remembered if self.audit else ()
                return PageAudit(path, rel_path, found, kept, None, picked, recalled=True)
        # Without the audit, the facts only its rules read are not worked out either.
        page = scan_file(
            path,
            self.root,
            names=self.audit,
            keep=self.keep,
            data=data,
            rel_path=rel_path,
            version=version,
        )
        if page.error is not None:
            return PageAudit(path, page.rel_path, 0, (), page.error)
        findings = []
        reads = None
        if self.audit:
            self.reads.start()
            findings = audit_page(page.images, self.settings, self.probe)
            if self.unreviewed is not None:
                findings.extend(self.unreviewed(page.images))
            reads = self.reads.found()
        picked = self.pick(page) if self.pick is not None else ()
        return PageAudit(path, page.rel_path, page.found, tuple(findings), None, picked, reads)


#: Pages per task sent to a worker: large enough to amortise the hand-over, small enough
#: that the workers finish together and progress stays live.
_CHUNK = 32
#: Pages in each worker's first chunk.
_FIRST_CHUNK = 8
#: Chunks queued per worker: one running, the rest ready as soon as it is done.
_CHUNKS_PER_WORKER = 3
_WORKER: PageAuditor | None = None


def _start_worker(
    config: Config,
    root: Path,
    probe_factory: Callable[[Path], SizeProbe] | None,
    pick: PagePick | None,
    audit: bool,
    keep: TagFilter | None,
) -> None:
    global _WORKER
    _die_with_parent()
    _leave_interrupts_to_the_parent()
    _WORKER = PageAuditor(config, root, probe_factory, pick, audit=audit, keep=keep)


#: The process that starts the scan workers (a forked worker inherits it).
_PARENT = 0


def _die_with_parent() -> None:
    """Ask Linux to end this worker when the process that started it dies.

    A run killed outright (SIGKILL, the OOM killer) cannot stop its workers, which would
    wait forever on a queue nobody reads, keeping their pids alive (so their temporary
    files look like a live run's to the next run). Elsewhere nothing is done.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)  # (workers ignore SIGTERM)
    if _PARENT and os.getppid() != _PARENT:  # it died before the request took effect
        os._exit(1)


def _leave_interrupts_to_the_parent() -> None:
    """Ignore SIGINT and SIGTERM in a worker: the parent stops the scan.

    Ctrl-C and a CI runner's stop signal the whole process group. A worker that took
    the signal would print its own traceback, or die, possibly half-way through sending
    a result: the executor's thread in the parent then waits for the rest of it for
    ever, and the parent never exits. The parent, which got the signal too, already
    unwinds the run and shuts the workers down (:func:`_stop_workers`); it dies with a
    SIGKILL to them (:func:`_die_with_parent`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held while the parent started this worker
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD_SIGNALS)


#: Signals a new worker must not take before it has chosen how to take them.
_HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM in this thread while the scan workers start.

    A worker inherits the signal mask, so a Ctrl-C in the moment a worker starts cannot
    reach it before :func:`_leave_interrupts_to_the_parent` has set how it takes one (it
    would die with a traceback). Here the signal waits until the mask is lifted, a few
    milliseconds later, and is then handled as any other. The executor's threads, started
    meanwhile, keep the mask, so such signals go to the main thread, which handles them.
    """
    import threading

    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


#: How long an early stop waits for the workers to end once told to.
_STOP_GRACE = 5.0


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting on it, then end each worker, within a bound.

    A scan abandoned early (an interrupt, an error, a consumer that stops) has nothing
    left to ask of its workers. Chunks not started are cancelled; a worker finishes the
    chunk it is in (ending it there could cut a result in half, which hangs the
    executor's thread), unless that takes more than the grace: a worker stuck in a page
    (a remote image at its deadline) is killed then. The workers have ended when this
    returns, so whatever they wrote is named by processes that have ended, which the
    caller's sweep then removes.
    """
    # The executor's own thread reaps the workers it sees end: waiting for them here too
    # would race it for each exit status (the loser sees a live process that is gone, and
    # could signal a reused pid). So wait for that thread, and act only if it is stuck.
    manager = getattr(pool, "_executor_manager_thread", None)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    if manager is None:
        return
    manager.join(_STOP_GRACE)
    if not manager.is_alive():
        return
    for process in processes:  # not reaped: alive or a zombie, so the pid is still its own
        process.kill()
    manager.join(_STOP_GRACE)


def _audit_chunk(paths: list[Path]) -> list[PageAudit]:
    assert _WORKER is not None, "worker not initialised"
    return [_WORKER(path) for path in paths]


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _start_method() -> BaseContext:
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    forced = os.environ.get("ALTTEXT_START_METHOD")
    if forced in methods:  # for debugging a platform's behaviour (and the tests)
        return multiprocessing.get_context(forced)
    # fork starts a worker in milliseconds, but is unsafe once other threads exist (a lock
    # one of them holds at the fork stays held in the child): a build tool's file watcher
    # or a progress thread. Then start workers from a clean server process instead.
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def audit_pages(
    files: list[Path],
    config: Config,
    root: Path,
    *,
    probe_factory: Callable[[Path], SizeProbe] | None = None,
    pick: PagePick | None = None,
    audit: bool = True,
    keep: TagFilter | None = None,
) -> Generator[PageAudit, None, None]:
    """Audit ``files`` in order, in ``config.workers`` processes (default: one per CPU).

    One worker, or too few pages to be worth starting more, audits in this process.
    Results come back in the order of ``files`` whatever the number of workers, so a
    report is the same byte for byte. The configuration (and a custom ``probe_factory``
    or ``pick``) is sent to each worker, so it must be picklable. ``audit=False``
    skips the rules (no findings): for a caller that only wants what ``pick`` returns,
    which then sees only the elements ``keep`` accepts (picklable too).
    """
    # Before any worker starts: a forked worker inherits what this process resolved.
    forget_resolved_paths()
    workers = config.workers if config.workers is not None else default_workers()
    if workers <= 1 or len(files) < 2 * _CHUNK:
        auditor = PageAuditor(config, root, probe_factory, pick, audit=audit, keep=keep)
        for path in files:
            yield auditor(path)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    workers = min(workers, -(-len(files) // _CHUNK))
    # Each worker's first chunk is small, so the first results (and fix's first commits)
    # come early; then chunks of _CHUNK pages.
    first = workers * _FIRST_CHUNK
    chunks = iter(
        [files[i : i + _FIRST_CHUNK] for i in range(0, first, _FIRST_CHUNK)]
        + [files[i : i + _CHUNK] for i in range(first, len(files), _CHUNK)]
    )
    global _PARENT
    _PARENT = os.getpid()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_start_method(),
        initializer=_start_worker,
        initargs=(config, root, probe_factory, pick, audit, keep),
    )
    # A window of chunks in flight, not the whole site: results wait here only until the
    # consumer takes them, so a slow consumer (fix on a slow disk: each page's new content
    # is in its result) holds a few chunks, not every page.
    in_flight: deque[Future[list[PageAudit]]] = deque()

    def submit_more() -> None:
        while len(in_flight) < workers * _CHUNKS_PER_WORKER:
            chunk = next(chunks, None)
            if chunk is None:
                break
            in_flight.append(pool.submit(_audit_chunk, chunk))

    finished = False
    try:
        with _interrupts_held():  # the first submits start the workers
            submit_more()
        while in_flight:
            yield from in_flight.popleft().result()
            submit_more()
        finished = True
    except BrokenProcessPool as exc:
        raise ScanError(
            "a scan worker process died (out of memory?); re-run with --workers 1"
        ) from exc
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # a consumer that stops early (an error, Ctrl-C) must not wait for the scan
            _stop_workers(pool)


def run_check(
    paths: Iterable[Path],
    config: Config,
    *,
    probe_factory: Callable[[Path], SizeProbe] | None = None,
    on_page: Callable[[PageAudit], None] | None = None,
) -> CheckReport:
    """Audit the HTML under ``paths`` with ``config``'s rules.

    Args:
        paths: files and directories to scan.
        config: settings (rules, excludes, site root, ``workers``).
        probe_factory: builds the intrinsic-size probe for a site root; the default reads
            local files only (an audit never touches the network).
        on_page: called after each page, for progress display.
    """
    paths = list(paths)
    root = scan_root(paths, config.site_root)
    unreadable: list[OSError] = []
    files = html_files(paths, config.exclude, unreadable)
    report = CheckReport(root=root)
    report.errors.extend(folder_errors(unreadable, root))
    for page in audit_pages(files, config, root, probe_factory=probe_factory):
        report.files += 1
        if page.error is not None:
            report.errors.append(FileError(page.rel_path, page.error))
        else:
            report.images += page.images
            report.add(page.findings)
        if on_page is not None:
            on_page(page)
    return report


def resolved(path: Path) -> Path:
    """``path.resolve()``, worked out once per run for each path: every image and page of a
    site resolves the same site root and a few page folders. A relative path is taken
    from the working directory first, so a process that runs again elsewhere (a build
    plugin) never gets another run's answer; each run starts afresh (see
    :func:`audit_pages`), and a folder that becomes a symlink during a run is not noticed.
    """
    return _resolved_absolute(path if path.is_absolute() else Path.cwd() / path)


@functools.lru_cache(maxsize=1024)
def _resolved_absolute(path: Path) -> Path:
    return path.resolve()


def forget_resolved_paths() -> None:
    """Drop the paths earlier runs resolved (a folder may be a symlink now, or gone)."""
    _resolved_absolute.cache_clear()
    forget_site_paths()


def _page_path(page: Path) -> Path:
    """The page's absolute path with its folder's symlinks resolved (once per folder).

    Not the page file's own link: a page is served from where it sits, so its relative
    references resolve from there, as a browser resolves them from the page's URL.
    """
    return resolved(page.parent) / page.name


def image_ref(image: ImageElement, site_root: Path) -> ImageRef:
    """The resolver's view of an element."""
    attrs = image.attrs
    return ImageRef(
        page_path=_page_path(image.page),
        site_root=resolved(site_root),
        src=attrs.get("src"),
        srcset=attrs.get("srcset"),
        lazy={k: attrs[k] for k in LAZY_ATTRIBUTES if k in attrs},
        picture_srcsets=image.picture_srcsets,
        base_href=image.base_href,
    )


def local_size_probe(site_root: Path, reads: AuditReads | None = None) -> SizeProbe:
    """Intrinsic size of an image that is a local file under ``site_root``, else ``None``.

    Each file it reads (or fails to) is told to ``reads``.
    """
    from alttext.errors import AltTextError
    from alttext.images.fetch import NetworkPolicy
    from alttext.images.resolve import ResolvedSource, SourceKind, load_image, resolve_source

    policy = NetworkPolicy()

    # A site's decorative images (dividers, spacers, icons) repeat on every page: probe each
    # file once per process. Keyed by the path as resolved, before the symlink check, which
    # load_image repeats on the first probe; bounded, so memory stays flat on any site.
    @functools.lru_cache(maxsize=4096)
    def size_of(resolved: ResolvedSource) -> tuple[tuple[int, int] | None, str | None]:
        try:
            loaded = load_image(resolved, policy, allow_remote=False)
        except AltTextError:
            return None, None
        return loaded.size, loaded.sha256

    def probe(image: ImageElement) -> tuple[int, int] | None:
        try:
            resolved = resolve_source(image_ref(image, site_root))
        except AltTextError:
            return None  # from the reference alone: nothing was read
        if resolved.kind is SourceKind.REMOTE:
            return None
        size, sha256 = size_of(resolved)
        if reads is not None and resolved.kind is SourceKind.LOCAL:  # data: in the page
            if sha256 is None:
                reads.failed()
            else:
                reads.read(resolved.rel_path, sha256)
        return size

    return probe


def _unreviewed_check(
    config: Config, site_root: Path, reads: AuditReads | None = None
) -> Callable[[Iterable[ImageElement]], list[Finding]] | None:
    """``--require-reviewed``: flag alts that came from an unreviewed catalog entry
    (each local file it reads, or fails to, is told to ``reads``)."""
    if not config.require_reviewed:
        return None
    if config.catalog is None:
        raise ConfigError("--require-reviewed needs a catalog (--catalog or catalog = ...)")
    from alttext.errors import AltTextError
    from alttext.images.fetch import NetworkPolicy
    from alttext.images.resolve import SourceKind, load_image, resolve_source
    from alttext.rules.checks import applies
    from alttext.rules.model import RULES
    from alttext.store.catalog import Catalog

    catalog = Catalog.load(config.catalog)
    policy = NetworkPolicy()
    severity = config.rule_settings().severity("alt-unreviewed")

    def check(images: Iterable[ImageElement]) -> list[Finding]:
        found = []
        for image in images:
            if severity is None or image.alt is None or not applies(image):
                continue
            try:
                resolved = resolve_source(image_ref(image, site_root))
                if resolved.kind is SourceKind.REMOTE:
                    continue
                digest = load_image(resolved, policy, allow_remote=False).sha256
            except AltTextError:
                if reads is not None:
                    reads.failed()
                continue
            if reads is not None and resolved.kind is SourceKind.LOCAL:
                reads.read(resolved.rel_path, digest)
            entry = catalog.decision(digest, image.lang)  # the entry a fix would use here
            if entry is not None and not entry.reviewed and entry.alt == image.alt:
                found.append(
                    Finding(
                        file=image.rel_page,
                        line=image.line,
                        column=image.column,
                        rule="alt-unreviewed",
                        severity=severity,
                        message=f"{RULES['alt-unreviewed'].summary} ({digest[:12]})",
                        element=image.element,
                        src=image.src,
                        snippet=image.snippet,
                    )
                )
        return found

    return check
