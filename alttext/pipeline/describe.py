"""From image bytes to alt text, cheapest source first.

Look-ups in order: the catalog (a person's or an earlier run's decision), alt text
embedded in the image's own metadata, the caption cache, and only then the backend. Each
answer from the backend is cached the moment it arrives, and the cache doubles as the
backend's task journal (a task submitted but not yet answered is resumed, not paid for
again, by the next run). Thread-safe: ``fix`` calls :meth:`Describer.describe` from a pool.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from alttext.captioners.base import (
    BackendOptions,
    CaptionContext,
    Captioner,
    CaptionRequest,
    CaptionResult,
    TaskJournal,
)
from alttext.captioners.polish import polish
from alttext.captioners.unavailable import UnavailableCaptioner
from alttext.config import Config
from alttext.errors import AltTextError, ConfigError, MissingCredentials, redact
from alttext.store.cache import CacheKey, CaptionCache
from alttext.store.catalog import Catalog

if TYPE_CHECKING:
    from alttext.captioners.metadata import EmbeddedAlt

Origin = Literal["catalog", "metadata", "cache", "backend"]


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image ready to describe.

    Attributes:
        data: the original bytes.
        mime: their MIME type.
        sha256: hex digest of ``data`` (the cache and catalog key).
        public_url: where a remote service could fetch it, if anywhere.
        example: a human-readable "page src" label for the catalog.
    """

    data: bytes
    mime: str
    sha256: str
    public_url: str | None = None
    example: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, mime: str, **kw: str | None) -> ImageInput:
        """Build an input, hashing ``data``."""
        return cls(data, mime, hashlib.sha256(data).hexdigest(), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Described:
    """The outcome for one image: an alt text and where it came from, or an error."""

    alt: str | None
    origin: Origin | None
    caption: str | None = None
    backend: str | None = None
    model: str | None = None
    nsfw: bool | None = None
    inference_ms: int | None = None
    task_id: str | None = None
    reviewed: bool | None = None
    error: str | None = None


def backend_options(
    config: Config, env: Mapping[str, str], journal: TaskJournal | None = None
) -> BackendOptions:
    """The backend settings of ``config``; keys and URLs not set there come from ``env``.

    ``journal`` is where the backend records remote tasks until their result is in.
    """
    return BackendOptions(
        base_url=config.api_base,
        model=config.model,
        timeout=config.timeout,
        deadline=config.deadline,
        max_concurrent=config.jobs,
        per_minute=config.rate,
        sync=config.sync,
        image_transport=config.image_transport,  # type: ignore[arg-type]
        ocr=config.ocr,
        env=dict(env),
        journal=journal,
    )


class FreeSources:
    """The answers that cost nothing — catalog, embedded metadata, cache — found without
    side effects (no counting, nothing recorded: :meth:`Describer.adopt` does that).

    Picklable, so ``fix``'s scan workers can settle a warm page themselves: a copy takes
    the catalog as it is when pickled and reopens the cache from its directory when first
    needed.
    """

    def __init__(
        self,
        config: Config,
        backend: str,
        catalog: Catalog | None = None,
        cache: CaptionCache | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.catalog = catalog
        self._cache = cache
        self._cache_dir = cache.directory if cache is not None else None

    def __getstate__(self) -> tuple[Config, str, Catalog | None, Path | None]:
        return self.config, self.backend, self.catalog, self._cache_dir

    def __setstate__(self, state: tuple[Config, str, Catalog | None, Path | None]) -> None:
        self.config, self.backend, self.catalog, self._cache_dir = state
        self._cache = None

    def key(self, content_hash: str, language: str | None) -> CacheKey:
        """The cache key of an image's caption in this configuration."""
        return CacheKey(
            content_hash=content_hash,
            backend=self.backend,
            model=self.config.model,
            detail=self.config.detail,
            focus=self.config.focus,
            language=language,
            max_length=self.config.max_length,
        )

    def catalog_answer(self, content_hash: str, language: str | None = None) -> Described | None:
        """The catalog's decision for an image on a page in ``language`` (it wins over every
        other source; an entry in another language does not answer)."""
        entry = self.catalog.decision(content_hash, language) if self.catalog else None
        if entry is None:
            return None
        return Described(
            alt=entry.alt,
            origin="catalog",
            caption=entry.alt,
            backend=entry.source,
            reviewed=entry.reviewed,
        )

    def find(
        self,
        image: ImageInput,
        *,
        language: str | None = None,
        embedded: EmbeddedAlt | Literal["read"] | None = "read",
    ) -> Described | None:
        """The first free answer (see :meth:`Describer.lookup`), or ``None``."""
        decided = self.catalog_answer(image.sha256, language)
        if decided is not None:
            return decided
        if self.config.metadata_first:
            if embedded == "read":
                from alttext.captioners.metadata import read_embedded_alt

                embedded = read_embedded_alt(image.data, image.mime, language)
            if embedded is not None:
                try:
                    alt = polish(embedded.text, self.config.max_length)
                except AltTextError:
                    alt = None
                if alt is not None:
                    return Described(
                        alt=alt, origin="metadata", caption=embedded.text, backend="metadata"
                    )
        if self._cache is None and self._cache_dir is not None:
            self._cache = CaptionCache(self._cache_dir)  # a copy in another process
        cached = self._cache.get(self.key(image.sha256, language)) if self._cache else None
        return described(cached, "cache", self.config.max_length) if cached else None


def described(result: CaptionResult, origin: Origin, max_length: int) -> Described:
    """A backend's (or the cache's) result as alt text: polished, or the reason it is not."""
    common = {
        "caption": result.caption,
        "backend": result.backend,
        "model": result.model,
        "nsfw": result.nsfw,
        "inference_ms": result.inference_ms,
        "task_id": result.task_id,
    }
    try:
        alt = polish(result.caption, max_length)
    except AltTextError as exc:
        return Described(alt=None, origin=None, error=str(exc), **common)  # type: ignore[arg-type]
    return Described(alt=alt, origin=origin, **common)  # type: ignore[arg-type]


@dataclass
class Describer:
    """Describes images for one run; counts where answers came from."""

    config: Config
    captioner: Captioner
    cache: CaptionCache | None = None
    catalog: Catalog | None = None
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: The catalog's decisions as they were when the describer was made. Answers a run
    #: adds go into ``catalog`` (to be saved) but never answer look-ups: an image is
    #: described once per run anyway, and an answer for one page's language must not
    #: become the "catalog" decision for a page in another language in the same run.
    _decided: Catalog | None = field(init=False, default=None)
    #: The configuration error a backend answered with (a refused key): no request after it.
    _refused: ConfigError | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._decided = self.catalog.snapshot() if self.catalog is not None else None

    @property
    def unavailable(self) -> bool:
        """Whether the backend cannot be asked (see
        :class:`~alttext.captioners.unavailable.UnavailableCaptioner`): a caption then
        fails at once, whatever the image, so its bytes need not even be read."""
        return isinstance(self.captioner, UnavailableCaptioner)

    def stop(self) -> None:
        """Cut short the captions in progress, if the backend can (an interrupted run:
        its polls and retries end now instead of running on to their deadline)."""
        stop = getattr(self.captioner, "stop", None)
        if callable(stop):
            stop()

    def free_sources(self) -> FreeSources:
        """This describer's free sources, for look-ups elsewhere (``fix``'s workers)."""
        return FreeSources(self.config, self.captioner.name, self._decided, self.cache)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def describe(
        self,
        image: ImageInput,
        *,
        language: str | None = None,
        context: CaptionContext | None = None,
    ) -> Described:
        """Alt text for ``image``; failures come back as ``Described.error``, never raised."""
        found = self.lookup(image, language=language)
        if found is not None:
            return found
        return self.caption(image, language=language, context=context)

    def lookup(
        self,
        image: ImageInput,
        *,
        language: str | None = None,
        embedded: EmbeddedAlt | Literal["read"] | None = "read",
    ) -> Described | None:
        """The free sources only — catalog, embedded metadata, cache — or ``None``.

        Cheap and context-free, so ``fix`` asks it first and builds caption context only
        for the images that really go to the backend. ``embedded`` is the image's metadata
        alt when the caller read it already (``fix`` does in its scan workers, so the bytes
        need not travel); by default it is read from ``image.data`` here.
        """
        found = self.free_sources().find(image, language=language, embedded=embedded)
        if found is not None:
            self.adopt(image, found, language=language)
        return found

    def adopt(self, image: ImageInput, found: Described, *, language: str | None = None) -> None:
        """Count a free answer found elsewhere (:class:`FreeSources`) and record it in the
        catalog as :meth:`lookup` would have (as written in ``language``, the page's).
        ``image`` needs its hash and example only."""
        if found.alt is None:
            self._count("failed")
            return
        self._count(found.origin or "failed")
        if found.origin == "metadata":
            self._record(image, found.alt, "metadata", language)
        elif found.origin == "cache":
            self._record(image, found.alt, _source(found.backend, found.model), language)

    def caption(
        self,
        image: ImageInput,
        *,
        language: str | None = None,
        context: CaptionContext | None = None,
    ) -> Described:
        """Ask the backend (after :meth:`lookup` found nothing) and cache a success."""
        key = self.free_sources().key(image.sha256, language)
        request = CaptionRequest(
            image=image.data,
            mime_type=image.mime,
            content_hash=image.sha256,
            public_url=image.public_url,
            detail=self.config.detail,  # type: ignore[arg-type]
            focus=self.config.focus,
            language=language,
            max_length=self.config.max_length,
            context=context or CaptionContext(),
            task_key=key.digest(),
        )
        if self._refused is not None:
            raise self._refused  # an image queued before the first refusal: not sent
        if isinstance(self.captioner, UnavailableCaptioner):  # no request, no call counted
            self._count("failed")
            return Described(
                alt=None, origin=None, backend=self.captioner.name, error=self.captioner.why
            )
        self._count("api_calls")
        try:
            result = self.captioner.caption(request)
        except ConfigError as exc:
            self._refused = exc  # a refused key: every other image would fail the same way
            raise
        except AltTextError as exc:
            self._count("failed")
            return Described(alt=None, origin=None, backend=self.captioner.name, error=str(exc))
        found = self._finish(image, result, language)
        if found.alt is not None and self.cache is not None:
            self.cache.put(key, result)
        return found

    def _finish(self, image: ImageInput, result: CaptionResult, language: str | None) -> Described:
        found = described(result, "backend", self.config.max_length)
        if found.alt is None:
            self._count("failed")
            return found
        self._count("backend")
        self._record(image, found.alt, _source(result.backend, result.model), language)
        return found

    def _record(self, image: ImageInput, alt: str, source: str, language: str | None) -> None:
        if self.catalog is not None:
            with self._lock:
                self.catalog.add(image.sha256, alt, source, image.example, language)


def _source(backend: str | None, model: str | None) -> str:
    """A catalog entry's ``source`` for a caption from ``backend``."""
    return f"backend:{backend}" + (f"/{model}" if model else "")


def safe_message(exc: BaseException, *secrets: str | None) -> str:
    """An exception's message with secrets redacted, for reports."""
    return redact(str(exc), *secrets)


class DescriberSession:
    """Opens the backend, cache and catalog a run needs, and closes them after.

    The cache is opened first because it is also the backend's task journal; the backend
    is built before any page is read, so a missing API key fails before any work starts —
    unless a catalog is set: then only the images that need the backend fail.
    """

    def __init__(self, config: Config, env: Mapping[str, str]) -> None:
        from alttext.captioners.registry import create
        from alttext.store.cache import default_cache_dir

        self.config = config
        self.cache = (
            CaptionCache(config.cache_dir or default_cache_dir(env)) if config.cache else None
        )
        try:
            self.captioner = create(config.backend, backend_options(config, env, self.cache))
        except MissingCredentials as exc:
            if config.catalog is None:
                if self.cache is not None:
                    self.cache.close()
                raise
            # A build with a catalog may need no backend at all (a CI job without
            # secrets): only the images nothing else answers fail, each saying why.
            self.captioner = UnavailableCaptioner(config.backend, exc)
        except BaseException:
            if self.cache is not None:
                self.cache.close()
            raise
        self.catalog = Catalog.load(config.catalog) if config.catalog is not None else None
        self.describer = Describer(config, self.captioner, self.cache, self.catalog)

    def close(self, *, save_catalog: bool = True) -> None:
        """Save the catalog, close the cache and the backend (also after errors)."""
        try:
            if self.catalog is not None and save_catalog:
                self.catalog.save()
        finally:
            if self.cache is not None:
                self.cache.close()
            self.captioner.close()

    def __enter__(self) -> Describer:
        return self.describer

    def __exit__(self, *exc: object) -> None:
        self.close()
