"""The persistent caption cache: never pay twice for the same image.

Keyed by everything that changes the answer — the image's content hash, backend, model,
detail, focus, language, length limit and prompt version — so a changed setting is a miss,
not a wrong hit. Only successful captions are stored, one SQLite transaction each (via
diskcache), right after the backend answers: a crash or Ctrl-C a moment later loses
nothing that was paid for.

The cache is also the backends' task journal (:class:`~alttext.captioners.base.TaskJournal`):
the id of a remote task that was submitted but whose result is not in yet is kept under a
separate key prefix, so a run killed between submit and result resumes the task instead of
paying for it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alttext.captioners.base import PROMPT_VERSION, CaptionResult
from alttext.errors import ConfigError

if TYPE_CHECKING:
    import diskcache

ENV_VAR = "ALTTEXT_CACHE_DIR"
#: How long a started task is worth resuming: services keep results for a limited time
#: (WaveSpeed: a day at most), after that the id only costs a useless poll.
PENDING_TASK_TTL = 24 * 3600.0
_TASK_PREFIX = "task:"


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$ALTTEXT_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    import platformdirs

    return Path(platformdirs.user_cache_dir("alttext", appauthor=False))


#: What ``json.dumps(fields, sort_keys=True, separators=(",", ":"))`` uses, made once:
#: the digests of every existing cache entry depend on exactly this encoding.
_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Everything that changes a caption."""

    content_hash: str
    backend: str
    model: str | None
    detail: str
    focus: str | None
    language: str | None
    max_length: int
    prompt_version: int = PROMPT_VERSION

    def digest(self) -> str:
        """A stable string key (JSON of the fields, hashed)."""
        # The fields by hand, not asdict (which deep-copies): the same JSON, a third the cost.
        fields = {name: getattr(self, name) for name in self.__slots__}
        blob = _KEY_JSON.encode(fields)
        return "caption:" + hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What ``alttext cache stats`` prints."""

    directory: Path
    entries: int
    size_bytes: int


def _database_error() -> type[Exception]:
    """``sqlite3.Error``, imported when an error is being matched (diskcache loads it
    anyway; a run that never opens the cache should not pay for it at start-up)."""
    import sqlite3

    return sqlite3.Error


#: What a user can do about a cache folder that cannot be used.
_ELSEWHERE = " (choose another with --cache-dir or ALTTEXT_CACHE_DIR, or run with --no-cache)"


class CaptionCache:
    """A diskcache-backed store of :class:`CaptionResult` by :class:`CacheKey`.

    Also a :class:`~alttext.captioners.base.TaskJournal` (``pending``/``started``/
    ``finished``), keyed by :meth:`CacheKey.digest`; each journal write is committed before
    the call returns, and :meth:`put` forgets the task whose result it stores. Thread-safe.

    Args:
        directory: where the cache lives (created if needed).
        pending_ttl: seconds a journaled task stays resumable.
    """

    def __init__(self, directory: Path, *, pending_ttl: float = PENDING_TASK_TTL) -> None:
        self.directory = directory
        self.pending_ttl = pending_ttl
        # Checked now, so a cache that cannot be used is a configuration error before any
        # work; opened at first use, since a run whose pages are all remembered (see
        # alttext.store.pages) never reads a caption in this process.
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.R_OK | os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise ConfigError(
                f"cannot open cache in {directory}: {exc.strerror or exc}{_ELSEWHERE}"
            ) from exc
        self._store: diskcache.Cache | None = None
        self._opening = threading.Lock()

    @property
    def _cache(self) -> diskcache.Cache:
        if self._store is None:
            with self._opening:
                if self._store is None:
                    import diskcache

                    try:
                        with self._guard():
                            self._store = diskcache.Cache(str(self.directory))
                    except OSError as exc:
                        raise ConfigError(
                            f"cannot open cache in {self.directory}:"
                            f" {exc.strerror or exc}{_ELSEWHERE}"
                        ) from exc
        return self._store

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A damaged database is a clear configuration error, not a traceback."""
        try:
            yield
        except _database_error() as exc:
            raise ConfigError(
                f"the caption cache in {self.directory} is damaged ({exc}); move it away, "
                "or remove it with `alttext cache clear`"
            ) from exc

    def get(self, key: CacheKey) -> CaptionResult | None:
        """The cached result, or ``None``."""
        with self._guard():
            raw = self._cache.get(key.digest())
        if not isinstance(raw, str):
            return None
        try:
            data: dict[str, Any] = json.loads(raw)
            return CaptionResult(**data)
        except (TypeError, ValueError):
            return None  # an entry from an incompatible version: treat as a miss

    def put(self, key: CacheKey, result: CaptionResult) -> None:
        """Store a successful result (committed before this returns).

        Forgets the journaled task of the same key in the same transaction: until the
        result is stored, a re-run can still fetch it from the service for free.
        """
        digest = key.digest()
        with self._guard(), self._cache.transact():
            self._cache.set(digest, json.dumps(asdict(result), sort_keys=True))
            self._cache.delete(_TASK_PREFIX + digest)

    # -- the task journal ------------------------------------------------------------------

    def pending(self, key: str) -> str | None:
        """The id of the task started under ``key`` and not finished (nor expired)."""
        with self._guard():
            task_id = self._cache.get(_TASK_PREFIX + key)
        return task_id if isinstance(task_id, str) and task_id else None

    def started(self, key: str, task_id: str) -> None:
        """Journal ``task_id`` under ``key`` (committed before this returns)."""
        with self._guard():
            self._cache.set(_TASK_PREFIX + key, task_id, expire=self.pending_ttl)

    def finished(self, key: str) -> None:
        """Forget the task journaled under ``key``, if any."""
        with self._guard():
            self._cache.delete(_TASK_PREFIX + key)

    def stats(self) -> CacheStats:
        """Entry count and size on disk."""
        with self._guard():
            return CacheStats(self.directory, len(self._cache), int(self._cache.volume()))

    def clear(self) -> int:
        """Remove every entry; return how many there were (a damaged database is removed:
        0)."""
        try:
            with self._guard():
                return int(self._cache.clear())
        except ConfigError:
            self.close()
            self._store = None
            for name in os.listdir(self.directory):
                if name.startswith("cache.db"):  # the database, its journal and WAL
                    with suppress(FileNotFoundError):
                        os.unlink(self.directory / name)
            return 0

    def close(self) -> None:
        """Close the underlying database (if it was opened)."""
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> CaptionCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
