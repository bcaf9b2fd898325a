"""Resolving image references on a page to files, URLs or inline data, and loading them."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from images_support import png_bytes

from alttext.errors import ConfigError, ImageFetchError, ImageRefused
from alttext.images.fetch import NetworkPolicy
from alttext.images.resolve import (
    ImageRef,
    SourceKind,
    load_image,
    load_ref,
    resolve_source,
)

POLICY = NetworkPolicy()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small built site: pages at two depths and images of distinct sizes."""
    root = tmp_path / "site"
    for rel, size in {
        "static/logo.png": (40, 30),
        "guide/img/diagram.png": (64, 48),
        "guide/img/my image.png": (11, 9),
        "static/pixel.png": (1, 1),
        "static/real.png": (200, 100),
        "static/s.png": (300, 150),
        "static/l.png": (1200, 600),
        "etc/passwd": (5, 5),
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(size))
    (root / "index.html").write_text("<p>home</p>")
    (root / "guide" / "page.html").write_text("<p>guide</p>")
    (root / "notes.txt").write_text("just text, not an image")
    return root


def ref(site: Path, page: str = "index.html", **kwargs: Any) -> ImageRef:
    return ImageRef(page_path=site / page, site_root=site, **kwargs)


def local(site: Path, src: str, page: str = "index.html", **kwargs: Any) -> str | None:
    """The site-relative path a reference resolves to (asserting it is local)."""
    resolved = resolve_source(ref(site, page, src=src), **kwargs)
    assert resolved.kind is SourceKind.LOCAL
    return resolved.rel_path


# --- where references point -------------------------------------------------------------


def test_page_relative(site: Path) -> None:
    assert local(site, "img/diagram.png", page="guide/page.html") == "guide/img/diagram.png"
    assert local(site, "./img/./diagram.png", page="guide/page.html") == "guide/img/diagram.png"
    assert local(site, "../static/logo.png", page="guide/page.html") == "static/logo.png"


def test_page_path_may_be_relative_to_the_site_root(site: Path) -> None:
    resolved = resolve_source(
        ImageRef(page_path=Path("guide/page.html"), site_root=site, src="img/diagram.png")
    )
    assert resolved.path == site / "guide" / "img" / "diagram.png"


def test_root_relative(site: Path) -> None:
    assert local(site, "/static/logo.png", page="guide/page.html") == "static/logo.png"


def test_percent_decoding_and_query_fragment_stripped(site: Path) -> None:
    assert local(site, "img/my%20image.png?v=3#top", page="guide/page.html") == (
        "guide/img/my image.png"
    )
    image = load_ref(ref(site, "guide/page.html", src="img/my%20image.png?v=3"), POLICY)
    assert image.size == (11, 9)


def test_relative_base_href(site: Path) -> None:
    resolved = resolve_source(ref(site, "guide/page.html", src="logo.png", base_href="/static/"))
    assert resolved.rel_path == "static/logo.png"


def test_absolute_base_href_makes_relative_refs_remote(site: Path) -> None:
    resolved = resolve_source(ref(site, src="a.png", base_href="https://cdn.example/imgs/"))
    assert (resolved.kind, resolved.url) == (SourceKind.REMOTE, "https://cdn.example/imgs/a.png")


def test_absolute_url_is_remote_without_fragment(site: Path) -> None:
    resolved = resolve_source(ref(site, src="https://cdn.example/a.png?w=2#frag"))
    assert (resolved.kind, resolved.url) == (SourceKind.REMOTE, "https://cdn.example/a.png?w=2")
    resolved = resolve_source(ref(site, src="//cdn.example/b.png"))
    assert resolved.url == "https://cdn.example/b.png"


def test_base_url_maps_own_urls_to_local_files(site: Path) -> None:
    base = "https://docs.example.com/"
    assert local(site, "https://docs.example.com/static/logo.png", base_url=base) == (
        "static/logo.png"
    )
    # Same host over plain http is still the same site.
    assert local(site, "http://docs.example.com/static/logo.png", base_url=base) == (
        "static/logo.png"
    )
    image = load_ref(
        ref(site, src="https://DOCS.example.com/static/logo.png"), POLICY, base_url=base
    )
    assert (image.origin, image.size) == ("static/logo.png", (40, 30))
    assert image.public_url == "https://docs.example.com/static/logo.png"


def test_base_url_with_path_prefix(site: Path) -> None:
    base = "https://example.com/docs"
    assert local(site, "https://example.com/docs/static/logo.png", base_url=base) == (
        "static/logo.png"
    )
    resolved = resolve_source(ref(site, "guide/page.html", src="img/my%20image.png"), base_url=base)
    assert resolved.url == "https://example.com/docs/guide/img/my%20image.png"
    # The same host outside the published prefix is not part of this build.
    other = resolve_source(ref(site, src="https://example.com/blog/x.png"), base_url=base)
    assert other.kind is SourceKind.REMOTE
    up = resolve_source(ref(site, src="../shared/x.png"), base_url=base)
    assert (up.kind, up.url) == (SourceKind.REMOTE, "https://example.com/shared/x.png")


def test_invalid_base_url(site: Path) -> None:
    with pytest.raises(ConfigError):
        resolve_source(ref(site, src="a.png"), base_url="docs.example.com")


def test_local_public_url_is_none_without_base_url(site: Path) -> None:
    assert resolve_source(ref(site, src="static/logo.png")).url is None


# --- choosing among candidates ----------------------------------------------------------


def test_srcset_best_candidate(site: Path) -> None:
    resolved = resolve_source(
        ref(site, src="static/logo.png", srcset="static/s.png 300w, static/l.png 1200w")
    )
    assert (resolved.attribute, resolved.rel_path) == ("srcset", "static/l.png")
    image = load_ref(ref(site, srcset="static/s.png 300w, static/l.png 1200w"), POLICY)
    assert image.size == (1200, 600)


def test_src_counts_as_1x_candidate(site: Path) -> None:
    resolved = resolve_source(ref(site, src="static/s.png", srcset="static/l.png 2x"))
    assert resolved.rel_path == "static/l.png"
    resolved = resolve_source(ref(site, src="static/s.png", srcset="static/l.png 0.5x"))
    assert (resolved.attribute, resolved.rel_path) == ("src", "static/s.png")


def test_picture_sources_join_the_pool(site: Path) -> None:
    resolved = resolve_source(
        ref(
            site,
            src="static/logo.png",
            srcset="static/s.png 300w",
            picture_srcsets=("static/l.png 1200w, static/real.png 200w",),
        )
    )
    assert (resolved.attribute, resolved.rel_path) == ("picture", "static/l.png")


def test_lazy_attribute_used_when_src_is_missing_or_data(site: Path) -> None:
    gif = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
    for src in (None, "", gif):
        resolved = resolve_source(
            ref(
                site,
                src=src,
                lazy={"data-original": "/static/s.png", "data-src": "/static/real.png"},
            )
        )
        assert (resolved.attribute, resolved.rel_path) == ("data-src", "static/real.png")


def test_lazy_attribute_order_and_data_srcset(site: Path) -> None:
    lazy = {"data-srcset": "/static/s.png 300w, /static/l.png 1200w", "data-original": "/x.png"}
    assert resolve_source(ref(site, lazy=lazy)).attribute == "data-original"
    del lazy["data-original"]
    resolved = resolve_source(ref(site, lazy=lazy))
    assert (resolved.attribute, resolved.rel_path) == ("data-srcset", "static/l.png")


def test_real_src_wins_over_lazy_attribute(site: Path) -> None:
    resolved = resolve_source(ref(site, src="/static/logo.png", lazy={"data-src": "/static/l.png"}))
    assert resolved.rel_path == "static/logo.png"


def test_tiny_src_falls_back_to_lazy_image(site: Path) -> None:
    image = load_ref(
        ref(site, src="/static/pixel.png", lazy={"data-src": "/static/real.png"}), POLICY
    )
    assert (image.origin, image.size, image.attribute) == (
        "static/real.png",
        (200, 100),
        "data-src",
    )


def test_tiny_src_without_lazy_attribute_is_loaded_as_is(site: Path) -> None:
    image = load_ref(ref(site, src="/static/pixel.png"), POLICY)
    assert image.size == (1, 1)


def test_no_source_at_all(site: Path) -> None:
    with pytest.raises(ImageFetchError, match="no image source"):
        resolve_source(ref(site, srcset=" , ", lazy={"data-src": "  "}))


@pytest.mark.parametrize(
    ("srcset", "picture", "lazy"),
    [
        ("img/p0.png 1e308w, img/p1.png 1e309x", (), {}),
        ("2x 3x 100w", (), {}),
        ("img/p0.png 0x", (), {}),
        (None, ("a.webp 0w",), {}),
        (None, (), {"data-srcset": "a.png 1x 2x"}),
    ],
)
def test_srcset_without_a_valid_candidate_says_so(
    site: Path, srcset: str | None, picture: tuple[str, ...], lazy: dict[str, str]
) -> None:
    with pytest.raises(ImageFetchError, match="srcset has no valid candidate"):
        resolve_source(ref(site, srcset=srcset, picture_srcsets=picture, lazy=lazy))


def test_zero_density_candidate_is_not_chosen_over_src(site: Path) -> None:
    chosen = resolve_source(ref(site, src="/static/photo.png", srcset="/static/big.png 0x"))
    assert (chosen.attribute, chosen.reference) == ("src", "/static/photo.png")


# --- data: URIs -------------------------------------------------------------------------


def test_base64_data_uri(site: Path) -> None:
    data = png_bytes((3, 4))
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    image = load_ref(ref(site, src=uri), POLICY)
    assert image.data == data
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert (image.mime, image.size, image.origin, image.public_url) == (
        "image/png",
        (3, 4),
        "data:image/png;base64",
        None,
    )


def test_base64_data_uri_with_whitespace_and_no_padding(site: Path) -> None:
    data = png_bytes((2, 5))
    encoded = base64.b64encode(data).decode().rstrip("=")
    uri = "data:image/png;base64," + "\n  ".join(
        encoded[i : i + 20] for i in range(0, len(encoded), 20)
    )
    assert load_ref(ref(site, src=uri), POLICY).data == data


def test_percent_encoded_svg_data_uri(site: Path) -> None:
    uri = "data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'%20width='24'%20height='12'/%3E"
    image = load_ref(ref(site, src=uri), POLICY)
    assert (image.mime, image.size) == ("image/svg+xml", (24, 12))


def test_bad_data_uris(site: Path) -> None:
    with pytest.raises(ImageFetchError, match="base64"):
        load_ref(ref(site, src="data:image/png;base64,@@@@"), POLICY)
    with pytest.raises(ImageFetchError, match="not an image"):
        load_ref(ref(site, src="data:text/plain,hello"), POLICY)
    with pytest.raises(ImageFetchError, match="no comma"):
        load_ref(ref(site, src="data:image/png;base64"), POLICY)


def test_data_uri_over_size_cap(site: Path) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png_bytes((50, 50))).decode()
    with pytest.raises(ImageRefused, match="byte limit"):
        load_ref(ref(site, src=uri), NetworkPolicy(max_bytes=50))


# --- refusals and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "../../etc/passwd",
        "/static/../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "%2E%2E/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "..\\..\\etc\\passwd",
        "https://docs.example.com/%2e%2e/etc/passwd",
    ],
)
def test_traversal_above_site_root_is_refused(site: Path, src: str) -> None:
    with pytest.raises(ImageRefused, match="escapes the site root"):
        resolve_source(ref(site, src=src), base_url="https://docs.example.com/")


def test_traversal_through_base_href_is_refused(site: Path) -> None:
    with pytest.raises(ImageRefused, match="escapes the site root"):
        resolve_source(ref(site, src="etc/passwd", base_href="../../"))


def test_symlink_escaping_the_root_is_refused(site: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_bytes())
    os.symlink(outside / "secret.png", site / "static" / "evil.png")
    os.symlink(outside, site / "linked")
    for src in ("/static/evil.png", "/linked/secret.png"):
        resolved = resolve_source(ref(site, src=src))
        with pytest.raises(ImageRefused, match="outside the site root"):
            load_image(resolved, POLICY, allow_remote=False)


def test_symlink_inside_the_root_is_followed(site: Path) -> None:
    os.symlink(site / "static" / "logo.png", site / "alias.png")
    assert load_ref(ref(site, src="/alias.png"), POLICY).size == (40, 30)


def test_absolute_filesystem_path_stays_in_the_site(site: Path) -> None:
    # "/etc/passwd" is root-relative: the site's own etc/passwd, never the system file.
    image = load_ref(ref(site, src="/etc/passwd"), POLICY)
    assert (image.origin, image.size) == ("etc/passwd", (5, 5))
    with pytest.raises(ImageFetchError, match="file not found"):
        load_ref(ref(site, src="/etc/shadow"), POLICY)


@pytest.mark.parametrize("src", ["C:\\Windows\\win.ini", "c:/boot.png"])
def test_drive_paths_are_refused(site: Path, src: str) -> None:
    with pytest.raises(ImageRefused, match="absolute filesystem path"):
        resolve_source(ref(site, src=src))


@pytest.mark.parametrize("src", ["file:///etc/passwd", "FILE://localhost/etc/hosts"])
def test_file_urls_are_refused(site: Path, src: str) -> None:
    with pytest.raises(ImageRefused, match="file: URLs"):
        resolve_source(ref(site, src=src))


def test_unsupported_scheme(site: Path) -> None:
    with pytest.raises(ImageFetchError, match="unsupported URL scheme 'javascript'"):
        resolve_source(ref(site, src="javascript:alert(1)"))


def test_missing_file_names_the_path(site: Path) -> None:
    with pytest.raises(ImageFetchError, match=r"^guide/img/nope\.png: file not found$"):
        load_ref(ref(site, "guide/page.html", src="img/nope.png"), POLICY)


def test_directory_reference(site: Path) -> None:
    with pytest.raises(ImageFetchError, match="directory"):
        resolve_source(ref(site, src="static/"))
    with pytest.raises(ImageFetchError, match="not a regular file"):
        load_ref(ref(site, src="static"), POLICY)


def test_local_file_over_size_cap(site: Path) -> None:
    with pytest.raises(ImageRefused, match="over the 100 byte limit"):
        load_ref(ref(site, src="/static/l.png"), NetworkPolicy(max_bytes=100))


def test_local_non_image_is_refused_clearly(site: Path) -> None:
    with pytest.raises(ImageFetchError, match=r"^notes\.txt: not an image"):
        load_ref(ref(site, src="notes.txt"), POLICY)


def test_remote_refused_when_remote_fetching_is_off(site: Path) -> None:
    with pytest.raises(ImageRefused, match="remote fetching is off"):
        load_ref(ref(site, src="https://cdn.example/a.png"), POLICY, allow_remote=False)


def test_page_outside_site_root(site: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageRefused, match="outside the site root"):
        resolve_source(ImageRef(page_path=tmp_path / "x.html", site_root=site, src="a.png"))


_SEGMENT = st.sampled_from(["a", "b", "img", "x.png", "..", ".", "", "~u", "a-b_c", "p,q;r"])


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(_SEGMENT, min_size=1, max_size=5),
    rooted=st.booleans(),
    page=st.sampled_from(["p.html", "a/p.html", "a/b/p.html", "docs/x/p.html"]),
    base_url=st.sampled_from([None, "https://ex.com/", "https://ex.com/docs/"]),
)
def test_plain_paths_resolve_as_the_url_machinery_does(
    segments: list[str], rooted: bool, page: str, base_url: str | None
) -> None:
    # A plain path takes a shortcut; a fragment forces the general path, which must agree.
    reference = ("/" if rooted else "") + "/".join(segments)
    if reference.startswith("//"):
        reference = "/" + reference.lstrip("/")
    assume(reference)  # an empty src is no source; "#fragment" names the page itself

    def resolved(src: str) -> tuple[object, ...]:
        ref = ImageRef(page_path=Path(page), site_root=Path("/site"), src=src)
        try:
            r = resolve_source(ref, base_url=base_url)
        except (ImageFetchError, ImageRefused) as exc:
            return (type(exc),)
        return (r.kind, r.url, r.path, r.rel_path)

    assert resolved(reference) == resolved(reference + "#fragment")


def test_a_symlinked_page_resolves_from_where_it_is_served(site: Path, tmp_path: Path) -> None:
    # /latest.html is a link to guide/page.html; a browser at /latest.html loads img/x.png
    # from /img/, not /guide/img/. A linked folder is resolved (the site root's own link).
    from alttext.pipeline.check import image_ref
    from alttext.scan.scanner import scan_text

    os.symlink(site / "guide" / "page.html", site / "latest.html")
    linked_root = tmp_path / "linked-root"
    os.symlink(site, linked_root)
    for page, expected in (
        (site / "latest.html", "img/x.png"),
        (site / "guide" / "page.html", "guide/img/x.png"),
    ):
        for root in (site, linked_root):
            page_via = root / page.relative_to(site)
            (image,) = scan_text('<img src="img/x.png">', page_via, page_via.name)
            resolved = resolve_source(image_ref(image, root))
            assert resolved.kind is SourceKind.LOCAL and resolved.rel_path == expected


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 200_000),
    stated=st.integers(0, 200_000),
    limit=st.integers(0, 150_000),
)
def test_local_reads_stop_just_past_the_limit(
    tmp_path_factory: pytest.TempPathFactory, size: int, stated: int, limit: int
) -> None:
    # Whatever size stat gave (the file may have grown or shrunk since): all of the file
    # when it fits, else exactly one byte past the limit, so the caller can refuse it.
    from alttext.images.resolve import _read_at_most

    path = tmp_path_factory.mktemp("r") / "f"
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(content)
    with open(path, "rb", buffering=0) as handle:
        data = _read_at_most(handle, stated, limit)
    assert data == content[: limit + 1]
