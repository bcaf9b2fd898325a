"""Catalog maintenance behind ``alttext catalog``: which images a site still uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alttext.config import Config
from alttext.errors import AltTextError, ConfigError, ImageRefused
from alttext.images.fetch import NetworkPolicy
from alttext.images.resolve import (
    LoadedImage,
    ResolvedSource,
    SourceKind,
    load_image,
    load_ref,
)
from alttext.pipeline.check import image_ref, iter_pages, scan_root
from alttext.store.catalog import Catalog, CatalogEntry, content_hash_of


@dataclass(frozen=True, slots=True)
class Unread:
    """An image reference (or a whole page) whose image could not be identified."""

    page: str
    #: The reference as written; ``None`` when the page itself could not be scanned.
    src: str | None
    reason: str


@dataclass(slots=True)
class UsedImages:
    """What the pages under some paths show, as far as it can be read without network."""

    hashes: set[str] = field(default_factory=set)
    pages: int = 0
    #: References whose image is unknown: remote (never fetched here), missing, broken.
    #: A catalog entry for one of them looks unused.
    unread: list[Unread] = field(default_factory=list)


def used_images(paths: Iterable[Path], config: Config) -> UsedImages:
    """sha256 of every image the pages under ``paths`` show, found the way ``fix`` finds
    them (``base_url``, lazy-load placeholders) but without network."""
    paths = list(paths)
    root = scan_root(paths, config.site_root)
    site_root = config.site_root or root
    policy = NetworkPolicy()
    sources: dict[tuple[SourceKind, str], LoadedImage | AltTextError] = {}

    def load(resolved: ResolvedSource) -> LoadedImage:
        # A file shown on many pages is read once.
        key = (resolved.kind, str(resolved.path or resolved.url or resolved.reference))
        if key not in sources:
            if resolved.kind is SourceKind.REMOTE:
                sources[key] = ImageRefused("a remote image (prune does not fetch)")
            else:
                try:
                    sources[key] = load_image(resolved, policy, allow_remote=False)
                except AltTextError as exc:
                    sources[key] = exc
        found = sources[key]
        if isinstance(found, AltTextError):
            raise found
        return found

    used = UsedImages()
    for page in iter_pages(paths, config, root):
        used.pages += 1
        if page.error is not None:
            used.unread.append(Unread(page.rel_path, None, page.error))
            continue
        for image in page.images:
            ref = image_ref(image, site_root)
            references = (ref.src, ref.srcset, *ref.lazy.values(), *ref.picture_srcsets)
            if not any(r and r.strip() for r in references):
                continue  # nothing to show: no image, so no entry either
            try:
                loaded = load_ref(ref, policy, base_url=config.base_url, load=load)
            except AltTextError as exc:
                shown = ref.src or ref.srcset or next(iter(ref.lazy.values()), None)
                used.unread.append(Unread(page.rel_path, shown or "?", str(exc)))
                continue
            used.hashes.add(loaded.sha256)
    return used


@dataclass(slots=True)
class PruneReport:
    """What ``prune_catalog`` removed (or would remove) and what it kept, and why."""

    removed: list[tuple[str, CatalogEntry]]
    #: Reviewed entries no page uses, kept because ``include_reviewed`` was not given.
    kept_reviewed: list[str]
    kept: int
    used: UsedImages


def prune_catalog(
    catalog_file: Path,
    paths: Iterable[Path],
    config: Config,
    *,
    include_reviewed: bool = False,
    dry_run: bool = False,
) -> PruneReport:
    """Remove the entries of ``catalog_file`` for images no page under ``paths`` shows.

    Reviewed entries stay unless ``include_reviewed``. ``dry_run`` changes nothing.

    Raises:
        ConfigError: the catalog is invalid, no HTML page was found under ``paths``
            (a wrong path would otherwise make every entry look unused), or a page
            could not be read (its images would look unused).
    """
    paths = list(paths)
    store = Catalog.load(catalog_file)  # before the scan: a broken catalog fails fast
    used = used_images(paths, config)
    if used.pages == 0:
        where = ", ".join(str(p) for p in paths)
        raise ConfigError(
            f"no HTML page found under {where}: refusing to prune {catalog_file}"
            " (every entry would look unused); give the built site's directory"
        )
    unread_pages = [item.page for item in used.unread if item.src is None]
    if unread_pages:
        # Which images such a page shows is unknown: any entry could be one of them.
        raise ConfigError(
            f"{len(unread_pages)} page(s) could not be read (first: {unread_pages[0]}):"
            f" refusing to prune {catalog_file}, since their images would look unused;"
            " fix or --exclude them"
        )
    before = dict(store.entries)
    unused = [
        key for key, entry in store if entry.reviewed and content_hash_of(key) not in used.hashes
    ]
    kept_reviewed = [] if include_reviewed else unused
    dropped = store.prune(used.hashes, include_reviewed=include_reviewed)
    if not dry_run:
        store.save()
        # The file wins over this run for an entry edited meanwhile: it was not removed.
        dropped = [key for key in dropped if key not in store.entries]
    return PruneReport(
        removed=[(key, before[key]) for key in dropped],
        kept_reviewed=kept_reviewed,
        kept=len(store),
        used=used,
    )
