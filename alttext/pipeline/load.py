"""Loading the images ``fix`` fills, once per distinct reference, and the first decision.

:class:`ImageLoader` resolves and reads each image once per run (one read per distinct
file however many pages and folders name it) and remembers what each load read, for the
page memo; :func:`decide` says what an image needs before any caption: a spacer's
``alt=""``, a description (pending), or an error.
"""

from __future__ import annotations

from pathlib import Path

from alttext.config import Config
from alttext.errors import AltTextError
from alttext.images.fetch import NetworkPolicy
from alttext.images.resolve import (
    LAZY_ATTRIBUTES,
    LoadedImage,
    ResolvedSource,
    load_image,
    load_ref,
)
from alttext.pipeline.check import image_ref
from alttext.pipeline.outcomes import ImageAt, ImageOutcome
from alttext.pipeline.remember import Read
from alttext.rules.checks import is_tiny
from alttext.scan.model import ImageElement

_PAGE_INDEPENDENT = ("/", "http:", "https:", "data:")


class ImageLoader:
    """Loads images once per distinct reference and reads each file once.

    One image on 1,000 pages is one read; so is one file referenced relatively from pages
    in many folders (distinct references, one resolved source).
    """

    def __init__(self, config: Config, site_root: Path) -> None:
        self.config = config
        self.site_root = site_root
        self.policy = NetworkPolicy(
            allow_private_hosts=config.allow_private_hosts, read_timeout=config.timeout
        )
        self._memo: dict[tuple[object, ...], LoadedImage | AltTextError] = {}
        self._sources: dict[tuple[object, ...], LoadedImage | AltTextError] = {}
        # What each load read, by memo key (see :attr:`last_read`).
        self._read: dict[tuple[object, ...], tuple[Read, ...]] = {}
        self._reading: list[Read] = []
        #: The sources the last :meth:`load` read (or would have, when remembered):
        #: ``(kind, path under the site root, sha256)`` each; empty when it failed.
        self.last_read: tuple[Read, ...] = ()

    def load(self, image: ImageElement) -> LoadedImage:
        attrs = image.attrs
        lazy = tuple((k, attrs[k]) for k in LAZY_ATTRIBUTES if k in attrs)
        src, srcset, base_href = attrs.get("src"), attrs.get("srcset"), image.base_href
        # Root-relative, absolute and data: references mean the same on every page, so
        # their resolution is shared across a site's folders.
        page_dir: Path | None = image.page if base_href else image.page.parent
        references = [src, srcset, *(v for _, v in lazy), *image.picture_srcsets]
        if not base_href and all(r.strip().startswith(_PAGE_INDEPENDENT) for r in references if r):
            page_dir = None
        memo_key = (page_dir, src, srcset, lazy, image.picture_srcsets, base_href)
        if memo_key not in self._memo:
            ref = image_ref(image, self.site_root)  # resolves the page path: only when new
            self._reading = []
            try:
                self._memo[memo_key] = load_ref(
                    ref,
                    self.policy,
                    base_url=self.config.base_url,
                    allow_remote=self.config.remote,
                    load=self._load_source,
                )
                self._read[memo_key] = tuple(self._reading)
            except AltTextError as exc:
                self._memo[memo_key] = exc
        self.last_read = self._read.get(memo_key, ())
        return _unwrap(self._memo, memo_key)

    def _load_source(self, resolved: ResolvedSource) -> LoadedImage:
        # A local file by its path, a remote image by its URL, inline data by itself.
        key = (resolved.kind, resolved.path or resolved.url or resolved.reference)
        if key not in self._sources:
            try:
                self._sources[key] = load_image(
                    resolved, self.policy, allow_remote=self.config.remote
                )
            except AltTextError as exc:
                self._sources[key] = exc
        found = _unwrap(self._sources, key)
        self._reading.append((resolved.kind, resolved.rel_path, found.sha256))
        return found.from_attribute(resolved.attribute)

    def reload(self, image: ImageElement) -> LoadedImage:
        """Load an image's bytes again (after :meth:`load` returned it without them)."""
        return load_ref(
            image_ref(image, self.site_root),
            self.policy,
            base_url=self.config.base_url,
            allow_remote=self.config.remote,
        )


def _unwrap(
    memo: dict[tuple[object, ...], LoadedImage | AltTextError], key: tuple[object, ...]
) -> LoadedImage:
    """A remembered load: raise its error, or return it (and forget its bytes)."""
    found = memo[key]
    if isinstance(found, AltTextError):
        raise found
    if found.data:
        # Keep what identifies the image, not its bytes: memory stays flat however many
        # images a site has. A rare second use that needs the bytes reloads them.
        memo[key] = found.without_data()
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
