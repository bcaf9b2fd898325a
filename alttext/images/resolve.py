"""Turn an image reference on a page into bytes, safely.

The scanner hands over plain strings (:class:`ImageRef`); :func:`load_ref` is the one call
per image the fix pipeline makes. It works in two steps that can also be called alone:

1. :func:`resolve_source` picks the reference to use and decides what it names:

   - which reference: when ``src`` is a placeholder (missing, empty or a ``data:`` URI),
     the first of ``data-src``, ``data-lazy-src``, ``data-original``, ``data-srcset`` wins.
     Otherwise the candidates of the ``<picture>`` sources, the ``srcset`` and ``src``
     (as the 1x candidate, as the HTML standard adds it) are pooled and
     :func:`alttext.images.srcset.best` picks one. A ``data:`` ``src`` is used only when
     nothing else is there (then it is a real inline image).
   - what it names: references are resolved as a browser would (against ``<base href>``,
     then the page's own URL). A reference on the site itself (relative, root-relative,
     or an absolute URL under ``base_url``) names a file under ``site_root``; any other
     http(s) URL is remote; ``data:`` is inline. ``file:`` URLs and Windows drive paths are
     refused; a root-relative path is always read against ``site_root``, so ``/etc/passwd``
     names ``<site_root>/etc/passwd``, never the system file.
   - escapes: percent-decoding happens *before* dot segments are removed (``%2e%2e`` and
     ``..%2f`` count as ``..``), and a ``..`` that climbs above the site's root is
     refused rather than clamped at the root as a browser would: on a built site it is a
     bug at best and a probe at worst.

2. :func:`load_image` reads the bytes under the size cap (local files after a realpath
   check that refuses symlinks leaving the site root; remote URLs through
   :func:`alttext.images.fetch.fetch` unless remote fetching is off), then identifies them
   with :func:`alttext.images.probe.probe`.

Finally :func:`load_ref` applies the last lazy-load rule: when the chosen image turns out
to be at most 2 px in a dimension (a placeholder pixel) and the element has a lazy-load
attribute, the lazy-load image is loaded instead.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from io import FileIO
from pathlib import Path
from urllib.parse import quote, unquote, unquote_to_bytes, urljoin, urlsplit, urlunsplit

from alttext.errors import ConfigError, ImageError, ImageFetchError, ImageRefused
from alttext.images.fetch import NetworkPolicy, fetch
from alttext.images.probe import probe
from alttext.images.srcset import Candidate, best, has_candidates, parse_srcset
from alttext.records import compact_pickle

__all__ = [
    "LAZY_ATTRIBUTES",
    "PLACEHOLDER_MAX_PX",
    "ImageRef",
    "LoadedImage",
    "ResolvedSource",
    "SourceKind",
    "check_page",
    "load_image",
    "load_ref",
    "read_site_file",
    "resolve_source",
]

LAZY_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "data-srcset")
"""Lazy-load attributes, in the order they are tried."""

PLACEHOLDER_MAX_PX = 2
"""An image this small in either dimension is a spacer or a lazy-load placeholder."""

# Stands in for the site's origin when no base_url is configured; ``.invalid`` never resolves.
_LOCAL_ORIGIN = "https://site.alttext.invalid/"
_URL_NOISE = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL
_DRIVE = re.compile(r"[A-Za-z]:[/\\]")


class SourceKind(StrEnum):
    """What a resolved reference names."""

    LOCAL = "local"
    REMOTE = "remote"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image reference as found on a page: plain strings, no HTML objects.

    Attributes:
        page_path: the HTML file the reference is on (absolute, or relative to site_root).
        site_root: the built site's root directory.
        src: the ``src`` attribute (or ``data``/``href`` for other image elements).
        srcset: the element's ``srcset``.
        lazy: lazy-load attributes by name (``data-src`` ...); other keys are ignored.
        picture_srcsets: the ``srcset`` of each ``<source>`` of an enclosing ``<picture>``.
        base_href: the page's ``<base href>``, when it has one.
    """

    page_path: Path
    site_root: Path
    src: str | None = None
    srcset: str | None = None
    lazy: Mapping[str, str] = field(default_factory=dict)
    picture_srcsets: tuple[str, ...] = ()
    base_href: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """The reference chosen for an image and what it names.

    Attributes:
        kind: local file, remote URL or inline data.
        attribute: where the reference came from (``src``, ``srcset``, ``picture``,
            ``data-src`` ...).
        reference: the chosen reference exactly as written on the page.
        url: the absolute URL: the remote URL, or the file's public URL when ``base_url`` is
            known; ``None`` for inline data and for local files without a ``base_url``.
        path: for a local file, the file under ``site_root`` (not yet realpath-checked).
        rel_path: for a local file, its POSIX path relative to ``site_root``.
        site_root: the site root the file must stay in.
    """

    kind: SourceKind
    attribute: str
    reference: str
    url: str | None
    path: Path | None
    rel_path: str | None
    site_root: Path


@compact_pickle
@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image's bytes and what they are.

    Attributes:
        data: the file's bytes.
        mime: the media type from the magic bytes.
        sha256: hex digest of ``data``: the cache key.
        origin: the path relative to the site root, the URL, or ``data:<type>``.
        public_url: where the image is published, when known.
        size: ``(width, height)`` from the header, ``None`` when the format states none.
        attribute: the attribute the reference came from.
    """

    data: bytes = field(repr=False)
    mime: str
    sha256: str
    origin: str
    public_url: str | None
    size: tuple[int, int] | None
    attribute: str = "src"

    def without_data(self) -> LoadedImage:
        """The same image without its bytes (what identifies it, for memos and records)."""
        # Positional construction: dataclasses.replace costs several times as much, and
        # a warm run strips the bytes of every image it loads.
        return LoadedImage(
            b"", self.mime, self.sha256, self.origin, self.public_url, self.size, self.attribute
        )

    def from_attribute(self, attribute: str) -> LoadedImage:
        """The same image as named by another attribute (``src``, ``srcset``...)."""
        if attribute == self.attribute:
            return self
        return LoadedImage(
            self.data, self.mime, self.sha256, self.origin, self.public_url, self.size, attribute
        )


def load_ref(
    ref: ImageRef,
    policy: NetworkPolicy,
    *,
    base_url: str | None = None,
    allow_remote: bool = True,
    load: Callable[[ResolvedSource], LoadedImage] | None = None,
) -> LoadedImage:
    """Resolve and load one image, applying every lazy-load rule.

    Args:
        ref: the reference as scanned.
        policy: limits for remote fetches; its ``max_bytes`` caps every source.
        base_url: the site's public URL (``https://docs.example.com/``); URLs under it are
            read from ``site_root``.
        allow_remote: fetch other http(s) URLs (``--no-remote`` turns this off).
        load: reads a resolved source (default: :func:`load_image` with ``policy`` and
            ``allow_remote``); a caller loading many pages passes one that remembers
            what it read, so a file referenced from many pages is read once.

    Returns:
        The loaded image.

    Raises:
        ImageRefused: a safety rule refused the image.
        ImageFetchError: the image could not be found, fetched or identified.
        ConfigError: ``base_url`` is not an absolute http(s) URL.
    """
    if load is None:
        load = functools.partial(load_image, policy=policy, allow_remote=allow_remote)
    resolved = resolve_source(ref, base_url=base_url)
    image = load(resolved)
    if (
        image.size is not None
        and min(image.size) <= PLACEHOLDER_MAX_PX
        and resolved.attribute not in LAZY_ATTRIBUTES
        and _lazy_choice(ref) is not None
    ):
        return load(resolve_source(ref, base_url=base_url, prefer_lazy=True))
    return image


def resolve_source(
    ref: ImageRef, *, base_url: str | None = None, prefer_lazy: bool = False
) -> ResolvedSource:
    """Choose the reference to caption and resolve it (no I/O).

    Args:
        ref: the reference as scanned.
        base_url: the site's public URL, if known.
        prefer_lazy: use the lazy-load attribute even though ``src`` looks real (the
            caller found ``src`` to be a placeholder pixel).

    Returns:
        The resolved source.

    Raises:
        ImageRefused: a ``file:`` URL, a drive path, or a path escaping the site root.
        ImageFetchError: no usable reference, or an unsupported URL scheme.
        ConfigError: ``base_url`` is not an absolute http(s) URL.
    """
    choice = _choose(ref, prefer_lazy=prefer_lazy)
    if choice is None:
        written = [ref.srcset or "", *ref.picture_srcsets, ref.lazy.get("data-srcset") or ""]
        invalid = next((v for v in written if has_candidates(v)), None)
        if invalid is not None:
            raise ImageFetchError(f"srcset has no valid candidate: {invalid.strip()[:200]!r}")
        raise ImageFetchError("no image source: no src, srcset or lazy-load attribute")
    attribute, reference = choice
    return _resolve(reference, attribute, ref, _site(base_url))


def check_page(ref: ImageRef) -> None:
    """Refuse a page outside the site root, whatever its references are.

    :func:`resolve_source` does this as it resolves a reference against the page; a
    caller that shares one resolution among many pages (a root-relative ``/logo.png``
    means the same everywhere) calls this for each page, so a page's verdict does not
    depend on which page was seen first.

    Raises:
        ImageRefused: the page is not under ``ref.site_root``.
    """
    _page_location(ref, _site(None))


def load_image(
    resolved: ResolvedSource, policy: NetworkPolicy, *, allow_remote: bool
) -> LoadedImage:
    """Read the bytes a resolved source names and identify them.

    Args:
        resolved: from :func:`resolve_source`.
        policy: remote fetch limits; ``max_bytes`` applies to every kind of source.
        allow_remote: whether remote URLs may be fetched.

    Returns:
        The loaded image.

    Raises:
        ImageRefused: symlink escape, size cap, remote fetching off, private host, bomb.
        ImageFetchError: missing file, network or HTTP failure, not an image, corrupt.
    """
    public_url = resolved.url
    if resolved.kind is SourceKind.DATA:
        origin = _data_origin(resolved.reference)
        data = _decode_data_uri(resolved.reference, policy.max_bytes)
    elif resolved.kind is SourceKind.LOCAL:
        assert resolved.path is not None and resolved.rel_path is not None
        origin = resolved.rel_path
        data = _read_local(resolved.path, resolved.site_root, origin, policy.max_bytes)
    else:
        assert resolved.url is not None
        origin = resolved.url
        if not allow_remote:
            raise ImageRefused(f"{origin}: remote image not fetched (remote fetching is off)")
        fetched = fetch(resolved.url, policy)
        data, public_url = fetched.data, fetched.url
    try:
        info = probe(data)
    except ImageError as exc:
        raise type(exc)(f"{origin}: {exc}") from exc
    return LoadedImage(
        data=data,
        mime=info.mime,
        sha256=hashlib.sha256(data).hexdigest(),
        origin=origin,
        public_url=public_url,
        size=info.size,
        attribute=resolved.attribute,
    )


# --- choosing the reference -------------------------------------------------------------


def _choose(ref: ImageRef, *, prefer_lazy: bool) -> tuple[str, str] | None:
    """The (attribute, reference) to use, by the rules in the module docstring."""
    src = (ref.src or "").strip()
    placeholder = not src or _is_data(src)
    lazy = _lazy_choice(ref)
    if lazy is not None and (prefer_lazy or placeholder):
        return lazy
    pool: list[tuple[str, Candidate]] = [
        ("picture", candidate) for value in ref.picture_srcsets for candidate in parse_srcset(value)
    ]
    own = parse_srcset(ref.srcset or "")
    pool.extend(("srcset", candidate) for candidate in own)
    # The standard adds src as the 1x candidate unless srcset already has 1x or widths.
    if not placeholder and not any(c.width is not None or c.density == 1.0 for c in own):
        pool.append(("src", Candidate(url=src, density=1.0)))
    chosen = best(candidate for _, candidate in pool)
    if chosen is not None:
        return next(attribute for attribute, c in pool if c is chosen), chosen.url
    return ("src", src) if src else None


def _lazy_choice(ref: ImageRef) -> tuple[str, str] | None:
    """The first non-empty lazy-load attribute, a ``data-srcset`` reduced to its best URL."""
    for name in LAZY_ATTRIBUTES:
        value = (ref.lazy.get(name) or "").strip()
        if not value:
            continue
        if name == "data-srcset":
            chosen = best(parse_srcset(value))
            if chosen is None:
                continue
            value = chosen.url
        return name, value
    return None


def _is_data(reference: str) -> bool:
    return reference[:5].lower() == "data:"


# --- resolving it -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Site:
    """The site's origin and path prefix (``base_url``, or a stand-in when there is none)."""

    origin: str
    host: str
    port: int
    prefix: tuple[str, ...]  # decoded path segments of base_url's path

    @classmethod
    def parse(cls, base_url: str | None) -> _Site:
        url = base_url or _LOCAL_ORIGIN
        try:
            parts = urlsplit(url)
            port = parts.port or _default_port(parts.scheme)
        except ValueError as exc:
            raise ConfigError(f"invalid base URL {url!r}: {exc}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"base URL must be an absolute http(s) URL, got {url!r}")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        origin = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        return cls(origin, parts.hostname, port, tuple(_normalize(_segments(path), url)))

    def owns(self, url: str) -> bool:
        """Whether an absolute http(s) URL is on this site's host (either scheme)."""
        parts = urlsplit(url)
        try:
            port = parts.port or _default_port(parts.scheme)
        except ValueError:
            return False
        if parts.hostname != self.host:
            return False
        # http and https of the same host are the same site; an explicit odd port is not.
        return port == self.port or {port, self.port} == {80, 443}


@dataclass(frozen=True, slots=True)
class _Location:
    """A resolved URL plus its merged path *before* dot-segment removal.

    ``urljoin`` clamps ``..`` at the root as browsers do; ``raw_path`` keeps the
    un-normalized path so an escape above the root can be seen and refused.
    """

    url: str
    raw_path: str

    def join(self, reference: str) -> _Location:
        parts = urlsplit(reference)
        if parts.scheme or parts.netloc:
            raw = parts.path or "/"
        elif not parts.path:
            raw = self.raw_path
        elif parts.path.startswith("/"):
            raw = parts.path
        else:
            raw = self.raw_path[: self.raw_path.rfind("/") + 1] + parts.path
        return _Location(urljoin(self.url, reference), raw)


def _resolve(reference: str, attribute: str, ref: ImageRef, site: _Site) -> ResolvedSource:
    """Resolve one reference in the context of its page."""
    if _is_data(reference):
        return ResolvedSource(
            SourceKind.DATA, attribute, reference, None, None, None, ref.site_root
        )
    cleaned = _clean(reference)
    location = _page_location(ref, site)
    if not ref.base_href and (raw := _plain_path(cleaned, location)) is not None:
        local = _local(reference, attribute, ref, site, raw)
        if local is not None:
            return local
    try:
        _check_scheme(cleaned, reference)
        base = _clean(ref.base_href or "")
        if base and urlsplit(base).scheme.lower() in ("", "http", "https"):
            location = location.join(base)
        location = location.join(cleaned)
        url = urlunsplit(urlsplit(location.url)._replace(fragment=""))
    except ValueError as exc:  # urllib's answer to e.g. an unclosed IPv6 bracket
        raise ImageFetchError(f"malformed URL {reference[:200]!r}: {exc}") from exc
    local = _local(reference, attribute, ref, site, location.raw_path) if site.owns(url) else None
    if local is None:
        # Another host, or the same host outside the part of it this build publishes.
        return ResolvedSource(
            SourceKind.REMOTE, attribute, reference, url, None, None, ref.site_root
        )
    return local


# A path with no scheme, authority, query, fragment or escapes: what most pages reference.
_PLAIN = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=@/-]+")


def _plain_path(cleaned: str, location: _Location) -> str | None:
    """The merged raw path of a plain relative or root-relative reference, else ``None``.

    The same as ``location.join(cleaned).raw_path`` for such a reference, which always
    stays on the page's own site; without the URL machinery (most of the cost of
    resolving on a large site).
    """
    if not _PLAIN.fullmatch(cleaned) or cleaned.startswith("//"):
        return None
    if cleaned.startswith("/"):
        return cleaned
    return location.raw_path[: location.raw_path.rfind("/") + 1] + cleaned


def _local(
    reference: str, attribute: str, ref: ImageRef, site: _Site, raw_path: str
) -> ResolvedSource | None:
    """The file under ``site_root`` a path on the site's host names, or ``None`` when the
    path is outside the part of the host this build publishes."""
    segments = _normalize(_segments(raw_path), reference)
    if tuple(segments[: len(site.prefix)]) != site.prefix:
        return None
    rel = segments[len(site.prefix) :]
    if not rel or raw_path.endswith("/"):
        raise ImageFetchError(f"{reference!r} names a directory, not an image file")
    rel_path = "/".join(rel)
    public = site.origin + quote(rel_path) if site.origin != _LOCAL_ORIGIN else None
    return ResolvedSource(
        SourceKind.LOCAL,
        attribute,
        reference,
        public,
        ref.site_root.joinpath(*rel),
        rel_path,
        ref.site_root,
    )


def _clean(reference: str) -> str:
    """Strip what browsers strip, and read backslashes as slashes as they do."""
    return _URL_NOISE.sub("", reference.strip(" \t\n\f\r")).replace("\\", "/")


def _check_scheme(cleaned: str, reference: str) -> None:
    if _DRIVE.match(cleaned):
        raise ImageRefused(f"absolute filesystem path refused: {reference!r}")
    scheme = urlsplit(cleaned).scheme.lower()
    if scheme == "file":
        raise ImageRefused(f"file: URLs are refused: {reference!r}")
    if scheme not in ("", "http", "https"):
        raise ImageFetchError(f"unsupported URL scheme {scheme!r}: {reference[:200]!r}")


@functools.lru_cache(maxsize=16)
def _site(base_url: str | None) -> _Site:
    # One base URL serves every image of a run: parse it once.
    return _Site.parse(base_url)


def _page_location(ref: ImageRef, site: _Site) -> _Location:
    """The page's own URL on the site."""
    return _page_location_of(ref.site_root, ref.page_path, site)


@functools.lru_cache(maxsize=256)
def _page_location_of(site_root: Path, page_path: Path, site: _Site) -> _Location:
    # A page's images share its location: compute it once per page.
    root = os.path.abspath(site_root)
    page = os.path.abspath(os.path.join(root, page_path))
    if not _inside(page, root):
        raise ImageRefused(f"page {str(page_path)!r} is outside the site root")
    rel_page = page[len(root.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
    url = site.origin + quote(rel_page)
    return _Location(url, urlsplit(url).path)


def _segments(raw_path: str) -> list[str]:
    """Percent-decoded path segments, decoding *before* dot handling (see module doc)."""
    decoded = unquote(raw_path, errors="surrogateescape").replace("\\", "/")
    return decoded.split("/")


def _normalize(segments: list[str], reference: str) -> list[str]:
    """Remove ``.``/``..``/empty segments; refuse a climb above the root or a NUL byte."""
    out: list[str] = []
    for segment in segments:
        if "\x00" in segment:
            raise ImageRefused(f"NUL byte in image path: {reference!r}")
        if segment in ("", "."):
            continue
        if segment == "..":
            if not out:
                raise ImageRefused(f"path escapes the site root: {reference!r}")
            out.pop()
        else:
            out.append(segment)
    return out


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# --- reading bytes ----------------------------------------------------------------------


def _real_root(site_root: Path) -> str:
    # One site root serves thousands of images: resolve its symlinks once per run. Keyed
    # by the absolute path: a relative root names another folder in another directory.
    if site_root.is_absolute():
        return _real_path(os.fspath(site_root))
    return _real_path(os.path.join(os.getcwd(), site_root))


@functools.lru_cache(maxsize=64)
def _real_path(absolute: str) -> str:
    return os.path.realpath(absolute)


def forget_site_paths() -> None:
    """Drop the site roots and page locations worked out so far: a new run works them
    out afresh (a root may be a symlink now, or a relative one mean another folder)."""
    _real_path.cache_clear()
    _page_location_of.cache_clear()


def _realpath_under(path: Path, site_root: Path, real_root: str) -> str:
    """``os.path.realpath(path)``, checking only the components below the site root.

    The root's own realpath is known; a full realpath would lstat every component above
    it again for every image. Any symlink (or odd segment) below the root gets the full
    treatment.
    """
    full, base = os.fspath(path), os.fspath(site_root)
    if not full.startswith(base + os.sep):
        return os.path.realpath(path)
    current = real_root
    for part in full[len(base) + 1 :].split(os.sep):
        current = os.path.join(current, part)
        if part in ("", ".", "..") or os.path.islink(current):
            return os.path.realpath(path)
    return current


def _inside(real: str, real_root: str) -> bool:
    """Whether the normalised absolute path ``real`` is ``real_root`` or below it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _read_local(path: Path, site_root: Path, origin: str, max_bytes: int) -> bytes:
    """Read a file that must really be inside ``site_root`` (symlinks resolved)."""
    root = _real_root(site_root)
    real = _realpath_under(path, site_root, root)
    if not _inside(real, root):
        raise ImageRefused(f"{origin}: resolves outside the site root (symlink)")
    try:
        info = os.stat(real)
        # A FIFO or device would block or never end; only regular files are images.
        if not stat.S_ISREG(info.st_mode):
            raise ImageFetchError(f"{origin}: not a regular file")
        if info.st_size > max_bytes:
            raise ImageRefused(f"{origin}: {info.st_size} bytes, over the {max_bytes} byte limit")
        with open(real, "rb", buffering=0) as handle:
            data = _read_at_most(handle, info.st_size, max_bytes)
    except FileNotFoundError as exc:
        raise ImageFetchError(f"{origin}: file not found") from exc
    except OSError as exc:
        raise ImageFetchError(f"{origin}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # the file grew after stat
        raise ImageRefused(f"{origin}: over the {max_bytes} byte limit")
    return data


def read_site_file(site_root: Path, rel_path: str, max_bytes: int) -> bytes:
    """The bytes of the file at ``rel_path`` (``/``-separated) under ``site_root``.

    With the checks of a first read: no segment may climb or be empty, and the file must
    really be inside the site root (symlinks resolved), a regular file, under the limit.

    Raises:
        ImageRefused: an escaping path or symlink, or a file over ``max_bytes``.
        ImageFetchError: a missing, unreadable or irregular file.
    """
    segments = rel_path.split("/")
    if any(s in ("", ".", "..") or "\x00" in s for s in segments) or _DRIVE.match(rel_path):
        raise ImageRefused(f"{rel_path!r}: not a plain path under the site root")
    return _read_local(site_root.joinpath(*segments), site_root, rel_path, max_bytes)


def _read_at_most(handle: FileIO, expected: int, max_bytes: int) -> bytes:
    """The file's bytes, reading at most ``max_bytes + 1`` (more means over the limit).

    Reads by the size ``stat`` gave (plus one byte, to see a file that grew): a single
    ``read(max_bytes + 1)`` allocates the whole limit up front, which costs more than the
    read itself for the small images most pages have.
    """
    parts: list[bytes] = []
    total = 0
    want = expected + 1
    while total <= max_bytes:
        chunk = handle.read(min(want, max_bytes + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        want = max(want, 1 << 16)  # it grew: go on in larger steps
    return b"".join(parts)


def _data_origin(uri: str) -> str:
    """``data:<media type>`` for reports, without the payload."""
    return uri.partition(",")[0][:100]


def _decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """Decode a ``data:`` URI (base64 or percent-encoded) under the size cap."""
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise ImageFetchError("malformed data: URI (no comma)")
    is_base64 = header.strip().lower().endswith(";base64")
    # Decoded data is at most the payload's length (3/4 of it for base64): check first.
    estimate = len(payload) * 3 // 4 if is_base64 else len(payload)
    if estimate > max_bytes:
        raise ImageRefused(f"data: URI of ~{estimate} bytes is over the {max_bytes} byte limit")
    raw = unquote_to_bytes(payload)
    if not is_base64:
        return raw
    compact = re.sub(rb"[\t\n\f\r ]", b"", raw)
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise ImageFetchError(f"invalid base64 in data: URI: {exc}") from exc
