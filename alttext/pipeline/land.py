"""How a page's new content is worked out, and how pages land.

``fix`` decides each image; this module turns a page's decisions into its new bytes, in
which only the inserted attributes change (:mod:`alttext.rewrite`), or into a patch. It
makes pages land in batches: each is written beside itself, one durability barrier
covers the batch, then each is renamed into place (:mod:`alttext.durable`). What an
interrupted run left beside the pages is swept away first.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from alttext.durable import (
    Identity,
    Retired,
    Staged,
    commit,
    discard,
    identity,
    stage,
    sweep_directory,
)
from alttext.errors import AltTextError
from alttext.pipeline.check import resolved
from alttext.pipeline.outcomes import ImageOutcome, Key
from alttext.rewrite import Edit, Splice, apply_splices, plan_splices, unified_diff_bytes
from alttext.rules.model import FileError
from alttext.scan.encoding import DecodedHTML, decode_html
from alttext.scan.scanner import read_page_version

#: ``write`` replaces pages atomically; ``dry-run`` and ``patch`` only make a diff;
#: ``estimate`` only says which pages would change (and asks no backend).
Mode = Literal["write", "dry-run", "patch", "estimate"]


def patch_path(path: Path, root: Path) -> str:
    """Paths in patches are relative to the working directory when possible (git apply).

    The page's own symlink is followed (a patch names the file it changes); its folder,
    the working directory and the root are resolved once per run, not once per page.
    """
    real = path.resolve() if os.path.islink(path) else resolved(path.parent) / path.name
    for base in (Path.cwd(), root):
        try:
            return real.relative_to(resolved(base)).as_posix()
        except ValueError:
            continue
    return path.name


def sweep(files: list[Path]) -> tuple[int, dict[int, int]]:
    """Remove what interrupted runs left beside these pages: how many files it removed,
    and how many it kept of other runs still going, by process id."""
    removed, kept = 0, Counter[int]()
    for folder in sorted({f.parent for f in files}):
        swept = sweep_directory(folder)
        removed += len(swept.removed)
        for pid, paths in swept.kept.items():
            kept[pid] += len(paths)
    return removed, dict(kept)


@contextlib.contextmanager
def sweep_on_failure(files: list[Path], *, enabled: bool) -> Iterator[None]:
    """On an error or Ctrl-C, remove what the (by then finished) scan workers wrote.

    A worker writes each page it settles beside the page at once; pages whose results
    never reached the committer leave those files, named by a process that has ended.
    """
    try:
        yield
    except BaseException:
        if enabled:
            with contextlib.suppress(OSError):
                sweep(files)
        raise


def commit_batch(
    batch: Sequence[tuple[Path, Rewritten]], dirs_to_sync: set[Path], retired: Retired
) -> dict[int, str]:
    """Replace a batch of pages; return why, by index in ``batch``, for those that failed.

    Runs on the committer thread. Pages that waited for captions are written beside
    themselves only now (a run killed while it waits for captions leaves no temporary
    files); pages a scan worker settled come already written. The batch is made durable
    by one barrier, then each page is renamed into place (the old pages are freed on
    ``retired``'s thread). A run killed meanwhile leaves
    temporary files beside pages it had not renamed yet; the re-run removes them before
    it writes anything (see :func:`sweep`).
    """
    staged: dict[int, Staged] = {}
    refused: dict[int, str] = {}
    try:
        for index, (_, done) in enumerate(batch):
            if done.staged is not None:
                staged[index] = done.staged
        for index, (path, done) in enumerate(batch):
            if done.staged is None and done.content is not None:
                try:
                    staged[index] = stage(path, done.content, read=done.read)
                except AltTextError as exc:
                    refused[index] = str(exc)
        by_tmp = {item.tmp: index for index, item in staged.items()}
        for item, why in commit(staged.values(), dirs_to_sync, retired):
            refused[by_tmp[item.tmp]] = why
    except BaseException:
        discard(staged.values())
        raise
    return refused


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What rewriting one page did: its new content (written at the commit), or its patch."""

    changed: bool = False
    patch: bytes = b""
    error: FileError | None = None
    content: bytes | None = None
    #: The byte changes behind ``content``/``patch`` (what the page memo replays).
    splices: tuple[Splice, ...] = ()
    #: The new content already written beside the page (by a scan worker), to commit.
    staged: Staged | None = None
    #: The version of the page ``content`` was worked out from (see
    #: :func:`~alttext.durable.stage`): a page changed since it was read is not replaced.
    read: Identity | None = None

    def staged_now(self, path: Path) -> Rewritten:
        """This rewrite with its new content written beside ``path`` (not in place yet).

        A page a scan worker settles is staged there, in parallel, so the committer only
        makes it durable and renames it; if writing fails here the committer tries again
        and reports why.
        """
        if self.content is None:
            return self
        try:
            staged = stage(path, self.content, read=self.read)
        except AltTextError:
            return self
        return Rewritten(self.changed, self.patch, self.error, None, self.splices, staged)


Entry = tuple["ImageOutcome", "Key | None"]

_T = TypeVar("_T")


def ready(value: _T) -> Future[_T]:
    """A result already known, as a thread's future looks: a rewrite a scan worker worked
    out, or a batch with nothing to land."""
    future: Future[_T] = Future()
    future.set_result(value)
    return future


def lands_nothing(batch: Iterable[tuple[Path, Rewritten]]) -> bool:
    """Whether committing ``batch`` would write nothing (a diff, an estimate, pages that
    stay as they are): then it need not wait for the committer."""
    return all(done.content is None and done.staged is None for _, done in batch)


def rewrite_page(path: Path, entries: list[Entry], mode: Mode, root: Path) -> Rewritten:
    """Read a page again and work out its new content (see :func:`page_rewrite`).

    Runs on a writer thread, for pages whose images were decided after the scan.
    """
    if not _edits(entries):
        return Rewritten()
    try:
        before, version = read_page_version(path)
    except OSError as exc:
        return Rewritten(error=not_rewritten(entries, f"cannot read {path}: {exc.strerror or exc}"))
    try:
        decoded = decode_html(before)
    except AltTextError as exc:
        return Rewritten(error=not_rewritten(entries, f"{path}: {exc}"))
    return page_rewrite(path, before, decoded, entries, mode, root, version)


def _edits(entries: Iterable[Entry]) -> list[Edit]:
    return [
        Edit(o.image.start, o.image.end, o.image.snippet, o.alt)
        for o, _ in entries
        if o.action in ("filled", "decorative") and o.alt is not None
    ]


def page_rewrite(
    path: Path,
    before: bytes,
    decoded: DecodedHTML,
    entries: list[Entry],
    mode: Mode,
    root: Path,
    version: os.stat_result | None,
) -> Rewritten:
    """One page's new content (written later, by a commit), or its patch. ``version`` is
    the ``fstat`` of the file ``before`` was read from (``None``: the file as it is then).

    On failure the page's outcomes become failures: they touch only this page's entries.
    """
    edits = _edits(entries)
    if not edits:
        return Rewritten()
    try:
        splices = plan_splices(before, decoded, edits)
        # A page a patch cannot hold (UTF-16) fails alone: the other pages' diffs stand.
        return spliced(path, before, tuple(splices), decoded.encoding, mode, root, version)
    except AltTextError as exc:
        return Rewritten(error=not_rewritten(entries, str(exc)))


def spliced(
    path: Path,
    before: bytes,
    splices: tuple[Splice, ...],
    encoding: str,
    mode: Mode,
    root: Path,
    version: os.stat_result | None,
) -> Rewritten:
    """The page's new content (or patch) from its byte changes (``version``: as for
    :func:`page_rewrite`)."""
    after = apply_splices(before, splices)
    if after == before:
        return Rewritten(splices=splices)
    if mode == "write":
        read = identity(version) if version is not None else None
        return Rewritten(changed=True, content=after, splices=splices, read=read)
    if mode == "estimate":
        return Rewritten(changed=True, splices=splices)
    patch = unified_diff_bytes(patch_path(path, root), before, after, encoding)
    return Rewritten(changed=True, patch=patch, splices=splices)


def not_rewritten(entries: list[Entry], why: str) -> FileError:
    """Turn a page's written alts into failures: the page stays as it was."""
    for outcome, _ in entries:
        if outcome.action in ("filled", "decorative"):
            outcome.action, outcome.error = "failed", f"page not rewritten: {why}"
    return FileError(entries[0][0].image.rel_page, f"not rewritten: {why}")
