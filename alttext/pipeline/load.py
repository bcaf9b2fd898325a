"""Loading the images ``fix`` fills, once per distinct reference, and the first decision.

:class:`ImageLoader` resolves and reads each image once per run (one read per distinct
file however many pages and folders name it) and remembers what each load read, for the
page memo; :func:`decide` says what an image needs before any caption: a spacer's
``alt=""``, a description (pending), or an error.
"""

from __future__ import annotations

from pathlib import Path

from alttext.config import Config
from alttext.errors import AltTextError, ImageFetchError, ImageRefused
from alttext.images.fetch import DEFAULT_CONNECT_TIMEOUT, NetworkPolicy, SlowHosts
from alttext.images.resolve import (
    LAZY_ATTRIBUTES,
    LoadedImage,
    ResolvedSource,
    SourceKind,
    check_page,
    load_image,
    load_ref,
)
from alttext.pipeline.check import image_ref
from alttext.pipeline.outcomes import ImageAt, ImageOutcome
from alttext.pipeline.remember import Read
from alttext.recent import Recent
from alttext.rules.checks import is_tiny
from alttext.scan.model import ImageElement

_PAGE_INDEPENDENT = ("/", "http:", "https:", "data:")


class ImageLoader:
    """Loads images once per distinct reference and reads each file once.

    One image on 1,000 pages is one read; so is one file referenced relatively from pages
    in many folders (distinct references, one resolved source). Only the references and
    files used most recently are remembered (:class:`~alttext.recent.Recent`): memory
    stays flat however many distinct images a site has.
    """

    def __init__(self, config: Config, site_root: Path) -> None:
        self.config = config
        self.site_root = site_root
        self.policy = NetworkPolicy(
            allow_private_hosts=config.allow_private_hosts,
            read_timeout=min(config.timeout, config.fetch_timeout),
            connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, config.fetch_timeout),
            deadline=config.fetch_timeout,
        )
        # Each reference's load, with what it read (see :attr:`last_read`): one entry, so
        # a load is never remembered without its reads.
        self._memo: Recent[tuple[object, ...], tuple[LoadedImage | AltTextError, Reads]]
        self._memo = Recent()
        self._sources: Recent[tuple[object, ...], LoadedImage | AltTextError] = Recent()
        # Each page's own verdict (``None``: inside the site root), apart from the memo of
        # loads: a load shared by many pages must not carry one page's verdict to another.
        self._pages: Recent[Path, ImageRefused | None] = Recent()
        self._reading: list[Read] = []
        # Hosts that stopped answering: their other images fail at once.
        self._slow_hosts = SlowHosts()
        #: The sources the last :meth:`load` read (or would have, when remembered):
        #: ``(kind, path under the site root, sha256)`` each; empty when it failed.
        self.last_read: tuple[Read, ...] = ()

    def load(self, image: ImageElement) -> LoadedImage:
        """Resolve and read an image, or raise its per-image error.

        Raises:
            AltTextError: the page is outside the site root, or the image could not be
                resolved, read or identified.
        """
        self._check_page(image)
        memo_key = _memo_key(image)
        if memo_key not in self._memo:
            ref = image_ref(image, self.site_root)  # resolves the page path: only when new
            self._reading = []
            try:
                loaded = load_ref(
                    ref,
                    self.policy,
                    base_url=self.config.base_url,
                    allow_remote=self.config.remote,
                    load=self._load_source,
                )
                self._memo[memo_key] = (loaded, tuple(self._reading))
            except AltTextError as exc:
                self._memo[memo_key] = (exc, ())
        found, self.last_read = self._memo[memo_key]
        if not isinstance(found, AltTextError) and found.data:
            self._memo[memo_key] = (found.without_data(), self.last_read)
        return _unwrap(found)

    def _check_page(self, image: ImageElement) -> None:
        """Refuse every image of a page outside the site root, before any memo is read."""
        if image.page not in self._pages:
            try:
                check_page(image_ref(image, self.site_root))
                self._pages[image.page] = None
            except ImageRefused as exc:
                self._pages[image.page] = exc
        refusal = self._pages[image.page]
        if refusal is not None:
            self.last_read = ()
            raise refusal

    def _load_source(self, resolved: ResolvedSource) -> LoadedImage:
        # A local file by its path, a remote image by its URL, inline data by itself.
        key = (resolved.kind, resolved.path or resolved.url or resolved.reference)
        if key not in self._sources:
            self._sources[key] = self._read_source(resolved)
        remembered = self._sources[key]
        if not isinstance(remembered, AltTextError) and remembered.data:
            self._sources[key] = remembered.without_data()
        found = _unwrap(remembered)
        self._reading.append((resolved.kind, resolved.rel_path, found.sha256))
        return found.from_attribute(resolved.attribute)

    def _read_source(self, resolved: ResolvedSource) -> LoadedImage | AltTextError:
        """Read a source now (no memo), a remote one only from a host still asked: for a
        first load, and for a reload."""
        remote = resolved.kind is SourceKind.REMOTE and self.config.remote
        url = resolved.url or ""
        if remote:
            try:
                self._slow_hosts.check(url)
            except AltTextError as exc:
                return exc  # not a fetch: the host's count stays as it is
        try:
            loaded = load_image(resolved, self.policy, allow_remote=self.config.remote)
        except AltTextError as exc:
            if remote:
                self._slow_hosts.answered(url, exc)
            return exc
        if remote:
            self._slow_hosts.answered(url, None)
        return loaded

    def _reload_source(self, resolved: ResolvedSource) -> LoadedImage:
        """Read a source again (no memo: the bytes are wanted), from a host still asked."""
        return _unwrap(self._read_source(resolved))

    def reload(self, image: ImageElement, expected_sha256: str | None = None) -> LoadedImage:
        """Load an image's bytes again (after :meth:`load` returned it without them).

        The bytes must be the ones first loaded: a caption is stored under the first
        read's hash, so other bytes (a file rewritten meanwhile, a server that answers
        each request with another picture) would be described and remembered as that
        image everywhere it appears.

        Args:
            image: the element :meth:`load` was given.
            expected_sha256: the hash the first load found. When not given, the one this
                loader remembers for the element, if any.

        Raises:
            ImageFetchError: the image changed between reads.
            AltTextError: the image can no longer be resolved, read or identified.
        """
        if expected_sha256 is None:
            key = _memo_key(image)
            first = self._memo[key][0] if key in self._memo else None
            if isinstance(first, LoadedImage):
                expected_sha256 = first.sha256
        loaded = load_ref(
            image_ref(image, self.site_root),
            self.policy,
            base_url=self.config.base_url,
            allow_remote=self.config.remote,
            load=self._reload_source,
        )
        if expected_sha256 is not None and loaded.sha256 != expected_sha256:
            raise ImageFetchError(
                f"{loaded.origin}: the image changed between reads"
                f" (sha256 {expected_sha256[:16]}... then {loaded.sha256[:16]}...)"
            )
        return loaded


def _memo_key(image: ImageElement) -> tuple[object, ...]:
    """What identifies an element's load: its references and the folder they resolve from.

    Root-relative, absolute and data: references mean the same on every page, so their
    resolution is shared across a site's folders (the page itself is checked apart, by
    :meth:`ImageLoader._check_page`).
    """
    attrs = image.attrs
    lazy = tuple((k, attrs[k]) for k in LAZY_ATTRIBUTES if k in attrs)
    src, srcset, base_href = attrs.get("src"), attrs.get("srcset"), image.base_href
    page_dir: Path | None = image.page if base_href else image.page.parent
    references = [src, srcset, *(v for _, v in lazy), *image.picture_srcsets]
    if not base_href and all(r.strip().startswith(_PAGE_INDEPENDENT) for r in references if r):
        page_dir = None
    return (page_dir, src, srcset, lazy, image.picture_srcsets, base_href)


#: What one load read: ``(kind, path under the site root, sha256)`` per source.
Reads = tuple[Read, ...]


def _unwrap(found: LoadedImage | AltTextError) -> LoadedImage:
    """A remembered load: raise its error, or return it.

    The memos keep what identifies an image, not its bytes (the callers store
    :meth:`~LoadedImage.without_data`): a rare second use that needs them reloads them.
    """
    if isinstance(found, AltTextError):
        raise found
    return found


def decide(image: ImageElement, loader: ImageLoader) -> tuple[ImageOutcome, LoadedImage | None]:
    """Decide what an image needs: a spacer alt, a description (pending), or an error."""
    at = ImageAt.of(image)
    if image.element == "img" and is_tiny(image, None):
        return ImageOutcome(at, "decorative", alt=""), None
    if image.element == "area":
        why = "an image map area needs a person to say where it leads"
        return ImageOutcome(at, "failed", error=why), None
    try:
        loaded = loader.load(image)
    except AltTextError as exc:
        return ImageOutcome(at, "failed", error=str(exc)), None
    if image.element == "img" and is_tiny(image, loaded.size):
        return ImageOutcome(at, "decorative", alt="", content_hash=loaded.sha256), None
    # Only a pending outcome comes with the loaded image: it still needs describing.
    return ImageOutcome(at, "pending", content_hash=loaded.sha256), loaded
