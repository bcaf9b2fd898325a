"""Remembered page decisions: a page ``fix`` decided before is not scanned again.

A build regenerates the same pages, byte for byte, on every run; ``fix`` then scans each
one, resolves, reads and hashes its images, looks their captions up and plans the same
edits as last time. This memo keeps, per page, what that work concluded, keyed by
*content* (never by file times or inodes, which a fresh checkout or copy changes):

- the page's bytes, its path under the scan root and under the site root, and the run's
  *fingerprint* (every setting that can change a decision, whether a catalog is used,
  and the code's own digest), hashed together;
- the value: every local file the decision read, with its sha256, and the outcomes.

A later run that finds a page with the same key re-reads those files (through the same
site-root checks as a first read) and reuses the outcomes only when every hash matches
and the catalog still decides each image as it did (see
:func:`alttext.pipeline.remember.consistent_with_catalog`); anything else — a changed or
missing image, a symlink, a different setting, a catalog edit for one of its images —
takes the full path. Pages with remote images, or with any image that could not be filled, are not
remembered. Stored as JSON (never pickle) in one SQLite table in ``<cache dir>/pages``, a
store of its own so that its size limit can never evict a caption that was paid for. Plain
SQLite rather than a diskcache: a run stores a page in a few microseconds (diskcache's
per-item bookkeeping cost ~20 times that, on the main thread), and a run whose pages are
all remembered need not import diskcache at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alttext.errors import ConfigError

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

#: Bump when what a remembered page means changes (the digest of the code covers edits
#: to the package's own files; this covers a change of format).
MEMO_FORMAT = 2
#: The memo's own size limit: old page versions go first, captions are elsewhere.
SIZE_LIMIT = 256 * 1024 * 1024
#: Subdirectory of the cache directory, and the database in it.
SUBDIRECTORY = "pages"
DATABASE = "memo.sqlite3"
#: SQLite's page cache per connection, in KiB (point look-ups, each page once: a larger
#: cache or a memory map would only make each scan worker grow with the memo).
_CACHE_KIB = 2048
#: When over the size limit, the oldest entries go, this share of them at a time.
_EVICT_SHARE = 0.1


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
    a run may never open the memo)."""
    import sqlite3

    return (OSError, sqlite3.Error, ConfigError)


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pages"
    " (key TEXT PRIMARY KEY, value TEXT NOT NULL, stored INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pages_stored ON pages (stored)",
)


class PageMemo:
    """The page memo in ``directory`` (opened when first used; one connection per process).

    Args:
        directory: the cache directory; the memo lives in its ``pages`` subdirectory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory / SUBDIRECTORY
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._broken = False

    def __getstate__(self) -> Path:
        return self.directory.parent

    def __setstate__(self, directory: Path) -> None:
        self.__init__(directory)  # type: ignore[misc]

    def _open(self) -> sqlite3.Connection:
        # A connection must not cross a fork: a scan worker forked after this process
        # opened the memo opens its own.
        if self._db is None or self._pid != os.getpid():
            import sqlite3

            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                # What an earlier version kept here (a diskcache) is never read again.
                for name in os.listdir(self.directory):
                    if name.startswith("cache.db"):
                        os.unlink(self.directory / name)
                db = sqlite3.connect(self.directory / DATABASE, timeout=30, isolation_level=None)
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the page memo in {self.directory}: {exc.strerror or exc}"
                ) from exc
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # a lost entry only costs a scan
                db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                db.execute("PRAGMA mmap_size = 0")
                for statement in _SCHEMA:
                    db.execute(statement)
            except BaseException:
                db.close()
                raise
            self._db, self._pid = db, os.getpid()
        return self._db

    def size_bytes(self) -> int:
        """The store's size on disk (its database and write-ahead log)."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += (self.directory / (DATABASE + suffix)).stat().st_size
        return total

    def exists(self) -> bool:
        """Whether the store has been created (it may still be empty)."""
        return (self.directory / DATABASE).exists()

    def get(self, key: str) -> dict[str, Any] | None:
        """The remembered page under ``key``, or ``None`` (also for an unreadable entry,
        or a store that cannot be used: the memo only ever saves work)."""
        if self._broken:
            return None
        try:
            row = self._open().execute("SELECT value FROM pages WHERE key = ?", (key,)).fetchone()
        except _store_errors() as exc:
            self._give_up(exc)
            return None
        if row is None or not isinstance(row[0], str):
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Remember pages, in one transaction (nothing, if the store cannot be used)."""
        if self._broken:
            return
        rows = [(key, json.dumps(value, separators=(",", ":"))) for key, value in items]
        if not rows:
            return
        stored = time.time_ns()
        try:
            db = self._open()
            with _transaction(db):
                db.executemany(
                    "INSERT OR REPLACE INTO pages (key, value, stored) VALUES (?, ?, ?)",
                    [(key, value, stored) for key, value in rows],
                )
            self._evict(db)
        except _store_errors() as exc:
            self._give_up(exc)

    def _evict(self, db: sqlite3.Connection) -> None:
        """Over the size limit, forget the oldest entries (freed pages are reused)."""
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        if (pages - free) * size <= SIZE_LIMIT:
            return
        count = db.execute("SELECT count(*) FROM pages").fetchone()[0]
        with _transaction(db):
            db.execute(
                "DELETE FROM pages WHERE key IN (SELECT key FROM pages ORDER BY stored LIMIT ?)",
                (max(1, int(count * _EVICT_SHARE)),),
            )

    def _give_up(self, exc: BaseException) -> None:
        # One warning per process; the run goes on, every page the full way.
        self._broken = True
        log.warning(
            "the page memo in %s cannot be used (%s): pages are scanned in full; "
            "`alttext cache clear --pages` removes it (the captions stay)",
            self.directory,
            exc,
        )

    def __len__(self) -> int:
        return int(self._open().execute("SELECT count(*) FROM pages").fetchone()[0])

    def count(self) -> int | None:
        """How many pages are remembered, or ``None`` when the store cannot be read."""
        if not self.exists():
            return 0  # not created by asking
        try:
            return len(self)
        except _store_errors():
            return None

    def clear(self) -> int:
        """Forget every page; return how many there were (a damaged store is removed)."""
        if not self.exists():
            return 0
        try:
            db = self._open()
            count = len(self)
            with _transaction(db):
                db.execute("DELETE FROM pages")
            return count
        except _store_errors()[1:]:  # a damaged database (not a plain OSError)
            self.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            return 0

    def close(self) -> None:
        """Close the store (it reopens if used again)."""
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error) on an autocommit
    connection: one write lock for the whole batch, taken up front."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
