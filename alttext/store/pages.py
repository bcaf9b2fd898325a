"""Remembered page decisions: a page ``fix`` decided before is not scanned again.

A build regenerates the same pages, byte for byte, on every run; ``fix`` then scans each
one, resolves, reads and hashes its images, looks their captions up and plans the same
edits as last time. This memo keeps, per page, what that work concluded, keyed by
*content* (never by file times or inodes, which a fresh checkout or copy changes):

- the page's bytes, its path under the scan root and under the site root, and the run's
  *fingerprint* (every setting that can change a decision, the catalog's content, and the
  code's own digest), hashed together;
- the value: every local file the decision read, with its sha256, and the outcomes.

A later run that finds a page with the same key re-reads those files (through the same
site-root checks as a first read) and reuses the outcomes only when every hash matches;
anything else — a changed or missing image, a symlink, a different setting — takes the
full path. Pages with remote images, or with any image that could not be filled, are not
remembered. Stored as JSON (never pickle) in ``<cache dir>/pages``, a store of its own so
that its size limit can never evict a caption that was paid for.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alttext.errors import ConfigError

if TYPE_CHECKING:
    import diskcache

log = logging.getLogger(__name__)

#: Bump when what a remembered page means changes (the digest of the code covers edits
#: to the package's own files; this covers a change of format).
MEMO_FORMAT = 1
#: The memo's own size limit: old page versions go first, captions are elsewhere.
SIZE_LIMIT = 256 * 1024 * 1024
#: Subdirectory of the cache directory.
SUBDIRECTORY = "pages"
#: SQLite pages cached per connection (a few MB).
_CACHE_PAGES = 512


@functools.cache
def code_digest() -> str:
    """A digest of the package's own files (name, size, modification time) and version.

    A changed decision rule is a new memo: an upgrade changes the version and the files,
    an edit to a checkout changes a file's time. Reading the sources instead would cost
    a few milliseconds at every start for the same answer.
    """
    from alttext import __version__

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    names: list[str] = []
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        names.extend(os.path.join(folder, f) for f in files if f.endswith(".py"))
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(names):
        try:
            info = os.stat(name)
            stamp = f"{info.st_size}:{info.st_mtime_ns}"
        except OSError:  # an odd install: its name alone then counts
            stamp = "?"
        digest.update(f"\0{os.path.relpath(name, package)}\0{stamp}".encode())
    return digest.hexdigest()


def fingerprint(settings: dict[str, Any]) -> str:
    """The run's fingerprint: ``settings`` (JSON-able) with the memo format and code digest."""
    blob = json.dumps(
        {"format": MEMO_FORMAT, "code": code_digest(), "settings": settings},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def page_key(fingerprint: str, rel_path: str, site_path: str, data: bytes) -> str:
    """The memo key of a page's bytes at a place, in a run with ``fingerprint``."""
    digest = hashlib.sha256()
    for part in (fingerprint, rel_path, site_path):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    digest.update(data)
    return "page:" + digest.hexdigest()


def _store_errors() -> tuple[type[Exception], ...]:
    """What a store that cannot be used raises (``sqlite3`` imported only when matching:
    diskcache loads it anyway, and a run may never open the memo)."""
    import sqlite3

    return (OSError, sqlite3.Error, ConfigError)


class PageMemo:
    """The page memo in ``directory`` (opened when first used; one per process).

    Args:
        directory: the cache directory; the memo lives in its ``pages`` subdirectory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory / SUBDIRECTORY
        self._store: diskcache.Cache | None = None
        self._broken = False

    def __getstate__(self) -> Path:
        return self.directory.parent

    def __setstate__(self, directory: Path) -> None:
        self.__init__(directory)  # type: ignore[misc]

    def _open(self) -> diskcache.Cache:
        if self._store is None:
            import diskcache

            try:
                self._store = diskcache.Cache(
                    str(self.directory),
                    size_limit=SIZE_LIMIT,
                    # Point look-ups, each page once: SQLite's default 32 MB page cache
                    # and 64 MB memory map would only make each scan worker grow with
                    # the memo (31 -> 63 MiB from 1,000 to 10,000 pages).
                    sqlite_cache_size=_CACHE_PAGES,
                    sqlite_mmap_size=0,
                )
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the page memo in {self.directory}: {exc.strerror or exc}"
                ) from exc
        return self._store

    def get(self, key: str) -> dict[str, Any] | None:
        """The remembered page under ``key``, or ``None`` (also for an unreadable entry,
        or a store that cannot be used: the memo only ever saves work)."""
        if self._broken:
            return None
        try:
            raw = self._open().get(key)
        except _store_errors() as exc:
            self._give_up(exc)
            return None
        if not isinstance(raw, str):
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Remember pages, in one transaction (nothing, if the store cannot be used)."""
        items = list(items)
        if not items or self._broken:
            return
        try:
            store = self._open()
            with store.transact():
                for key, value in items:
                    store.set(key, json.dumps(value, separators=(",", ":")))
        except _store_errors() as exc:
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        # One warning per process; the run goes on, every page the full way.
        self._broken = True
        log.warning(
            "the page memo in %s cannot be used (%s): pages are scanned in full; "
            "`alttext cache clear` removes it",
            self.directory,
            exc,
        )

    def __len__(self) -> int:
        return len(self._open())

    def count(self) -> int | None:
        """How many pages are remembered, or ``None`` when the store cannot be read."""
        try:
            return len(self)
        except _store_errors():
            return None

    def clear(self) -> int:
        """Forget every page; return how many there were (a damaged store is removed)."""
        try:
            return int(self._open().clear())
        except _store_errors()[1:]:  # a damaged database (not a plain OSError)
            self.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            return 0

    def close(self) -> None:
        """Close the store (it reopens if used again)."""
        if self._store is not None:
            self._store.close()
            self._store = None
