"""Catalog maintenance behind ``alttext catalog``: which images a site still uses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alttext.config import Config
from alttext.errors import AltTextError
from alttext.images.fetch import NetworkPolicy
from alttext.images.resolve import SourceKind, load_image, resolve_source
from alttext.pipeline.check import image_ref, iter_pages, scan_root


def used_hashes(paths: Iterable[Path], config: Config) -> set[str]:
    """sha256 of every local image the pages under ``paths`` reference (no network)."""
    paths = list(paths)
    root = scan_root(paths, config.site_root)
    site_root = config.site_root or root
    policy = NetworkPolicy()
    seen: dict[Path, str] = {}
    hashes: set[str] = set()
    for page in iter_pages(paths, config, root):
        for image in page.images:
            try:
                resolved = resolve_source(image_ref(image, site_root))
            except AltTextError:
                continue
            if resolved.kind is SourceKind.REMOTE:
                continue
            if resolved.path is not None and resolved.path in seen:
                hashes.add(seen[resolved.path])
                continue
            try:
                digest = load_image(resolved, policy, allow_remote=False).sha256
            except AltTextError:
                continue
            if resolved.path is not None:
                seen[resolved.path] = digest
            hashes.add(digest)
    return hashes
