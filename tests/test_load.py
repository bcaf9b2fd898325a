"""The fix pipeline's image loader: one load per reference, and no verdict borrowed."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from images_support import ImageServer, png_bytes, serve

from alttext.cli import main
from alttext.config import Config
from alttext.errors import ImageFetchError, ImageRefused
from alttext.pipeline.load import ImageLoader
from alttext.scan.model import ImageElement
from alttext.scan.scanner import scan_text


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serve() as state:
        yield state


def element(page: Path, html: str) -> ImageElement:
    (image,) = scan_text(html, page, page.name)
    return image


def write_png(path: Path, colour: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes((64, 48), colour))
    return path


# --- a page outside the site root is refused, whichever page came first -----------------


@pytest.fixture
def two_roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``root/a.html`` inside the site root and ``other/b.html`` beside it, same image."""
    root = tmp_path / "sr2" / "root"
    write_png(root / "r.png", "navy")
    inside, outside = root / "a.html", tmp_path / "sr2" / "other" / "b.html"
    outside.parent.mkdir(parents=True)
    for page in (inside, outside):
        page.write_text('<p>x</p><img src="/r.png" width="64" height="48">\n', encoding="utf-8")
    return root, inside, outside


@pytest.mark.parametrize("outside_first", [False, True])
@pytest.mark.parametrize("src", ["/r.png", "data:image/png;base64,{b64}", "http://{host}/r.png"])
def test_outside_page_is_refused_in_either_order(
    two_roots: tuple[Path, Path, Path], outside_first: bool, src: str
) -> None:
    import base64

    root, inside, outside = two_roots
    # Remote fetching off: the remote case is decided (refused) without a request.
    loader = ImageLoader(Config(remote=False), root)
    reference = src.format(
        b64=base64.b64encode((root / "r.png").read_bytes()).decode(), host="example.com"
    )
    html = f'<img src="{reference}" width="64" height="48">'
    pages = [outside, inside] if outside_first else [inside, outside]
    verdicts: dict[Path, str] = {}
    for page in pages:
        try:
            verdicts[page] = loader.load(element(page, html)).sha256
        except (ImageRefused, ImageFetchError) as exc:
            verdicts[page] = str(exc)
    assert "outside the site root" in verdicts[outside]
    assert "b.html" in verdicts[outside]
    assert "outside the site root" not in verdicts[inside]


@pytest.mark.parametrize("outside_first", [False, True])
def test_fix_refuses_a_page_outside_the_site_root_in_either_order(
    two_roots: tuple[Path, Path, Path], outside_first: bool
) -> None:
    root, inside, outside = two_roots
    pages = [outside, inside] if outside_first else [inside, outside]
    result = CliRunner().invoke(
        main,
        [
            "fix",
            *map(str, pages),
            "--site-root",
            str(root),
            "--dry-run",
            "--workers",
            "1",
            "--no-cache",
        ],
    )
    # A page outside --site-root is a usage error now, in either order, before any work
    # (the library's per-page verdict is order-independent too: the test above).
    assert result.exit_code == 2, result.output
    assert "does not hold the paths given" in result.stderr


# --- the bytes sent to be described are the bytes first hashed --------------------------


def test_reload_refuses_a_remote_image_that_changed_between_reads(
    tmp_path: Path, server: ImageServer
) -> None:
    server.alternate = [png_bytes(color=c) for c in ("blue", "red", "green")]
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    image = element(page, f'<img src="{server.base}/alternate" width="8" height="6">')
    loader = ImageLoader(Config(allow_private_hosts=True), page.parent)
    first = loader.load(image)
    with pytest.raises(ImageFetchError, match="the image changed between reads"):
        loader.reload(image)
    # Another process's loader (fix's, after the scan workers) is told the hash to expect.
    with pytest.raises(ImageFetchError, match=f"sha256 {first.sha256[:16]}"):
        ImageLoader(Config(allow_private_hosts=True), page.parent).reload(
            image, expected_sha256=first.sha256
        )
    assert server.served == 3


def test_reload_of_an_unchanged_remote_image_returns_its_bytes(
    tmp_path: Path, server: ImageServer
) -> None:
    server.alternate = [png_bytes(color="green")]
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    image = element(page, f'<img src="{server.base}/alternate" width="8" height="6">')
    loader = ImageLoader(Config(allow_private_hosts=True), page.parent)
    first = loader.load(image)
    again = loader.reload(image)
    assert again.data == server.alternate[0] and again.sha256 == first.sha256


def test_reload_refuses_a_local_file_rewritten_between_reads(tmp_path: Path) -> None:
    root = tmp_path / "site"
    logo = write_png(root / "logo.png", "navy")
    image = element(root / "index.html", '<img src="logo.png" width="64" height="48">')
    loader = ImageLoader(Config(), root)
    first = loader.load(image)
    write_png(logo, "red")
    with pytest.raises(ImageFetchError, match=r"logo\.png: the image changed between reads"):
        loader.reload(image)
    with pytest.raises(ImageFetchError, match="changed between reads"):
        ImageLoader(Config(), root).reload(image, expected_sha256=first.sha256)


# --- a host that stops answering holds the run once, not once per image -----------------


def quick_loader(tmp_path: Path) -> tuple[Path, ImageLoader]:
    """A page of a new site, and a loader for it whose fetches time out after 0.2 s."""
    page = tmp_path / "site" / "index.html"
    page.parent.mkdir()
    return page, ImageLoader(Config(allow_private_hosts=True, timeout=0.2), page.parent)


def failures(attempts: Iterable[Callable[[], object]]) -> list[str]:
    """The message of each attempt's ImageFetchError (each must raise one)."""
    errors = []
    for attempt in attempts:
        with pytest.raises(ImageFetchError) as caught:
            attempt()
        errors.append(str(caught.value))
    return errors


def test_a_host_that_times_out_twice_is_not_fetched_again_this_run(
    tmp_path: Path, server: ImageServer
) -> None:
    page, loader = quick_loader(tmp_path)
    slow = [element(page, f'<img src="{server.base}/slow-headers?n={n}">') for n in range(5)]
    errors = failures(functools.partial(loader.load, image) for image in slow)
    assert all("timed out" in error for error in errors[:2])
    host = f"127.0.0.1:{server.port}"
    assert all(
        error.startswith(f"not fetched: the last 2 fetches from {host} timed out")
        for error in errors[2:]
    )
    assert sum(p.startswith("/slow-headers") for p in server.paths()) == 2  # no more requests
    # The same server under another name is another host; and this loader's count is
    # its own (another run, another worker, starts afresh).
    other = element(page, f'<img src="http://localhost:{server.port}/img.png">')
    assert loader.load(other).sha256
    fresh = ImageLoader(Config(allow_private_hosts=True, timeout=0.2), page.parent)
    assert fresh.load(element(page, f'<img src="{server.base}/img.png">')).sha256


def test_a_host_that_stops_answering_after_the_scan_holds_the_reloads_twice_at_most(
    tmp_path: Path, server: ImageServer
) -> None:
    # fix reloads the bytes of each image that goes to the backend (the scan workers keep
    # them), one after the other: a host gone quiet since would hold it once per image.
    page, loader = quick_loader(tmp_path)
    images = [element(page, f'<img src="{server.base}/then-slow?n={n}">') for n in range(4)]
    firsts = [loader.load(image) for image in images]
    errors = failures(
        functools.partial(loader.reload, image, expected_sha256=first.sha256)
        for image, first in zip(images, firsts, strict=True)
    )
    assert all("timed out" in error for error in errors[:2]), errors
    host = f"127.0.0.1:{server.port}"
    assert all(e.startswith(f"not fetched: the last 2 fetches from {host}") for e in errors[2:])
    assert sum(p.startswith("/then-slow") for p in server.paths()) == 4 + 2


def test_an_answer_from_the_host_starts_its_count_again(
    tmp_path: Path, server: ImageServer
) -> None:
    page, loader = quick_loader(tmp_path)
    refs = ["/slow-headers?n=1", "/img.png", "/slow-headers?n=2", "/missing", "/slow-headers?n=3"]
    for ref in refs:
        with contextlib.suppress(ImageFetchError):
            loader.load(element(page, f'<img src="{server.base}{ref}">'))
    # Never two timeouts in a row: every slow image was asked for.
    assert sum(p.startswith("/slow-headers") for p in server.paths()) == 3


@pytest.mark.parametrize("how", ["option", "config"])
def test_fetch_timeout_bounds_each_remote_image_however_slowly_it_trickles(
    tmp_path: Path, how: str
) -> None:
    import time

    from images_support import trickle

    site = tmp_path / "site"
    site.mkdir()
    with trickle("headers", interval=0.05) as url:
        (site / "index.html").write_text(f'<img src="{url}/img.png">\n', encoding="utf-8")
        args = ["fix", str(site), "--allow-private-hosts", "--no-cache", "-q"]
        if how == "option":
            args += ["--fetch-timeout", "0.5"]
        else:
            config = tmp_path / "alttext.toml"
            config.write_text("[tool.alttext]\nfetch_timeout = 0.5\n", encoding="utf-8")
            args += ["--config", str(config)]
        started = time.monotonic()
        result = CliRunner().invoke(main, args)
        took = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert "deadline of 0.5 s exceeded" in result.stderr
    assert took < 5  # the default deadline is 60 s; no read ever times out here


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_fetch_timeout_must_be_positive(tmp_path: Path, value: str) -> None:
    config = tmp_path / "alttext.toml"
    config.write_text(f"[tool.alttext]\nfetch_timeout = {value}\n", encoding="utf-8")
    (tmp_path / "index.html").write_text('<img src="a.png">\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["fix", str(tmp_path), "--config", str(config), "-q"])
    assert result.exit_code == 2
    assert "fetch_timeout must be more than 0 seconds" in result.stderr
    option = CliRunner().invoke(main, ["fix", str(tmp_path), "--fetch-timeout", value])
    assert option.exit_code == 2 and "fetch" in option.stderr  # the option or the setting
